package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"talentreg/platform/command"
	"time"

	"talentreg/platform/admin"
	"talentreg/platform/flagenv"
	"talentreg/platform/grpcserver"
	"talentreg/platform/healthcheck"
	"talentreg/platform/logging"
	"talentreg/platform/security"
	"talentreg/services/metrics/checkpoint"
	"talentreg/services/metrics/follower"
	"talentreg/services/metrics/grpcapi"
	"talentreg/services/metrics/projection"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "verify" {
		return verify(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck.Run(ctx, args[1:], getenv, stdout, stderr, healthcheck.Target{
			GRPCAddr: DefaultConfig().GRPCAddr, Service: metricsv1.MetricsService_ServiceDesc.ServiceName})
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, "metrics", cfg.LogLevel)
	if err != nil {
		return command.UsageError{Err: err}
	}
	return serve(ctx, cfg, log)
}

// parseConfig fills a Config from flags, then the environment, then the
// defaults; errors are usageErrors.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.AddFlags(fs)
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return cfg, command.UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return cfg, command.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, command.UsageError{Err: err}
	}
	return cfg, nil
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	if dir := filepath.Dir(cfg.DB); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	store, err := checkpoint.Open(cfg.DB, checkpoint.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing the checkpoint", "err", err)
		}
	}()
	conn, err := dialRegistry(cfg.Registry, cfg.ReconnectMax, cfg.RegistryClient)
	if err != nil {
		return fmt.Errorf("--registry %s: %w", cfg.Registry, err)
	}
	defer conn.Close()
	client := registryv1.NewRegistryServiceClient(conn)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	live := projection.NewLive(cfg.MaxWait)
	live.SetSearch(cfg.Search)
	live.SetHistory(cfg.History)
	live.SetHistoryExactFor(cfg.HistoryExactFor)
	fol := follower.New(follower.Config{
		CheckpointInterval: cfg.CheckpointInterval,
		CheckpointEvery:    cfg.CheckpointEvery,
		BackoffMax:         cfg.ReconnectMax,
		StaleAfter:         cfg.StaleAfter,
		FullSnapshot:       cfg.Search,
	}, client, live, store, log, reg)
	live.SetHeadCheck(fol.CheckCommitted)

	readyGauge := registerReplicaMetrics(reg, cfg.DB, log)
	sec, err := cfg.Security.Build(log, reg)
	if err != nil {
		return command.UsageError{Err: err}
	}
	defer sec.Auth.Close()
	srv := grpcserver.New(log, reg, grpcserver.Options{Auth: sec.Auth, TLS: sec.GRPC, NoReflection: sec.NoReflection})
	api := grpcapi.New(live, follower.NewVerifier(client, live), log, cfg.Watch)
	api.Register(srv.Server)
	registerStreamMetrics(reg, api, cfg.Watch)
	// Not ready until the projection has caught up with the registry.
	service := metricsv1.MetricsService_ServiceDesc.ServiceName
	srv.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	srv.Health.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	adminWait, err := admin.Start(ctx, cfg.AdminAddr, reg, log, sec.Admin, cfg.AdminPprof)
	if err != nil {
		lis.Close()
		return err
	}
	sec.ReloadOnSIGHUP(ctx, log)

	followerDone := make(chan error, 1)
	go func() {
		err := fol.Run(ctx)
		if err != nil {
			cancel() // without a follower the figures go stale: stop serving
		}
		followerDone <- err
	}()
	go func() {
		// SERVING while the projection is caught up with the registry: not
		// before it first is, nor while it is reloaded after the registry
		// was replaced. After Health.Shutdown (on stop) updates are ignored.
		for {
			ready, changed := fol.Readiness()
			st := healthpb.HealthCheckResponse_NOT_SERVING
			readyGauge.Set(0)
			if ready {
				st = healthpb.HealthCheckResponse_SERVING
				readyGauge.Set(1)
			}
			srv.Health.SetServingStatus("", st)
			srv.Health.SetServingStatus(service, st)
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	log.Info("serving", "grpc_addr", lis.Addr().String(), "registry", cfg.Registry, "db", cfg.DB,
		"tls", sec.GRPC != nil, "auth", sec.Auth.Enabled())

	go func() { <-ctx.Done(); api.Shutdown() }() // open watches would hold a graceful stop
	serveErr := srv.Serve(ctx, lis, cfg.ShutdownGrace)
	cancel()
	// The follower saves its last checkpoint before returning.
	if err := <-followerDone; err != nil && serveErr == nil {
		serveErr = err
	}
	if err := adminWait(); err != nil && serveErr == nil {
		serveErr = err
	}
	log.Info("stopped", "revision", live.Revision())
	return serveErr
}

// verify asks a running metrics service to verify its projection.
func verify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("metrics verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", DefaultConfig().GRPCAddr, "gRPC address of the metrics service")
	timeout := fs.Duration("timeout", time.Minute, "how long the verification may take")
	var client security.Client
	fs.StringVar(&client.TLS.CAFile, "ca", "", "PEM CA bundle to verify the service's certificate (turns TLS on)")
	fs.StringVar(&client.TLS.CertFile, "cert", "", "PEM client certificate (mutual TLS)")
	fs.StringVar(&client.TLS.KeyFile, "key", "", "PEM key of --cert")
	fs.StringVar(&client.TokenFile, "token-file", "", "file holding a bearer token (the admin role: verification reads the whole registry)")
	fs.StringVar(&client.Token, "token", "", "bearer token (prefer --token-file or TALENTREG_TOKEN)")
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	if err := client.Validate(); err != nil {
		return command.UsageError{Err: err}
	}
	creds, err := client.DialOptions(*addr)
	if err != nil {
		return command.UsageError{Err: err}
	}
	conn, err := grpc.NewClient(*addr, creds...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := metricsv1.NewMetricsServiceClient(conn).VerifyProjection(ctx, &metricsv1.VerifyProjectionRequest{})
	if err != nil {
		return err
	}
	if resp.GetConsistent() {
		fmt.Fprintf(stdout, "consistent at revision %d\n", resp.GetRevision())
		return nil
	}
	fmt.Fprintf(stdout, "%d differences at revision %d:\n", len(resp.GetDifferences()), resp.GetRevision())
	for _, d := range resp.GetDifferences() {
		fmt.Fprintln(stdout, " ", d)
	}
	return fmt.Errorf("projection differs from a recount at revision %d", resp.GetRevision())
}
