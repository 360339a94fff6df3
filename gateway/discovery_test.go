package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"talentreg/gateway"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	"talentreg/platform/freeport"
)

// fakeDNS resolves one name to a list of IPs that the test changes.
type fakeDNS struct {
	mu   sync.Mutex
	name string
	ips  []string
	err  error
}

func (d *fakeDNS) set(ips []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ips, d.err = ips, err
}

func (d *fakeDNS) lookup(_ context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if host != d.name {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return append([]string(nil), d.ips...), d.err
}

// TestGateway_MetricsNameResolvesToEveryReplica: --metrics names a host (a
// Kubernetes headless Service) standing for several replicas. Reads are
// balanced over all of them, a replica added behind the name gets reads
// within the resolve interval, one removed stops getting them, and a
// failed lookup keeps the last set.
func TestGateway_MetricsNameResolvesToEveryReplica(t *testing.T) {
	port := func() string { _, p, _ := net.SplitHostPort(freeport.For(t)); return p }()
	var fms []*fakeMetrics
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		fm := &fakeMetrics{replica: int64(i + 1)}
		startBackend(t, net.JoinHostPort(ip, port), func(s *grpc.Server) { metricsv1.RegisterMetricsServiceServer(s, fm) })
		fms = append(fms, fm)
	}
	dns := &fakeDNS{name: "metrics-replicas.test", ips: []string{"127.0.0.1", "127.0.0.2"}}
	t.Cleanup(gateway.SetLookupHost(dns.lookup))
	fr := &fakeRegistry{}
	rb := startBackend(t, "127.0.0.1:0", func(s *grpc.Server) { registryv1.RegisterRegistryServiceServer(s, fr) })
	cfg := gateway.DefaultConfig()
	cfg.Registry = rb.addr
	cfg.Metrics = []string{"metrics-replicas.test:" + port}
	cfg.MetricsResolve = 20 * time.Millisecond
	s := startGateway(t, cfg)

	// servedBy reads in batches until one batch was answered by exactly
	// the replicas in want, each at least once (round-robin).
	servedBy := func(want ...int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			before := make([]int64, len(fms))
			for i, fm := range fms {
				before[i] = fm.calls.Load()
			}
			for range 3*len(want) + 3 {
				if r := do(t, "GET", s.url+"/v1/summary", nil, nil); r.status != 200 {
					return fmt.Errorf("summary: %v", r)
				}
			}
			for i, fm := range fms {
				n := fm.calls.Load() - before[i]
				if in := slices.Contains(want, i); in && n == 0 || !in && n > 0 {
					return fmt.Errorf("replica %d read %d times, want replicas %v only", i+1, n, want)
				}
			}
			return nil
		})
	}
	servedBy(0, 1)
	dns.set([]string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil) // scaled out
	servedBy(0, 1, 2)
	dns.set([]string{"127.0.0.3"}, nil) // scaled in
	servedBy(2)
	dns.set(nil, errors.New("DNS is down"))
	servedBy(2)
}
