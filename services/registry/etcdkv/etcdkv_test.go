package etcdkv_test

import (
	"context"
	"strings"
	"testing"

	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kv/kvtest"
)

func TestConformance(t *testing.T) {
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	n := 0
	kvtest.Run(t, func(t *testing.T) kv.Store {
		n++
		s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints(), Prefix: "/t" + strings.Repeat("x", n) + "/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpen_RefusesAServerWithLowLimits(t *testing.T) {
	cluster := etcdtest.Start(t, 1, etcdtest.Options{MaxTxnOps: 128, MaxRequestBytes: 1572864})
	_, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints()})
	if err == nil || !strings.Contains(err.Error(), "--max-txn-ops") {
		t.Fatalf("Open against etcd's default limits: %v, want an error naming --max-txn-ops", err)
	}
	cluster2 := etcdtest.Start(t, 1, etcdtest.Options{MaxRequestBytes: 1572864})
	_, err = etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster2.Endpoints()})
	if err == nil || !strings.Contains(err.Error(), "--max-request-bytes") {
		t.Fatalf("Open against a 1.5 MiB request limit: %v, want an error naming --max-request-bytes", err)
	}
}
