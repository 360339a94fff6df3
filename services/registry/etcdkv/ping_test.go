package etcdkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/kv"
)

// TestPing_FollowsTheCluster: Ping succeeds while etcd serves, fails —
// within its context, not later — while the only member is down, and
// succeeds again once the member is back, on the same Store.
func TestPing_FollowsTheCluster(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var p kv.Pinger = s
	ping := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return p.Ping(ctx)
	}
	if err := ping(5 * time.Second); err != nil {
		t.Fatalf("Ping with etcd up: %v", err)
	}

	cluster.Members[0].Kill()
	start := time.Now()
	err = ping(500 * time.Millisecond)
	if err == nil {
		t.Fatal("Ping with the only member killed: nil, want an error")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Ping with the only member killed returned after %v: it must not outlive its context", waited)
	}

	cluster.Members[0].Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for err := ping(time.Second); err != nil; err = ping(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the member restarted: still %v after 30 s", err)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ping(time.Second); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Ping after Close: %v, want kv.ErrClosed", err)
	}
}
