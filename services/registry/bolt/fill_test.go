package bolt_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kv/kvtest"
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

// SmallBucket is asked by an import while other writers commit: it must
// not read what a commit writes (bbolt's Tx.Page reads the freelist, and
// the race detector, or the runtime's map check, stops the process). It
// still tells a bucket of one page from a bigger one.
func TestSmallBucket_BesideCommits(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{Buckets: kvtest.Buckets, WAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.SmallBucket("a") {
		t.Fatal("an empty bucket is not small")
	}
	done := make(chan error)
	go func() {
		var err error
		for i := 0; i < 300 && err == nil; i++ {
			err = db.Update(context.Background(), func(tx kv.Txn) error {
				for j := range 20 {
					if err := tx.Put("a", fmt.Appendf(nil, "k%03d-%02d", i, j), bytes.Repeat([]byte("v"), 100)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		done <- err
	}()
	for writing := true; writing; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			writing = false
		default:
			db.SmallBucket("a")
		}
	}
	if db.SmallBucket("a") {
		t.Fatal("a bucket of 6,000 keys counts as small")
	}
}
