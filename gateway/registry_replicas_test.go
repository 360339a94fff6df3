package gateway_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/gateway"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// countingRegistry is a fakeRegistry that counts the GetEntity calls it
// serves.
type countingRegistry struct {
	*fakeRegistry
	calls atomic.Int64
}

func (c *countingRegistry) GetEntity(ctx context.Context, req *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	c.calls.Add(1)
	return c.fakeRegistry.GetEntity(ctx, req)
}

// TestGateway_RegistryReplicas: --registry a,b balances over the replicas
// that serve; one NOT_SERVING (cut off from etcd) or gone gets no call
// and every request is answered by the other; /readyz is ready while one
// serves and not when none does, and the gateway follows a replica back
// by itself.
func TestGateway_RegistryReplicas(t *testing.T) {
	var regs []*countingRegistry
	var backends []*backend
	for range 2 {
		r := &countingRegistry{fakeRegistry: &fakeRegistry{}}
		backends = append(backends, startBackend(t, "127.0.0.1:0", func(s *grpc.Server) { registryv1.RegisterRegistryServiceServer(s, r) }))
		regs = append(regs, r)
	}
	fm := &fakeMetrics{replica: 1}
	fm.revision.Store(1)
	mb := startBackend(t, "127.0.0.1:0", func(s *grpc.Server) { metricsv1.RegisterMetricsServiceServer(s, fm) })
	cfg := gateway.DefaultConfig()
	cfg.Registry = backends[0].addr + "," + backends[1].addr
	cfg.Metrics = []string{mb.addr}
	s := startGateway(t, cfg)

	// servedBy reads until one batch of reads, all answered 200, was
	// served by exactly the replicas in want.
	servedBy := func(want ...int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			before := []int64{regs[0].calls.Load(), regs[1].calls.Load()}
			for range 10 {
				if r := do(t, "GET", s.url+"/v1/entities/a", nil, nil); r.status != 200 {
					return fmt.Errorf("GET: %v", r)
				}
			}
			for i, r := range regs {
				n := r.calls.Load() - before[i]
				in := i == want[0] || len(want) > 1 && i == want[1]
				if in && n == 0 || !in && n > 0 {
					return fmt.Errorf("replica %d served %d reads, want replicas %v only", i, n, want)
				}
			}
			return nil
		})
	}
	ready := func(want int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			if r := do(t, "GET", s.url+"/readyz", nil, nil); r.status != want {
				return fmt.Errorf("/readyz: %v, want %d", r, want)
			}
			return nil
		})
	}
	servedBy(0, 1)
	ready(200)

	backends[0].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	servedBy(1)
	ready(200)

	backends[0].health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	backends[1].stop()
	servedBy(0)
	ready(200)

	backends[0].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	ready(503)
	eventually(t, 10*time.Second, func() error {
		if r := do(t, "GET", s.url+"/v1/entities/a", nil, nil); r.status != 503 {
			return fmt.Errorf("GET with no replica serving: %v, want 503", r)
		}
		return nil
	})
	backends[0].health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	servedBy(0)
	ready(200)
}
