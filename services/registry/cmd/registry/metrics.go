package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"talentreg/services/registry/bolt"
)

// registerStoreMetrics exports the database's disk use, the time its
// commits spend writing and fsyncing, and the watch streams against their
// cap — what deploy/prometheus alerts on.
func registerStoreMetrics(reg prometheus.Registerer, store *bolt.DB, streamsOpen func() int64, maxStreams int64, log *slog.Logger) {
	disk := func(f func(bolt.DiskStats) float64) func() float64 {
		return func() float64 {
			st, err := store.DiskStats()
			if err != nil {
				log.Warn("database disk stats", "err", err)
				return 0
			}
			return f(st)
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "talentreg_registry_streams_open", Help: "Watch and snapshot streams open.",
		}, func() float64 { return float64(streamsOpen()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "talentreg_registry_streams_max", Help: "Cap of watch and snapshot streams open at once (--max-streams).",
		}, func() float64 { return float64(maxStreams) }),
	)
	if store == nil {
		return // an etcd engine: its own metrics tell its disk
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "talentreg_registry_db_size_bytes", Help: "Size of the bbolt database file on disk.",
		}, disk(func(s bolt.DiskStats) float64 { return float64(s.FileBytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "talentreg_registry_db_free_bytes", Help: "Free pages inside the database file, reused before it grows (`registry compact` returns them to the disk).",
		}, disk(func(s bolt.DiskStats) float64 { return float64(s.FreeBytes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "talentreg_registry_commit_write_seconds_total", Help: "Time commits spent writing pages and fsyncing the database file; divided by talentreg_registry_commits_total, the mean fsync-bound commit latency.",
		}, disk(func(s bolt.DiskStats) float64 { return s.CommitWriteTime.Seconds() })),
	)
}
