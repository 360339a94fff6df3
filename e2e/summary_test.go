package e2e

import (
	"fmt"
	"strconv"
	"testing"
)

// TestSummary_AfterWrites builds a small ecosystem on an empty registry and
// reads every headline figure with minRevision from the last X-Revision:
// the answer is exact at once (read-your-writes), distinct counts are
// distinct, and deletes are reflected the same way.
func TestSummary_AfterWrites(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	s := startStack(t, stackOptions{})
	var last int64
	post := func(path string, body any) map[string]any {
		t.Helper()
		m, r := s.must(t, "POST", path, body)
		last = r.revision(t)
		return m
	}
	post("/v1/programs?programId=haihe", map[string]any{"displayName": "Haihe Talent", "level": "PROGRAM_LEVEL_MUNICIPAL"})
	for id, e := range map[string]map[string]any{
		"tju":     {"kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin", "industries": []string{"biomedicine"}},
		"sat-co":  {"kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai", "industries": []string{"aerospace"}, "leadingEnterprise": true},
		"lease":   {"kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai", "futureIndustryPlatform": true},
		"incub-a": {"kind": "ENTITY_KIND_INCUBATOR", "region": "Beijing"},
	} {
		e["displayName"] = id
		post("/v1/entities?entityId="+id, e)
	}
	post("/v1/groups?groupId=bio", map[string]any{"displayName": "Biomedicine consortium", "kind": "GROUP_KIND_CONSORTIUM", "field": "biomedicine"})
	post("/v1/groups?groupId=space", map[string]any{"displayName": "Aerospace alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "aerospace"})
	post("/v1/groups?groupId=leasing", map[string]any{"displayName": "Financial leasing alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "financial-leasing"})
	for _, m := range [][2]string{{"bio", "tju"}, {"bio", "sat-co"}, {"space", "sat-co"}, {"space", "lease"}, {"leasing", "sat-co"}, {"leasing", "incub-a"}} {
		post("/v1/groups/"+m[0]+"/memberships", map[string]any{"entity": "entities/" + m[1], "role": "MEMBERSHIP_ROLE_MEMBER"})
	}
	for i, r := range []map[string]any{
		{"subject": "entities/sat-co", "category": "TALENT_CATEGORY_GATHERED", "count": "1000", "program": "programs/haihe", "period": "2024"},
		{"subject": "entities/tju", "category": "TALENT_CATEGORY_GATHERED", "count": "500", "period": "2024-06"},
		{"subject": "groups/bio", "category": "TALENT_CATEGORY_CULTIVATED", "count": "300"},
		{"subject": "entities/sat-co", "category": "TALENT_CATEGORY_ASSESSED", "count": "40"},
		{"subject": "entities/sat-co", "category": "TALENT_CATEGORY_ASSESSED", "count": "60"},
		{"subject": "entities/lease", "category": "TALENT_CATEGORY_ASSESSED", "count": "7"},
		{"subject": "groups/space", "category": "TALENT_CATEGORY_ASSESSED", "count": "9"},
	} {
		post(fmt.Sprintf("/v1/talentRecords?talentRecordId=rec-%d", i), r)
	}

	summary := func() map[string]any {
		t.Helper()
		m, _ := s.must(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(last, 10), nil)
		if rev, _ := strconv.ParseInt(fmt.Sprint(m["revision"]), 10, 64); rev < last {
			t.Fatalf("summary at revision %v, asked for at least %d", m["revision"], last)
		}
		return m
	}
	check := func(m map[string]any, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if fmt.Sprint(m[k]) != v {
				t.Errorf("%s = %v, want %s", k, m[k], v)
			}
		}
	}
	m := summary()
	check(m, map[string]string{
		"entities": "4", "consortia": "1", "alliances": "2",
		"consortiumMembers": "2", "allianceMembers": "3", // sat-co is in all three groups: counted once
		"consortiumMemberships": "2", "allianceMemberships": "4",
		"talentsGathered": "1500", "talentsCultivated": "300", "talentsAssessed": "116",
		"assessingEntities":  "2", // sat-co and lease; a group subject is no entity
		"leadingEnterprises": "1", "futureIndustryPlatforms": "1", "platformsOrLeadingEnterprises": "2",
		"talentRecords": "7", "programs": "1",
	})
	byKind, _ := m["entitiesByKind"].(map[string]any)
	for k, v := range map[string]string{"ENTITY_KIND_UNIVERSITY": "1", "ENTITY_KIND_ENTERPRISE": "2", "ENTITY_KIND_INCUBATOR": "1"} {
		if fmt.Sprint(byKind[k]) != v {
			t.Errorf("entitiesByKind[%s] = %v, want %s (all: %v)", k, byKind[k], v, byKind)
		}
	}

	t.Run("group stats", func(t *testing.T) {
		g, _ := s.must(t, "GET", "/v1/groups/space/stats?minRevision="+strconv.FormatInt(last, 10), nil)
		check(g, map[string]string{"name": "groups/space", "kind": "GROUP_KIND_ALLIANCE", "field": "aerospace", "members": "2"})
		if tb, _ := g["talentsByCategory"].(map[string]any); fmt.Sprint(tb["TALENT_CATEGORY_ASSESSED"]) != "9" {
			t.Errorf("talentsByCategory = %v, want ASSESSED 9", g["talentsByCategory"])
		}
	})
	t.Run("breakdown by region", func(t *testing.T) {
		b, _ := s.must(t, "GET", "/v1/breakdowns/region?minRevision="+strconv.FormatInt(last, 10), nil)
		rows := map[string]map[string]any{}
		for _, r := range b["rows"].([]any) {
			r := r.(map[string]any)
			rows[fmt.Sprint(r["key"])] = r
		}
		check(rows["Binhai"], map[string]string{"entities": "2", "talentsGathered": "1000", "talentsAssessed": "107"})
		check(rows["Beijing"], map[string]string{"entities": "1", "allianceMembers": "1"})
	})

	t.Run("after deletes", func(t *testing.T) {
		_, r := s.must(t, "DELETE", "/v1/groups/leasing/memberships/sat-co", nil)
		last = r.revision(t)
		check(summary(), map[string]string{"allianceMembers": "3", "allianceMemberships": "3"}) // sat-co still in space
		_, r = s.must(t, "DELETE", "/v1/entities/lease?force=true", nil)
		last = r.revision(t)
		check(summary(), map[string]string{
			"entities": "3", "allianceMembers": "2", "allianceMemberships": "2", "talentsAssessed": "109",
			"assessingEntities": "1", "futureIndustryPlatforms": "0", "platformsOrLeadingEnterprises": "1", "talentRecords": "6",
		})
	})

	t.Run("revision past the head refused at once", func(t *testing.T) {
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(last+1000, 10), nil)
		checkError(t, r, 400, codeOutOfRange)
	})
}
