package main

import (
	"path/filepath"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/platform/streams"
	"talentreg/services/metrics/internal/registrytest"
)

// TestRun_WatchSummary: the service started with its watch flags streams
// the Summary of the registry it follows, then a write as it commits;
// --max-streams refuses a second watch, and a stream ended on stop says
// UNAVAILABLE instead of holding the stop.
func TestRun_WatchSummary(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	last := populate(t, w, "w")
	svc := startService(t, reg.Addr, filepath.Join(t.TempDir(), "metrics.db"), true,
		"--summary-watch-interval", "20ms", "--max-streams", "1", "--max-streams-per-client", "1", "--stream-stall-timeout", "5s")
	ctx := testCtx(t)
	stream, err := svc.client.WatchSummary(ctx, &metricsv1.WatchSummaryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetSummary().GetRevision() < last || first.GetSummary().GetEntities() != 7 {
		t.Fatalf("first message %v, want the 7 entities left at revision %d", first.GetSummary(), last)
	}
	rev, err := w.CreateEntity(ctx, registrytest.Entity{ID: "watched", Kind: kinds[0], Region: "Binhai"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetSummary().GetRevision() >= rev {
			if m.GetSummary().GetEntities() != 8 {
				t.Fatalf("at revision %d: %d entities, want 8", m.GetSummary().GetRevision(), m.GetSummary().GetEntities())
			}
			break
		}
	}
	// --max-streams 1: a second watch is refused.
	second, err := svc.client.WatchSummary(ctx, &metricsv1.WatchSummaryRequest{})
	if err == nil {
		_, err = second.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted || reasonOf(err) != streams.ReasonStreamLimit {
		t.Fatalf("a second watch past --max-streams 1: %v, want RESOURCE_EXHAUSTED %s", err, streams.ReasonStreamLimit)
	}
	if v := svc.scrape("talentreg_metrics_summary_watch_streams_open"); v != 1 {
		t.Errorf("talentreg_metrics_summary_watch_streams_open %v, want 1", v)
	}
	if v := svc.scrape("talentreg_metrics_summary_watch_streams_refused_total"); v != 1 {
		t.Errorf("talentreg_metrics_summary_watch_streams_refused_total %v, want 1", v)
	}
	svc.stop() // fails unless run returns: the open watch must not hold it
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Fatalf("the watch after stop: %v, want UNAVAILABLE", err)
	}
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
