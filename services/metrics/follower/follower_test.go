package follower_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/checkpoint"
	"talentreg/services/metrics/follower"
	"talentreg/services/metrics/internal/oracle"
	"talentreg/services/metrics/internal/registrytest"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var registryBin string

func TestMain(m *testing.M) { registrytest.Main(m, &registryBin) }

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// running is a follower running in the background.
type running struct {
	live *projection.Live
	f    *follower.Follower
	reg  *prometheus.Registry
	stop func() error
}

// startFollower runs a follower of client, checkpointing to the file at
// path ("" for none), until stop is called (or the test ends).
func startFollower(t *testing.T, client registryv1.RegistryServiceClient, path string) *running {
	t.Helper()
	var cs *checkpoint.Store
	if path != "" {
		var err error
		cs, err = checkpoint.Open(path, checkpoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
	}
	return startFollowerWith(t, client, cs, nil, testConfig())
}

func testConfig() follower.Config {
	return follower.Config{
		CheckpointInterval: 50 * time.Millisecond,
		CheckpointEvery:    20,
		BackoffMin:         20 * time.Millisecond,
		BackoffMax:         200 * time.Millisecond,
	}
}

// startFollowerWith runs a follower of client with cfg, checkpointing to
// store (nil for none); cs, when not nil, is checked and closed once the
// follower stops.
func startFollowerWith(t *testing.T, client registryv1.RegistryServiceClient, cs *checkpoint.Store, store follower.Store, cfg follower.Config) *running {
	t.Helper()
	if store == nil && cs != nil {
		store = cs
	}
	live := projection.NewLive(0)
	reg := prometheus.NewRegistry()
	f := follower.New(cfg, client, live, store, testLog(t), reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			err = <-done
			if cs != nil {
				if cerr := cs.Check(); cerr != nil && err == nil {
					err = cerr
				}
				if cerr := cs.Close(); cerr != nil && err == nil {
					err = cerr
				}
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return &running{live: live, f: f, reg: reg, stop: stop}
}

// counter returns the value of a counter registered on reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// converged waits until live has applied the registry's revision (no
// writes in flight) and holds every figure against a brute-force recount
// of a snapshot at that revision.
func converged(t *testing.T, w registrytest.Writer, live *projection.Live) int64 {
	t.Helper()
	ctx := testCtx(t)
	rev, resources, err := w.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := oracle.Figures(rev, resources)
	err = live.WithFigures(ctx, rev, func(got metrics.Figures) {
		if d := metrics.Diff(got, want); len(d) > 0 {
			t.Errorf("projection differs from recount at revision %d:\n%v", rev, d)
		}
	})
	if err != nil {
		t.Fatalf("projection at revision %d: %v", rev, err)
	}
	return rev
}

// populate writes a small data set under prefix and returns the last
// revision.
func populate(t *testing.T, w registrytest.Writer, prefix string) int64 {
	t.Helper()
	ctx := testCtx(t)
	must := func(rev int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	must(w.CreateProgram(ctx, prefix+"haihe"))
	kinds := []registryv1.EntityKind{
		registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
		registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE, registryv1.EntityKind_ENTITY_KIND_INCUBATOR,
	}
	regions := []string{"Binhai", "Tianjin", "Beijing", "Hebei"}
	for i := range 8 {
		must(w.CreateEntity(ctx, registrytest.Entity{
			ID: fmt.Sprintf("%se%d", prefix, i), Kind: kinds[i%4], Region: regions[i%4],
			Industries: []string{"aerospace", "deep-sea"}[:i%3%2+i%2], Leading: i%3 == 0, Platform: i%4 == 1,
		}))
	}
	must(w.PutGroup(ctx, prefix+"a1", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "aerospace", true))
	must(w.PutGroup(ctx, prefix+"a2", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "financial-leasing", true))
	must(w.PutGroup(ctx, prefix+"c1", registryv1.GroupKind_GROUP_KIND_CONSORTIUM, "biomedicine", true))
	for i := range 8 {
		for _, g := range []string{"a1", "a2", "c1"}[:i%3+1] {
			must(w.CreateMembership(ctx, prefix+g, fmt.Sprintf("%se%d", prefix, i), registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER))
		}
	}
	must(w.PutRecord(ctx, registrytest.Record{ID: prefix + "r1", Subject: "entities/" + prefix + "e1",
		Category: registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, Count: 40, Program: "programs/" + prefix + "haihe", Period: "2024"}, true))
	return must(w.PutRecord(ctx, registrytest.Record{ID: prefix + "r2", Subject: "groups/" + prefix + "c1",
		Category: registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED, Count: 300, Period: "2024-06"}, true))
}

// TestFollower_BootstrapWatchResume: a follower with no checkpoint loads a
// snapshot, follows new writes, saves its checkpoint at shutdown, and a
// new follower resumes from it (no snapshot) across writes made while it
// was down.
func TestFollower_BootstrapWatchResume(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	path := filepath.Join(t.TempDir(), "metrics.db")

	r := startFollower(t, reg.FailFastClient(), path)
	select {
	case <-r.f.Ready():
	case <-testCtx(t).Done():
		t.Fatal("follower never ready")
	}
	converged(t, w, r.live)
	last := populate(t, w, "b")
	converged(t, w, r.live)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Errorf("first run loaded %v snapshots, want 1", n)
	}
	store, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rev, _, _ := store.Revision(); rev != last {
		t.Errorf("checkpoint at revision %d after shutdown, want %d", rev, last)
	}
	_ = store.Close()

	populate(t, w, "c") // while no follower runs
	r = startFollower(t, reg.FailFastClient(), path)
	converged(t, w, r.live)
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 0 {
		t.Errorf("resumed run loaded %v snapshots, want 0", n)
	}
}

// TestFollower_CompactedPastCheckpoint: the registry compacts its change
// log past the checkpoint while the follower is down; the follower gets
// OUT_OF_RANGE, loads a snapshot and converges exactly.
func TestFollower_CompactedPastCheckpoint(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{RetainChanges: 5})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	path := filepath.Join(t.TempDir(), "metrics.db")
	r := startFollower(t, reg.FailFastClient(), path)
	converged(t, w, r.live)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	populate(t, w, "b") // far more than 5 changes: the checkpoint's next revision is gone
	if _, err := w.C.ListChanges(testCtx(t), &registryv1.ListChangesRequest{StartRevision: r.live.Revision() + 1}); err == nil {
		t.Fatal("the registry did not compact past the checkpoint; the test proves nothing")
	}
	r = startFollower(t, reg.FailFastClient(), path)
	converged(t, w, r.live)
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Errorf("loaded %v snapshots after compaction, want 1", n)
	}
	// And it goes on following.
	populate(t, w, "c")
	converged(t, w, r.live)
}

// TestFollower_RegistryKilled: the registry is killed (SIGKILL) and
// restarted under a running follower, which reconnects unaided, resumes
// from its revision and converges.
func TestFollower_RegistryKilled(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	r := startFollower(t, reg.FailFastClient(), filepath.Join(t.TempDir(), "metrics.db"))
	converged(t, w, r.live)

	reg.Kill()
	reg.Restart()
	populate(t, w, "b")
	converged(t, w, r.live)
	if n := counter(t, r.reg, "talentreg_metrics_reconnects_total"); n < 1 {
		t.Errorf("%v reconnects, want at least 1", n)
	}
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Errorf("%v snapshot loads, want 1 (resume, not reload)", n)
	}
	if n := r.live.Anomalies(); n != 0 {
		t.Errorf("%d anomalies", n)
	}
}

// TestVerifier_WhileWriting verifies repeatedly while a writer keeps the
// registry moving: each verification compares at one revision and finds
// the projection consistent.
func TestVerifier_WhileWriting(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	r := startFollower(t, reg.FailFastClient(), "")
	converged(t, w, r.live)
	v := follower.NewVerifier(reg.Client(), r.live)

	ctx := testCtx(t)
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			kind := registryv1.EntityKind(i%5 + 1)
			if _, err := w.UpdateEntity(ctx, registrytest.Entity{ID: fmt.Sprintf("ae%d", i%8), Kind: kind, Region: "Hebei"}); err != nil {
				writerDone <- err
				return
			}
		}
	}()
	for range 5 {
		res, err := v.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Consistent() {
			t.Errorf("inconsistent at revision %d: %v", res.Revision, res.Differences)
		}
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	converged(t, w, r.live)
}

// failingStore fails its first `fail` saves, then saves to the checkpoint;
// saved receives the revision of every save that succeeded.
type failingStore struct {
	*checkpoint.Store
	fail  atomic.Int32
	saved chan int64
}

func (s *failingStore) Save(d projection.Delta) error {
	if s.fail.Add(-1) >= 0 {
		return errors.New("injected failure: disk full")
	}
	if err := s.Store.Save(d); err != nil {
		return err
	}
	select {
	case s.saved <- d.Revision:
	default: // nobody waiting on this one
	}
	return nil
}

// TestFollower_CheckpointRetriedWhileQuiet: the checkpoint after the
// snapshot load fails and no change follows; the follower retries within
// its checkpoint interval (the registry's progress messages keep it
// looking), not only at shutdown.
func TestFollower_CheckpointRetriedWhileQuiet(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	last := populate(t, w, "a")
	cs, err := checkpoint.Open(filepath.Join(t.TempDir(), "metrics.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &failingStore{Store: cs, saved: make(chan int64, 1)}
	store.fail.Store(1)
	r := startFollowerWith(t, reg.FailFastClient(), cs, store, testConfig())
	converged(t, w, r.live)

	deadline := time.After(10 * time.Second) // 200 times the checkpoint interval
	for saved := false; !saved; {
		select {
		case rev := <-store.saved:
			saved = rev == last
		case <-deadline:
			t.Fatalf("no checkpoint at revision %d within 10 s of a failed one in a quiet period", last)
		}
	}
	if n := counter(t, r.reg, "talentreg_metrics_checkpoint_failures_total"); n != 1 {
		t.Errorf("%v checkpoint failures, want 1", n)
	}
	p, ok, err := cs.Load()
	if err != nil || !ok {
		t.Fatalf("Load after the retry: %v %v", ok, err)
	}
	want, err := r.live.Figures()
	if err != nil {
		t.Fatal(err)
	}
	if d := metrics.Diff(p.Figures(), want); len(d) > 0 {
		t.Fatalf("retried checkpoint differs from the live projection: %v", d)
	}
}

// TestFollower_InjectedClock: checkpoint durations are measured with the
// configured clock, like every other time the follower reads.
func TestFollower_InjectedClock(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	cfg := testConfig()
	var ticks atomic.Int64
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Hour) } // an hour per reading
	cs, err := checkpoint.Open(filepath.Join(t.TempDir(), "metrics.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := startFollowerWith(t, reg.FailFastClient(), cs, nil, cfg)
	converged(t, w, r.live)
	if err := r.stop(); err != nil { // at least the final checkpoint is timed
		t.Fatal(err)
	}
	h := histogram(t, r.reg, "talentreg_metrics_checkpoint_seconds")
	if h.GetSampleCount() == 0 {
		t.Fatal("no checkpoint timed")
	}
	if avg := h.GetSampleSum() / float64(h.GetSampleCount()); avg < 3600 {
		t.Fatalf("checkpoints took %.6f s on average by the follower's clock, which advances an hour per reading: the clock was not used", avg)
	}
}

// histogram returns a histogram registered on reg.
func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// replaceRegistry replaces reg's database with another registry's, which
// fill writes first, and restarts reg on the same address: from its first
// answer the registry is another database, whose revisions may be ahead of
// anything applied from the old one.
func replaceRegistry(t *testing.T, reg *registrytest.Process, fill func(registrytest.Writer)) {
	t.Helper()
	other := registrytest.Start(t, registryBin, registrytest.Options{})
	fill(registrytest.Writer{C: other.Client()})
	other.Stop()
	db, err := os.ReadFile(other.DB)
	if err != nil {
		t.Fatal(err)
	}
	reg.Stop()
	if err := os.WriteFile(reg.DB, db, 0o600); err != nil {
		t.Fatal(err)
	}
	reg.Restart()
}

// TestFollower_RegistryReplaced: the registry's database is replaced under
// a running follower by one whose revisions are past the applied one, so
// only the registry id tells them apart.
// The follower sees the registry id change, is not ready until it has
// reloaded from a snapshot, and converges on the new registry's figures —
// nothing of the old one is left.
func TestFollower_RegistryReplaced(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	path := filepath.Join(t.TempDir(), "metrics.db")
	r := startFollower(t, reg.FailFastClient(), path)
	converged(t, w, r.live)
	oldID := r.live.RegistryID()
	if oldID == "" {
		t.Fatal("the projection has no registry id")
	}
	// Readiness follows the figures: wait for it, without a deadline of
	// its own beyond the test's.
	waitReady(t, r.f)
	ready, changed := r.f.Readiness()
	if !ready {
		t.Fatal("not ready after converging")
	}

	applied := r.live.Revision()
	replaceRegistry(t, reg, func(w registrytest.Writer) {
		populate(t, w, "b")
		if rev := populate(t, w, "c"); rev <= applied {
			t.Fatalf("the new registry is at %d, not past the applied %d: the test proves nothing", rev, applied)
		}
	})
	populate(t, w, "d")
	converged(t, w, r.live)
	head, err := w.C.ListChanges(testCtx(t), &registryv1.ListChangesRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if id := r.live.RegistryID(); id == oldID || id != head.GetRegistryId() {
		t.Fatalf("projection of registry %q, want the new registry's %q (old %q)", id, head.GetRegistryId(), oldID)
	}
	select {
	case <-changed: // from ready the only change is to not ready
	default:
		t.Error("readiness never changed while the projection was rebuilt for another registry")
	}
	waitReady(t, r.f)
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 2 {
		t.Errorf("%v snapshot loads, want 2", n)
	}
	if n := r.live.Anomalies(); n != 0 {
		t.Errorf("%d anomalies", n)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	cs, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	p, _, err := cs.Load()
	if err != nil {
		t.Fatal(err)
	}
	if p.RegistryID() != head.GetRegistryId() || p.Revision() != r.live.Revision() {
		t.Fatalf("checkpoint of registry %q at %d, want %q at %d", p.RegistryID(), p.Revision(), head.GetRegistryId(), r.live.Revision())
	}
}

// waitReady waits until f reports itself ready, failing after 30 s.
func waitReady(t *testing.T, f *follower.Follower) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ready, changed := f.Readiness()
		if ready {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("not ready within 30 s")
		}
	}
}
