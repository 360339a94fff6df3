package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestTargetsPoliciesLifecycle_HTTP drives targets, policies and lifecycles
// through the gateway: create, get, list with filters, PATCH with a mask
// derived from the body, the registry's refusals as 400/404 naming the
// field, the history routes, and a withdrawn membership that keeps its
// record.
func TestTargetsPoliciesLifecycle_HTTP(t *testing.T) {
	s := needShared(t)
	pid, gid, eid, polID, tid := uid("prog"), uid("grp"), uid("ent"), uid("pol"), uid("tgt")
	s.must(t, "POST", "/v1/programs?programId="+pid, map[string]any{"displayName": "Kunpeng Plan", "level": "PROGRAM_LEVEL_DISTRICT"})
	createGroup(t, s, gid, "GROUP_KIND_ALLIANCE", "aerospace")
	createEntity(t, s, eid, nil)

	pol, _ := s.must(t, "POST", "/v1/policies?policyId="+polID, map[string]any{
		"title": "Talent Green Card Pilot Measures", "issuer": "Binhai Talent Office", "level": "POLICY_LEVEL_DISTRICT",
		"issueTime": "2023-03-01T00:00:00Z", "pilot": true, "industries": []string{"aerospace"}, "programs": []string{"programs/" + pid},
	})
	if pol["name"] != "policies/"+polID || pol["pilot"] != true || pol["etag"] == "" {
		t.Errorf("created policy: %v", pol)
	}
	pilots, _ := list(t, s, "/v1/policies?filter="+q(`pilot = true AND programs:"programs/`+pid+`"`), "policies", 50)
	if !slices.Contains(names(pilots), "policies/"+polID) {
		t.Errorf("pilot policies of %s: %v", pid, names(pilots))
	}
	tg, _ := s.must(t, "POST", "/v1/targets?targetId="+tid, map[string]any{
		"displayName": "Aerospace alliance members", "metric": "TARGET_METRIC_GROUP_MEMBERS", "goalValue": "50", "scope": "groups/" + gid,
	})
	if tg["goalValue"] != "50" || tg["scope"] != "groups/"+gid {
		t.Errorf("created target: %v", tg)
	}
	upd, _ := s.must(t, "PATCH", "/v1/targets/"+tid, map[string]any{"goalValue": "60"})
	if upd["goalValue"] != "60" || upd["displayName"] != "Aerospace alliance members" {
		t.Errorf("PATCH target (mask from the body): %v", upd)
	}
	if got, _ := s.must(t, "GET", "/v1/targets/"+tid+":history", nil); len(got["changes"].([]any)) != 2 {
		t.Errorf("target history: %v", got)
	}

	// Bad input: 400 naming field and rule; a missing reference 404.
	for _, tc := range []struct {
		method, path string
		body         map[string]any
		status       int
		says         string
	}{
		{"POST", "/v1/targets", map[string]any{"displayName": "T", "metric": "TARGET_METRIC_ENTITIES", "goalValue": "0"}, 400, "target.goal_value"},
		{"POST", "/v1/targets", map[string]any{"displayName": "T", "metric": "TARGET_METRIC_ENTITIES", "goalValue": "1", "scope": "entities/x"}, 400, "target.scope"},
		{"POST", "/v1/targets", map[string]any{"displayName": "T", "metric": "TARGET_METRIC_ENTITIES", "goalValue": "1", "scope": "groups/" + uid("nope")}, 404, "groups/"},
		{"POST", "/v1/policies", map[string]any{"title": "P", "level": "POLICY_LEVEL_DISTRICT", "programs": []string{"programs/" + uid("nope")}}, 404, "policy.programs[0]"},
		{"PATCH", "/v1/entities/" + eid, map[string]any{"endTime": "2024-01-01T00:00:00Z"}, 400, "entity.end_time"},
		{"PATCH", "/v1/entities/" + eid, map[string]any{"status": "LIFECYCLE_STATUS_CLOSED"}, 400, "status"},
	} {
		r := s.call(t, tc.method, tc.path, tc.body)
		if r.Status != tc.status || !strings.Contains(string(r.Body), tc.says) {
			t.Errorf("%s %s %v: %v, want %d naming %s", tc.method, tc.path, tc.body, r, tc.status, tc.says)
		}
	}

	// An organisation leaving an alliance: withdrawn with an end time,
	// still there.
	s.must(t, "POST", "/v1/groups/"+gid+"/memberships", map[string]any{"entity": "entities/" + eid, "role": "MEMBERSHIP_ROLE_MEMBER", "joinTime": "2021-05-01T00:00:00Z"})
	m, _ := s.must(t, "PATCH", "/v1/groups/"+gid+"/memberships/"+eid, map[string]any{"status": "LIFECYCLE_STATUS_WITHDRAWN", "endTime": "2024-06-30T00:00:00Z"})
	if m["status"] != "LIFECYCLE_STATUS_WITHDRAWN" || m["endTime"] != "2024-06-30T00:00:00Z" || m["role"] != "MEMBERSHIP_ROLE_MEMBER" {
		t.Errorf("withdrawn membership: %v", m)
	}
	if got, _ := s.must(t, "GET", "/v1/groups/"+gid+"/memberships/"+eid, nil); got["status"] != "LIFECYCLE_STATUS_WITHDRAWN" {
		t.Errorf("GET withdrawn membership: %v", got)
	}
	e, _ := s.must(t, "GET", "/v1/entities/"+eid, nil)
	if e["status"] != "LIFECYCLE_STATUS_ACTIVE" {
		t.Errorf("a new entity is active: %v", e)
	}

	// The group with a scoped target and the programme with a policy are
	// dependants' owners.
	if r := s.call(t, "DELETE", "/v1/programs/"+pid, nil); r.Status != 400 || !strings.Contains(string(r.Body), "policies") {
		t.Errorf("DELETE programme with a policy: %v", r)
	}
	s.must(t, "DELETE", "/v1/policies/"+polID, nil)
	s.must(t, "DELETE", "/v1/targets/"+tid, nil)
	if r := s.call(t, "GET", "/v1/targets/"+tid, nil); r.Status != 404 {
		t.Errorf("GET after DELETE: %v", r)
	}
}
