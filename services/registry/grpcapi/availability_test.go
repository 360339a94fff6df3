package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/storage"
)

// TestStreams_EndWhileTheStoreIsLost: when the store is lost
// (SetStoreAvailable(false)) an open watch ends UNAVAILABLE with reason
// STORE_UNAVAILABLE after what it was sent, and new watches and snapshots
// are refused the same way at once; unary calls still run; once the store
// is back, watches and snapshots work again.
func TestStreams_EndWhileTheStoreIsLost(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	batch(t, e, "a", 3)
	ctx := testCtx(t)
	w := watch(t, ctx, e.client, 1)
	w.until(t, 1, 3)

	e.api.SetStoreAvailable(false)
	select {
	case err := <-w.errc:
		wantReason(t, err, codes.Unavailable, grpcapi.ReasonStoreUnavailable)
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end within 10 s of the store being lost")
	}
	for len(w.msgs) > 0 {
		if m := <-w.msgs; !m.progress {
			t.Fatalf("revision %d after the last one written", m.rev)
		}
	}
	waitFor(t, "the ended watch frees its slot", func() bool { return e.api.StreamStats().Open == 0 })
	stream, err := e.client.WatchChanges(ctx, &registryv1.WatchChangesRequest{StartRevision: 1})
	if err == nil {
		_, err = stream.Recv()
	}
	wantReason(t, err, codes.Unavailable, grpcapi.ReasonStoreUnavailable)
	snap, err := e.client.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{})
	if err == nil {
		_, err = snap.Recv()
	}
	wantReason(t, err, codes.Unavailable, grpcapi.ReasonStoreUnavailable)
	if _, err := e.client.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/a0"}); err != nil {
		t.Fatalf("a unary call while the store is marked lost: %v (unary calls are not refused)", err)
	}

	e.api.SetStoreAvailable(true)
	e.api.SetStoreAvailable(true) // idempotent
	batch(t, e, "b", 2)
	w = watch(t, ctx, e.client, 1)
	w.until(t, 1, 5)
	if rev, _ := snapshot(t, ctx, e.client); rev != 5 {
		t.Fatalf("snapshot after the store is back: revision %d, want 5", rev)
	}
}
