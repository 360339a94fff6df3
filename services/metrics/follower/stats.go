package follower

import (
	"time"

	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the follower's Prometheus metrics.
type stats struct {
	changes            prometheus.Counter
	bootstraps         prometheus.Counter
	reconnects         prometheus.Counter
	checkpointFailures prometheus.Counter
	anomalies          prometheus.Counter
	checkpointSeconds  prometheus.Histogram
	lag                prometheus.Histogram
}

func newStats(reg prometheus.Registerer, live *projection.Live) *stats {
	s := &stats{
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "talentreg_metrics_changes_applied_total", Help: "Registry changes applied to the projection.",
		}),
		bootstraps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "talentreg_metrics_snapshot_loads_total", Help: "Projections loaded from a registry snapshot.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "talentreg_metrics_reconnects_total", Help: "Watch streams that failed and were retried.",
		}),
		checkpointFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "talentreg_metrics_checkpoint_failures_total", Help: "Checkpoints that could not be saved.",
		}),
		anomalies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "talentreg_metrics_anomalies_total", Help: "Changes that did not fit the projection's state, each followed by a reload from a snapshot (0 for a correct feed).",
		}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "talentreg_metrics_checkpoint_seconds", Help: "Time to save one checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "talentreg_metrics_apply_lag_seconds", Help: "From a change's commit in the registry to its application here.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(s.changes, s.bootstraps, s.reconnects, s.checkpointFailures, s.anomalies, s.checkpointSeconds, s.lag,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "talentreg_metrics_applied_revision", Help: "Registry revision the projection reflects.",
			}, func() float64 { return float64(live.Revision()) }))
	}
	return s
}

// observe counts a batch of applied changes and the lag of its last one.
func (s *stats) observe(changes []*registryv1.Change, now time.Time) {
	if len(changes) == 0 {
		return
	}
	s.changes.Add(float64(len(changes)))
	if t := changes[len(changes)-1].GetCommitTime(); t != nil {
		s.lag.Observe(max(0, now.Sub(t.AsTime()).Seconds()))
	}
}
