package follower_test

import (
	"context"
	"testing"

	"talentreg/services/metrics/follower"
	"talentreg/services/metrics/internal/registrytest"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// olderRegistry refuses the named snapshot view as a registry older than
// it does (an unknown view is INVALID_ARGUMENT), and notes the views asked.
type olderRegistry struct {
	registryv1.RegistryServiceClient
	views []registryv1.SnapshotView
}

func (c *olderRegistry) StreamSnapshot(ctx context.Context, in *registryv1.StreamSnapshotRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[registryv1.StreamSnapshotResponse], error) {
	c.views = append(c.views, in.GetView())
	if in.GetView() == registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED {
		return nil, status.Error(codes.InvalidArgument, "unknown snapshot view 3")
	}
	return c.RegistryServiceClient.StreamSnapshot(ctx, in, opts...)
}

// TestSnapshot_Views: with names, a snapshot carries the display names and
// credit codes the search index is built from — from the named view, or
// the full one from a registry without it — and without names (the
// aggregate view) it still carries targets' display names.
func TestSnapshot_Views(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	ctx := testCtx(t)
	c := reg.Client()
	if _, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "acme", Entity: &registryv1.Entity{
		DisplayName: "Acme Aerospace", Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, CreditCode: "91120116MA05JXXXX7"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTarget(ctx, &registryv1.CreateTargetRequest{TargetId: "t", Target: &registryv1.Target{
		DisplayName: "100 platforms", Metric: registryv1.TargetMetric_TARGET_METRIC_ENTITIES, GoalValue: 100}}); err != nil {
		t.Fatal(err)
	}
	old := &olderRegistry{RegistryServiceClient: c}
	for _, tc := range []struct {
		name   string
		client registryv1.RegistryServiceClient
		names  bool
	}{{"named", c, true}, {"full from an older registry", old, true}, {"aggregate", c, false}} {
		p, err := follower.Snapshot(ctx, tc.client, tc.names, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		docs := p.SearchDocs()
		if tc.names && (len(docs) != 1 || docs[0].DisplayName != "Acme Aerospace" || docs[0].CreditCode != "91120116MA05JXXXX7") {
			t.Errorf("%s: search documents %+v", tc.name, docs)
		}
		if tp := p.TargetProgress(); len(tp) != 1 || tp[0].DisplayName != "100 platforms" {
			t.Errorf("%s: target progress %+v, want the target's display name", tc.name, tp)
		}
	}
	if want := []registryv1.SnapshotView{registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED, registryv1.SnapshotView_SNAPSHOT_VIEW_FULL}; len(old.views) != 2 || old.views[0] != want[0] || old.views[1] != want[1] {
		t.Errorf("views asked of the older registry: %v, want %v", old.views, want)
	}
}
