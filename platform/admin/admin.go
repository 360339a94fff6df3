// Package admin serves a binary's operator endpoints on their own port:
// Prometheus /metrics, a /healthz liveness probe and, when asked for,
// /debug/pprof.
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the admin routes, exposing the metrics gathered by g,
// and /debug/pprof with withPprof. The admin port takes no credential (a
// Prometheus scrapes it), and pprof gives whoever reaches it the command
// line, every goroutine's stack and CPU time on demand: operators turn it
// on where they need it (--admin-pprof), it is off by default.
func Handler(g prometheus.Gatherer, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", boundedSeconds(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", boundedSeconds(pprof.Trace))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Start listens on addr and serves the admin routes over g (pprof with
// withPprof) until ctx ends, over TLS when tlsCfg is set; an empty addr
// disables the admin server. The returned wait blocks until the server has
// stopped and returns its error.
func Start(ctx context.Context, addr string, g prometheus.Gatherer, log *slog.Logger, tlsCfg *tls.Config, withPprof bool) (wait func() error, err error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		lis = tls.NewListener(lis, tlsCfg)
	}
	log.Info("admin serving", "addr", lis.Addr().String(), "tls", tlsCfg != nil)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, lis, Handler(g, withPprof), log) }()
	return func() error { return <-done }, nil
}

// maxProfileSeconds bounds a CPU profile or trace: pprof extends the
// write deadline to whatever length is asked, so ?seconds=99999999999 held
// the profiler, which serves one profile at a time, for good.
const maxProfileSeconds = 300

// boundedSeconds refuses a profile longer than maxProfileSeconds.
func boundedSeconds(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if sec, err := strconv.ParseInt(r.FormValue("seconds"), 10, 64); err == nil && sec > maxProfileSeconds {
			http.Error(w, fmt.Sprintf("seconds: at most %d, got %d", maxProfileSeconds, sec), http.StatusBadRequest)
			return
		}
		h(w, r)
	}
}

// Serve serves h on lis until ctx ends, then shuts down within 5 s.
func Serve(ctx context.Context, lis net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("admin server shutdown", "err", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
