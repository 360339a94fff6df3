package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/storage"
)

// Run with:
//
//	cd services/registry/bolt && go test -run '^$' -bench . -benchtime=2s
//
// Durable creates (fsync on) through the registry's rules on a real file,
// from 1 and 64 concurrent callers, under bbolt's own tuning options: the
// figures that decided which of them the engine keeps (bench/TUNING.md).

func benchEntity(i int) *registry.Entity {
	return &registry.Entity{
		ID:          fmt.Sprintf("c%07d", i),
		DisplayName: fmt.Sprintf("Benchmark entity %d", i),
		Kind:        registry.EntityKindEnterprise,
		Region:      "Binhai",
		Industries:  []string{"aerospace", "new-materials"},
	}
}

func benchCreate(b *testing.B, opts bolt.Options) {
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			s, err := storage.OpenBolt(filepath.Join(b.TempDir(), "registry.db"), storage.Options{Bolt: opts})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for g := 0; g < conc; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, _, err := s.CreateEntity(context.Background(), benchEntity(int(i)), ""); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if db := storage.Bolt(s); db != nil && db.Commits() > 0 {
				b.ReportMetric(float64(b.N)/float64(db.Commits()), "creates/commit")
			}
		})
	}
}

// BenchmarkCreateEntity compares a durable create with fsync per commit
// (bbolt alone) and with the write-ahead log (one fdatasync of the log per
// group, bbolt checkpointed in the background).
func BenchmarkCreateEntity(b *testing.B) {
	b.Run("fsync", func(b *testing.B) { benchCreate(b, bolt.Options{}) })
	b.Run("wal", func(b *testing.B) { benchCreate(b, bolt.Options{WAL: true}) })
}

// BenchmarkBoltOptions compares bbolt's own options, each alone against
// the default (hashmap free list, OS page size, free list synced).
func BenchmarkBoltOptions(b *testing.B) {
	for _, c := range []struct {
		name string
		opts bolt.Options
	}{
		{"default", bolt.Options{}},
		{"array-freelist", bolt.Options{ArrayFreelist: true}},
		{"no-freelist-sync", bolt.Options{NoFreelistSync: true}},
		{"no-grow-sync", bolt.Options{NoGrowSync: true}},
		{"page-16k", bolt.Options{PageSize: 16 << 10}},
		{"page-64k", bolt.Options{PageSize: 64 << 10}},
	} {
		b.Run(c.name, func(b *testing.B) { benchCreate(b, c.opts) })
	}
}
