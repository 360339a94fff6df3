// Package admin serves a binary's operator endpoints on their own port:
// Prometheus /metrics, /debug/pprof and a /healthz liveness probe.
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the admin routes, exposing the metrics gathered by g.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Start listens on addr and serves the admin routes over g until ctx ends,
// over TLS when tlsCfg is set; an empty addr disables the admin server.
// The returned wait blocks until the server has stopped and returns its
// error.
func Start(ctx context.Context, addr string, g prometheus.Gatherer, log *slog.Logger, tlsCfg *tls.Config) (wait func() error, err error) {
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
	go func() { done <- Serve(ctx, lis, Handler(g), log) }()
	return func() error { return <-done }, nil
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
