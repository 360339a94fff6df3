package projection_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// txn marks changes as one transaction, as the registry does.
func txn(cs ...[]*registryv1.Change) []*registryv1.Change {
	var all []*registryv1.Change
	for _, c := range cs {
		all = append(all, c...)
	}
	first, last := all[0].GetRevision(), all[len(all)-1].GetRevision()
	for _, c := range all {
		c.TransactionFirstRevision, c.TransactionLastRevision = first, last
	}
	return all
}

// TestLive_TransactionSplitAcrossApplies: a transaction whose changes come
// in two Applies is published only once its last change has arrived.
func TestLive_TransactionSplitAcrossApplies(t *testing.T) {
	l, m := loadedLive(t, 0)
	ctx := context.Background()
	cs := txn(programs(m, "a", "b", "c", "d"))
	if err := l.Apply(ctx, cs[:3], 3); err != nil {
		t.Fatal(err)
	}
	s, err := l.Summary(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision != 0 || s.Programs != 0 || l.Revision() != 0 || l.Pending() != 3 {
		t.Fatalf("after 3 of 4 changes: revision %d, %d programmes, applied %d, %d pending; want 0, 0, 0, 3",
			s.Revision, s.Programs, l.Revision(), l.Pending())
	}
	b, err := l.Breakdown(ctx, metrics.DimensionProgram, 0)
	if err != nil || b.Revision != 0 {
		t.Fatalf("Breakdown inside a transaction: revision %d, %v", b.Revision, err)
	}
	// The rest, with a second transaction and half of a third.
	more := append(cs[3:], txn(programs(m, "e"))...)
	more = append(more, txn(programs(m, "f", "g"))[:1]...)
	if err := l.Apply(ctx, more, 6); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.Summary(ctx, 0); s.Revision != 5 || s.Programs != 5 || l.Pending() != 1 {
		t.Fatalf("after the first two transactions: revision %d, %d programmes, %d pending; want 5, 5, 1", s.Revision, s.Programs, l.Pending())
	}
}

// TestLive_ChangesWithoutTransactionAreEachOne: an older registry's
// changes carry no transaction: each is published as it comes.
func TestLive_ChangesWithoutTransactionAreEachOne(t *testing.T) {
	l, m := loadedLive(t, 0)
	cs := programs(m, "a", "b")
	for _, c := range cs {
		c.TransactionFirstRevision, c.TransactionLastRevision = 0, 0
	}
	if err := l.Apply(context.Background(), cs[:1], 1); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.Summary(context.Background(), 0); s.Revision != 1 || s.Programs != 1 {
		t.Fatalf("revision %d, %d programmes; want 1, 1", s.Revision, s.Programs)
	}
}

// TestLive_GapAppliesNothing: changes that skip a revision are refused
// before anything of them is applied.
func TestLive_GapAppliesNothing(t *testing.T) {
	l, m := loadedLive(t, 0)
	cs := programs(m, "a", "b", "c")
	err := l.Apply(context.Background(), []*registryv1.Change{cs[0], cs[2]}, 3)
	if !errors.Is(err, projection.ErrRevisionGap) {
		t.Fatalf("Apply with a gap: %v, want ErrRevisionGap", err)
	}
	if s, _ := l.Summary(context.Background(), 0); s.Revision != 0 || s.Programs != 0 || l.Pending() != 0 {
		t.Fatalf("after a gap: revision %d, %d programmes, %d pending; want nothing applied", s.Revision, s.Programs, l.Pending())
	}
}

// TestLive_AnomalyDropsTheProjection: after a change that does not fit,
// reads fail (UNAVAILABLE) instead of answering with figures that cannot
// be trusted, until a projection is installed again.
func TestLive_AnomalyDropsTheProjection(t *testing.T) {
	l, m := loadedLive(t, 0)
	ctx := context.Background()
	if err := l.Apply(ctx, programs(m, "a"), 1); err != nil {
		t.Fatal(err)
	}
	bad := m.Put(feedmodel.Program("b"))
	bad[0].Type, bad[0].Before, bad[0].After = registryv1.ChangeType_CHANGE_TYPE_DELETED, feedmodel.Entity("ghost", enterprise, "", nil, false, false), nil
	err := l.Apply(ctx, bad, 2)
	var anomaly *projection.AnomalyError
	if !errors.As(err, &anomaly) || !errors.Is(err, projection.ErrAnomaly) || anomaly.Revision != 2 || !strings.Contains(anomaly.Reason, "entities/ghost") {
		t.Fatalf("Apply(delete of an entity never created) = %v, want an AnomalyError at 2 naming entities/ghost", err)
	}
	if l.Loaded() {
		t.Fatal("still loaded after an anomaly")
	}
	if _, err := l.Summary(ctx, 0); metrics.ErrorCode(err) != metrics.CodeUnavailable {
		t.Fatalf("Summary after an anomaly: %v, want CodeUnavailable", err)
	}
	if _, err := l.GroupStats(ctx, "groups/x", 0); metrics.ErrorCode(err) != metrics.CodeUnavailable {
		t.Fatalf("GroupStats after an anomaly: %v, want CodeUnavailable", err)
	}
	if err := l.Replace(ctx, projection.New()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Summary(ctx, 0); err != nil {
		t.Fatalf("Summary after Replace: %v", err)
	}
}

func TestProjection_Anomalies(t *testing.T) {
	e := feedmodel.Entity("e", enterprise, "Binhai", nil, false, false)
	g := feedmodel.Group("g", alliance, "aerospace")
	ms := feedmodel.Membership("g", "e", member)
	rec := feedmodel.Record("r", "entities/e", gathered, 5, "", "")
	for _, tc := range []struct {
		name string
		// setup is applied first, one transaction per step; then feed,
		// as one transaction, must fail with a reason containing want.
		setup []*registryv1.Resource
		feed  func(m *feedmodel.Model) []*registryv1.Change
		want  string
	}{
		{"membership of a missing entity", []*registryv1.Resource{g}, func(m *feedmodel.Model) []*registryv1.Change {
			return m.Put(ms)
		}, "entities/e does not exist"},
		{"membership of a missing group", []*registryv1.Resource{e}, func(m *feedmodel.Model) []*registryv1.Change {
			return m.Put(ms)
		}, "groups/g does not exist"},
		{"record of a missing entity", nil, func(m *feedmodel.Model) []*registryv1.Change {
			return m.Put(rec)
		}, "entities/e does not exist"},
		{"membership removed twice", []*registryv1.Resource{e, g, ms}, func(m *feedmodel.Model) []*registryv1.Change {
			cs := m.Delete(ms.GetMembership().GetName())
			again := m.Put(feedmodel.Program("p")) // a revision to carry the repeat
			again[0].Type, again[0].Before, again[0].After = registryv1.ChangeType_CHANGE_TYPE_DELETED, cs[0].GetBefore(), nil
			return txn(cs, again)
		}, "removing groups/g/memberships/e, which the projection does not hold"},
		{"record withdrawn twice: its count would go negative", []*registryv1.Resource{e, rec}, func(m *feedmodel.Model) []*registryv1.Change {
			cs := m.Delete(rec.GetTalentRecord().GetName())
			again := m.Put(feedmodel.Program("p"))
			again[0].Type, again[0].Before, again[0].After = registryv1.ChangeType_CHANGE_TYPE_DELETED, cs[0].GetBefore(), nil
			return txn(cs, again)
		}, "withdrawing talentRecords/r from entities/e"},
		{"entity deleted under its memberships", []*registryv1.Resource{e, g, ms}, func(m *feedmodel.Model) []*registryv1.Change {
			cs := m.Delete("entities/e") // the membership, then the entity
			cs[1].Revision = cs[0].Revision
			return txn(cs[1:]) // without the membership's deletion
		}, "entities/e does not exist, yet 1 memberships"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, r := range tc.setup {
				h.put(r)
			}
			cs := tc.feed(h.m)
			var err error
			for _, c := range cs {
				if err = h.p.Apply(c); err != nil {
					break
				}
			}
			if !errors.Is(err, projection.ErrAnomaly) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want an anomaly saying %q", err, tc.want)
			}
		})
	}
}

// TestProjection_OrderWithinTransactionIsFree: a transaction may create a
// membership before the entity it names, or delete an entity before its
// memberships: only the state at its end must hold.
func TestProjection_OrderWithinTransactionIsFree(t *testing.T) {
	h := newHarness(t)
	h.put(feedmodel.Group("g", alliance, "aerospace"))
	ms := h.m.Put(feedmodel.Membership("g", "e", member))
	ent := h.m.Put(feedmodel.Entity("e", enterprise, "Binhai", nil, false, false))
	h.apply(txn(ms, ent)) // the membership first
	h.check()
	cs := h.m.Delete("entities/e")
	cs[0].Before, cs[1].Before = cs[1].Before, cs[0].Before // the entity first
	cs[0].Name, cs[1].Name = cs[1].Name, cs[0].Name
	h.apply(cs)
	h.check()
}
