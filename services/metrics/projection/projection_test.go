package projection_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/internal/oracle"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/protobuf/proto"
)

const (
	enterprise = registryv1.EntityKind_ENTITY_KIND_ENTERPRISE
	university = registryv1.EntityKind_ENTITY_KIND_UNIVERSITY
	institute  = registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE
	incubator  = registryv1.EntityKind_ENTITY_KIND_INCUBATOR
	other      = registryv1.EntityKind_ENTITY_KIND_OTHER
	consortium = registryv1.GroupKind_GROUP_KIND_CONSORTIUM
	alliance   = registryv1.GroupKind_GROUP_KIND_ALLIANCE
	gathered   = registryv1.TalentCategory_TALENT_CATEGORY_GATHERED
	cultivated = registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED
	assessed   = registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED
	member     = registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER
	lead       = registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD
)

// harness applies a model's changes to a projection and checks it against
// the oracle.
type harness struct {
	t testing.TB
	m *feedmodel.Model
	p *projection.Projection
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, m: feedmodel.New(), p: projection.New()}
}

func (h *harness) apply(cs []*registryv1.Change) {
	h.t.Helper()
	for _, c := range cs {
		if err := h.p.Apply(c); err != nil {
			h.t.Fatalf("apply revision %d: %v", c.GetRevision(), err)
		}
	}
}

func (h *harness) put(r *registryv1.Resource) { h.t.Helper(); h.apply(h.m.Put(r)) }
func (h *harness) del(name string)            { h.t.Helper(); h.apply(h.m.Delete(name)) }

// check holds every figure against the oracle's recount.
func (h *harness) check() {
	h.t.Helper()
	want := oracle.Figures(h.m.Revision, h.m.Snapshot())
	if d := metrics.Diff(h.p.Figures(), want); len(d) > 0 {
		h.t.Fatalf("projection differs from recount at revision %d:\n%v", h.m.Revision, d)
	}
	if n := h.p.Anomalies(); n != 0 {
		h.t.Fatalf("%d anomalies", n)
	}
}

func kinds(ent, uni, inst, inc, oth int64) map[string]int64 {
	return map[string]int64{
		"ENTITY_KIND_ENTERPRISE": ent, "ENTITY_KIND_UNIVERSITY": uni,
		"ENTITY_KIND_RESEARCH_INSTITUTE": inst, "ENTITY_KIND_INCUBATOR": inc, "ENTITY_KIND_OTHER": oth,
	}
}

func talents(g, c, a int64) map[string]int64 {
	return map[string]int64{
		"TALENT_CATEGORY_GATHERED": g, "TALENT_CATEGORY_CULTIVATED": c, "TALENT_CATEGORY_ASSESSED": a,
	}
}

// workedExample builds the hand-counted data set: one university in three
// alliances and one consortium, an enterprise in an alliance and two
// consortia, and others.
func workedExample(t testing.TB) *harness {
	h := newHarness(t)
	for _, p := range []string{"haihe", "kunpeng", "unused"} {
		h.put(feedmodel.Program(p))
	}
	h.put(feedmodel.Entity("tju", university, "Tianjin", []string{"aerospace", "new-materials"}, false, true))
	h.put(feedmodel.Entity("acme", enterprise, "Binhai", []string{"aerospace"}, true, false))
	h.put(feedmodel.Entity("bj-inst", institute, "Beijing", nil, false, false))
	h.put(feedmodel.Entity("hb-incub", incubator, "Hebei", []string{"digital-economy"}, true, true))
	h.put(feedmodel.Entity("lonely", other, "", nil, false, false))
	h.put(feedmodel.Group("a1", alliance, "aerospace"))
	h.put(feedmodel.Group("a2", alliance, "aerospace"))
	h.put(feedmodel.Group("a3", alliance, "financial-leasing"))
	h.put(feedmodel.Group("a4", alliance, ""))
	h.put(feedmodel.Group("c1", consortium, "aerospace"))
	h.put(feedmodel.Group("c2", consortium, "biomedicine"))
	for _, m := range [][2]string{
		{"a1", "tju"}, {"a2", "tju"}, {"a3", "tju"}, {"c1", "tju"},
		{"a1", "acme"}, {"c1", "acme"}, {"c2", "acme"},
		{"c2", "bj-inst"},
	} {
		h.put(feedmodel.Membership(m[0], m[1], member))
	}
	h.put(feedmodel.Record("r1", "entities/tju", assessed, 100, "programs/haihe", "2024"))
	h.put(feedmodel.Record("r2", "entities/acme", gathered, 500, "programs/kunpeng", "2024-06"))
	h.put(feedmodel.Record("r3", "groups/c1", cultivated, 70, "", "2024"))
	h.put(feedmodel.Record("r4", "entities/tju", assessed, 20, "", ""))
	h.put(feedmodel.Record("r5", "entities/hb-incub", assessed, 5, "", ""))
	return h
}

func TestProjection_WorkedExample(t *testing.T) {
	h := workedExample(t)
	p := h.p

	wantSummary := metrics.Summary{
		Revision:                      h.m.Revision,
		Entities:                      5,
		EntitiesByKind:                kinds(1, 1, 1, 1, 1),
		Consortia:                     2,
		Alliances:                     4,
		ConsortiumMembers:             3, // tju, acme, bj-inst
		AllianceMembers:               2, // tju (in three alliances) and acme: DISTINCT
		ConsortiumMemberships:         4,
		AllianceMemberships:           4,
		TalentsGathered:               500,
		TalentsCultivated:             70,
		TalentsAssessed:               125,
		AssessingEntities:             2, // tju (two ASSESSED records) and hb-incub
		LeadingEnterprises:            2,
		FutureIndustryPlatforms:       2,
		PlatformsOrLeadingEnterprises: 3,
		TalentRecords:                 5,
		Programs:                      3,
		JingjinjiOrganisations:        1, // bj-inst, in c2; hb-incub is in no group
	}
	if got := p.Summary(); !reflect.DeepEqual(got, wantSummary) {
		t.Errorf("Summary:\n got %+v\nwant %+v", got, wantSummary)
	}

	row := func(key string, ent, grp, cons, alli, g, c, a, rec int64) metrics.Row {
		return metrics.Row{Key: key, Entities: ent, Groups: grp, ConsortiumMembers: cons, AllianceMembers: alli,
			TalentsGathered: g, TalentsCultivated: c, TalentsAssessed: a, TalentRecords: rec}
	}
	wantRows := map[metrics.Dimension][]metrics.Row{
		metrics.DimensionEntityKind: {
			row("ENTITY_KIND_ENTERPRISE", 1, 0, 1, 1, 500, 0, 0, 1),
			row("ENTITY_KIND_INCUBATOR", 1, 0, 0, 0, 0, 0, 5, 1),
			row("ENTITY_KIND_OTHER", 1, 0, 0, 0, 0, 0, 0, 0),
			row("ENTITY_KIND_RESEARCH_INSTITUTE", 1, 0, 1, 0, 0, 0, 0, 0),
			row("ENTITY_KIND_UNIVERSITY", 1, 0, 1, 1, 0, 0, 120, 2),
		},
		metrics.DimensionRegion: {
			row("", 1, 0, 0, 0, 0, 0, 0, 0),
			row("Beijing", 1, 0, 1, 0, 0, 0, 0, 0),
			row("Binhai", 1, 0, 1, 1, 500, 0, 0, 1),
			row("Hebei", 1, 0, 0, 0, 0, 0, 5, 1),
			row("Tianjin", 1, 0, 1, 1, 0, 0, 120, 2),
		},
		metrics.DimensionIndustry: {
			row("", 2, 0, 1, 0, 0, 0, 0, 0),
			row("aerospace", 2, 0, 2, 2, 500, 0, 120, 3),
			row("digital-economy", 1, 0, 0, 0, 0, 0, 5, 1),
			row("new-materials", 1, 0, 1, 1, 0, 0, 120, 2),
		},
		metrics.DimensionGroupField: {
			row("", 0, 1, 0, 0, 0, 0, 0, 0),
			row("aerospace", 2, 3, 2, 2, 0, 70, 0, 1), // tju and acme, each in three aerospace groups
			row("biomedicine", 2, 1, 2, 0, 0, 0, 0, 0),
			row("financial-leasing", 1, 1, 0, 1, 0, 0, 0, 0),
		},
		metrics.DimensionProgram: {
			row("", 0, 0, 0, 0, 0, 70, 25, 3),
			row("programs/haihe", 0, 0, 0, 0, 0, 0, 100, 1),
			row("programs/kunpeng", 0, 0, 0, 0, 500, 0, 0, 1),
		},
		metrics.DimensionPeriod: {
			row("", 0, 0, 0, 0, 0, 0, 25, 2),
			row("2024", 0, 0, 0, 0, 0, 70, 100, 2),
			row("2024-06", 0, 0, 0, 0, 500, 0, 0, 1),
		},
	}
	for _, d := range metrics.Dimensions {
		if got := p.Breakdown(d); !reflect.DeepEqual(got, wantRows[d]) {
			t.Errorf("Breakdown(%s):\n got %+v\nwant %+v", d, got, wantRows[d])
		}
	}

	stats := func(name, kind, field string, members int64, byKind, byCat, memberCat map[string]int64) metrics.GroupStats {
		return metrics.GroupStats{Revision: h.m.Revision, Name: name, Kind: kind, Field: field,
			Members: members, MembersByKind: byKind, TalentsByCategory: byCat, MemberTalentsByCategory: memberCat}
	}
	const A, C = "GROUP_KIND_ALLIANCE", "GROUP_KIND_CONSORTIUM"
	for _, want := range []metrics.GroupStats{
		// Member talents: acme gathered 500, tju was assessed 120.
		stats("groups/a1", A, "aerospace", 2, kinds(1, 1, 0, 0, 0), talents(0, 0, 0), talents(500, 0, 120)),
		stats("groups/a2", A, "aerospace", 1, kinds(0, 1, 0, 0, 0), talents(0, 0, 0), talents(0, 0, 120)),
		stats("groups/a3", A, "financial-leasing", 1, kinds(0, 1, 0, 0, 0), talents(0, 0, 0), talents(0, 0, 120)),
		stats("groups/a4", A, "", 0, kinds(0, 0, 0, 0, 0), talents(0, 0, 0), talents(0, 0, 0)),
		stats("groups/c1", C, "aerospace", 2, kinds(1, 1, 0, 0, 0), talents(0, 70, 0), talents(500, 0, 120)),
		stats("groups/c2", C, "biomedicine", 2, kinds(1, 0, 1, 0, 0), talents(0, 0, 0), talents(500, 0, 0)),
	} {
		got, ok := p.GroupStats(want.Name)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("GroupStats(%s) = %+v, %v\nwant %+v", want.Name, got, ok, want)
		}
	}
	if _, ok := p.GroupStats("groups/nope"); ok {
		t.Error("GroupStats of an unknown group found something")
	}
	h.check()

	// The university leaves two of its three alliances: still one
	// alliance member; leaving the third drops it.
	h.del("groups/a1/memberships/tju")
	h.del("groups/a2/memberships/tju")
	if got := p.Summary().AllianceMembers; got != 2 {
		t.Errorf("after leaving two of three alliances: AllianceMembers = %d, want 2", got)
	}
	h.del("groups/a3/memberships/tju")
	if got := p.Summary().AllianceMembers; got != 1 {
		t.Errorf("after leaving all alliances: AllianceMembers = %d, want 1", got)
	}
	h.check()
}

// TestProjection_Moves checks that each kind of update moves exactly the
// right counters, against the oracle.
func TestProjection_Moves(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(h *harness)
	}{
		{"entity kind change moves memberships and records", func(h *harness) {
			h.put(feedmodel.Entity("tju", institute, "Tianjin", []string{"aerospace", "new-materials"}, false, true))
		}},
		{"entity region change moves records", func(h *harness) {
			h.put(feedmodel.Entity("acme", enterprise, "Beijing", []string{"aerospace"}, true, false))
		}},
		{"entity industries change", func(h *harness) {
			h.put(feedmodel.Entity("tju", university, "Tianjin", []string{"deep-sea"}, false, true))
			h.put(feedmodel.Entity("bj-inst", institute, "Beijing", []string{"aerospace", "deep-sea"}, false, false))
		}},
		{"entity flags change", func(h *harness) {
			h.put(feedmodel.Entity("hb-incub", incubator, "Hebei", []string{"digital-economy"}, false, true))
			h.put(feedmodel.Entity("lonely", other, "", nil, true, false))
		}},
		{"group kind change moves its members", func(h *harness) {
			h.put(feedmodel.Group("c2", alliance, "biomedicine"))
			h.put(feedmodel.Group("a1", consortium, "aerospace"))
		}},
		{"group field change moves members and records", func(h *harness) {
			h.put(feedmodel.Group("c1", consortium, "deep-sea"))
		}},
		{"group display name change", func(h *harness) {
			g := feedmodel.Group("c1", consortium, "aerospace")
			g.GetGroup().DisplayName = "renamed"
			h.put(g)
		}},
		{"membership role change", func(h *harness) {
			h.put(feedmodel.Membership("a1", "tju", lead))
		}},
		{"record moves from entity to group subject", func(h *harness) {
			h.put(feedmodel.Record("r1", "groups/a3", gathered, 7, "programs/kunpeng", "2023"))
		}},
		{"record count and category change", func(h *harness) {
			h.put(feedmodel.Record("r4", "entities/tju", cultivated, 2, "programs/haihe", "2024"))
			h.put(feedmodel.Record("r5", "entities/hb-incub", gathered, 5, "", ""))
		}},
		{"cascade delete of an entity", func(h *harness) { h.del("entities/tju") }},
		{"cascade delete of a group", func(h *harness) { h.del("groups/c1") }},
		{"cascade delete of a programme", func(h *harness) { h.del("programs/haihe") }},
		{"delete everything", func(h *harness) {
			for _, prefix := range []string{"entities/", "groups/", "programs/"} {
				for _, n := range h.m.Names(prefix) {
					h.del(n)
				}
			}
			if s := h.p.Summary(); s.Entities != 0 || s.TalentRecords != 0 || s.AllianceMembers != 0 {
				t.Errorf("empty registry, summary %+v", s)
			}
		}},
		{"entity recreated with the same name", func(h *harness) {
			h.del("entities/acme")
			h.put(feedmodel.Entity("acme", university, "Hebei", nil, false, false))
			h.put(feedmodel.Membership("a4", "acme", member))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := workedExample(t)
			tc.do(h)
			h.check()
		})
	}
}

// TestProjection_CascadeOrder applies a cascade delete in every order of
// its changes: the figures must not depend on it.
func TestProjection_CascadeOrder(t *testing.T) {
	for _, victim := range []string{"entities/acme", "groups/c2", "entities/tju"} {
		h := workedExample(t)
		cs := h.m.Delete(victim)
		for _, perm := range permutations(len(cs)) {
			for len(perm) < len(cs) {
				perm = append(perm, len(perm)) // past six changes the tail keeps its place
			}
			h2 := workedExample(t)
			h2.m.Delete(victim) // bring the model to the end state
			ordered := make([]*registryv1.Change, len(cs))
			for i, j := range perm {
				c := proto.Clone(cs[j]).(*registryv1.Change)
				c.Revision = cs[i].GetRevision()
				ordered[i] = c
			}
			h2.apply(ordered)
			h2.check()
		}
	}
}

func permutations(n int) [][]int {
	if n > 6 {
		n = 6 // 720 orders is plenty
	}
	var out [][]int
	var rec func(prefix []int, rest []int)
	rec = func(prefix, rest []int) {
		if len(rest) == 0 {
			out = append(out, append([]int(nil), prefix...))
			return
		}
		for i := range rest {
			next := append(append([]int(nil), rest[:i]...), rest[i+1:]...)
			rec(append(prefix, rest[i]), next)
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rec(nil, idx)
	return out
}

func TestProjection_Apply_IdempotentByRevision(t *testing.T) {
	h := workedExample(t)
	before := h.p.Figures()
	// Replay the whole feed: nothing changes.
	replay := feedmodel.New()
	for _, r := range h.m.Snapshot() {
		for _, c := range replay.Put(r) {
			if err := h.p.Apply(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d := metrics.Diff(h.p.Figures(), before); len(d) > 0 {
		t.Fatalf("replayed changes moved figures: %v", d)
	}
}

func TestProjection_Apply_Gap(t *testing.T) {
	p := projection.New()
	m := feedmodel.New()
	m.Put(feedmodel.Program("x"))
	cs := m.Put(feedmodel.Program("y"))
	if err := p.Apply(cs[0]); !errors.Is(err, projection.ErrRevisionGap) {
		t.Fatalf("Apply(revision 2) on revision 0: %v, want ErrRevisionGap", err)
	}
	if p.Revision() != 0 || p.Summary().Programs != 0 {
		t.Fatal("a gap changed the projection")
	}
}

func TestProjection_Advance(t *testing.T) {
	p := projection.New()
	p.Advance(7)
	p.Advance(3)
	if p.Revision() != 7 {
		t.Fatalf("Revision = %d, want 7", p.Revision())
	}
}

// TestLoader_MatchesIncremental loads the snapshot of the worked example in
// bulk and in reverse order: same figures as the incremental projection.
func TestLoader_MatchesIncremental(t *testing.T) {
	h := workedExample(t)
	snap := h.m.Snapshot()
	for _, reverse := range []bool{false, true} {
		l := projection.NewLoader()
		for i := range snap {
			r := snap[i]
			if reverse {
				r = snap[len(snap)-1-i]
			}
			l.Add(r)
		}
		p := l.Finish(h.m.Revision)
		if d := metrics.Diff(p.Figures(), h.p.Figures()); len(d) > 0 {
			t.Fatalf("reverse=%v: loaded projection differs: %v", reverse, d)
		}
	}
}

// TestProjection_InternedValuesBounded: thousands of regions, industries
// and group fields come and all but a few go again — entities move to one
// region, groups to one field, some of each are deleted. The values
// nobody holds are forgotten, the pools shrink back at the next checkpoint,
// no breakdown lists a value nobody has, and the renumbered projection
// goes on applying changes and restores from its checkpoint.
func TestProjection_InternedValuesBounded(t *testing.T) {
	const n = 3000
	h := newHarness(t)
	ent := func(i int) string { return fmt.Sprintf("e%d", i) }
	grp := func(i int) string { return fmt.Sprintf("g%d", i) }
	for i := range n {
		h.put(feedmodel.Entity(ent(i), university, fmt.Sprint("region-", i), []string{fmt.Sprint("industry-", i), "aerospace"}, false, false))
	}
	for i := range n / 2 {
		h.put(feedmodel.Group(grp(i), alliance, fmt.Sprint("field-", i)))
		h.put(feedmodel.Membership(grp(i), ent(2*i), member))
		h.put(feedmodel.Record(fmt.Sprint("r", i), "entities/"+ent(i), assessed, 3, "", ""))
	}
	h.check()
	store := kv{}
	store.apply(h.p.Delta())

	for i := range n {
		if i%3 == 0 {
			h.del("entities/" + ent(i))
		} else {
			h.put(feedmodel.Entity(ent(i), enterprise, "Binhai", []string{"aerospace"}, false, false))
		}
	}
	for i := range n / 2 {
		if i%2 == 0 {
			h.del("groups/" + grp(i))
		} else {
			h.put(feedmodel.Group(grp(i), consortium, "aerospace"))
		}
	}
	h.check()
	if err := projection.CheckPools(h.p); err != nil {
		t.Fatal(err)
	}
	store.apply(h.p.Delta()) // the checkpoint compacts
	if got, max := projection.PoolSizes(h.p), [4]int{2, 2, 2, 2}; got != max {
		t.Fatalf("pools hold %v ids (regions, industries, industry sets, fields) after the checkpoint, want %v: the values in use", got, max)
	}
	if err := projection.CheckPools(h.p); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[metrics.Dimension][]string{
		metrics.DimensionRegion:     {"Binhai"},
		metrics.DimensionIndustry:   {"aerospace"},
		metrics.DimensionGroupField: {"aerospace"},
	} {
		var keys []string
		for _, r := range h.p.Breakdown(d) {
			keys = append(keys, r.Key)
		}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("breakdown %s lists %d values, want %v", d, len(keys), want)
		}
	}
	h.check()

	// Renumbered ids go on: old values come back, new ones arrive.
	h.put(feedmodel.Entity(ent(1), other, "region-7", []string{"industry-7", "deep-sea"}, true, false))
	h.put(feedmodel.Entity(ent(0), incubator, "Hebei", nil, false, true))
	h.put(feedmodel.Group(grp(0), alliance, "field-9"))
	h.put(feedmodel.Membership(grp(0), ent(1), lead))
	h.put(feedmodel.Group(grp(1), alliance, ""))
	h.check()
	if err := projection.CheckPools(h.p); err != nil {
		t.Fatal(err)
	}
	store.apply(h.p.Delta())
	restored := store.restoreT(t, h.m.Revision)
	if d := metrics.Diff(restored.Figures(), h.p.Figures()); len(d) > 0 {
		t.Fatalf("restored checkpoint differs: %v", d)
	}
	if err := projection.CheckPools(restored); err != nil {
		t.Fatal(err)
	}
}
