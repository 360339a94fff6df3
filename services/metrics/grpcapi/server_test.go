package grpcapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/grpcapi"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/projection"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcserver"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type stubVerifier struct{ v metrics.Verification }

func (s stubVerifier) Verify(context.Context) (metrics.Verification, error) { return s.v, nil }

// serve starts the service over live on a loopback port and returns a
// client.
func serve(t testing.TB, live *projection.Live, v metrics.Verifier) metricsv1.MetricsServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The production server: interceptors, codec and all.
	srv := grpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), grpcserver.Options{}).Server
	grpcapi.New(live, v, slog.New(slog.NewTextHandler(io.Discard, nil)), grpcapi.WatchOptions{}).Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return metricsv1.NewMetricsServiceClient(conn)
}

func fixture(t testing.TB) (*projection.Live, *feedmodel.Model) {
	live := projection.NewLive(0)
	if err := live.Replace(context.Background(), projection.New()); err != nil {
		t.Fatal(err)
	}
	m := feedmodel.New()
	var cs []*registryv1.Change
	cs = append(cs, m.Put(feedmodel.Entity("tju", registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, "Tianjin", nil, false, false))...)
	cs = append(cs, m.Put(feedmodel.Group("a1", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "aerospace"))...)
	cs = append(cs, m.Put(feedmodel.Group("a2", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "aerospace"))...)
	cs = append(cs, m.Put(feedmodel.Membership("a1", "tju", registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD))...)
	cs = append(cs, m.Put(feedmodel.Membership("a2", "tju", registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD))...)
	if err := live.Apply(context.Background(), cs, m.Revision); err != nil {
		t.Fatal(err)
	}
	return live, m
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestServer_GetSummary(t *testing.T) {
	live, m := fixture(t)
	c := serve(t, live, nil)
	resp, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{MinRevision: m.Revision})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != m.Revision || resp.GetAllianceMembers() != 1 || resp.GetAllianceMemberships() != 2 ||
		resp.GetAlliances() != 2 || resp.GetEntitiesByKind()["ENTITY_KIND_UNIVERSITY"] != 1 {
		t.Fatalf("GetSummary = %v", resp)
	}
}

// GetSummary's answer is kept encoded while the figures stay the same
// (wire.go): it must still be exactly the figures of each revision.
func TestServer_GetSummaryFollowsTheFigures(t *testing.T) {
	live, m := fixture(t)
	c := serve(t, live, nil)
	for i := range 3 {
		for range 2 { // the second answer comes from the cache
			resp, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{MinRevision: m.Revision})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := live.Summary(ctx(t), m.Revision)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRevision() != m.Revision || resp.GetEntities() != sum.Entities || resp.GetEntities() != int64(1+i) ||
				resp.GetEntitiesByKind()["ENTITY_KIND_ENTERPRISE"] != int64(i) || resp.GetAllianceMembers() != sum.AllianceMembers {
				t.Fatalf("step %d: GetSummary = %v, figures %+v", i, resp, sum)
			}
		}
		cs := m.Put(feedmodel.Entity(fmt.Sprintf("e%d", i), registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, "Binhai", nil, false, false))
		if err := live.Apply(context.Background(), cs, m.Revision); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServer_MinRevision(t *testing.T) {
	live, m := fixture(t)
	c := serve(t, live, nil)

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GetSummary(short, &metricsv1.GetSummaryRequest{MinRevision: m.Revision + 1})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("min_revision never applied: %v, want DEADLINE_EXCEEDED", err)
	}

	// A read waiting for the next revision answers once it is applied.
	type result struct {
		resp *metricsv1.GetBreakdownResponse
		err  error
	}
	done := make(chan result, 1)
	next, rctx := m.Revision+1, ctx(t)
	go func() {
		r, err := c.GetBreakdown(rctx, &metricsv1.GetBreakdownRequest{Dimension: "groupField", MinRevision: next})
		done <- result{r, err}
	}()
	cs := m.Put(feedmodel.Group("c1", registryv1.GroupKind_GROUP_KIND_CONSORTIUM, "aerospace"))
	if err := live.Apply(ctx(t), cs, m.Revision); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.resp.GetRevision() != m.Revision || len(r.resp.GetRows()) != 1 || r.resp.GetRows()[0].GetGroups() != 3 {
		t.Fatalf("GetBreakdown after wait = %v", r.resp)
	}

	_, err = c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{MinRevision: -1})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("negative min_revision: %v, want INVALID_ARGUMENT", err)
	}
}

func TestServer_GetBreakdown_UnknownDimension(t *testing.T) {
	live, _ := fixture(t)
	c := serve(t, live, nil)
	_, err := c.GetBreakdown(ctx(t), &metricsv1.GetBreakdownRequest{Dimension: "colour"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %s, want INVALID_ARGUMENT", st.Code())
	}
	for _, want := range []string{"dimension", "colour", "entityKind, region, industry, groupField, program, period"} {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("message %q does not mention %q", st.Message(), want)
		}
	}
	var gotInfo, gotBR bool
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			gotInfo = d.GetDomain() == "talentreg" && d.GetReason() == metrics.ReasonInvalidDimension
		case *errdetails.BadRequest:
			gotBR = len(d.GetFieldViolations()) == 1 && d.GetFieldViolations()[0].GetField() == "dimension"
		}
	}
	if !gotInfo || !gotBR {
		t.Fatalf("details %v: want ErrorInfo(talentreg, %s) and BadRequest(dimension)", st.Details(), metrics.ReasonInvalidDimension)
	}
}

func TestServer_GetGroupStats(t *testing.T) {
	live, m := fixture(t)
	c := serve(t, live, nil)
	resp, err := c.GetGroupStats(ctx(t), &metricsv1.GetGroupStatsRequest{Name: "groups/a1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != m.Revision || resp.GetMembers() != 1 || resp.GetKind() != "GROUP_KIND_ALLIANCE" ||
		resp.GetField() != "aerospace" || resp.GetMembersByKind()["ENTITY_KIND_UNIVERSITY"] != 1 ||
		len(resp.GetTalentsByCategory()) != 3 {
		t.Fatalf("GetGroupStats = %v", resp)
	}
	if _, err := c.GetGroupStats(ctx(t), &metricsv1.GetGroupStatsRequest{Name: "groups/nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown group: %v, want NOT_FOUND", err)
	}
	for _, bad := range []string{"", "entities/tju", "groups/", "groups/a1/memberships/tju", "groups/BAD", "groups/-", "groups/1a", "groups/a\x00", "groups/" + strings.Repeat("a", 64)} {
		if _, err := c.GetGroupStats(ctx(t), &metricsv1.GetGroupStatsRequest{Name: bad}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("name %q: %v, want INVALID_ARGUMENT", bad, err)
		}
	}
}

func TestServer_NotLoaded(t *testing.T) {
	c := serve(t, projection.NewLive(0), nil)
	if _, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("before load: %v, want UNAVAILABLE", err)
	}
}

func TestServer_VerifyProjection(t *testing.T) {
	live, _ := fixture(t)
	c := serve(t, live, stubVerifier{metrics.Verification{Revision: 7, Differences: []string{"x: live 1, recount 2"}}})
	resp, err := c.VerifyProjection(ctx(t), &metricsv1.VerifyProjectionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRevision() != 7 || resp.GetConsistent() || len(resp.GetDifferences()) != 1 {
		t.Fatalf("VerifyProjection = %v", resp)
	}
}

// failingReader fails every read with an error the adapter does not know.
type failingReader struct{}

func (failingReader) Summary(context.Context, int64) (metrics.Summary, error) {
	return metrics.Summary{}, errors.New("disk on fire")
}

func (failingReader) GroupStats(context.Context, string, int64) (metrics.GroupStats, error) {
	return metrics.GroupStats{}, errors.New("disk on fire")
}

func (failingReader) Breakdown(context.Context, metrics.Dimension, int64) (metrics.Breakdown, error) {
	return metrics.Breakdown{}, errors.New("disk on fire")
}

// lockedBuffer is a bytes.Buffer written by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServer_LogsRequestID: what the service logs about a call (an
// internal error) names the call's x-request-id, which the gateway
// forwards, so that one request can be followed across processes.
func TestServer_LogsRequestID(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	srv := grpc.NewServer()
	grpcapi.New(failingReader{}, nil, slog.New(slog.NewJSONHandler(logs, nil)), grpcapi.WatchOptions{}).Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := metricsv1.NewMetricsServiceClient(conn)

	rctx := metadata.AppendToOutgoingContext(ctx(t), "x-request-id", "req-7f3a")
	if _, err := c.GetSummary(rctx, &metricsv1.GetSummaryRequest{}); status.Code(err) != codes.Internal {
		t.Fatalf("GetSummary: %v, want INTERNAL", err)
	}
	if got := logs.String(); !strings.Contains(got, `"request_id":"req-7f3a"`) || !strings.Contains(got, "disk on fire") {
		t.Fatalf("the internal error's log does not name the request id:\n%s", got)
	}
}
