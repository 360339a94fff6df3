package etcdkv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kv/kvtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	n := 0
	kvtest.Run(t, func(t *testing.T) kv.Store {
		n++
		// The first store checks the member's limits; the others need not.
		s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints(), Prefix: fmt.Sprintf("/t%d/", n), LimitsChecked: n > 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpen_RefusesAServerWithLowLimits(t *testing.T) {
	t.Parallel()
	ops, reqBytes := etcdkv.ServerFlags(etcdkv.DefaultLimits)
	needed := fmt.Sprintf("--max-txn-ops=%d --max-request-bytes=%d", ops, reqBytes)
	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128, MaxRequestBytes: 1572864})
	_, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints()})
	if err == nil || !strings.Contains(err.Error(), needed) {
		t.Fatalf("Open against etcd's default limits: %v, want an error naming %s", err, needed)
	}
	// Enough operations, and requests of just under what the registry
	// sends.
	cluster2 := etcdtest.Start(t, 1, etcdtest.Options{MaxRequestBytes: etcdkv.DefaultLimits.Bytes - 1024})
	_, err = etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster2.Endpoints()})
	if err == nil || !strings.Contains(err.Error(), "refuses requests of") || !strings.Contains(err.Error(), needed) {
		t.Fatalf("Open against a request limit just below the registry's: %v, want an error naming %s", err, needed)
	}
}

// A watcher whose member freezes (connections open, nothing answers) must
// still learn of commits made through the other members: the watch's
// progress requests go unanswered, it is dropped and started again on
// another stream. Each member is frozen in turn, so the one the watch is
// on is frozen once. Each round also opens a fresh watcher just before
// the freeze, whose watch creation may be sent to the member and never
// answered: it must be replaced too (it once waited forever).
// Serial: it bounds how long a stuck watch takes to be noticed, which
// other tests' clusters on the same CPUs would stretch.
func TestCommitted_SurvivesAFrozenMember(t *testing.T) {
	cluster := etcdtest.Start(t, 3, etcdtest.Options{})
	opened := 0
	open := func(endpoints []string) *etcdkv.Store {
		// The first store checks the cluster's limits; the others need not.
		opened++
		s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: endpoints, Prefix: "/frozen/", LimitsChecked: opened > 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	watcher := open(cluster.Endpoints())
	for i, m := range cluster.Members {
		var others []string
		for j, o := range cluster.Members {
			if j != i {
				others = append(others, o.ClientURL)
			}
		}
		writer := open(others)
		fresh := open(cluster.Endpoints())
		m.Pause()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// Freezing the leader stops commits until the others elect a
		// new one: retry (the write is idempotent) while it says so.
		var err error
		for {
			err = writer.Update(ctx, func(tx kv.Txn) error {
				return tx.Put("b", []byte(fmt.Sprint(i)), []byte("v"))
			})
			if !errors.Is(err, kv.ErrUnavailable) || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			cancel()
			m.Resume()
			t.Fatalf("commit with %s frozen: %v", m.Name, err)
		}
		head, err := writer.Head(ctx)
		if err != nil {
			cancel()
			m.Resume()
			t.Fatal(err)
		}
		// Still frozen: each watcher's watch must report the commit (a
		// wake-up alone may be a stuck watch being replaced).
		for name, w := range map[string]*etcdkv.Store{"the watcher": watcher, "a watcher opened just before": fresh} {
			for c := w.Committed(); w.Watched() < head; c = w.Committed() {
				select {
				case <-c:
				case <-ctx.Done():
					cancel()
					m.Resume()
					t.Fatalf("%s frozen: %s never learned of the commit at revision %d made through the others (its watch reported %d)", m.Name, name, head, w.Watched())
				}
			}
		}
		cancel()
		m.Resume()
		// A relaxed read sees what the watch reported.
		for _, w := range []*etcdkv.Store{watcher, fresh} {
			ctx, cancel = context.WithTimeout(kv.Relaxed(context.Background()), 30*time.Second)
			err = w.View(ctx, func(r kv.Reader) error {
				v, err := r.Get("b", []byte(fmt.Sprint(i)))
				if err == nil && v == nil {
					return fmt.Errorf("relaxed read after the commit signal misses key %d", i)
				}
				return err
			})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// With its cluster gone, a store's reads and writes fail with
// kv.ErrUnavailable (which the registry turns into UNAVAILABLE), not with
// the caller's deadline or a bare etcd error.
func TestUnreachableClusterIsUnavailable(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints(), DialTimeout: time.Second, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cluster.Members[0].Kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// An etcd request fails fast when no member is reachable: the
	// caller's minute is not what ends it.
	err = s.Update(ctx, func(tx kv.Txn) error {
		if _, err := tx.Get("b", []byte("k")); err != nil {
			return err
		}
		return tx.Put("b", []byte("k"), []byte("v"))
	})
	if !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("Update with the cluster down: %v, want kv.ErrUnavailable", err)
	}
	err = s.View(ctx, func(r kv.Reader) error { _, err := r.Get("b", []byte("k")); return err })
	if !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("View with the cluster down: %v, want kv.ErrUnavailable", err)
	}
}
