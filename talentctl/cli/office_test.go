package cli

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"talentreg/talentctl/internal/stack"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// TestResources_PoliciesTargetsAndLifecycles drives policies, targets and
// lifecycles through talentctl against a real registry: create, get, list
// with filters, update by flags, the registry's refusals (naming field and
// rule, exit 2) and deletes.
func TestResources_PoliciesTargetsAndLifecycles(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
	ok := func(args ...string) result {
		t.Helper()
		r := run(t, env, args...)
		r.want(t, ExitOK)
		return r
	}
	ok("create", "program", "haihe-talent", "--display-name", "Haihe Talent", "--level", "municipal")
	ok("create", "group", "alliance-aerospace", "--display-name", "Aerospace Alliance", "--kind", "alliance", "--field", "aerospace")
	ok("create", "entity", "acme", "--display-name", "Acme", "--kind", "enterprise")
	ok("create", "membership", "--group", "alliance-aerospace", "--entity", "acme", "--role", "member", "--join-time", "2021-05-01")

	r := ok("create", "policy", "green-card", "--title", "Talent Green Card Pilot Measures", "--issuer", "Binhai Talent Office",
		"--level", "district", "--issue-time", "2023-03-01", "--pilot", "--industries", "aerospace", "--programs", "haihe-talent")
	if !strings.Contains(r.stdout, "green-card") || !strings.Contains(r.stdout, "pilot") || !strings.Contains(r.stdout, "haihe-talent") {
		t.Errorf("create policy table:\n%s", r.stdout)
	}
	ok("create", "policy", "housing", "--title", "Housing Measures", "--level", "municipal")
	r = ok("list", "policies", "--filter", "pilot = true")
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "green-card") {
		t.Errorf("list policies --filter 'pilot = true':\n%s", r.stdout)
	}
	r = ok("create", "target", "platforms", "--display-name", "Future-industry platforms and leading enterprises",
		"--metric", "platforms-or-leading-enterprises", "--goal-value", "100", "--deadline", "2027-12-31")
	if !strings.Contains(r.stdout, "platforms_or_leading_enterprises") || !strings.Contains(r.stdout, "ecosystem") {
		t.Errorf("create target table:\n%s", r.stdout)
	}
	ok("create", "target", "aerospace-members", "--display-name", "Aerospace members", "--metric", "group-members",
		"--goal-value", "50", "--scope", "alliance-aerospace")
	r = ok("update", "target", "platforms", "--goal-value", "120", "-o", "json")
	var tg registryv1.Target
	if err := protojson.Unmarshal([]byte(r.stdout), &tg); err != nil || tg.GoalValue != 120 || tg.DisplayName == "" || tg.Deadline == nil {
		t.Errorf("update target kept the other fields? %v (%v)", &tg, err)
	}

	// Lifecycles: withdrawn on a date; inactive now; back to active.
	r = ok("update", "membership", "alliance-aerospace", "acme", "--status", "withdrawn", "--end-time", "2024-06-30", "-o", "json")
	var m registryv1.Membership
	if err := protojson.Unmarshal([]byte(r.stdout), &m); err != nil || m.Status != registryv1.LifecycleStatus_LIFECYCLE_STATUS_WITHDRAWN ||
		m.EndTime.AsTime().Format("2006-01-02") != "2024-06-30" || m.Role != registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER {
		t.Errorf("withdrawn membership = %v (%v)", &m, err)
	}
	r = ok("get", "membership", "alliance-aerospace", "acme")
	if !strings.Contains(r.stdout, "withdrawn 2024-06-30") {
		t.Errorf("get membership table:\n%s", r.stdout)
	}
	r = ok("update", "entity", "acme", "--status", "inactive", "-o", "json")
	var e registryv1.Entity
	if err := protojson.Unmarshal([]byte(r.stdout), &e); err != nil || e.Status != registryv1.LifecycleStatus_LIFECYCLE_STATUS_INACTIVE || e.EndTime == nil || e.DisplayName != "Acme" {
		t.Errorf("inactive entity = %v (%v)", &e, err)
	}
	r = ok("update", "entity", "acme", "--status", "active", "-o", "json")
	e.Reset()
	if err := protojson.Unmarshal([]byte(r.stdout), &e); err != nil || e.Status != registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE || e.EndTime != nil {
		t.Errorf("reactivated entity = %v (%v)", &e, err)
	}

	// Refusals name the field and the rule.
	run(t, env, "update", "entity", "acme", "--end-time", "2024-01-01").want(t, ExitInput, "entity.end_time", "LIFECYCLE_STATUS_ACTIVE")
	run(t, env, "update", "entity", "acme", "--status", "closed").want(t, ExitInput, "--status", "want one of active, inactive, withdrawn")
	run(t, env, "create", "target", "zero", "--display-name", "Z", "--metric", "entities", "--goal-value", "0").want(t, ExitInput, "target.goal_value", "between 1 and")
	run(t, env, "create", "target", "elsewhere", "--display-name", "E", "--metric", "entities", "--goal-value", "1", "--scope", "nope").want(t, ExitError, "NOT_FOUND", "groups/nope")
	run(t, env, "create", "policy", "dangling", "--title", "D", "--level", "district", "--programs", "nope").want(t, ExitError, "NOT_FOUND", "programs/nope")
	run(t, env, "update", "entity", "acme").want(t, ExitInput, "nothing to change")
	run(t, env, "update", "target", "platforms", "--goal-value", "130", "--etag", "1").want(t, ExitError, "ABORTED")

	// A group with a scoped target and a programme with a policy are
	// refused without --force.
	run(t, env, "delete", "group", "alliance-aerospace").want(t, ExitError, "FAILED_PRECONDITION", "1 targets")
	run(t, env, "delete", "program", "haihe-talent").want(t, ExitError, "FAILED_PRECONDITION", "1 policies")
	ok("delete", "policy", "green-card")
	ok("delete", "program", "haihe-talent")
	ok("delete", "target", "platforms")
	run(t, env, "get", "target", "platforms").want(t, ExitError, "NOT_FOUND")
}
