package grpcapi_test

import (
	"context"
	"testing"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

// BenchmarkGetSummary calls GetSummary over loopback gRPC: the latency a
// client sees, serial and with concurrent callers.
//
//	go test -run '^$' -bench GetSummary talentreg/services/metrics/grpcapi
func BenchmarkGetSummary(b *testing.B) {
	live, m := fixture(b)
	c := serve(b, live, nil)
	ctx := context.Background()
	req := &metricsv1.GetSummaryRequest{MinRevision: m.Revision}
	b.Run("serial", func(b *testing.B) {
		for range b.N {
			if _, err := c.GetSummary(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.GetSummary(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
