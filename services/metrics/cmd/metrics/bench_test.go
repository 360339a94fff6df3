package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"talentreg/services/metrics/internal/registrytest"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/platform/freeport"
)

// BenchmarkWriteToVisible measures, against a real registry process and a
// metrics service on loopback, the time from a write's acknowledgement (its
// x-revision R) to a GetSummary(min_revision R) answer: how long a client
// waits to read its own write. It reports p50 and p99; "serial" has one
// writer, "parallel" one per GOMAXPROCS×4 goroutines.
//
//	go test -run '^$' -bench WriteToVisible -benchtime 2000x talentreg/services/metrics/cmd/metrics
func BenchmarkWriteToVisible(b *testing.B) {
	reg := registrytest.Start(b, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	svc := startService(b, reg.Addr, filepath.Join(b.TempDir(), "metrics.db"), true, "--log-level", "warn",
		"--checkpoint-interval", "10s", "--checkpoint-every", "10000")
	ctx := testCtx(b)
	for i := range 64 {
		if _, err := w.CreateEntity(ctx, registrytest.Entity{ID: fmt.Sprintf("lag%d", i), Kind: kinds[0]}); err != nil {
			b.Fatal(err)
		}
	}
	measure := func(i int) (write, visible time.Duration, err error) {
		start := time.Now()
		rev, err := w.UpdateEntity(ctx, registrytest.Entity{ID: fmt.Sprintf("lag%d", i%64), Kind: kinds[i%5], Region: "Binhai"})
		if err != nil {
			return 0, 0, err
		}
		acked := time.Now()
		resp, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: rev})
		if err != nil {
			return 0, 0, err
		}
		if resp.GetRevision() < rev {
			return 0, 0, fmt.Errorf("answered at %d, asked %d", resp.GetRevision(), rev)
		}
		return acked.Sub(start), time.Since(acked), nil
	}
	report := func(b *testing.B, writes, lags []time.Duration) {
		slices.Sort(lags)
		slices.Sort(writes)
		q := func(d []time.Duration, p float64) float64 {
			return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds())
		}
		b.ReportMetric(q(lags, 0.50), "visible-p50-µs")
		b.ReportMetric(q(lags, 0.99), "visible-p99-µs")
		b.ReportMetric(q(writes, 0.50), "write-p50-µs")
		b.ReportMetric(q(writes, 0.99), "write-p99-µs")
	}
	b.Run("serial", func(b *testing.B) {
		var writes, lags []time.Duration
		for i := range b.N {
			wr, lag, err := measure(i)
			if err != nil {
				b.Fatal(err)
			}
			writes, lags = append(writes, wr), append(lags, lag)
		}
		report(b, writes, lags)
	})
	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		var writes, lags []time.Duration
		var n int
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				wr, lag, err := measure(i)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				writes, lags = append(writes, wr), append(lags, lag)
				mu.Unlock()
			}
		})
		report(b, writes, lags)
	})
}

// BenchmarkBootstrapFromRegistry imports a data set into a real registry
// (METRICS_BENCH_ENTITIES entities, default 100,000; three memberships
// each; 1,000 groups), then starts the real metrics binary with no
// checkpoint and times it from start to health SERVING: snapshot over
// gRPC, load, count. It reports the metrics process's peak RSS (its first,
// full checkpoint included) and, for comparison, the time a client takes
// just to read the same snapshot and discard it.
//
//	METRICS_BENCH_ENTITIES=1000000 go test -run '^$' -bench BootstrapFromRegistry -benchtime 1x -timeout 30m talentreg/services/metrics/cmd/metrics
func BenchmarkBootstrapFromRegistry(b *testing.B) {
	entities := 100_000
	if v := os.Getenv("METRICS_BENCH_ENTITIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		entities = n
	}
	const groups = 1000
	reg := registrytest.Start(b, registryBin, registrytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()

	start := time.Now()
	stream, err := reg.Client().Import(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var items []*registryv1.Resource
	send := func(r *registryv1.Resource) {
		items = append(items, r)
		if len(items) == 1000 {
			if err := stream.Send(&registryv1.ImportRequest{Items: items}); err != nil {
				b.Fatal(err)
			}
			items = nil
		}
	}
	industries := []string{"aerospace", "deep-sea", "biomedicine", "new-materials", "digital-economy"}
	regions := []string{"Binhai", "Tianjin", "Beijing", "Hebei"}
	for i := range entities {
		send(&registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{
			Name: fmt.Sprintf("entities/e%d", i), DisplayName: "Entity", Kind: kinds[i%5], Region: regions[i%4],
			Industries: industries[i%5 : i%5+i%2],
		}}})
	}
	for g := range groups {
		send(&registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{
			Name: fmt.Sprintf("groups/g%d", g), DisplayName: "Group", Kind: registryv1.GroupKind(g%2 + 1), Field: industries[g%5],
		}}})
	}
	for i := range entities {
		for j := range 3 {
			g := (i*7919 + j*333) % groups
			send(&registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{
				Name: fmt.Sprintf("groups/g%d/memberships/e%d", g, i), Entity: fmt.Sprintf("entities/e%d", i),
				Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER,
			}}})
		}
	}
	if len(items) > 0 {
		if err := stream.Send(&registryv1.ImportRequest{Items: items}); err != nil {
			b.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		b.Fatal(err)
	}
	if len(resp.GetErrors()) > 0 {
		b.Fatalf("import errors: %v", resp.GetErrors()[:min(3, len(resp.GetErrors()))])
	}
	b.Logf("imported %d entities and %d memberships in %s (revision %d)", entities, 3*entities, time.Since(start), resp.GetRevision())

	// The floor: reading the snapshot over gRPC and discarding it.
	readStart := time.Now()
	snap, err := reg.Client().StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{})
	if err != nil {
		b.Fatal(err)
	}
	for {
		msg, err := snap.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if msg.GetComplete() {
			break
		}
	}
	readOnly := time.Since(readStart)

	bin := filepath.Join(b.TempDir(), "metrics")
	if out, err := exec.Command("go", "build", "-o", bin, "talentreg/services/metrics/cmd/metrics").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	b.ResetTimer()
	var peak float64
	for range b.N {
		addr := freeport.For(b)
		cmd := exec.Command(bin, "--grpc-addr", addr, "--registry", reg.Addr, "--admin-addr", "",
			"--db", filepath.Join(b.TempDir(), "metrics.db"), "--log-level", "warn")
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		svc := &service{t: b, addr: addr, stderr: stderr, done: make(chan error), stopped: true}
		conn := dial(b, addr)
		svc.client, svc.health = metricsv1.NewMetricsServiceClient(conn), healthpb.NewHealthClient(conn)
		svc.waitHealth(healthpb.HealthCheckResponse_SERVING)
		b.StopTimer()
		sum, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: resp.GetRevision()})
		if err != nil || sum.GetEntities() != int64(entities) {
			b.Fatalf("summary %v, %v", sum, err)
		}
		// The first checkpoint (a full one) is written in the background
		// after SERVING; let it finish before measuring the peak.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("metrics exit: %v\n%s", err, stderr)
		}
		peak = max(peak, peakOf(cmd.ProcessState))
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s-to-serving")
	b.ReportMetric(peak, "peak-RSS-MiB")
	b.ReportMetric(readOnly.Seconds(), "s-snapshot-read-only")
}

// peakOf returns a finished process's peak RSS in MiB.
func peakOf(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // kB on Linux
	}
	return 0
}
