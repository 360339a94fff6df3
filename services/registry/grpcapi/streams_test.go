package grpcapi_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/storage"
)

// byTestClient keys the per-client stream limit by the x-test-client
// metadata, standing in for distinct hosts (or, later, principals).
func byTestClient(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, "x-test-client"); len(v) == 1 {
		return v[0]
	}
	return grpcapi.PeerHost(ctx)
}

func asClient(ctx context.Context, name string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-test-client", name)
}

// waitFor polls cond until it holds, failing after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantReason checks err's code and ErrorInfo reason and returns its
// metadata.
func wantReason(t *testing.T, err error, code codes.Code, reason string) map[string]string {
	t.Helper()
	st, info, _ := errorDetails(t, err)
	if st.Code() != code || info.GetReason() != reason {
		t.Fatalf("error %v, want %v %s", err, code, reason)
	}
	return info.GetMetadata()
}

// slowReader dials the server with small flow-control windows (and so no
// window growth): a stream it does not read stalls the server's sends
// after a few tens of KiB.
func slowReader(t *testing.T, e *testEnv) registryv1.RegistryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(e.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registryv1.NewRegistryServiceClient(conn)
}

func batch(t *testing.T, e *testEnv, prefix string, n int) {
	t.Helper()
	req := &registryv1.BatchCreateEntitiesRequest{}
	for i := range n {
		req.Requests = append(req.Requests, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("%s%d", prefix, i), Entity: pbEntity(prefix)})
	}
	if _, err := e.client.BatchCreateEntities(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
}

func TestStreams_LimitPerClientAndInAll(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{ClientKey: byTestClient, Limits: grpcapi.StreamLimits{MaxStreams: 3, MaxStreamsPerClient: 2}})
	open := func(ctx context.Context, client string) (registryv1.RegistryService_WatchChangesClient, error) {
		s, err := e.client.WatchChanges(asClient(ctx, client), &registryv1.WatchChangesRequest{})
		if err != nil {
			return nil, err
		}
		_, err = s.Recv() // the first message says the stream is up, or why not
		return s, err
	}
	ctx := testCtx(t)
	a1ctx, closeA1 := context.WithCancel(ctx)
	if _, err := open(a1ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := open(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	_, err := open(ctx, "a")
	if md := wantReason(t, err, codes.ResourceExhausted, grpcapi.ReasonStreamLimit); md["scope"] != "client" || md["limit"] != "2" {
		t.Fatalf("third stream of one client: metadata %v, want the client limit 2", md)
	}
	if _, err := open(ctx, "b"); err != nil {
		t.Fatalf("another client's stream: %v", err)
	}
	_, err = open(ctx, "c")
	if md := wantReason(t, err, codes.ResourceExhausted, grpcapi.ReasonStreamLimit); md["scope"] != "server" {
		t.Fatalf("fourth stream in all: metadata %v, want the server limit", md)
	}
	// Snapshots count too.
	snap, err := e.client.StreamSnapshot(asClient(ctx, "c"), &registryv1.StreamSnapshotRequest{})
	if err == nil {
		_, err = snap.Recv()
	}
	wantReason(t, err, codes.ResourceExhausted, grpcapi.ReasonStreamLimit)

	closeA1()
	waitFor(t, "a closed stream frees its slot", func() bool { return e.api.StreamStats().Open == 2 })
	if _, err := open(ctx, "a"); err != nil {
		t.Fatalf("a stream after one was closed: %v", err)
	}
}

// TestStreams_StalledWatcherEnded: a watcher that stops reading is ended
// after the stall timeout; when it reads again it gets what was sent, then
// RESOURCE_EXHAUSTED naming the revision to watch again from.
func TestStreams_StalledWatcherEnded(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{Limits: grpcapi.StreamLimits{StallTimeout: 200 * time.Millisecond}})
	for i := range 3 {
		batch(t, e, fmt.Sprintf("s%d-", i), 1000)
	}
	stream, err := slowReader(t, e).WatchChanges(testCtx(t), &registryv1.WatchChangesRequest{StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled stream is ended", func() bool { return e.api.StreamStats().Stalled == 1 })
	waitFor(t, "its slot is free", func() bool { return e.api.StreamStats().Open == 0 })
	var last int64
	for {
		m, err := stream.Recv()
		if err != nil {
			md := wantReason(t, err, codes.ResourceExhausted, grpcapi.ReasonStreamStalled)
			if md["resume_revision"] != strconv.FormatInt(last+1, 10) {
				t.Fatalf("resume_revision %q after receiving up to %d", md["resume_revision"], last)
			}
			break
		}
		for _, c := range m.GetChanges() {
			last = c.GetRevision()
		}
	}
	if last >= 3000 {
		t.Fatal("every change arrived: the stream never stalled, the test proves nothing")
	}
}

// TestStreams_SnapshotTimeLimit: a snapshot read too slowly ends at the
// time limit and releases its read transaction.
func TestStreams_SnapshotTimeLimit(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{Limits: grpcapi.StreamLimits{SnapshotMaxDuration: 300 * time.Millisecond, StallTimeout: time.Minute}})
	for i := range 5 {
		batch(t, e, fmt.Sprintf("t%d-", i), 1000)
	}
	stream, err := slowReader(t, e).StreamSnapshot(testCtx(t), &registryv1.StreamSnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// On a loaded machine even the first message may come after the
	// limit: the stream then ends at once, which is what is checked.
	waitFor(t, "the snapshot is ended at its limit", func() bool { return e.api.StreamStats().TimedOut == 1 })
	waitFor(t, "its read transaction is released", func() bool { return storage.Bolt(e.store).OpenReadTxs() == 0 })
	for {
		m, err := stream.Recv()
		if err != nil {
			wantReason(t, err, codes.ResourceExhausted, grpcapi.ReasonSnapshotTimeLimit)
			break
		}
		if m.GetComplete() {
			t.Fatal("the snapshot completed: the test proves nothing")
		}
	}
}
