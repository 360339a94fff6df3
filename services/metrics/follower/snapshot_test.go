package follower_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
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

// cutRegistry's snapshot streams end after `after` messages (all, when
// negative) with err (io.EOF: as if the stream closed cleanly). It notes
// Recv calls made after an error, and whether one is in progress.
type cutRegistry struct {
	registryv1.RegistryServiceClient
	after    int
	err      error
	inRecv   atomic.Int32
	afterErr atomic.Int32
	sawErr   atomic.Bool
}

func (c *cutRegistry) StreamSnapshot(ctx context.Context, in *registryv1.StreamSnapshotRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[registryv1.StreamSnapshotResponse], error) {
	s, err := c.RegistryServiceClient.StreamSnapshot(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return &cutStream{ServerStreamingClient: s, c: c}, nil
}

type cutStream struct {
	grpc.ServerStreamingClient[registryv1.StreamSnapshotResponse]
	c *cutRegistry
	n int
}

func (s *cutStream) Recv() (*registryv1.StreamSnapshotResponse, error) {
	s.c.inRecv.Add(1)
	defer s.c.inRecv.Add(-1)
	if s.c.sawErr.Load() {
		s.c.afterErr.Add(1)
	}
	var msg *registryv1.StreamSnapshotResponse
	err := s.c.err
	if s.c.after < 0 || s.n < s.c.after {
		msg, err = s.ServerStreamingClient.Recv()
	}
	s.n++
	if err != nil {
		s.c.sawErr.Store(true)
	}
	return msg, err
}

// TestSnapshot_AcrossMessages: a snapshot of several messages, decoded
// ahead of the loading, loads whole; a stream cut short, or failing, fails
// the snapshot with its error; and nothing reads the stream once Snapshot
// has returned, also when the read is given up at its first message.
func TestSnapshot_AcrossMessages(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	ctx := testCtx(t)
	c := reg.Client()
	for b := range 3 { // 2,400 entities: three messages of at most 1,000 resources
		batchCreate(t, c, fmt.Sprintf("b%d-", b), 800)
	}
	unavailable := status.Error(codes.Unavailable, "registry went away")
	for _, tc := range []struct {
		name    string
		after   int
		err     error
		stop    bool // atRevision ends the read
		wantErr func(error) bool
	}{
		{"whole", -1, io.EOF, false, func(err error) bool { return err == nil }},
		{"closed after two messages", 2, io.EOF, false, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "ended before its last message")
		}},
		{"failing after one message", 1, unavailable, false, func(err error) bool { return status.Code(err) == codes.Unavailable }},
		{"given up at the first message", -1, io.EOF, true, func(err error) bool { return errors.Is(err, errStop) }},
	} {
		cut := &cutRegistry{RegistryServiceClient: c, after: tc.after, err: tc.err}
		var atRevision func(int64, string) error
		if tc.stop {
			atRevision = func(int64, string) error { return errStop }
		}
		p, err := follower.Snapshot(ctx, cut, true, atRevision)
		if n := cut.inRecv.Load(); n != 0 {
			t.Errorf("%s: %d Recv calls still running after Snapshot returned", tc.name, n)
		}
		if !tc.wantErr(err) {
			t.Fatalf("%s: error %v", tc.name, err)
		}
		if n := cut.afterErr.Load(); n != 0 {
			t.Errorf("%s: Recv called %d times after it returned an error", tc.name, n)
		}
		if err == nil {
			if got := p.Summary().Entities; got != 2400 {
				t.Errorf("%s: %d entities, want 2400", tc.name, got)
			}
			if got := len(p.SearchDocs()); got != 2400 {
				t.Errorf("%s: %d search documents, want 2400", tc.name, got)
			}
		}
	}
}

var errStop = errors.New("stop")
