package kvstore

import (
	"strings"
	"testing"
	"time"

	"talentreg/services/registry"
)

// Targets, policies and lifecycles: these run on bbolt and, through
// TestConformance_Etcd, on etcd.

func program(id string) *registry.Program {
	return &registry.Program{ID: id, DisplayName: "Programme " + id, Level: registry.ProgramLevelDistrict}
}

func policy(id string, pilot bool, programs ...string) *registry.Policy {
	return &registry.Policy{ID: id, Title: "Policy " + id, Issuer: "Binhai Talent Office", Level: registry.PolicyLevelDistrict,
		IssueTime: time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC), Pilot: pilot, Industries: []string{"aerospace"}, Programs: programs}
}

func TestStore_TargetLifecycle(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, group("g", registry.GroupKindAlliance))
	deadline := time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
	tg := &registry.Target{ID: "platforms", DisplayName: "Future-industry platforms and leading enterprises",
		Metric: registry.TargetMetricPlatformsOrLeadingEnterprises, GoalValue: 100, Deadline: deadline}
	got := mustCreate(t, s, tg)
	if got.Revision == 0 || !got.Deadline.Equal(deadline) {
		t.Fatalf("created %+v", got)
	}
	read, err := s.GetTarget(ctx, "platforms")
	if err != nil || read.GoalValue != 100 || read.Metric != registry.TargetMetricPlatformsOrLeadingEnterprises || read.Scope != "" {
		t.Fatalf("read back %+v, %v", read, err)
	}
	// Scoped to a group that exists, or NOT_FOUND.
	scoped := &registry.Target{ID: "members", DisplayName: "Members", Metric: registry.TargetMetricGroupMembers, GoalValue: 50, Scope: "groups/g"}
	mustCreate(t, s, scoped)
	_, _, err = s.CreateTarget(ctx, &registry.Target{ID: "x", DisplayName: "X", Metric: registry.TargetMetricEntities, GoalValue: 1, Scope: "groups/nope"}, "")
	wantCode(t, err, registry.CodeNotFound)
	// Update through apply; a bad goal is refused and nothing is written.
	before := s.Revision()
	_, _, err = s.UpdateTarget(ctx, "platforms", "", func(x *registry.Target) { x.GoalValue = 0 })
	wantField(t, err, "target.goal_value")
	if s.Revision() != before {
		t.Fatal("a refused update committed")
	}
	up, _, err := s.UpdateTarget(ctx, "platforms", read.Etag(), func(x *registry.Target) { x.GoalValue = 120 })
	if err != nil || up.GoalValue != 120 {
		t.Fatalf("update: %+v, %v", up, err)
	}
	// Filters on metric and scope.
	list, _, err := s.ListTargets(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "scope", Value: "groups/g"}}})
	if err != nil || len(list) != 1 || list[0].ID != "members" {
		t.Fatalf("scope filter: %v, %v", list, err)
	}
	list, _, err = s.ListTargets(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "metric", Value: "TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES"}}})
	if err != nil || len(list) != 1 || list[0].ID != "platforms" {
		t.Fatalf("metric filter: %v, %v", list, err)
	}
	// A group's scoped targets are its dependants.
	_, err = s.DeleteGroup(ctx, "g", "", false)
	wantCode(t, err, registry.CodeFailedPrecondition)
	if !strings.Contains(err.Error(), "1 targets") {
		t.Fatalf("refusal %q does not count the target", err)
	}
	if _, err := s.DeleteGroup(ctx, "g", "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTarget(ctx, "members"); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Fatalf("scoped target survived its group's forced delete: %v", err)
	}
	if _, err := s.DeleteTarget(ctx, "platforms", ""); err != nil {
		t.Fatal(err)
	}
}

func TestStore_PolicyReferencesAndFilters(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, program("haihe"))
	mustCreate(t, s, program("kunpeng"))
	mustCreate(t, s, policy("p1", true, "programs/haihe"))
	mustCreate(t, s, policy("p2", false, "programs/haihe", "programs/kunpeng"))
	mustCreate(t, s, policy("p3", true))
	_, _, err := s.CreatePolicy(ctx, policy("bad", true, "programs/haihe", "programs/nope"), "")
	wantCode(t, err, registry.CodeNotFound)
	if !strings.Contains(err.Error(), "policy.programs[1]") {
		t.Fatalf("error %q does not name policy.programs[1]", err)
	}
	pilots, _, err := s.ListPolicies(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "pilot", Value: "true"}}})
	if err != nil || len(pilots) != 2 {
		t.Fatalf("pilot filter: %v, %v", pilots, err)
	}
	notPilot, _, err := s.ListPolicies(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "pilot", Value: "false"}}})
	if err != nil || len(notPilot) != 1 || notPilot[0].ID != "p2" {
		t.Fatalf("pilot = false: %v, %v", notPilot, err)
	}
	byProg, _, err := s.ListPolicies(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "programs", Value: "programs/kunpeng"}}})
	if err != nil || len(byProg) != 1 || byProg[0].ID != "p2" {
		t.Fatalf("programs filter: %v, %v", byProg, err)
	}
	// A policy naming a programme is its dependant.
	_, err = s.DeleteProgram(ctx, "kunpeng", "", false)
	wantCode(t, err, registry.CodeFailedPrecondition)
	// Dropping the reference frees the programme.
	if _, _, err := s.UpdatePolicy(ctx, "p2", "", func(p *registry.Policy) { p.Programs = []string{"programs/haihe"} }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteProgram(ctx, "kunpeng", "", false); err != nil {
		t.Fatal(err)
	}
	// An update may not add a missing programme.
	_, _, err = s.UpdatePolicy(ctx, "p3", "", func(p *registry.Policy) { p.Programs = []string{"programs/kunpeng"} })
	wantCode(t, err, registry.CodeNotFound)
	if _, err := s.DeleteProgram(ctx, "haihe", "", true); err != nil {
		t.Fatal(err)
	}
	left, _, _ := s.ListPolicies(ctx, registry.ListQuery{})
	if len(left) != 1 || left[0].ID != "p3" {
		t.Fatalf("after the forced delete of haihe: %v", left)
	}
}

func TestStore_LifecycleSettlesAndValidates(t *testing.T) {
	clock := &testClock{}
	s := openTest(t, testOptions{Clock: clock.Now})
	e := mustCreate(t, s, entity("e"))
	if e.Status != registry.LifecycleActive || !e.EndTime.IsZero() {
		t.Fatalf("a new entity is %v ending %v, want active", e.Status, e.EndTime)
	}
	mustCreate(t, s, group("g", registry.GroupKindAlliance))
	m := mustCreate(t, s, &registry.Membership{GroupID: "g", EntityID: "e", Role: registry.MembershipRoleMember,
		JoinTime: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	if m.Status != registry.LifecycleActive {
		t.Fatalf("a new membership is %v", m.Status)
	}
	// Withdrawn without an end time ends at the commit time.
	w, rev, err := s.UpdateMembership(ctx, "g", "e", "", func(m *registry.Membership) { m.Status = registry.LifecycleWithdrawn })
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != registry.LifecycleWithdrawn || !w.EndTime.Equal(w.UpdateTime) {
		t.Fatalf("withdrawn: %v ending %v, updated %v", w.Status, w.EndTime, w.UpdateTime)
	}
	page, err := s.ListChanges(ctx, rev, 1)
	if err != nil || len(page.Changes) != 1 {
		t.Fatal(page, err)
	}
	if b, a := page.Changes[0].Before.(*registry.Membership), page.Changes[0].After.(*registry.Membership); b.Status != registry.LifecycleActive || a.Status != registry.LifecycleWithdrawn || !a.EndTime.Equal(w.EndTime) {
		t.Fatalf("the feed carries %v → %v", b.Lifecycle, a.Lifecycle)
	}
	// Read back from the engine: the end survives encoding.
	read, err := s.GetMembership(ctx, "g", "e")
	if err != nil || read.Lifecycle != w.Lifecycle {
		t.Fatalf("read back %+v, %v", read, err)
	}
	// An end before joining is refused, naming the field.
	_, _, err = s.UpdateMembership(ctx, "g", "e", "", func(m *registry.Membership) { m.EndTime = time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC) })
	wantField(t, err, "membership.end_time")
	// Reactivating drops the end time.
	back, _, err := s.UpdateMembership(ctx, "g", "e", "", func(m *registry.Membership) { m.Status = registry.LifecycleActive })
	if err != nil || back.Status != registry.LifecycleActive || !back.EndTime.IsZero() {
		t.Fatalf("reactivated: %+v, %v", back, err)
	}
	// An active entity with an end time, or an unknown status, is refused.
	bad := entity("bad")
	bad.EndTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	_, _, err = s.CreateEntity(ctx, bad, "")
	wantField(t, err, "entity.end_time")
	bad.Status = 9
	_, _, err = s.CreateEntity(ctx, bad, "")
	wantField(t, err, "entity.status")
	// An entity that closed on a given date keeps it.
	end := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	closed, _, err := s.UpdateEntity(ctx, "e", "", func(e *registry.Entity) { e.Status, e.EndTime = registry.LifecycleInactive, end })
	if err != nil || closed.Status != registry.LifecycleInactive || !closed.EndTime.Equal(end) {
		t.Fatalf("closed: %+v, %v", closed, err)
	}
	// Filters on the status: ended ones from the index, active ones as
	// "in neither ended run".
	mustCreate(t, s, entity("f"))
	mustCreate(t, s, &registry.Membership{GroupID: "g", EntityID: "f", Role: registry.MembershipRoleMember})
	mustCreate(t, s, &registry.Entity{ID: "gone", DisplayName: "Gone", Kind: registry.EntityKindOther,
		Lifecycle: registry.Lifecycle{Status: registry.LifecycleWithdrawn}})
	for _, tc := range []struct {
		value string
		want  string
	}{
		{"LIFECYCLE_STATUS_ACTIVE", "f"}, {"LIFECYCLE_STATUS_INACTIVE", "e"}, {"LIFECYCLE_STATUS_WITHDRAWN", "gone"}, {"LIFECYCLE_STATUS_UNSPECIFIED", ""},
	} {
		es, _, err := s.ListEntities(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "status", Value: tc.value}}})
		var ids []string
		for _, x := range es {
			ids = append(ids, x.ID)
		}
		if err != nil || strings.Join(ids, ",") != tc.want {
			t.Errorf("entities with status %s: %v, %v; want %s", tc.value, ids, err, tc.want)
		}
	}
	active, _, err := s.ListMemberships(ctx, "g", registry.ListQuery{Conditions: []registry.Condition{{Field: "status", Value: "LIFECYCLE_STATUS_ACTIVE"}}})
	if err != nil || len(active) != 2 { // e was reactivated above
		t.Errorf("active members of g: %v, %v", active, err)
	}
	// The snapshot carries lifecycles; imports write them.
	res, err := s.Import(ctx, registry.WholeItems([]registry.Resource{
		&registry.Membership{GroupID: "g", EntityID: "e", Role: registry.MembershipRoleMember, JoinTime: m.JoinTime,
			Lifecycle: registry.Lifecycle{Status: registry.LifecycleWithdrawn, EndTime: end}},
	}), 0)
	if err != nil || res.Counts[registry.Memberships].Updated != 1 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	seen := map[string]registry.Lifecycle{}
	err = s.Snapshot(ctx, func(int64) error { return nil }, func(r registry.Resource) error {
		switch x := r.(type) {
		case *registry.Entity:
			seen[x.Name()] = x.Lifecycle
		case *registry.Membership:
			seen[x.Name()] = x.Lifecycle
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	withdrawn, _, err := s.ListMemberships(ctx, "-", registry.ListQuery{Conditions: []registry.Condition{{Field: "status", Value: "LIFECYCLE_STATUS_WITHDRAWN"}}})
	if err != nil || len(withdrawn) != 1 || withdrawn[0].EntityID != "e" {
		t.Errorf("withdrawn memberships: %v, %v", withdrawn, err)
	}
	if l := seen["groups/g/memberships/e"]; l.Status != registry.LifecycleWithdrawn || !l.EndTime.Equal(end) {
		t.Fatalf("snapshot membership %+v", l)
	}
	if l := seen["entities/e"]; l.Status != registry.LifecycleInactive {
		t.Fatalf("snapshot entity %+v", l)
	}
}

func TestStore_ImportTargetsAndPolicies(t *testing.T) {
	s := openTest(t, testOptions{})
	items := []registry.Resource{
		program("haihe"),
		policy("p1", true, "programs/haihe"),
		&registry.Target{ID: "t", DisplayName: "T", Metric: registry.TargetMetricPilotPolicies, GoalValue: 50},
		policy("dangling", true, "programs/nope"),
		&registry.Target{ID: "zero", DisplayName: "Z", Metric: registry.TargetMetricPolicies},
	}
	res, err := s.Import(ctx, registry.WholeItems(items), 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Counts[registry.Policies]; c.Created != 1 || c.Failed != 1 {
		t.Fatalf("policies %+v", c)
	}
	if c := res.Counts[registry.Targets]; c.Created != 1 || c.Failed != 1 {
		t.Fatalf("targets %+v", c)
	}
	again, err := s.Import(ctx, registry.WholeItems(items[:3]), 0)
	if err != nil || again.Counts[registry.Policies].Unchanged != 1 || again.Counts[registry.Targets].Unchanged != 1 {
		t.Fatalf("re-import: %+v, %v", again.Counts, err)
	}
}

func wantField(t testing.TB, err error, field string) {
	t.Helper()
	wantCode(t, err, registry.CodeInvalidArgument)
	if !strings.Contains(err.Error(), field+":") {
		t.Fatalf("error %q does not name %s", err, field)
	}
}
