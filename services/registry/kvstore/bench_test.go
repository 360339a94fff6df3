package kvstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/platform/boltfile"
	"talentreg/services/registry"
)

// Run with:
//
//	cd services/registry/bolt && go test -run '^$' -bench . -benchtime=2s
//
// Every figure is per operation on a real file; creates fsync (group
// commit shares one fsync between the writers queued behind it).

var (
	benchKinds   = []registry.EntityKind{registry.EntityKindEnterprise, registry.EntityKindUniversity, registry.EntityKindResearchInstitute, registry.EntityKindIncubator, registry.EntityKindOther}
	benchRegions = []string{"Binhai", "Tianjin", "Beijing", "Hebei"}
	benchInds    = []string{"biomanufacturing", "cell-gene-therapy", "brain-science-intelligent-medicine", "information-innovation", "deep-sea", "aerospace", "advanced-energy", "new-materials"}
)

// benchEntity is entity number i of a data set in which kind and region
// vary independently: each (kind, region) pair holds 1/20 of the entities.
func benchEntity(prefix string, i int) *registry.Entity {
	return &registry.Entity{
		ID:                fmt.Sprintf("%s%07d", prefix, i),
		DisplayName:       fmt.Sprintf("Benchmark entity %d", i),
		Kind:              benchKinds[i%5],
		CreditCode:        creditCode(fmt.Sprintf("91120116%09d", i)),
		Region:            benchRegions[(i/5)%4],
		Industries:        []string{benchInds[i%8], benchInds[(i%8+1+(i/8)%7)%8]}, // two distinct
		LeadingEnterprise: i%10 == 0,
	}
}

// fill adds n entities in batches of 1000.
func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	for lo := 0; lo < n; lo += registry.MaxBatch {
		batch := make([]*registry.Entity, 0, registry.MaxBatch)
		for i := lo; i < min(lo+registry.MaxBatch, n); i++ {
			batch = append(batch, benchEntity("e", i))
		}
		if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateEntity creates entities with fsync on from 1 and from 64
// concurrent callers; ns/op is wall time per create.
func BenchmarkCreateEntity(b *testing.B) {
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			s := openTest(b, testOptions{})
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
						if _, _, err := s.CreateEntity(ctx, benchEntity("c", int(i)), ""); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if s.Revision() != int64(b.N) {
				b.Fatalf("revision %d after %d creates", s.Revision(), b.N)
			}
		})
	}
}

// BenchmarkGetEntity reads random entities of 10,000.
func BenchmarkGetEntity(b *testing.B) {
	const n = 10_000
	s := openTest(b, testOptions{NoSync: true}) // reads never sync
	fill(b, s, n)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		id := fmt.Sprintf("e%07d", rng.IntN(n))
		if _, err := s.GetEntity(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListEntitiesFiltered lists a page of 50 of 100,000 entities
// under 2- and 3-condition filters, each condition from its own index.
func BenchmarkListEntitiesFiltered(b *testing.B) {
	const n = 100_000
	s := openTest(b, testOptions{NoSync: true})
	fill(b, s, n)
	tests := []struct {
		name  string
		conds []registry.Condition
		after string
	}{
		{"kind+region", []registry.Condition{{Field: "kind", Value: "ENTITY_KIND_UNIVERSITY"}, {Field: "region", Value: "Beijing"}}, ""},
		{"kind+region/deep", []registry.Condition{{Field: "kind", Value: "ENTITY_KIND_UNIVERSITY"}, {Field: "region", Value: "Beijing"}}, fmt.Sprintf("e%07d", n/2)},
		{"kind+region+industry", []registry.Condition{{Field: "kind", Value: "ENTITY_KIND_ENTERPRISE"}, {Field: "region", Value: "Hebei"}, {Field: "industries", Value: "deep-sea"}}, ""},
		{"industry", []registry.Condition{{Field: "industries", Value: "deep-sea"}}, ""},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				page, next, err := s.ListEntities(ctx, registry.ListQuery{Conditions: tt.conds, After: tt.after, Limit: 50})
				if err != nil || len(page) != 50 || next == "" {
					b.Fatalf("%d entities, next %q, %v", len(page), next, err)
				}
			}
			b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkImport runs the import path in chunks of 10,000 items, as the
// Import RPC commits them, with fsync on: b.N entities, or b.N memberships
// of b.N/3 entities in 2,000 groups (three each, as in the harness's bulk
// data set). Run with a fixed count, e.g. -benchtime 300000x; it also
// reports the pages written per item.
func BenchmarkImport(b *testing.B) {
	const chunk, groups = 10000, 2000
	importAll := func(b *testing.B, s *Store, n int, item func(i int) registry.Resource) {
		b.Helper()
		for lo := 0; lo < n; lo += chunk {
			items := make([]registry.Resource, 0, chunk)
			for i := lo; i < min(n, lo+chunk); i++ {
				items = append(items, item(i))
			}
			res, err := s.Import(ctx, registry.WholeItems(items), 0)
			if err != nil || len(res.Errors) > 0 {
				b.Fatal(err, res.Errors)
			}
		}
	}
	pagesWritten := func(s *Store) int64 { st := boltDB(s).Bolt().Stats(); return st.TxStats.GetWrite() }
	groupID := func(g int) string { return fmt.Sprintf("g-%04d", g) }
	entity := func(i int) registry.Resource { return benchEntity("e", i) }
	for _, wal := range []bool{false, true} {
		b.Run(fmt.Sprintf("wal=%t", wal), func(b *testing.B) { benchImport(b, wal, importAll, pagesWritten, groupID, entity) })
	}
}

func benchImport(b *testing.B, wal bool, importAll func(*testing.B, *Store, int, func(int) registry.Resource), pagesWritten func(*Store) int64,
	groupID func(int) string, entity func(int) registry.Resource) {
	const groups = 2000
	b.Run("entities", func(b *testing.B) {
		s := openTest(b, testOptions{WAL: wal, WALDefaults: true})
		w0 := pagesWritten(s)
		c0 := cpuNow()
		b.ResetTimer()
		importAll(b, s, b.N, entity)
		b.StopTimer()
		b.ReportMetric(float64(pagesWritten(s)-w0)/float64(b.N), "pages/item")
		b.ReportMetric(float64((cpuNow()-c0).Microseconds())/float64(b.N), "cpu-µs/item")
	})
	b.Run("memberships", func(b *testing.B) {
		s := openTest(b, testOptions{WAL: wal, WALDefaults: true})
		importAll(b, s, groups, func(g int) registry.Resource {
			return &registry.Group{ID: groupID(g), DisplayName: "G", Kind: registry.GroupKindAlliance, Field: "aerospace"}
		})
		importAll(b, s, b.N/3+1, entity)
		w0 := pagesWritten(s)
		c0 := cpuNow()
		b.ResetTimer()
		importAll(b, s, b.N, func(k int) registry.Resource {
			i := k / 3 // entity i joins groups g, g+s, g+2s for a step s that varies with i
			g := (i*7919 + k%3*(1+i%13)) % groups
			return &registry.Membership{GroupID: groupID(g), EntityID: benchEntity("e", i).ID, Role: registry.MembershipRoleMember}
		})
		b.StopTimer()
		b.ReportMetric(float64(pagesWritten(s)-w0)/float64(b.N), "pages/item")
		b.ReportMetric(float64((cpuNow()-c0).Microseconds())/float64(b.N), "cpu-µs/item")
	})
}

// BenchmarkOpen measures what verifying a file at Open costs on a file of
// 1,000,000 entities (built once, with their indexes and change log;
// ≈ 1 min), against the open it replaced, in the same run:
//
//	cd services/registry/bolt && go test -run '^$' -bench Open -benchtime 5x
//
// baseline: bbolt.Open and the meta read, as Open did before it verified;
// Open: Open as served (the structure walk of boltfile.Verify included);
// Verify: the walk alone; TxCheck: bbolt's own Tx.Check; Check: the full
// check of `registry check` (Tx.Check, every record decoded, every index
// entry matched). The file is in the page cache (just written): a cold
// start reads it from disk once more. With TALENTREG_BENCH_OPEN_DB set, the
// file is kept there and reused by later runs.
func BenchmarkOpen(b *testing.B) {
	const n = 1_000_000
	path := os.Getenv("TALENTREG_BENCH_OPEN_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "registry.db")
	}
	s, err := openFile(path, testOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 10_000
	for lo := int(s.Revision()); lo < n; lo += chunk {
		items := make([]registry.Resource, 0, chunk)
		for i := lo; i < min(n, lo+chunk); i++ {
			items = append(items, benchEntity("e", i))
		}
		if res, err := s.Import(ctx, registry.WholeItems(items), 0); err != nil || len(res.Errors) > 0 {
			b.Fatal(err, res.Errors)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if fi, err := os.Stat(path); err == nil {
		b.Logf("%d entities: file of %.0f MiB", n, float64(fi.Size())/(1<<20))
	}
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType, InitialMmapSize: 4 << 30})
			if err != nil {
				b.Fatal(err)
			}
			if err := db.View(func(tx *bbolt.Tx) error {
				if tx.Bucket([]byte(bucketMeta)).Get(keyHead) == nil {
					return errors.New("no revision")
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			s, err := openFile(path, testOptions{})
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("Verify", func(b *testing.B) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			if err := boltfile.Verify(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err = openFile(path, testOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("TxCheck", func(b *testing.B) {
		for b.Loop() {
			err := boltDB(s).Bolt().View(func(tx *bbolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		for b.Loop() {
			if err := s.Check(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuNow is the process's CPU time (user and system): on a shared
// machine, CPU per item is steadier than wall time per item.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
