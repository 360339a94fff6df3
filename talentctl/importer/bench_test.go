package importer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"talentreg/talentctl/creditcode"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// BenchmarkStream_MillionEntities measures Import alone, from memory: one
// stream of 1,000,000 entities into a real registry process with a fresh
// database. Compare with the cli package's file benchmark to see what
// reading files costs.
func BenchmarkStream_MillionEntities(b *testing.B) {
	const n = 1_000_000
	items := make([]*registryv1.Resource, n)
	for i := range items {
		code, err := creditcode.Make("91", "120116", fmt.Sprintf("%08d", i))
		if err != nil {
			b.Fatal(err)
		}
		items[i] = &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{
			Name:        fmt.Sprintf("entities/e%07d", i),
			DisplayName: fmt.Sprintf("Tianjin Binhai Enterprise %07d Co., Ltd.", i),
			Kind:        registryv1.EntityKind_ENTITY_KIND_ENTERPRISE,
			CreditCode:  code,
			Region:      "Binhai",
			Industries:  []string{"aerospace", "new-materials"},
		}}}
	}
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		c := registry(b)
		b.StartTimer()
		start := time.Now()
		resp, err := Stream(context.Background(), c, Options{ChunkSize: 2000}, func(add func(*registryv1.Resource, *fieldmaskpb.FieldMask) error) error {
			for _, r := range items {
				if err := add(r, nil); err != nil {
					return err
				}
			}
			return nil
		})
		elapsed += time.Since(start)
		if err != nil || resp.GetEntities().GetCreated() != n {
			b.Fatalf("Stream = %v, %v", resp.GetEntities(), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "items/s")
}
