package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// serve starts the admin routes on a loopback port and returns their base URL.
func serve(t *testing.T, withPprof bool) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, lis, Handler(prometheus.NewRegistry(), withPprof), slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + lis.Addr().String()
}

func get(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestHandler_PprofOnlyWhenAsked: the admin port takes no credential, so
// /debug/pprof is served only with withPprof, for GET only; /metrics and
// /healthz always.
func TestHandler_PprofOnlyWhenAsked(t *testing.T) {
	off, on := serve(t, false), serve(t, true)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=2", "/debug/pprof/heap"} {
		if code := get(t, "GET", off+p); code != http.StatusNotFound {
			t.Errorf("GET %s without pprof: %d, want 404", p, code)
		}
		if code := get(t, "GET", on+p); code != http.StatusOK {
			t.Errorf("GET %s with pprof: %d, want 200", p, code)
		}
	}
	if code := get(t, "DELETE", on+"/debug/pprof/cmdline"); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE cmdline: %d, want 405", code)
	}
	for _, base := range []string{off, on} {
		if get(t, "GET", base+"/metrics") != 200 || get(t, "GET", base+"/healthz") != 200 {
			t.Errorf("%s: /metrics or /healthz not served", base)
		}
	}
}

// TestServe_ProfileLengthBounded: a CPU profile or trace longer than
// maxProfileSeconds is refused at once (400), not run for ever.
func TestServe_ProfileLengthBounded(t *testing.T) {
	on := serve(t, true)
	for _, p := range []string{"/debug/pprof/profile?seconds=99999999999", "/debug/pprof/trace?seconds=99999999999"} {
		if code := get(t, "GET", on+p); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", p, code)
		}
	}
}
