package main

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"talentreg/services/metrics/internal/registrytest"
)

// tcpProxy forwards connections from its own loopback address to target:
// to the follower, each proxy of one registry is a replica of it (same id,
// same revisions). cut closes the listener and every connection — the
// replica is gone — and restore listens on the same address again.
type tcpProxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	lis   net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = lis.Addr().String()
	p.serve(lis)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
					p.mu.Lock()
					delete(p.conns, pair[0])
					delete(p.conns, pair[1])
					p.mu.Unlock()
				}()
			}
		}
	}()
}

// open reports how many connections pass through the proxy now.
func (p *tcpProxy) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) restore() {
	p.t.Helper()
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(lis)
}

// TestRun_FollowsReplicasAndFailsOver: with --registry naming two
// replicas of one registry, the service follows whichever serves; when
// the one it follows goes away it resumes on the other from its applied
// revision — no snapshot reload, no gap, no change applied twice (the
// figures equal a recount and VerifyProjection agrees) — and goes back
// when only the first is left.
func TestRun_FollowsReplicasAndFailsOver(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	ctx := testCtx(t)
	a, b := startProxy(t, reg.Addr), startProxy(t, reg.Addr)
	svc := startService(t, a.addr+","+b.addr, filepath.Join(t.TempDir(), "metrics.db"), true)
	populate(t, w, "x")
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}

	// Only one replica at a time: wherever the feed was, it must move.
	a.cut()
	populate(t, w, "y")
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatalf("with replica a gone: %v", err)
	}
	a.restore()
	b.cut()
	populate(t, w, "z")
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatalf("with replica b gone: %v", err)
	}
	if a.open() == 0 {
		t.Fatal("no connection through replica a while b is gone")
	}
	if n := svc.scrape("talentreg_metrics_reconnects_total"); n < 1 {
		t.Fatalf("%v reconnects, want at least 1: the feed never moved", n)
	}
	if n := svc.scrape("talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Fatalf("%v snapshot loads, want 1: failing over must resume the feed, not reload", n)
	}
	if n := svc.scrape("talentreg_metrics_anomalies_total"); n != 0 {
		t.Fatalf("%v anomalies", n)
	}
}

// TestConfig_RegistryList: --registry takes one target as before or a list
// of distinct host:port addresses.
func TestConfig_RegistryList(t *testing.T) {
	for flag, want := range map[string]string{
		"127.0.0.1:9090":               "",
		"dns:///registry.example:9090": "",
		"a:1,b:2, c:3":                 "",
		"a:1,":                         "",
		"":                             "at least one",
		" , ":                          "at least one",
		"a:1,b":                        `"b": each address of a list must be host:port`,
		"a:1,dns:///b:2":               "must be host:port",
		"a:1,a:1":                      "listed twice",
	} {
		cfg := DefaultConfig()
		cfg.Registry = flag
		err := cfg.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("--registry %q: %v", flag, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("--registry %q: %v, want an error with %q", flag, err, want)
		}
	}
	if got := registryAddrs(" a:1 ,b:2,,"); strings.Join(got, "|") != "a:1|b:2" {
		t.Errorf("registryAddrs: %q", got)
	}
}
