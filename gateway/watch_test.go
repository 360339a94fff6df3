package gateway_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"talentreg/gateway"
	"talentreg/platform/admin"
)

// gatewayMetric reads one series of the gateway's /metrics.
func gatewayMetric(t *testing.T, s *stack, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	admin.Handler(s.reg, false).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(rec.Body.Bytes())
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// openWatch starts a watch as client and returns the response once the
// first line has arrived (or the refusal).
func openWatch(t *testing.T, url, client string) (*http.Response, response) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/changes:watch", nil)
	req.Header.Set("X-Test-Client", client)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		defer resp.Body.Close()
		var b []byte
		b, _ = bufio.NewReader(resp.Body).ReadBytes(0)
		return nil, response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	if _, err := bufio.NewReader(resp.Body).ReadBytes('\n'); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, response{status: 200}
}

func TestGateway_WatchStreamsCapped(t *testing.T) {
	s, _, _ := startStack(t, 1, func(c *gateway.Config) {
		c.MaxWatchStreams, c.MaxWatchStreamsPerClient = 3, 2
		c.ClientKey = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
	a1, _ := openWatch(t, s.url, "a")
	openWatch(t, s.url, "a")
	_, r := openWatch(t, s.url, "a")
	m := errorBody(t, r, http.StatusTooManyRequests, codes.ResourceExhausted)
	if info := detail(m, "google.rpc.ErrorInfo"); info["reason"] != gateway.ReasonStreamLimit || r.header.Get("Retry-After") == "" {
		t.Fatalf("third watch of a client: %v, want STREAM_LIMIT with Retry-After", r)
	}
	openWatch(t, s.url, "b")
	_, r = openWatch(t, s.url, "c")
	m = errorBody(t, r, http.StatusTooManyRequests, codes.ResourceExhausted)
	if md, _ := detail(m, "google.rpc.ErrorInfo")["metadata"].(map[string]any); md["scope"] != "server" {
		t.Fatalf("fourth watch in all: %v, want the server limit", r)
	}
	if n := gatewayMetric(t, s, "talentreg_gateway_watch_streams_refused_total"); n != 2 {
		t.Fatalf("refused_total = %v, want 2", n)
	}
	a1.Body.Close()
	eventually(t, 10*time.Second, func() error {
		if n := gatewayMetric(t, s, "talentreg_gateway_watch_streams_open"); n != 2 {
			return fmt.Errorf("%v watch streams open after one closed, want 2", n)
		}
		return nil
	})
	openWatch(t, s.url, "c")
}

// TestGateway_StalledWatchEnded: a client that sends a watch request and
// never reads is cut off after the stall timeout, freeing its slot; a
// client reading meanwhile is served.
func TestGateway_StalledWatchEnded(t *testing.T) {
	s, _, _ := startStack(t, 1, func(c *gateway.Config) {
		// Long enough that the healthy reader, starved of CPU on a loaded
		// machine, is never mistaken for a stalled one.
		c.StreamStallTimeout = time.Second
	})
	s.registry.flood.Store(true)
	c, err := net.Dial("tcp", s.url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := fmt.Fprintf(c, "GET /v1/changes:watch HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	healthy, _ := openWatch(t, s.url, "b")
	var lines atomic.Int64
	go func() { // drains as fast as it can: it never stalls
		br := bufio.NewReaderSize(healthy.Body, 1<<20)
		for {
			if _, err := br.ReadBytes('\n'); err != nil {
				return
			}
			lines.Add(1)
		}
	}()
	eventually(t, 60*time.Second, func() error {
		if n := gatewayMetric(t, s, "talentreg_gateway_watch_streams_stalled_total"); n != 1 {
			return fmt.Errorf("stalled_total = %v, want 1", n)
		}
		return nil
	})
	n := lines.Load()
	eventually(t, 30*time.Second, func() error {
		if got := lines.Load(); got < n+20 {
			return fmt.Errorf("the healthy watch got %d lines since, want 20", got-n)
		}
		return nil
	})
	if n := gatewayMetric(t, s, "talentreg_gateway_watch_streams_stalled_total"); n != 1 {
		t.Fatalf("stalled_total = %v: the healthy watch was cut off too", n)
	}
	healthy.Body.Close()
	eventually(t, 10*time.Second, func() error {
		if n := gatewayMetric(t, s, "talentreg_gateway_watch_streams_open"); n != 0 {
			return fmt.Errorf("%v watch streams open, want 0", n)
		}
		return nil
	})
}
