package bolt_test

import (
	"context"
	"path/filepath"
	"testing"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/storage"
)

// An import in key order (ids assigned in order, each index value's run
// growing at its end) packs the primary bucket and the index nearly full:
// at bbolt's 90% split a tenth of every page stays empty (bench/TUNING.md,
// "Format 4").
func TestStore_ImportInKeyOrderPacksPagesFull(t *testing.T) {
	s, err := storage.OpenBolt(filepath.Join(t.TempDir(), "registry.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n, chunk = 30000, 1000
	for lo := 0; lo < n; lo += chunk {
		items := make([]registry.ImportItem, chunk)
		for i := range items {
			items[i].Resource = benchEntity(lo + i)
		}
		res, err := s.Import(context.Background(), items, int64(lo))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Errors) > 0 {
			t.Fatalf("import: %v", res.Errors[0].Err)
		}
	}
	u, err := storage.Bolt(s).Usage()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"entities", "entities.idx"} {
		var b *bolt.BucketUsage
		for i := range u.Buckets {
			if u.Buckets[i].Name == name {
				b = &u.Buckets[i]
			}
		}
		if b == nil || b.Keys == 0 {
			t.Fatalf("bucket %s: missing or empty in %+v", name, u.Buckets)
		}
		if fill := float64(b.InUse) / float64(b.Allocated); fill < 0.95 {
			t.Errorf("bucket %s: %d of %d bytes in use (%.0f%%), want at least 95%%", name, b.InUse, b.Allocated, 100*fill)
		} else {
			t.Logf("bucket %s: %.1f%% of its pages in use", name, 100*fill)
		}
	}
}
