package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"talentreg/platform/auth"
)

// metricValue reads one series from a Prometheus /metrics page.
func metricValue(url, name string) (float64, error) {
	r, err := send(context.Background(), "GET", url, nil)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(r.Body)
	if m == nil {
		return 0, fmt.Errorf("no %s at %s", name, url)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func mustMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	v, err := metricValue(url, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip: to the gateway, another client.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: 60 * time.Second, Transport: authed(&http.Transport{DialContext: d.DialContext, DisableKeepAlives: true})}
}

// firstEvent opens a watch of new changes and returns how long its first
// line (the caught-up message) took to arrive.
func firstEvent(t *testing.T, c *http.Client, url string) time.Duration {
	t.Helper()
	start := time.Now()
	resp, err := c.Get(url + "/v1/changes:watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthy watch: %d", resp.StatusCode)
	}
	if _, err := bufio.NewReader(resp.Body).ReadBytes('\n'); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// medianFirstEvent is firstEvent's median over five watches.
func medianFirstEvent(t *testing.T, c *http.Client, url string) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range 5 {
		ds = append(ds, firstEvent(t, c, url))
	}
	slices.Sort(ds)
	return ds[2]
}

// TestWatch_StalledWatchersBounded is issue 12's probe: 500 HTTP watchers
// of a backlog of 20,000 changes that never read (before the limits it
// took the gateway to 990 MiB and the registry to 800 MiB, and a healthy
// watcher waited 12.8 s for its first byte). Now the gateway holds at
// most 8 of them at once (its per-client limit) and refuses the rest, the live heaps of the
// gateway and the registry stay within 128 MiB of where they were, a
// watcher of another client gets its first event about as fast as before
// the probe (the median of five, within twenty times the baseline plus
// two seconds: latency is not asserted finely; before, 12.8 s), and the stalled streams are
// ended at the stall timeout, on both sides. Memory is the live heap
// after a forced collection, robust against how much garbage the GC
// lets pile up.
func TestWatch_StalledWatchersBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e")
	}
	// The gateway's stall timeout is below the registry's (60 s), as by
	// default: the gateway, which sees its client stall, ends the watch.
	s := startStack(t, stackOptions{
		gatewayArgs: []string{"--stream-stall-timeout", "3s", "--admin-addr", "127.0.0.1:0", "--admin-pprof"},
	})
	for b := range 20 {
		var reqs []map[string]any
		for i := range 1000 {
			reqs = append(reqs, map[string]any{"entityId": fmt.Sprintf("probe-%d-%d", b, i),
				"entity": map[string]any{"displayName": "Probe entity with a name of some length", "kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai"}})
		}
		s.must(t, "POST", "/v1/entities:batchCreate", map[string]any{"requests": reqs})
	}
	gwMetrics, regMetrics := "https://"+s.gateway.adminAddr+"/metrics", "https://"+s.registry.adminAddr+"/metrics"
	// The live heap: the heap in use right after collections (forced
	// through pprof; two, so that sync.Pool caches are dropped too), not
	// the garbage a high GOGC lets accumulate.
	liveHeap := func(p *proc) float64 {
		t.Helper()
		for range 2 {
			if _, err := send(context.Background(), "GET", "https://"+p.adminAddr+"/debug/pprof/heap?gc=1", nil); err != nil {
				t.Fatal(err)
			}
		}
		return mustMetric(t, "https://"+p.adminAddr+"/metrics", "go_memstats_heap_alloc_bytes")
	}
	baseGW, baseReg := liveHeap(s.gateway), liveHeap(s.registry)
	baseStreams := mustMetric(t, regMetrics, "talentreg_registry_streams_open") // the metrics replica's watch
	healthy := clientFrom("127.0.0.2")
	baseline := medianFirstEvent(t, healthy, s.url)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 500 {
		raw, err := net.Dial("tcp", s.gateway.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		_ = raw.(*net.TCPConn).SetReadBuffer(4 << 10)
		cfg := devTLS.Clone()
		cfg.ServerName = "localhost"
		c := tls.Client(raw, cfg)
		conns = append(conns, c)
		if _, err := fmt.Fprintf(c, "GET /v1/changes:watch?startRevision=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", tokens[auth.RoleAdmin]); err != nil {
			t.Fatal(err)
		}
	}
	// Every watcher is answered: held (open, or already ended by the stall
	// timeout) or refused. On a loaded machine opening 500 TLS connections
	// can take longer than the 3 s stall timeout, so the first streams may
	// end, and free their slots, before the last watchers arrive: then more
	// than 8 are admitted in all, but never more than 8 at once.
	var admitted float64
	eventually(t, 120*time.Second, func() error {
		refused := mustMetric(t, gwMetrics, "talentreg_gateway_watch_streams_refused_total")
		open := mustMetric(t, gwMetrics, "talentreg_gateway_watch_streams_open")
		stalled := mustMetric(t, gwMetrics, "talentreg_gateway_watch_streams_stalled_total")
		if open > 8 {
			t.Fatalf("%v watch streams of one client open at once, want at most 8", open)
		}
		admitted = open + stalled
		if refused+admitted != 500 || admitted < 8 {
			return fmt.Errorf("%v watch streams open, %v ended stalled, %v refused; want 500 answered, at least 8 (the per-client limit) held", open, stalled, refused)
		}
		return nil
	})
	if admitted > 8 {
		t.Logf("%v streams admitted in all: some stalled out before the last watchers connected (a slow machine)", admitted)
	}
	loaded := medianFirstEvent(t, healthy, s.url)
	// The stalled streams hold what they hold until the stall timeout:
	// the heaps are read while they do.
	var peakGW, peakReg float64
	for range 3 {
		peakGW = max(peakGW, liveHeap(s.gateway))
		peakReg = max(peakReg, liveHeap(s.registry))
	}
	t.Logf("live heap: gateway %.0f → %.0f MiB, registry %.0f → %.0f MiB; first event of a healthy watch %v → %v",
		baseGW/(1<<20), peakGW/(1<<20), baseReg/(1<<20), peakReg/(1<<20), baseline, loaded)
	if peakGW > baseGW+128<<20 || peakReg > baseReg+128<<20 {
		t.Errorf("heap grew by %.0f MiB (gateway) and %.0f MiB (registry) with 500 stalled watchers, want at most 128 MiB each",
			(peakGW-baseGW)/(1<<20), (peakReg-baseReg)/(1<<20))
	}
	if loaded > 20*baseline+2*time.Second {
		t.Errorf("a healthy watch waited %v for its first event with stalled watchers, %v without", loaded, baseline)
	}

	eventually(t, 60*time.Second, func() error {
		stalled := mustMetric(t, gwMetrics, "talentreg_gateway_watch_streams_stalled_total")
		open := mustMetric(t, gwMetrics, "talentreg_gateway_watch_streams_open")
		regOpen := mustMetric(t, regMetrics, "talentreg_registry_streams_open")
		if stalled != admitted || open != 0 || regOpen != baseStreams {
			return fmt.Errorf("gateway: %v stalled, %v open (want %v, 0); registry: %v streams open (want %v)", stalled, open, admitted, regOpen, baseStreams)
		}
		return nil
	})
}
