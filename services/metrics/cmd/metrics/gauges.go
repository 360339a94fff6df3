package main

import (
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// registerReplicaMetrics exports the replica's readiness and its
// checkpoint file's size, and returns the readiness gauge for the health
// loop to set.
func registerReplicaMetrics(reg prometheus.Registerer, checkpointPath string, log *slog.Logger) prometheus.Gauge {
	ready := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "talentreg_metrics_ready", Help: "1 while this replica is SERVING (caught up with the registry), else 0 (NOT_SERVING).",
	})
	reg.MustRegister(ready, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "talentreg_metrics_checkpoint_size_bytes", Help: "Size of the checkpoint file on disk.",
	}, func() float64 {
		fi, err := os.Stat(checkpointPath)
		if err != nil {
			log.Warn("checkpoint file size", "err", err)
			return 0
		}
		return float64(fi.Size())
	}))
	return ready
}
