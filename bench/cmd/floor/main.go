// Command floor runs the benchmark's floors: with -mode grpc, a bare
// grpc-go server answering RegistryService.GetEntity from an in-memory map
// of the benchmark data set and MetricsService.GetSummary with a fixed
// answer; with -mode gateway, stock grpc-gateway (the generated handlers,
// default options) in front of such a server. Nothing else runs in the
// request path: no interceptors, no logging, no metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"talentreg/bench/dataset"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "grpc", "grpc (bare server) or gateway (stock grpc-gateway)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	entities := fs.Int("entities", 1000, "grpc: entities 0..n-1 of the data set to serve")
	backend := fs.String("backend", "", "gateway: the gRPC server to forward to")
	pprofAddr := fs.String("pprof-addr", "", "serve /debug/pprof on this address (off when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		pl, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go http.Serve(pl, mux) //nolint:errcheck // diagnostics only; ends with the process
	}
	switch *mode {
	case "grpc":
		return serveGRPC(ctx, lis, *entities)
	case "gateway":
		if *backend == "" {
			return errors.New("-backend is required with -mode gateway")
		}
		return serveGateway(ctx, lis, *backend)
	}
	return fmt.Errorf("unknown -mode %q", *mode)
}

// registry answers GetEntity from a map.
type registry struct {
	registryv1.UnimplementedRegistryServiceServer
	byName map[string]*registryv1.Entity
}

var _ registryv1.RegistryServiceServer = (*registry)(nil)

func (r *registry) GetEntity(_ context.Context, req *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	e, ok := r.byName[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s not found", req.GetName())
	}
	return &registryv1.GetEntityResponse{Entity: e}, nil
}

// metrics answers GetSummary with a fixed summary of the data set.
type metrics struct {
	metricsv1.UnimplementedMetricsServiceServer
	summary *metricsv1.GetSummaryResponse
}

var _ metricsv1.MetricsServiceServer = (*metrics)(nil)

func (m *metrics) GetSummary(context.Context, *metricsv1.GetSummaryRequest) (*metricsv1.GetSummaryResponse, error) {
	return m.summary, nil
}

func summaryOf(n int) *metricsv1.GetSummaryResponse {
	byKind := map[string]int64{}
	var leading, platforms, either int64
	for i := range n {
		e := dataset.NewEntity(i)
		byKind[e.GetKind().String()]++
		if e.GetLeadingEnterprise() {
			leading++
		}
		if e.GetFutureIndustryPlatform() {
			platforms++
		}
		if e.GetLeadingEnterprise() || e.GetFutureIndustryPlatform() {
			either++
		}
	}
	return &metricsv1.GetSummaryResponse{
		Revision: int64(n), Entities: int64(n), EntitiesByKind: byKind,
		Consortia: 4, Alliances: 19, ConsortiumMembers: 514, AllianceMembers: 2198,
		TalentsGathered: 863000, TalentsCultivated: 18000, TalentsAssessed: 150000,
		AssessingEntities: 3800, ConsortiumMemberships: 530, AllianceMemberships: 2410,
		LeadingEnterprises: leading, FutureIndustryPlatforms: platforms,
		PlatformsOrLeadingEnterprises: either, TalentRecords: 12000, Programs: 2,
	}
}

func serveGRPC(ctx context.Context, lis net.Listener, n int) error {
	byName := make(map[string]*registryv1.Entity, n)
	for i := range n {
		e := dataset.Entity(i)
		byName[e.GetName()] = e
	}
	srv := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(srv, &registry{byName: byName})
	metricsv1.RegisterMetricsServiceServer(srv, &metrics{summary: summaryOf(n)})
	healthpb.RegisterHealthServer(srv, health.NewServer()) // SERVING by default
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	return srv.Serve(lis)
}

func serveGateway(ctx context.Context, lis net.Listener, backend string) error {
	conn, err := grpc.NewClient(backend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	mux := runtime.NewServeMux()
	if err := registryv1.RegisterRegistryServiceHandler(ctx, mux, conn); err != nil {
		return err
	}
	if err := metricsv1.RegisterMetricsServiceHandler(ctx, mux, conn); err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
