package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/internal/oracle"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// loadedLive returns a Live holding an empty projection at revision 0 and
// a model to make changes with.
func loadedLive(t *testing.T, maxWait time.Duration) (*projection.Live, *feedmodel.Model) {
	t.Helper()
	l := projection.NewLive(maxWait)
	if err := l.Replace(context.Background(), projection.New()); err != nil {
		t.Fatal(err)
	}
	return l, feedmodel.New()
}

func programs(m *feedmodel.Model, ids ...string) []*registryv1.Change {
	var out []*registryv1.Change
	for _, id := range ids {
		out = append(out, m.Put(feedmodel.Program(id))...)
	}
	return out
}

func TestLive_NotLoaded(t *testing.T) {
	l := projection.NewLive(0)
	ctx := context.Background()
	if _, err := l.Summary(ctx, 0); metrics.ErrorCode(err) != metrics.CodeUnavailable {
		t.Errorf("Summary before load: %v, want CodeUnavailable", err)
	}
	if _, err := l.Breakdown(ctx, metrics.DimensionRegion, 0); metrics.ErrorCode(err) != metrics.CodeUnavailable {
		t.Errorf("Breakdown before load: %v, want CodeUnavailable", err)
	}
	if _, err := l.GroupStats(ctx, "groups/x", 0); metrics.ErrorCode(err) != metrics.CodeUnavailable {
		t.Errorf("GroupStats before load: %v, want CodeUnavailable", err)
	}
}

func TestLive_MinRevision_WaitsForApply(t *testing.T) {
	l, m := loadedLive(t, 0)
	cs := programs(m, "a", "b", "c")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan metrics.Summary, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := l.Summary(ctx, 3)
		got <- s
		errc <- err
	}()
	// Apply in two batches: the reader must not answer after the first.
	if err := l.Apply(ctx, cs[:2], 2); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(ctx, cs[2:], 3); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.Revision != 3 || s.Programs != 3 {
		t.Fatalf("Summary(min 3) = revision %d, %d programs; want 3, 3", s.Revision, s.Programs)
	}
}

// TestLive_HeadCheck_AfterGrace: a read of a revision the feed delivers
// within the grace is answered without the head check (which asks the
// registry, and makes its storage commit at once); a revision still
// missing after the grace — or after half the time left, when that is
// shorter — is put to the check, which may refuse it.
func TestLive_HeadCheck_AfterGrace(t *testing.T) {
	l, m := loadedLive(t, time.Minute)
	var asked atomic.Int64
	l.SetHeadCheck(func(_ context.Context, rev int64) error {
		asked.Add(1)
		if rev > 1 {
			return metrics.RevisionNotCommitted(rev, 1)
		}
		return nil
	})
	projection.SetHeadCheckGrace(l, time.Hour)
	// Within the grace (half the minute of maximum wait): not asked.
	canceled, cancelNow := context.WithCancel(context.Background())
	stop := time.AfterFunc(50*time.Millisecond, cancelNow)
	defer stop.Stop()
	if _, err := l.Summary(canceled, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Summary(min 1) canceled within the grace: %v, want context.Canceled", err)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("head check asked %d times within the grace, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := l.Summary(ctx, 1)
		errc <- err
	}()
	if err := l.Apply(ctx, programs(m, "a"), 1); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Summary(min 1) delivered within the grace: %v", err)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("head check asked %d times for a revision the feed delivered within the grace, want 0", n)
	}
	// A deadline shorter than twice the grace: asked at half the time left.
	short, cancelShort := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelShort()
	if _, err := l.Summary(short, 5); metrics.ErrorCode(err) != metrics.CodeRevisionNotCommitted {
		t.Fatalf("Summary(min 5) past the head, 2 s deadline: %v, want CodeRevisionNotCommitted", err)
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("head check asked %d times, want 1", n)
	}
	projection.SetHeadCheckGrace(l, time.Millisecond)
	if _, err := l.Summary(ctx, 5); metrics.ErrorCode(err) != metrics.CodeRevisionNotCommitted {
		t.Fatalf("Summary(min 5) past the head after the grace: %v, want CodeRevisionNotCommitted", err)
	}
	if n := asked.Load(); n != 2 {
		t.Fatalf("head check asked %d times, want 2", n)
	}
}

func TestLive_MinRevision_Deadline(t *testing.T) {
	l, m := loadedLive(t, 0)
	if err := l.Apply(context.Background(), programs(m, "a"), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Breakdown(ctx, metrics.DimensionProgram, 2)
	if metrics.ErrorCode(err) != metrics.CodeRevisionNotApplied || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Breakdown(min 2) at revision 1: %v, want CodeRevisionNotApplied wrapping DeadlineExceeded", err)
	}
}

func TestLive_MinRevision_DefaultMaxWait(t *testing.T) {
	l, _ := loadedLive(t, 20*time.Millisecond)
	start := time.Now()
	_, err := l.Summary(context.Background(), 1) // no deadline: the Live's own bound
	if metrics.ErrorCode(err) != metrics.CodeRevisionNotApplied {
		t.Fatalf("Summary(min 1) without deadline: %v, want CodeRevisionNotApplied", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the default wait was not applied")
	}
}

func TestLive_MinRevision_Canceled(t *testing.T) {
	l, _ := loadedLive(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Summary(ctx, 1); !errors.Is(err, context.Canceled) || metrics.ErrorCode(err) != 0 {
		t.Fatalf("Summary with a canceled context: %v, want context.Canceled", err)
	}
}

func TestLive_GroupStats_NotFound(t *testing.T) {
	l, _ := loadedLive(t, 0)
	if _, err := l.GroupStats(context.Background(), "groups/none", 0); metrics.ErrorCode(err) != metrics.CodeNotFound {
		t.Fatalf("GroupStats of an unknown group: %v, want CodeNotFound", err)
	}
}

// TestLive_Hold: a holder sees the projection at exactly the held revision
// while a batch running past it waits; after release the batch completes.
func TestLive_Hold(t *testing.T) {
	l, m := loadedLive(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs := programs(m, "a", "b", "c", "d")
	release, err := l.Hold(2)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Apply(ctx, cs, 4) }()
	err = l.WithFigures(ctx, 2, func(f metrics.Figures) {
		if f.Revision != 2 || f.Summary.Programs != 2 {
			t.Errorf("held figures at revision %d with %d programs, want 2 and 2", f.Revision, f.Summary.Programs)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Revision() != 4 {
		t.Fatalf("after release: revision %d, want 4", l.Revision())
	}
	if _, err := l.Hold(3); !errors.Is(err, projection.ErrHoldPassed) {
		t.Fatalf("Hold below the applied revision: %v, want ErrHoldPassed", err)
	}
}

// TestLive_Hold_Progress: a progress message past the hold stops at the
// hold, which is then moved forward.
func TestLive_Hold_Progress(t *testing.T) {
	l, m := loadedLive(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	release, err := l.Hold(0)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := l.MoveHold(5); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Apply(ctx, programs(m, "a"), 9) }()
	if err := l.WithFigures(ctx, 5, func(f metrics.Figures) {}); err != nil {
		t.Fatal(err)
	}
	if err := l.MoveHold(3); !errors.Is(err, projection.ErrHoldPassed) {
		t.Fatalf("MoveHold backwards: %v", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Revision() != 9 {
		t.Fatalf("revision %d, want 9", l.Revision())
	}
}

// TestLive_ConcurrentReaders runs readers against a writer under the race
// detector; every answer must be at least the revision asked for.
func TestLive_ConcurrentReaders(t *testing.T) {
	l, m := loadedLive(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var batches [][]*registryv1.Change
	for i := range 200 {
		batches = append(batches, append(
			m.Put(feedmodel.Entity("e", registryv1.EntityKind(i%5+1), "r", nil, false, false)),
			m.Put(feedmodel.Group("g", registryv1.GroupKind(i%2+1), "f"))...))
	}
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for want := int64(r + 2); want <= m.Revision; want += 7 { // the group exists from revision 2
				s, err := l.Summary(ctx, want)
				if err != nil || s.Revision < want {
					t.Errorf("Summary(min %d): revision %d, %v", want, s.Revision, err)
					return
				}
				if b, err := l.Breakdown(ctx, metrics.DimensionEntityKind, want); err != nil || b.Revision < want {
					t.Errorf("Breakdown(min %d): revision %d, %v", want, b.Revision, err)
					return
				}
				if _, err := l.GroupStats(ctx, "groups/g", want); err != nil {
					t.Errorf("GroupStats(min %d): %v", want, err)
					return
				}
			}
		})
	}
	for _, b := range batches {
		if err := l.Apply(ctx, b, b[len(b)-1].GetRevision()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// TestLive_DeltaWhileReading takes checkpoint Deltas while readers read
// every figure, under the race detector: Delta changes projection state
// (change tracking, and the renumbering of interned values once many fell
// out of use), so it must exclude readers. Rounds alternately give each
// entity and group a value of its own and gather them all on one, so that
// Deltas renumber.
func TestLive_DeltaWhileReading(t *testing.T) {
	projection.SetCompactMinFree(t, 8)
	l, m := loadedLive(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 32
	var cs []*registryv1.Change
	for i := range n {
		cs = append(cs, m.Put(feedmodel.Group(fmt.Sprint("g", i), alliance, ""))...)
		cs = append(cs, m.Put(feedmodel.Entity(fmt.Sprint("e", i), university, "", nil, false, false))...)
		cs = append(cs, m.Put(feedmodel.Membership(fmt.Sprint("g", i), fmt.Sprint("e", i), member))...)
	}
	if err := l.Apply(ctx, cs, m.Revision); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, d := range []metrics.Dimension{metrics.DimensionRegion, metrics.DimensionIndustry, metrics.DimensionGroupField} {
					if _, err := l.Breakdown(ctx, d, 0); err != nil {
						t.Error(err)
						return
					}
				}
				if _, err := l.GroupStats(ctx, "groups/g0", 0); err != nil {
					t.Error(err)
					return
				}
				if _, err := l.Figures(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for round := range 40 {
		cs = cs[:0]
		for i := range n {
			v := "shared"
			if round%2 == 0 {
				v = fmt.Sprint("r", round, "-", i) // a value of its own
			}
			cs = append(cs, m.Put(feedmodel.Entity(fmt.Sprint("e", i), university, v, []string{v}, false, false))...)
			cs = append(cs, m.Put(feedmodel.Group(fmt.Sprint("g", i), alliance, v))...)
		}
		if err := l.Apply(ctx, cs, m.Revision); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.Delta(); !ok {
			t.Fatal("no Delta from a loaded projection")
		}
	}
	close(done)
	wg.Wait()
	want := oracle.Figures(m.Revision, m.Snapshot())
	got, err := l.Figures()
	if err != nil {
		t.Fatal(err)
	}
	if d := metrics.Diff(got, want); len(d) > 0 {
		t.Fatalf("projection differs from recount: %v", d)
	}
}

// TestLive_ReplacedByOlder_ReadsWait: between a read's wait for its
// minimum revision and the read, Replace installs an older projection (the
// registry was rebuilt from scratch). No read may answer below its minimum
// revision — nor NOT_FOUND from the older projection — they wait for the
// new projection to reach it.
func TestLive_ReplacedByOlder_ReadsWait(t *testing.T) {
	type read func(ctx context.Context, l *projection.Live, min int64) (int64, error)
	reads := map[string]read{
		"Summary": func(ctx context.Context, l *projection.Live, min int64) (int64, error) {
			s, err := l.Summary(ctx, min)
			return s.Revision, err
		},
		"GroupStats": func(ctx context.Context, l *projection.Live, min int64) (int64, error) {
			s, err := l.GroupStats(ctx, "groups/g", min)
			return s.Revision, err
		},
		"Breakdown": func(ctx context.Context, l *projection.Live, min int64) (int64, error) {
			b, err := l.Breakdown(ctx, metrics.DimensionGroupField, min)
			return b.Revision, err
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, m := loadedLive(t, 0)
			cs := append(m.Put(feedmodel.Group("g", alliance, "old")), programs(m, "a", "b", "c", "d")...)
			if err := l.Apply(ctx, cs, m.Revision); err != nil {
				t.Fatal(err)
			}
			const min = 5
			// The rebuilt registry's feed: the group comes back at
			// revision 6, in another field.
			m2 := feedmodel.New()
			later := append(programs(m2, "x", "y", "z", "w", "v"), m2.Put(feedmodel.Group("g", consortium, "new"))...)
			applied := make(chan error, 1)
			var once sync.Once
			projection.SetBeforeRead(l, func() {
				once.Do(func() {
					if err := l.Replace(ctx, projection.New()); err != nil {
						t.Error(err)
					}
					go func() { applied <- l.Apply(ctx, later, m2.Revision) }()
				})
			})
			rev, err := read(ctx, l, min)
			if err != nil {
				t.Fatalf("read(min %d) after a replace by an older projection: %v", min, err)
			}
			if rev < min {
				t.Fatalf("read(min %d) answered at revision %d", min, rev)
			}
			if err := <-applied; err != nil {
				t.Fatal(err)
			}
		})
	}
}
