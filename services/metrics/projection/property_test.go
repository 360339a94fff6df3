package projection_test

import (
	"fmt"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/internal/oracle"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"
)

// kv stands in for the checkpoint store: it applies Deltas the way the
// checkpoint package must.
type kv map[projection.Section]map[string][]byte

func (s kv) apply(d projection.Delta) {
	if d.Full {
		clear(s)
	}
	for _, r := range d.Delete {
		delete(s[r.Section], r.Key)
	}
	for _, r := range d.Put {
		if s[r.Section] == nil {
			s[r.Section] = map[string][]byte{}
		}
		s[r.Section][r.Key] = append([]byte(nil), r.Value...)
	}
}

func (s kv) restore(t *rapid.T, revision int64) *projection.Projection {
	p, err := s.load(revision)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s kv) restoreT(t testing.TB, revision int64) *projection.Projection {
	t.Helper()
	p, err := s.load(revision)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (s kv) load(revision int64) (*projection.Projection, error) {
	return projection.Restore(revision, func(add func(projection.Record) error) error {
		for sec, m := range s {
			for k, v := range m {
				if err := add(projection.Record{Section: sec, Key: k, Value: v}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

var (
	regions    = []string{"", "Beijing", "Hebei", "Tianjin", "Binhai"}
	industries = []string{"aerospace", "deep-sea", "biomedicine", "new-materials"}
	fields     = []string{"", "aerospace", "financial-leasing", "digital-economy"}
	periods    = []string{"", "2023", "2024", "2024-06"}
)

// step draws one registry operation that the registry would accept and
// returns its changes.
func step(t *rapid.T, m *feedmodel.Model) []*registryv1.Change {
	pick := func(label string, names []string) string { return rapid.SampledFrom(names).Draw(t, label) }
	ents, grps, mems := m.Names("entities/"), m.Names("groups/"), m.Memberships()
	recs, progs := m.Names("talentRecords/"), m.Names("programs/")
	ops := []string{"putEntity", "putGroup", "putProgram"}
	if len(ents) > 0 {
		ops = append(ops, "updateEntity", "updateEntity", "deleteEntity")
	}
	if len(grps) > 0 {
		ops = append(ops, "updateGroup", "deleteGroup")
	}
	if len(ents) > 0 && len(grps) > 0 {
		ops = append(ops, "putMembership", "putMembership", "putMembership")
	}
	if len(mems) > 0 {
		ops = append(ops, "deleteMembership", "deleteMembership", "updateMembership")
	}
	if len(ents)+len(grps) > 0 {
		ops = append(ops, "putRecord", "putRecord")
	}
	if len(recs) > 0 {
		ops = append(ops, "updateRecord", "deleteRecord")
	}
	if len(progs) > 0 {
		ops = append(ops, "deleteProgram")
	}
	ops = append(ops, "putPolicy", "putTarget")
	if pols := m.Names("policies/"); len(pols) > 0 {
		ops = append(ops, "deletePolicy")
	}
	if len(ents) > 0 {
		ops = append(ops, "statusEntity")
	}
	if len(mems) > 0 {
		ops = append(ops, "statusMembership")
	}
	status := func() registryv1.LifecycleStatus {
		return registryv1.LifecycleStatus(rapid.IntRange(0, 3).Draw(t, "status"))
	}
	entity := func(id string) []*registryv1.Change {
		kind := registryv1.EntityKind(rapid.IntRange(1, 5).Draw(t, "kind"))
		inds := rapid.SliceOfNDistinct(rapid.SampledFrom(industries), 0, 3, rapid.ID[string]).Draw(t, "industries")
		return m.Put(feedmodel.Entity(id, kind, pick("region", regions), inds,
			rapid.Bool().Draw(t, "leading"), rapid.Bool().Draw(t, "platform")))
	}
	group := func(id string) []*registryv1.Change {
		kind := registryv1.GroupKind(rapid.IntRange(1, 2).Draw(t, "gkind"))
		return m.Put(feedmodel.Group(id, kind, pick("field", fields)))
	}
	record := func(id string) []*registryv1.Change {
		subject := pick("subject", append(append([]string{}, ents...), grps...))
		program := ""
		if len(progs) > 0 && rapid.Bool().Draw(t, "hasProgram") {
			program = pick("program", progs)
		}
		cat := registryv1.TalentCategory(rapid.IntRange(1, 3).Draw(t, "category"))
		return m.Put(feedmodel.Record(id, subject, cat, rapid.Int64Range(1, 1000).Draw(t, "count"), program, pick("period", periods)))
	}
	id := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, rapid.IntRange(0, 11).Draw(t, prefix)) }
	switch op := rapid.SampledFrom(ops).Draw(t, "op"); op {
	case "putEntity":
		return entity(id("e"))
	case "updateEntity":
		return entity(pick("entity", ents)[len("entities/"):])
	case "deleteEntity":
		return m.Delete(pick("entity", ents))
	case "putGroup":
		return group(id("g"))
	case "updateGroup":
		return group(pick("group", grps)[len("groups/"):])
	case "deleteGroup":
		return m.Delete(pick("group", grps))
	case "putProgram":
		return m.Put(feedmodel.Program(id("p")))
	case "deleteProgram":
		return m.Delete(pick("program", progs))
	case "putMembership":
		g, e := pick("group", grps)[len("groups/"):], pick("entity", ents)[len("entities/"):]
		if m.Get("groups/"+g+"/memberships/"+e) != nil {
			return nil // ALREADY_EXISTS
		}
		return m.Put(feedmodel.Membership(g, e, registryv1.MembershipRole(rapid.IntRange(1, 2).Draw(t, "role"))))
	case "updateMembership":
		r := m.Get(pick("membership", mems)).GetMembership()
		g, _, _ := cut(r.GetName())
		return m.Put(feedmodel.Membership(g, r.GetEntity()[len("entities/"):], registryv1.MembershipRole(3-r.GetRole())))
	case "deleteMembership":
		return m.Delete(pick("membership", mems))
	case "statusEntity":
		r := m.Get(pick("entity", ents))
		e := proto.Clone(r).(*registryv1.Resource)
		e.GetEntity().Status = status()
		return m.Put(e)
	case "statusMembership":
		r := proto.Clone(m.Get(pick("membership", mems))).(*registryv1.Resource)
		r.GetMembership().Status = status()
		return m.Put(r)
	case "putPolicy":
		return m.Put(feedmodel.Policy(id("pol"), rapid.Bool().Draw(t, "pilot")))
	case "deletePolicy":
		return m.Delete(pick("policy", m.Names("policies/")))
	case "putTarget":
		return m.Put(feedmodel.Target(id("t"), registryv1.TargetMetric(rapid.IntRange(1, 7).Draw(t, "metric")), 100, ""))
	case "putRecord":
		return record(id("r"))
	case "updateRecord":
		return record(pick("record", recs)[len("talentRecords/"):])
	case "deleteRecord":
		return m.Delete(pick("record", recs))
	default:
		t.Fatalf("unknown op %s", op)
		return nil
	}
}

func cut(membership string) (group, entity string, ok bool) {
	const sep = "/memberships/"
	for i := 0; i+len(sep) <= len(membership); i++ {
		if membership[i:i+len(sep)] == sep {
			return membership[len("groups/"):i], membership[i+len(sep):], true
		}
	}
	return "", "", false
}

// TestProjection_Property: after any sequence of registry operations —
// kind, region and industry updates, group kind and field changes, cascade
// deletes in any order, membership churn, records moving between subjects —
// the projection equals a brute-force recount; so does a projection loaded
// from the snapshot, and one restored from its incremental checkpoints,
// which then goes on applying changes.
func TestProjection_Property(t *testing.T) {
	projection.SetCompactMinFree(t, 1) // renumber interned values at every chance
	rapid.Check(t, func(t *rapid.T) {
		m := feedmodel.New()
		m.Shuffle = func(n int, swap func(i, j int)) {
			for i := n - 1; i > 0; i-- {
				swap(i, rapid.IntRange(0, i).Draw(t, "shuffle"))
			}
		}
		p := projection.New()
		store := kv{}
		steps := rapid.IntRange(1, 120).Draw(t, "steps")
		for range steps {
			for _, c := range step(t, m) {
				if err := p.Apply(c); err != nil {
					t.Fatal(err)
				}
			}
			switch rapid.IntRange(0, 9).Draw(t, "checkpoint") {
			case 0:
				store.apply(p.Delta())
			case 1:
				store.apply(p.Delta())
				p = store.restore(t, m.Revision) // go on from the checkpoint
			case 2:
				p.MarkFull()
			}
			if rapid.IntRange(0, 4).Draw(t, "check") == 0 {
				compare(t, "incremental", p.Figures(), oracle.Figures(m.Revision, m.Snapshot()))
				checkPools(t, "incremental", p)
			}
		}
		want := oracle.Figures(m.Revision, m.Snapshot())
		compare(t, "incremental", p.Figures(), want)
		checkPools(t, "incremental", p)
		if p.Anomalies() != 0 {
			t.Fatalf("%d anomalies", p.Anomalies())
		}
		l := projection.NewLoader()
		for _, r := range m.Snapshot() {
			l.Add(r)
		}
		loaded := l.Finish(m.Revision)
		compare(t, "snapshot load", loaded.Figures(), want)
		checkPools(t, "snapshot load", loaded)
		store.apply(p.Delta())
		checkPools(t, "after a checkpoint", p)
		restored := store.restore(t, m.Revision)
		compare(t, "checkpoint restore", restored.Figures(), want)
		checkPools(t, "checkpoint restore", restored)
	})
}

func checkPools(t *rapid.T, what string, p *projection.Projection) {
	if err := projection.CheckPools(p); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func compare(t *rapid.T, what string, got, want metrics.Figures) {
	if d := metrics.Diff(got, want); len(d) > 0 {
		t.Fatalf("%s differs from recount at revision %d:\n%v", what, want.Revision, d)
	}
}

// TestProjection_HistoryProperty: after any sequence of registry
// operations, each committed at its own time (several transactions may
// share one), the figures as of each past time — Summary, every breakdown,
// every group's stats — equal a recount of the registry as it was then;
// also after restores from incremental and full checkpoints, and for
// times between commits.
func TestProjection_HistoryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := feedmodel.New()
		p := projection.New()
		store := kv{}
		base := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
		type past struct {
			at   time.Time
			want metrics.Figures
		}
		var pasts []past
		now := base
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			now = now.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "gap")) * time.Second)
			for _, c := range step(t, m) {
				c.CommitTime = timestamppb.New(now)
				if err := p.Apply(c); err != nil {
					t.Fatal(err)
				}
			}
			// The state after the last transaction committed at now.
			if len(pasts) > 0 && pasts[len(pasts)-1].at.Equal(now) {
				pasts = pasts[:len(pasts)-1]
			}
			pasts = append(pasts, past{now, oracle.Figures(m.Revision, m.Snapshot())})
			switch rapid.IntRange(0, 5).Draw(t, "checkpoint") {
			case 0:
				store.apply(p.Delta())
				p = store.restore(t, m.Revision)
			case 1:
				p.MarkFull()
				store.apply(p.Delta())
			}
		}
		before := base.Add(-time.Second)
		empty := oracle.Figures(0, nil)
		for i, ps := range append([]past{{before, empty}}, pasts...) {
			at := ps.at
			if i > 0 && rapid.Bool().Draw(t, "between") {
				at = at.Add(500 * time.Millisecond) // between commits: the same state
			}
			s, err := p.SummaryAsOf(at)
			if err != nil {
				t.Fatalf("SummaryAsOf(%s): %v", at, err)
			}
			got := metrics.Figures{Revision: s.Revision, Summary: s, Breakdowns: map[metrics.Dimension][]metrics.Row{}, Groups: map[string]metrics.GroupStats{}}
			for _, d := range metrics.Dimensions {
				b, err := p.BreakdownAsOf(d, at)
				if err != nil {
					t.Fatal(err)
				}
				got.Breakdowns[d] = b.Rows
			}
			for _, g := range append(m.Names("groups/"), keys(ps.want.Groups)...) {
				st, ok, err := p.GroupStatsAsOf(g, at)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					got.Groups[g] = st
				}
			}
			want := ps.want
			want.Summary.Revision, got.Summary.Revision = 0, 0
			for name, g := range want.Groups {
				g.Revision = 0
				want.Groups[name] = g
			}
			for name, g := range got.Groups {
				g.Revision = 0
				got.Groups[name] = g
			}
			if d := metrics.Diff(got, want); len(d) > 0 {
				t.Fatalf("as of %s (point %d): differs from the recount then:\n%v", at, i, d)
			}
		}
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
