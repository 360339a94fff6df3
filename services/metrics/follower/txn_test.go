package follower_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"talentreg/services/metrics/follower"
	"talentreg/services/metrics/internal/registrytest"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// spyClient is a registry client whose WatchChanges streams call beforeRecv
// before each Recv — on the follower's goroutine, once the previous
// message has been applied — and pass each message through rewrite.
type spyClient struct {
	registryv1.RegistryServiceClient
	beforeRecv func()
	rewrite    func(*registryv1.WatchChangesResponse)
}

func (c *spyClient) WatchChanges(ctx context.Context, in *registryv1.WatchChangesRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[registryv1.WatchChangesResponse], error) {
	s, err := c.RegistryServiceClient.WatchChanges(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return &spyStream{ServerStreamingClient: s, c: c}, nil
}

type spyStream struct {
	grpc.ServerStreamingClient[registryv1.WatchChangesResponse]
	c *spyClient
}

func (s *spyStream) Recv() (*registryv1.WatchChangesResponse, error) {
	if s.c.beforeRecv != nil {
		s.c.beforeRecv()
	}
	m, err := s.ServerStreamingClient.Recv()
	if err == nil && s.c.rewrite != nil {
		s.c.rewrite(m)
	}
	return m, err
}

// lockedBuffer is a log destination safe for concurrent writes.
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

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func batchCreate(t *testing.T, c registryv1.RegistryServiceClient, prefix string, n int) {
	t.Helper()
	req := &registryv1.BatchCreateEntitiesRequest{}
	for i := range n {
		req.Requests = append(req.Requests, &registryv1.CreateEntityRequest{
			EntityId: fmt.Sprintf("%s%d", prefix, i),
			Entity:   &registryv1.Entity{DisplayName: "Entity", Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE},
		})
	}
	if _, err := c.BatchCreateEntities(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
}

// TestFollower_PublishesWholeTransactions: five 1,000-entity batches, each
// one transaction the registry sends in two or more messages. Between any
// two messages the Summary shows a whole number of batches — never 500 or
// 1,500 entities.
func TestFollower_PublishesWholeTransactions(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	var live atomic.Pointer[projection.Live]
	var seen []int64 // entity counts read between messages (follower goroutine only)
	split := false   // a transaction was seen incomplete between messages
	spy := &spyClient{RegistryServiceClient: reg.FailFastClient()}
	spy.beforeRecv = func() {
		l := live.Load()
		if l == nil || !l.Loaded() {
			return
		}
		s, err := l.Summary(context.Background(), 0)
		if err != nil {
			return
		}
		seen = append(seen, s.Entities)
		if l.Pending() > 0 {
			split = true
		}
	}
	r := startFollowerWith(t, spy, nil, nil, testConfig())
	live.Store(r.live)
	<-r.f.Ready()

	w := registrytest.Writer{C: reg.Client()}
	for i := range 5 {
		batchCreate(t, reg.Client(), fmt.Sprintf("b%d-", i), 1000)
	}
	converged(t, w, r.live)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for _, n := range seen {
		if n%1000 != 0 {
			t.Fatalf("the Summary showed %d entities between messages (all seen: %v): a transaction was published half-applied", n, seen)
		}
	}
	if !split {
		t.Fatal("no transaction arrived in more than one message: the test proves nothing")
	}
	if s, _ := r.live.Summary(context.Background(), 0); s.Entities != 5000 {
		t.Fatalf("%d entities at the end, want 5000", s.Entities)
	}
}

// TestFollower_AnomalyReloadsFromSnapshot: the feed is made to withdraw a
// talent record the projection never held — a count that would go
// negative. The follower logs why, is not ready meanwhile, reloads from a
// snapshot and converges to the registry's figures.
func TestFollower_AnomalyReloadsFromSnapshot(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	var injected atomic.Bool
	spy := &spyClient{RegistryServiceClient: reg.FailFastClient()}
	spy.rewrite = func(m *registryv1.WatchChangesResponse) {
		for _, c := range m.GetChanges() {
			rec := c.GetAfter().GetTalentRecord()
			if rec == nil || c.GetType() != registryv1.ChangeType_CHANGE_TYPE_CREATED || !injected.CompareAndSwap(false, true) {
				continue
			}
			rec.Name = "talentRecords/ghost"
			c.Type, c.Name, c.Before, c.After = registryv1.ChangeType_CHANGE_TYPE_DELETED, rec.Name, c.After, nil
		}
	}
	var logs lockedBuffer
	live := projection.NewLive(0)
	promReg := prometheus.NewRegistry()
	f := follower.New(testConfig(), spy, live, nil, slog.New(slog.NewTextHandler(&logs, nil)), promReg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	<-f.Ready()

	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a") // its first talent record is rewritten on the way
	waitUntil(t, "the anomaly has been handled", func() bool {
		return counter(t, promReg, "talentreg_metrics_anomalies_total") == 1 &&
			counter(t, promReg, "talentreg_metrics_snapshot_loads_total") == 2 && live.Loaded()
	})
	converged(t, w, live)
	waitReady(t, f)
	out := logs.String()
	if !strings.Contains(out, "reloading from a registry snapshot") || !strings.Contains(out, "withdrawing talentRecords/ghost") {
		t.Fatalf("the log does not say why the projection was reloaded:\n%s", out)
	}
	if !injected.Load() {
		t.Fatal("nothing was injected")
	}
}

// TestFollower_StaleWhenCutOff: with the registry gone for longer than
// StaleAfter the follower stops being ready, and is ready again once it
// has caught up with the registry back.
func TestFollower_StaleWhenCutOff(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	cfg := testConfig()
	cfg.StaleAfter = 300 * time.Millisecond
	r := startFollowerWith(t, reg.FailFastClient(), nil, nil, cfg)
	<-r.f.Ready()
	converged(t, w, r.live)

	reg.Stop()
	waitUntil(t, "the cut-off follower is not ready", func() bool {
		ready, _ := r.f.Readiness()
		return !ready
	})
	reg.Restart()
	populate(t, w, "b")
	waitReady(t, r.f)
	converged(t, w, r.live)
}
