// Package grpcserver builds a talentreg gRPC server: panic recovery,
// Prometheus metrics and call logging as interceptors, plus the standard
// health and reflection services, and a graceful serve loop.
package grpcserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"talentreg/platform/auth"
)

// Options configure a Server beyond grpc.ServerOptions.
type Options struct {
	// Auth authenticates and authorizes every call but health and
	// reflection. Nil means authentication off: every caller may do
	// everything (auth.MethodNone).
	Auth *auth.Authenticator
	// TLS, when set, serves TLS (mutual TLS if it asks for client
	// certificates).
	TLS *tls.Config
	// NoReflection leaves gRPC server reflection out.
	NoReflection bool
}

// Server is a gRPC server with its health service.
type Server struct {
	*grpc.Server
	// Health reports serving status; the empty service name is the whole
	// server. It starts SERVING unless the caller changes it.
	Health *health.Server
	log    *slog.Logger
}

// Connection limits every server sets (a caller's options may override
// them): MaxConcurrentStreams bounds the calls one connection may have open
// at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; the gateway multiplexes
// all its requests over one connection, hence a high bound); the server
// pings a connection idle for KeepaliveTime and closes it when the ping
// is not answered within KeepaliveTimeout, so a client that vanished
// does not hold its streams; and clients may ping at most every 10 s
// (more often is answered GOAWAY too_many_pings).
const (
	MaxConcurrentStreams = 1000
	// streamWorkers is how many goroutines serve calls, reused from call
	// to call; an idle one costs a few KiB.
	streamWorkers    = 128
	KeepaliveTime    = time.Minute
	KeepaliveTimeout = 20 * time.Second
)

// New returns a server whose calls are recovered from panics (INTERNAL,
// stack logged), counted in reg, authenticated and authorized by o.Auth,
// and logged to log: failures at info, warn or error level by code,
// successful mutations at info with their principal, other successful calls
// at debug.
func New(log *slog.Logger, reg prometheus.Registerer, o Options, opts ...grpc.ServerOption) *Server {
	if o.Auth == nil {
		o.Auth, _ = auth.New(auth.Options{}) // off: cannot fail
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 5}),
	))
	reg.MustRegister(metrics)
	recoverFn := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	all := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recoverFn),
			metrics.UnaryServerInterceptor(),
			unaryLogger(log),
			unaryRejectMalformed,
			o.Auth.UnaryServerInterceptor(),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recoverFn),
			metrics.StreamServerInterceptor(),
			streamLogger(log),
			streamRejectMalformed,
			o.Auth.StreamServerInterceptor(),
		),
		grpc.ForceServerCodecV2(NewCodec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout}),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		// Reuse handler goroutines, whose stacks have already grown to what
		// a call needs: a fresh goroutine per call spent ~15% of the
		// registry's CPU growing its stack (profiled under GetEntity load).
		// A call finding no idle worker still gets a fresh goroutine, so
		// there are as many workers as calls usually in flight, not one
		// per CPU: with GOMAXPROCS workers and the gateway's 50 concurrent
		// calls, growing stacks was still 13-16% of the registry's CPU;
		// with streamWorkers, under 1% (bench/TUNING.md).
		grpc.NumStreamWorkers(uint32(max(streamWorkers, runtime.GOMAXPROCS(0)))),
	}, opts...)
	if o.TLS != nil {
		all = append(all, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	s := &Server{Server: grpc.NewServer(all...), Health: health.NewServer(), log: log}
	healthpb.RegisterHealthServer(s.Server, s.Health)
	if !o.NoReflection {
		reflection.Register(s.Server)
	}
	return s
}

// Serve serves on lis until ctx ends, then marks every service NOT_SERVING,
// lets in-flight calls finish for up to grace, and stops.
func (s *Server) Serve(ctx context.Context, lis net.Listener, grace time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- s.Server.Serve(lis) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		s.log.Warn("graceful stop timed out; closing remaining streams", "grace", grace)
		s.Stop()
		<-stopped
	}
	return nil
}
