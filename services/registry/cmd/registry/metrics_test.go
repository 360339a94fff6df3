package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"talentreg/platform/freeport"
)

// scrapeValue returns the value of an unlabelled sample on the admin
// port's /metrics.
func scrapeValue(t *testing.T, adminAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no sample %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRun_WatchStreamCapAndStoreMetrics: past --max-streams a watch is
// RESOURCE_EXHAUSTED (STREAM_LIMIT) and a closed stream frees its place;
// /metrics shows the open streams against the cap, the file's size and the
// commits' write time.
func TestRun_WatchStreamCapAndStoreMetrics(t *testing.T) {
	addr, admin := freeport.For(t), freeport.For(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--grpc-addr", addr, "--admin-addr", admin, "--db", filepath.Join(t.TempDir(), "r.db"), "--max-streams", "2"},
			func(string) string { return "" }, &bytes.Buffer{}, &syncBuffer{})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer tcancel()
	if _, err := healthpb.NewHealthClient(conn).Check(tctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}
	client := registryv1.NewRegistryServiceClient(conn)
	if _, err := client.CreateEntity(tctx, &registryv1.CreateEntityRequest{EntityId: "acme",
		Entity: &registryv1.Entity{DisplayName: "Acme", Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}}); err != nil {
		t.Fatal(err)
	}
	// A watch that has sent its first message is open in the handler.
	openWatch := func(wctx context.Context) (registryv1.RegistryService_WatchChangesClient, error) {
		w, err := client.WatchChanges(wctx, &registryv1.WatchChangesRequest{StartRevision: 1})
		if err != nil {
			return nil, err
		}
		_, err = w.Recv()
		return w, err
	}
	w1ctx, closeW1 := context.WithCancel(tctx)
	if _, err := openWatch(w1ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := openWatch(tctx); err != nil {
		t.Fatal(err)
	}
	_, err = openWatch(tctx)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third watch: %v, want RESOURCE_EXHAUSTED", err)
	}
	var reason string
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	if reason != "STREAM_LIMIT" {
		t.Errorf("reason %q, want STREAM_LIMIT", reason)
	}
	if n, max := scrapeValue(t, admin, "talentreg_registry_streams_open"), scrapeValue(t, admin, "talentreg_registry_streams_max"); n != 2 || max != 2 {
		t.Errorf("watch streams %v of %v, want 2 of 2", n, max)
	}
	// More than a new bbolt file's four pages (with the log the file ends
	// at its last page, not a growth step past it).
	if size := scrapeValue(t, admin, "talentreg_registry_db_size_bytes"); size <= float64(4*os.Getpagesize()) {
		t.Errorf("db size %v bytes", size)
	}
	if w := scrapeValue(t, admin, "talentreg_registry_commit_write_seconds_total"); w <= 0 {
		t.Errorf("commit write time %v after a commit", w)
	}
	scrapeValue(t, admin, "talentreg_registry_db_free_bytes")

	closeW1()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := openWatch(tctx)
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("watch after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
