package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/registrytest"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestRun_MinRevisionPastHeadRefused: a min_revision the registry has not
// committed is refused at once — no wait could reach it — naming the
// registry's head; the head itself is answered.
func TestRun_MinRevisionPastHeadRefused(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	last := populate(t, w, "x")
	svc := startService(t, reg.Addr, filepath.Join(t.TempDir(), "metrics.db"), true)
	ctx := testCtx(t) // a minute: "at once" means long before it
	_, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: last + 1000})
	st := status.Convert(err)
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if st.Code() != codes.OutOfRange || info.GetReason() != metrics.ReasonNotCommitted ||
		info.GetMetadata()["registry_revision"] != strconv.FormatInt(last, 10) {
		t.Fatalf("min_revision past the head: %v (%v), want OUT_OF_RANGE REVISION_NOT_COMMITTED, registry_revision %d", err, info, last)
	}
	if s, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: last}); err != nil || s.GetRevision() != last {
		t.Fatalf("min_revision at the head: %v, %v", s, err)
	}
}

// TestRun_NotServingWhenCutOff: with the registry gone longer than
// --stale-after the service reports NOT_SERVING, and SERVING again once it
// has caught up with the registry back.
func TestRun_NotServingWhenCutOff(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	populate(t, registrytest.Writer{C: reg.Client()}, "x")
	svc := startService(t, reg.Addr, filepath.Join(t.TempDir(), "metrics.db"), true, "--stale-after", "300ms")
	reg.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := svc.health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v (%v) 30 s after the registry went away", resp.GetStatus(), err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	reg.Restart()
	svc.waitHealth(healthpb.HealthCheckResponse_SERVING)
}
