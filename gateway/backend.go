package gateway

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking for round_robin
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// maxRecvMsgSize bounds one backend response (a page of 1000 resources or
// one change-feed message fits easily).
const maxRecvMsgSize = 64 << 20

// registryServiceConfig: one connection, no retries (mutations are not
// idempotent without a request id).
const registryServiceConfig = `{"loadBalancingConfig":[{"pick_first":{}}]}`

// dialBackend returns a client connection to the given addresses, resolved
// statically (no DNS lookups on the request path) and balanced by the
// service config. It does not block: connection failures surface as
// UNAVAILABLE on the first calls, and the connection recovers by itself,
// retrying with a backoff capped at maxDelay, once the backend is back.
func dialBackend(name string, addrs []string, serviceConfig string, maxDelay time.Duration, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	r := manual.NewBuilderWithScheme("talentreg-" + name)
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	bo := backoff.DefaultConfig
	bo.BaseDelay = 100 * time.Millisecond
	bo.MaxDelay = maxDelay
	conn, err := grpc.NewClient(r.Scheme()+":///"+name, append([]grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 5 * time.Second}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", name, err)
	}
	conn.Connect()
	return conn, nil
}

// checkServing asks conn's grpc.health.v1 service for the whole server's
// status and returns its name ("SERVING", "NOT_SERVING", …) and an error
// when it is not SERVING.
func checkServing(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "UNREACHABLE", err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return resp.GetStatus().String(), fmt.Errorf("status %s", resp.GetStatus())
	}
	return resp.GetStatus().String(), nil
}
