package kvstore

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"talentreg/services/registry/bolt"
	"talentreg/services/registry/kv"
)

// hookedEngine is a real engine that runs a function before its first
// Update: the moment a copy starts writing.
type hookedEngine struct {
	kv.Store
	once   sync.Once
	before func()
}

func (h *hookedEngine) Update(ctx context.Context, fn func(kv.Txn) error) error {
	h.once.Do(h.before)
	return h.Store.Update(ctx, fn)
}

// A registry written to while it is copied is not copied faithfully: Copy
// says so rather than leave a copy that silently lacks the write.
func TestCopy_RefusesASourceThatChanged(t *testing.T) {
	src := openTest(t, testOptions{})
	ctx := context.Background()
	if _, _, err := src.CreateEntity(ctx, entity("before"), ""); err != nil {
		t.Fatal(err)
	}
	dst, err := bolt.Open(filepath.Join(t.TempDir(), "copy.db"), bolt.Options{Buckets: Buckets()})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	hooked := &hookedEngine{Store: dst, before: func() {
		if _, _, err := src.CreateEntity(ctx, entity("during"), ""); err != nil {
			t.Error(err)
		}
	}}
	_, err = Copy(ctx, src.Engine(), hooked)
	if err == nil || !strings.Contains(err.Error(), "changed while it was copied") {
		t.Fatalf("Copy of a registry written meanwhile: %v", err)
	}
}
