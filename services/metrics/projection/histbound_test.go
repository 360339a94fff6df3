package projection_test

import (
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/internal/oracle"
	"talentreg/services/metrics/projection"

	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"
)

// figuresAsOf reads every figure of p as of at, revisions cleared.
func figuresAsOf(t *rapid.T, p *projection.Projection, at time.Time, groups []string) metrics.Figures {
	s, err := p.SummaryAsOf(at)
	if err != nil {
		t.Fatalf("SummaryAsOf(%s): %v", at, err)
	}
	s.Revision = 0
	got := metrics.Figures{Summary: s, Breakdowns: map[metrics.Dimension][]metrics.Row{}, Groups: map[string]metrics.GroupStats{}}
	for _, d := range metrics.Dimensions {
		b, err := p.BreakdownAsOf(d, at)
		if err != nil {
			t.Fatal(err)
		}
		got.Breakdowns[d] = b.Rows
	}
	for _, g := range groups {
		st, ok, err := p.GroupStatsAsOf(g, at)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			st.Revision = 0
			got.Groups[g] = st
		}
	}
	return got
}

// TestProjection_HistoryBoundedProperty: with the history bounded to an
// exact window, after any sequence of registry operations committed hours
// apart (crossing day boundaries), the figures as of a time within the
// window equal a recount of the registry as it was then; as of a time
// before it, a recount as it was at the start of that UTC day; and as of
// every day boundary, a recount then. Also after incremental and full
// checkpoints, whose Delete records drop what coarsening dropped, and
// restores from them.
func TestProjection_HistoryBoundedProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		exactFor := []time.Duration{time.Hour, 24 * time.Hour, 50 * time.Hour}[rapid.IntRange(0, 2).Draw(t, "exactFor")]
		unit := []time.Duration{time.Second, time.Hour, 5 * time.Hour}[rapid.IntRange(0, 2).Draw(t, "unit")]
		m := feedmodel.New()
		p := projection.New()
		projection.SetHistoryExactFor(p, exactFor)
		store := kv{}
		base := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
		type past struct {
			at   time.Time
			want metrics.Figures
		}
		pasts := []past{{base.Add(-48 * time.Hour), oracle.Figures(0, nil)}}
		now, lastCommit := base, base
		groups := map[string]bool{}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "gap")) * unit)
			for _, c := range step(t, m) {
				c.CommitTime = timestamppb.New(now)
				if err := p.Apply(c); err != nil {
					t.Fatal(err)
				}
				lastCommit = now
			}
			if pasts[len(pasts)-1].at.Equal(now) {
				pasts = pasts[:len(pasts)-1]
			}
			want := oracle.Figures(m.Revision, m.Snapshot())
			want.Revision, want.Summary.Revision = 0, 0
			for name, g := range want.Groups {
				g.Revision = 0
				want.Groups[name] = g
				groups[name] = true
			}
			pasts = append(pasts, past{now, want})
			switch rapid.IntRange(0, 5).Draw(t, "checkpoint") {
			case 0:
				store.apply(p.Delta())
				p = store.restore(t, m.Revision)
				projection.SetHistoryExactFor(p, exactFor)
			case 1:
				p.MarkFull()
				store.apply(p.Delta())
			}
		}
		// The state in force at t: the last transaction at or before it.
		stateAt := func(t time.Time) metrics.Figures {
			i := len(pasts) - 1
			for i > 0 && pasts[i].at.After(t) {
				i--
			}
			return pasts[i].want
		}
		// Before coarseBefore the history is kept at day boundaries: the
		// window ends at the latest commit.
		coarseBefore := lastCommit.Add(-exactFor).Truncate(24 * time.Hour)
		var times []time.Time
		for _, ps := range pasts[1:] {
			times = append(times, ps.at, ps.at.Add(500*time.Millisecond), ps.at.Add(-time.Millisecond))
		}
		for d := base.Truncate(24 * time.Hour); !d.After(now.Add(24 * time.Hour)); d = d.Add(24 * time.Hour) {
			times = append(times, d, d.Add(time.Nanosecond))
		}
		names := func() []string {
			out := m.Names("groups/")
			for g := range groups {
				out = append(out, g)
			}
			return out
		}()
		store.apply(p.Delta())
		restored := store.restore(t, m.Revision)
		for qi, q := range []*projection.Projection{p, restored} {
			for _, at := range times {
				kind, wantAt := "exact", at
				if at.Before(coarseBefore) {
					kind, wantAt = "coarse", at.Truncate(24*time.Hour)
				}
				want := stateAt(wantAt)
				if d := metrics.Diff(figuresAsOf(t, q, at, names), want); len(d) > 0 {
					t.Fatalf("projection %d (1: restored), as of %s (%s, window %s, coarse before %s): differs from the recount at %s:\n%v", qi, at, kind, exactFor, coarseBefore, wantAt, d)
				}
			}
		}
	})
}

// TestProjection_HistoryBoundedMemory: a week of a transaction every ten
// minutes, with a day's exact window, keeps a transaction per day before
// the window and every one within it; without a bound, every one.
func TestProjection_HistoryBoundedMemory(t *testing.T) {
	transactions := 0
	run := func(exactFor time.Duration) (tx, summaries, bytes int) {
		transactions = 0
		m := feedmodel.New()
		p := projection.New()
		projection.SetHistoryExactFor(p, exactFor)
		now := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
		once := false
		rapid.Check(t, func(rt *rapid.T) { // one run: step draws its operations
			if once {
				return
			}
			once = true
			for range 7 * 24 * 6 {
				now = now.Add(10 * time.Minute)
				changes := step(rt, m)
				if len(changes) > 0 {
					transactions++ // a step is one transaction
				}
				for _, c := range changes {
					c.CommitTime = timestamppb.New(now)
					if err := p.Apply(c); err != nil {
						rt.Fatal(err)
					}
				}
			}
		})
		return projection.HistoryLen(p)
	}
	tx, sums, bytes := run(24 * time.Hour)
	allTx, allSums, allBytes := run(0)
	t.Logf("bounded: %d transactions, %d Summary versions, %d bytes; unbounded: %d, %d, %d", tx, sums, bytes, allTx, allSums, allBytes)
	if allTx != 1+transactions {
		t.Fatalf("unbounded history holds %d transactions, want the first and every one of %d", allTx, transactions)
	}
	// At most one per day before the window, the window's (one day and
	// the part of a day before the cut), and the first.
	if limit := 1 + 8 + 2*24*6; tx > limit {
		t.Fatalf("bounded history holds %d transactions, want at most %d", tx, limit)
	}
}

// TestProjection_CoarseningCostsADay: at a steady rate of transactions,
// a coarsening goes through the versions of the day it makes coarse, not
// the window's: the versions gone through per coarsening are about the
// same with a window four times as long. (Re-encoding every series whole,
// they grew with the window.)
func TestProjection_CoarseningCostsADay(t *testing.T) {
	perCoarsening := func(window time.Duration) float64 {
		m := feedmodel.New()
		p := projection.New()
		projection.SetHistoryExactFor(p, window)
		start := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
		at := start
		// The window's start, in days, when the window is full and at
		// the end; the versions gone through by then.
		windowDay := func(at time.Time) int64 { return at.Add(-window).Unix() / (24 * 3600) }
		fullDay, fullVisits := int64(0), -1
		once := false
		rapid.Check(t, func(rt *rapid.T) { // one run: step draws its operations
			if once {
				return
			}
			once = true
			for at.Before(start.Add(window + 4*24*time.Hour)) {
				for _, c := range step(rt, m) {
					c.CommitTime = timestamppb.New(at)
					if err := p.Apply(c); err != nil {
						rt.Fatal(err)
					}
				}
				if fullVisits < 0 && !at.Before(start.Add(window+24*time.Hour)) {
					fullDay, fullVisits = windowDay(at), projection.CoarsenVisits(p)
				}
				at = at.Add(5 * time.Minute)
			}
		})
		coarsenings := windowDay(at.Add(-5*time.Minute)) - fullDay // at the last commit
		if coarsenings < 2 {
			t.Fatalf("window %s: %d coarsenings counted", window, coarsenings)
		}
		return float64(projection.CoarsenVisits(p)-fullVisits) / float64(coarsenings)
	}
	short, long := perCoarsening(24*time.Hour), perCoarsening(4*24*time.Hour)
	t.Logf("versions gone through per coarsening: %.0f with a 1-day window, %.0f with a 4-day one (%.2f×)", short, long, long/short)
	if long > 1.5*short {
		t.Fatalf("a coarsening goes through %.2f× the versions with a window 4× as long: it should cost a day's, not the window's", long/short)
	}
}

// TestProjection_ExactFrom: ExactFrom is the day boundary before which a
// bounded history is coarse, in the live projection and in one restored
// from its checkpoint; zero for a history kept whole from the start.
func TestProjection_ExactFrom(t *testing.T) {
	m := feedmodel.New()
	p := projection.New()
	if !p.ExactFrom().IsZero() {
		t.Fatalf("unbounded, from the start: ExactFrom %s, want zero", p.ExactFrom())
	}
	projection.SetHistoryExactFor(p, 30*time.Hour)
	store := kv{}
	at := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
	rapid.Check(t, func(rt *rapid.T) {
		if m.Revision > 0 {
			return // one run: step draws its operations
		}
		for range 200 {
			for _, c := range step(rt, m) {
				c.CommitTime = timestamppb.New(at)
				if err := p.Apply(c); err != nil {
					rt.Fatal(err)
				}
			}
			at = at.Add(37 * time.Minute)
			if rapid.IntRange(0, 9).Draw(rt, "checkpoint") == 0 {
				store.apply(p.Delta())
			}
		}
	})
	last := at.Add(-37 * time.Minute)
	want := last.Add(-30 * time.Hour).Truncate(24 * time.Hour)
	store.apply(p.Delta())
	restored := store.restoreT(t, m.Revision)
	for i, q := range []*projection.Projection{p, restored} {
		if got := q.ExactFrom(); !got.Equal(want) {
			t.Fatalf("projection %d (1: restored): ExactFrom %s, want %s (the latest commit %s less 30h, at 00:00 UTC)", i, got, want, last)
		}
	}
}

// TestProjection_DeltaEncodedAfterCoarsening: a Delta taken before a
// coarsening and encoded after it (Live.Delta encodes off the lock, while
// the applier goes on and may drop the versions taken from the exact
// logs) writes what it took; the checkpoint restores to the same figures
// as of every time as the live projection.
func TestProjection_DeltaEncodedAfterCoarsening(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := feedmodel.New()
		p := projection.New()
		projection.SetHistoryExactFor(p, 24*time.Hour)
		store := kv{}
		at := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
		var pending []projection.Delta // taken, not encoded yet
		var times []time.Time
		groups := map[string]bool{}
		for range rapid.IntRange(1, 80).Draw(t, "steps") {
			at = at.Add(time.Duration(rapid.IntRange(0, 6).Draw(t, "hours")) * time.Hour)
			for _, c := range step(t, m) {
				c.CommitTime = timestamppb.New(at)
				if err := p.Apply(c); err != nil {
					t.Fatal(err)
				}
			}
			for _, g := range m.Names("groups/") {
				groups[g] = true
			}
			times = append(times, at, at.Truncate(24*time.Hour), at.Add(-time.Minute))
			switch rapid.IntRange(0, 3).Draw(t, "delta") {
			case 0:
				pending = append(pending, projection.DeltaLater(p))
			case 1:
				for _, d := range pending {
					d.Encode()
					store.apply(d)
				}
				pending = nil
			}
		}
		for _, d := range pending {
			d.Encode()
			store.apply(d)
		}
		store.apply(p.Delta())
		restored := store.restore(t, m.Revision)
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		for _, at := range times {
			if d := metrics.Diff(figuresAsOf(t, restored, at, names), figuresAsOf(t, p, at, names)); len(d) > 0 {
				t.Fatalf("as of %s, the restored projection differs from the live one:\n%v", at, d)
			}
		}
		if !restored.ExactFrom().Equal(p.ExactFrom()) {
			t.Fatalf("restored ExactFrom %s, live %s", restored.ExactFrom(), p.ExactFrom())
		}
	})
}
