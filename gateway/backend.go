package gateway

import (
	"context"
	"fmt"
	"net"
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

// registryReplicasConfig, for several registry replicas (on etcd): calls
// balanced over the replicas whose grpc.health.v1 status is SERVING, so
// that one that dies or loses its etcd quorum gets none; no retries, as
// above. Replicas share one store and its revisions: a read on any of
// them sees every write acknowledged by any (they read etcd
// linearizably).
const registryReplicasConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""}
}`

// dialBackend returns a client connection to the given addresses,
// balanced by the service config, with no DNS lookup on the request path.
// tlsc, when enabled, is the TLS to the backend (its CA, the gateway's
// client certificate); an address's ServerName, when set, is the name its
// certificate must hold. It does not block: connection failures surface
// as UNAVAILABLE on the first calls, and the connection recovers by
// itself, retrying with a backoff capped at maxDelay, once the backend is
// back. The connection closes when ctx ends, or on Close.
func dialBackend(ctx context.Context, name string, addrs []resolver.Address, serviceConfig string, maxDelay time.Duration, tlsc tlsfiles.Client, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsc.Enabled() {
		cfg, err := tlsc.Config()
		if err != nil {
			return nil, fmt.Errorf("%s client: %w", name, err)
		}
		creds = credentials.NewTLS(cfg)
	}
	r := manual.NewBuilderWithScheme("talentreg-" + name)
	r.InitialState(resolver.State{Addresses: addrs})
	bo := backoff.DefaultConfig
	bo.BaseDelay = 100 * time.Millisecond
	bo.MaxDelay = maxDelay
	conn, err := grpc.NewClient(r.Scheme()+":///"+name, append([]grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(creds),
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

// staticAddresses are addrs as given, resolved by the dialer at each
// connection; the host each names is the one its TLS certificate must
// hold (unless a --*-server-name overrides it).
func staticAddresses(addrs []string) []resolver.Address {
	out := make([]resolver.Address, len(addrs))
	for i, a := range addrs {
		out[i] = resolver.Address{Addr: a}
		if host, _, err := net.SplitHostPort(a); err == nil {
			out[i].ServerName = host
		}
	}
	return out
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
