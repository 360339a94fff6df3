package main

import (
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"talentreg/services/metrics/grpcapi"
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

// registerStreamMetrics exports the Summary watch streams: open, their
// cap, and how many were refused or ended stalled.
func registerStreamMetrics(reg prometheus.Registerer, api *grpcapi.Server, opts grpcapi.WatchOptions) {
	gauge := func(name, help string, f func(grpcapi.StreamStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(api.StreamStats()) })
	}
	counter := func(name, help string, f func(grpcapi.StreamStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(api.StreamStats()) })
	}
	reg.MustRegister(
		gauge("talentreg_metrics_summary_watch_streams_open", "WatchSummary streams open.", func(s grpcapi.StreamStats) float64 { return float64(s.Open) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "talentreg_metrics_summary_watch_streams_max", Help: "Cap of WatchSummary streams open at once (--max-streams).",
		}, func() float64 { return float64(opts.MaxStreams) }),
		counter("talentreg_metrics_summary_watch_streams_refused_total", "WatchSummary streams refused at --max-streams or --max-streams-per-client.",
			func(s grpcapi.StreamStats) float64 { return float64(s.Refused) }),
		counter("talentreg_metrics_summary_watch_streams_stalled_total", "WatchSummary streams ended because their client took no message for --stream-stall-timeout.",
			func(s grpcapi.StreamStats) float64 { return float64(s.Stalled) }),
	)
}
