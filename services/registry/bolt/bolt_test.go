package bolt_test

import (
	"path/filepath"
	"testing"

	"talentreg/services/registry/bolt"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kv/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{Buckets: kvtest.Buckets})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if errs := db.CheckPages(); len(errs) > 0 {
				t.Errorf("bbolt check: %v", errs)
			}
			db.Close()
		})
		return db
	})
}
