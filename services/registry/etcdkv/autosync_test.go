package etcdkv_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
)

// forward accepts connections on a loopback port and pipes each to
// target, until the test ends; it returns its address.
func forward(t *testing.T, target string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return lis.Addr().String()
}

// TestOpen_AutoSyncInterval: by default the client moves from the
// endpoints it was given to the members' advertised URLs (following
// membership changes); a negative interval keeps it on the given ones,
// which is what endpoints behind a proxy or load balancer need.
func TestOpen_AutoSyncInterval(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	member := cluster.Endpoints()[0]
	proxied := "http://" + forward(t, strings.TrimPrefix(member, "http://"))
	open := func(interval time.Duration) *etcdkv.Store {
		s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: []string{proxied}, AutoSyncInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	pinned, syncing := open(-1), open(50*time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Equal(syncing.Client().Endpoints(), []string{member}) {
		if time.Now().After(deadline) {
			t.Fatalf("a 50ms auto-sync still uses %v after 30 s, want the advertised %s", syncing.Client().Endpoints(), member)
		}
		time.Sleep(10 * time.Millisecond) // polling, not synchronisation
	}
	if got := pinned.Client().Endpoints(); !slices.Equal(got, []string{proxied}) {
		t.Fatalf("with auto-sync off the client uses %v, want the given %s", got, proxied)
	}
}
