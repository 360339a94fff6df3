package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking for round_robin
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"talentreg/platform/tlsfiles"
)

// maxRecvMsgSize bounds one backend response (a page of 1000 resources or
// one change-feed message fits easily).
const maxRecvMsgSize = 64 << 20

// registryServiceConfig: one connection, no retries (mutations are not
// idempotent without a request id).
const registryServiceConfig = `{"loadBalancingConfig":[{"pick_first":{}}]}`

// metricsServiceConfig balances across replicas, skips replicas whose
// grpc.health.v1 status is not SERVING, and retries a read that failed with
// UNAVAILABLE (a replica that died mid-call) on another replica: every
// metrics RPC is read-only.
const metricsServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""},
  "methodConfig": [{
    "name": [{"service": "talentreg.metrics.v1.MetricsService"}],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.01s",
      "maxBackoff": "0.1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// dialBackend returns a client connection to the given addresses, balanced
// by the service config, with no DNS lookup on the request path. With
// resolveEvery > 0 host names are resolved to every address they stand
// for, again every resolveEvery until ctx ends (see keepResolved);
// otherwise the addresses are used as given. tlsc, when enabled, is the
// TLS to the backend (its CA, the gateway's client certificate). It does
// not block: connection failures surface as UNAVAILABLE on the first
// calls, and the connection recovers by itself, retrying with a backoff
// capped at maxDelay, once the backend is back.
func dialBackend(ctx context.Context, name string, addrs []string, serviceConfig string, maxDelay, resolveEvery time.Duration, log *slog.Logger, tlsc tlsfiles.Client) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsc.Enabled() {
		cfg, err := tlsc.Config()
		if err != nil {
			return nil, fmt.Errorf("%s client: %w", name, err)
		}
		creds = credentials.NewTLS(cfg)
	}
	r := manual.NewBuilderWithScheme("talentreg-" + name)
	state := resolver.State{}
	if resolveEvery > 0 {
		state.Addresses = initialAddresses(ctx, addrs, log)
	} else {
		for _, a := range addrs {
			state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
		}
	}
	r.InitialState(state)
	bo := backoff.DefaultConfig
	bo.BaseDelay = 100 * time.Millisecond
	bo.MaxDelay = maxDelay
	conn, err := grpc.NewClient(r.Scheme()+":///"+name,
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 5 * time.Second}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", name, err)
	}
	conn.Connect()
	if resolveEvery > 0 {
		go keepResolved(ctx, r, name, addrs, state.Addresses, resolveEvery, log)
	}
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
