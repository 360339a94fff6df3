package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	_ "google.golang.org/grpc/health" // client-side health checking (healthCheckConfig)
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/security"
)

// registryServiceConfig spreads the follower's calls over the registry
// replicas whose grpc.health.v1 status for the registry service is
// SERVING (client-side health checking). A replica that dies, or turns
// NOT_SERVING because it lost its etcd quorum (it then ends its watch
// streams too), is left at once: the follower's next attempt, which
// resumes the feed from its applied revision + 1, goes to a replica that
// serves. Replicas of one registry share its revisions and its id, so the
// resumed feed has no gap and no repeat.
var registryServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": "` + registryv1.RegistryService_ServiceDesc.ServiceName + `"}
}`

// registryAddrs splits --registry into its addresses.
func registryAddrs(flag string) []string {
	var out []string
	for _, a := range strings.Split(flag, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// validRegistry reports what is wrong with --registry: empty, or a list
// (several addresses) whose entries are not distinct host:port pairs. A
// single address may be any gRPC target, as before.
func validRegistry(flag string) error {
	addrs := registryAddrs(flag)
	if len(addrs) == 0 {
		return fmt.Errorf("--registry must name at least one address")
	}
	if len(addrs) == 1 {
		return nil
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("--registry %q: each address of a list must be host:port", a)
		}
		if seen[a] {
			return fmt.Errorf("--registry %q: listed twice", a)
		}
		seen[a] = true
	}
	return nil
}

// dialRegistry connects to the registry replicas at flag (see
// registryServiceConfig). One address is resolved by gRPC's DNS resolver,
// so a name standing for several replicas (a headless Service) balances
// over all of them; a comma-separated list is used as given, each name
// resolved by the dialer at each connection and verified in TLS against
// its own host. The channel's reconnect backoff is capped like the
// follower's: gRPC's default grows to two minutes, which would leave a
// restarted registry unfollowed that long.
func dialRegistry(flag string, maxBackoff time.Duration, client security.Client) (*grpc.ClientConn, error) {
	addrs := registryAddrs(flag)
	target := strings.Join(addrs, ",")
	creds, err := client.DialOptions(target)
	if err != nil {
		return nil, err
	}
	opts := append(creds,
		grpc.WithDefaultServiceConfig(registryServiceConfig),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: 5 * time.Second,
		}),
		// Detect a registry host that vanished without closing the
		// connection; the registry permits pings every 10 s or more.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	)
	if len(addrs) == 1 {
		return grpc.NewClient(addrs[0], opts...)
	}
	state := resolver.State{}
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a)
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: host})
	}
	r := manual.NewBuilderWithScheme("talentreg-registry")
	r.InitialState(state)
	return grpc.NewClient(r.Scheme()+":///registry", append(opts, grpc.WithResolvers(r))...)
}
