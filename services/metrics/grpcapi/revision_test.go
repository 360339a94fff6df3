package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/grpcapi"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// errorInfo returns err's code and ErrorInfo.
func errorInfo(t *testing.T, err error) (codes.Code, *errdetails.ErrorInfo) {
	t.Helper()
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info
		}
	}
	t.Fatalf("%v carries no ErrorInfo", err)
	return 0, nil
}

// TestServer_AnswersCarryTheirRevision: every read sends the revision it
// reflects as the x-revision header, as mutations do.
func TestServer_AnswersCarryTheirRevision(t *testing.T) {
	live, m := fixture(t)
	c := serve(t, live, nil)
	var hdr metadata.MD
	if _, err := c.GetBreakdown(ctx(t), &metricsv1.GetBreakdownRequest{Dimension: "region"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(grpcapi.RevisionHeader); len(got) != 1 || got[0] != "5" || m.Revision != 5 {
		t.Fatalf("x-revision = %q, want [5]", got)
	}
}

// TestServer_NoWait: with x-no-wait a replica behind min_revision answers
// at once, saying how far it is.
func TestServer_NoWait(t *testing.T) {
	live, m := fixture(t)
	c := serve(t, live, nil)
	nw := metadata.AppendToOutgoingContext(ctx(t), grpcapi.NoWaitHeader, "true")
	// No deadline on the call: without x-no-wait it would wait.
	_, err := c.GetSummary(nw, &metricsv1.GetSummaryRequest{MinRevision: m.Revision + 1})
	code, info := errorInfo(t, err)
	if code != codes.FailedPrecondition || info.GetReason() != metrics.ReasonReplicaBehind || info.GetMetadata()["applied_revision"] != "5" {
		t.Fatalf("no-wait read ahead of the replica: %v, want FAILED_PRECONDITION REPLICA_BEHIND applied 5", err)
	}
	if _, err := c.GetSummary(nw, &metricsv1.GetSummaryRequest{MinRevision: m.Revision}); err != nil {
		t.Fatalf("no-wait read of an applied revision: %v", err)
	}
}

// TestServer_RevisionPastHeadRefused: a min_revision the head check says
// was never committed is refused at once, with the head in the metadata.
func TestServer_RevisionPastHeadRefused(t *testing.T) {
	live, m := fixture(t)
	live.SetHeadCheck(func(_ context.Context, rev int64) error {
		if rev > 7 {
			return metrics.RevisionNotCommitted(rev, 7)
		}
		return nil
	})
	c := serve(t, live, nil)
	_, err := c.GetSummary(context.Background(), &metricsv1.GetSummaryRequest{MinRevision: 1000})
	code, info := errorInfo(t, err)
	if code != codes.OutOfRange || info.GetReason() != metrics.ReasonNotCommitted || info.GetMetadata()["registry_revision"] != "7" {
		t.Fatalf("min_revision past the head: %v, want OUT_OF_RANGE REVISION_NOT_COMMITTED with registry_revision 7", err)
	}
	// A committed revision still waits.
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.GetSummary(short, &metricsv1.GetSummaryRequest{MinRevision: m.Revision + 1})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("committed revision not applied by the deadline: %v, want DEADLINE_EXCEEDED", err)
	}
}
