package grpcapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcserver"
	"talentreg/platform/streams"
	"talentreg/services/metrics/grpcapi"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/projection"
)

// watchEnv is a metrics server over a live projection with the watch
// options under test, and the means to write to the projection.
type watchEnv struct {
	t      *testing.T
	live   *projection.Live
	model  *feedmodel.Model
	api    *grpcapi.Server
	addr   string
	client metricsv1.MetricsServiceClient
	n      int
}

// byTestClient keys the per-client limit by the x-test-client metadata,
// standing in for distinct principals.
func byTestClient(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, "x-test-client"); len(v) == 1 {
		return v[0]
	}
	return streams.ClientOf(ctx)
}

func startWatch(t *testing.T, opts grpcapi.WatchOptions) *watchEnv {
	t.Helper()
	live, m := fixture(t)
	if opts.ClientKey == nil {
		opts.ClientKey = byTestClient
	}
	e := &watchEnv{t: t, live: live, model: m}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), grpcserver.Options{}).Server
	e.api = grpcapi.New(live, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	e.api.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	t.Cleanup(e.api.Shutdown) // before Stop: Cleanups run last first
	e.addr = lis.Addr().String()
	e.client = e.dial()
	return e
}

func (e *watchEnv) dial(opts ...grpc.DialOption) metricsv1.MetricsServiceClient {
	conn, err := grpc.NewClient(e.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	return metricsv1.NewMetricsServiceClient(conn)
}

// addEntity commits one transaction creating an entity and returns its
// revision.
func (e *watchEnv) addEntity() int64 {
	e.t.Helper()
	e.n++
	cs := e.model.Put(feedmodel.Entity(fmt.Sprintf("w%d", e.n), registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, "Binhai", nil, false, false))
	if err := e.live.Apply(context.Background(), cs, e.model.Revision); err != nil {
		e.t.Fatal(err)
	}
	return e.model.Revision
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
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func wantReason(t *testing.T, err error, code codes.Code, reason string) map[string]string {
	t.Helper()
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && st.Code() == code && info.GetReason() == reason {
			return info.GetMetadata()
		}
	}
	t.Fatalf("error %v, want %v %s", err, code, reason)
	return nil
}

// TestWatchSummary_FirstAtOnceThenEachChange: the first message is the
// Summary as it stands, sent at once even with an interval of an hour;
// after a change the next message shows it.
func TestWatchSummary_FirstAtOnceThenEachChange(t *testing.T) {
	t.Run("first message does not wait for the interval", func(t *testing.T) {
		e := startWatch(t, grpcapi.WatchOptions{Interval: time.Hour})
		start := time.Now()
		stream, err := e.client.WatchSummary(ctx(t), &metricsv1.WatchSummaryRequest{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.GetSummary().GetRevision(), e.model.Revision; got != want || m.GetSummary().GetEntities() != 1 || m.GetSummary().GetAlliances() != 2 {
			t.Fatalf("first message %v, want the fixture's Summary at revision %d", m.GetSummary(), want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("first message after %v", d)
		}
	})
	t.Run("a change arrives", func(t *testing.T) {
		e := startWatch(t, grpcapi.WatchOptions{Interval: 10 * time.Millisecond})
		stream, err := e.client.WatchSummary(ctx(t), &metricsv1.WatchSummaryRequest{})
		if err != nil {
			t.Fatal(err)
		}
		first, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		rev := e.addEntity()
		next, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if next.GetSummary().GetRevision() != rev || next.GetSummary().GetEntities() != first.GetSummary().GetEntities()+1 {
			t.Fatalf("after the change at %d: %v (before: %v)", rev, next.GetSummary(), first.GetSummary())
		}
		if got := next.GetSummary().GetEntitiesByKind()["ENTITY_KIND_ENTERPRISE"]; got != 1 {
			t.Fatalf("entitiesByKind[ENTERPRISE] = %d, want 1", got)
		}
	})
}

// TestWatchSummary_BurstIsCoalesced: a burst of 300 transactions reaches
// the watcher as a few messages, at most one per interval, the last one
// showing the final Summary.
func TestWatchSummary_BurstIsCoalesced(t *testing.T) {
	const interval = 100 * time.Millisecond
	e := startWatch(t, grpcapi.WatchOptions{Interval: interval})
	stream, err := e.client.WatchSummary(ctx(t), &metricsv1.WatchSummaryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var final int64
	for range 300 {
		final = e.addEntity()
	}
	var msgs []*metricsv1.GetSummaryResponse
	for len(msgs) == 0 || msgs[len(msgs)-1].GetRevision() != final {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.GetSummary())
	}
	elapsed := time.Since(start)
	// One message per interval at most, and one more of slack: the first
	// message was sent a little before start.
	if limit := int(elapsed/interval) + 2; len(msgs) > limit {
		t.Fatalf("%d messages in %v for 300 changes, want at most %d (one per %v)", len(msgs), elapsed, limit, interval)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].GetRevision() <= msgs[i-1].GetRevision() {
			t.Fatalf("message %d at revision %d after %d", i, msgs[i].GetRevision(), msgs[i-1].GetRevision())
		}
	}
	if last := msgs[len(msgs)-1]; last.GetEntities() != 301 {
		t.Fatalf("last message has %d entities, want 301", last.GetEntities())
	}
	t.Logf("300 changes in %v: %d messages", elapsed, len(msgs))
}

// TestWatchSummary_Limits: streams past the per-client and the total
// limit are refused RESOURCE_EXHAUSTED (STREAM_LIMIT, naming the scope);
// a closed stream frees its slot.
func TestWatchSummary_Limits(t *testing.T) {
	e := startWatch(t, grpcapi.WatchOptions{MaxStreams: 2, MaxStreamsPerClient: 1})
	open := func(ctx context.Context, client string) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(asClient(ctx, client))
		stream, err := e.client.WatchSummary(ctx, &metricsv1.WatchSummaryRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if err != nil {
			cancel()
		}
		return cancel, err
	}
	c := ctx(t)
	closeA, err := open(c, "a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = open(c, "a")
	if md := wantReason(t, err, codes.ResourceExhausted, streams.ReasonStreamLimit); md["scope"] != "client" || md["limit"] != "1" {
		t.Fatalf("second stream of a: metadata %v, want scope client, limit 1", md)
	}
	closeB, err := open(c, "b")
	if err != nil {
		t.Fatalf("a stream of another client: %v", err)
	}
	defer closeB()
	_, err = open(c, "c")
	if md := wantReason(t, err, codes.ResourceExhausted, streams.ReasonStreamLimit); md["scope"] != "server" || md["limit"] != "2" {
		t.Fatalf("third stream: metadata %v, want scope server, limit 2", md)
	}
	if st := e.api.StreamStats(); st.Open != 2 || st.Refused != 2 {
		t.Fatalf("stats %+v, want 2 open, 2 refused", st)
	}
	closeA()
	waitFor(t, "a closed stream frees its slot", func() bool { return e.api.StreamStats().Open == 1 })
	closeA2, err := open(c, "a")
	if err != nil {
		t.Fatalf("a stream after one was closed: %v", err)
	}
	closeA2()
}

// TestWatchSummary_StalledReaderEnded: a watcher that stops reading while
// the Summary keeps changing is ended after the stall timeout; reading
// again it gets what was sent, then RESOURCE_EXHAUSTED (STREAM_STALLED).
func TestWatchSummary_StalledReaderEnded(t *testing.T) {
	e := startWatch(t, grpcapi.WatchOptions{Interval: time.Millisecond, StallTimeout: 200 * time.Millisecond})
	// Small fixed flow-control windows: a stream not read stalls the
	// server's sends after a few tens of KiB.
	slow := e.dial(grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	// Not ctx(t): filling the windows may take longer than its 10 s.
	long, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream, err := slow.WatchSummary(long, &metricsv1.WatchSummaryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// About 1,300 messages fill the windows; on a loaded machine under
	// -race making them takes a while.
	deadline := time.Now().Add(2 * time.Minute)
	for e.api.StreamStats().Stalled == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream was never ended stalled")
		}
		e.addEntity() // each change is a message, one per millisecond
	}
	waitFor(t, "its slot is free", func() bool { return e.api.StreamStats().Open == 0 })
	n := 0
	for {
		_, err := stream.Recv()
		if err != nil {
			wantReason(t, err, codes.ResourceExhausted, streams.ReasonStreamStalled)
			break
		}
		n++
	}
	t.Logf("%d messages received before the end; %d changes made", n, e.n)
}

// TestWatchSummary_Shutdown: Shutdown ends open watches UNAVAILABLE, so a
// graceful stop does not wait for them.
func TestWatchSummary_Shutdown(t *testing.T) {
	e := startWatch(t, grpcapi.WatchOptions{})
	stream, err := e.client.WatchSummary(ctx(t), &metricsv1.WatchSummaryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	e.api.Shutdown()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Shutdown: %v, want UNAVAILABLE", err)
	}
}

// TestWatchSummary_NotLoaded: before the projection is loaded a watch is
// refused UNAVAILABLE, as GetSummary is, so a client tries another replica.
func TestWatchSummary_NotLoaded(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	grpcapi.New(projection.NewLive(0), nil, slog.New(slog.NewTextHandler(io.Discard, nil)), grpcapi.WatchOptions{}).Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := metricsv1.NewMetricsServiceClient(conn).WatchSummary(ctx(t), &metricsv1.WatchSummaryRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("watch before loading: %v, want UNAVAILABLE", err)
	}
}
