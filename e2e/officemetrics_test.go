package e2e

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestOffice_AsOfMatchesTheFiguresThen writes an ecosystem in three
// phases — creating, then withdrawing a membership, closing an
// organisation and deleting a group, then adding more — and records after
// each phase the live Summary, a breakdown and a group's stats (each phase
// checked against a recount from a registry snapshot by `metrics verify`).
// Afterwards, and again after the metrics replica restarts from its
// checkpoint, the figures as_of each phase's time equal what was recorded
// then, and the Summary history at those points does too.
func TestOffice_AsOfMatchesTheFiguresThen(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	s := startStack(t, stackOptions{metricsArgs: []string{"--checkpoint-interval", "50ms"}})
	var last int64
	write := func(method, path string, body any) {
		t.Helper()
		_, r := s.must(t, method, path, body)
		last = r.revision(t)
	}
	type point struct {
		at                     time.Time
		summary, region, stats map[string]any
		revision               int64
	}
	record := func() point {
		t.Helper()
		min := "minRevision=" + strconv.FormatInt(last, 10)
		sum, _ := s.must(t, "GET", "/v1/summary?"+min, nil)
		region, _ := s.must(t, "GET", "/v1/breakdowns/region?"+min, nil)
		stats, _ := s.must(t, "GET", "/v1/groups/space/stats?"+min, nil)
		verifyProjection(t, s.metrics[0])
		// Every write so far has committed before now, and every later
		// one commits after: the figures stood so at this time.
		return point{at: time.Now(), summary: sum, region: region, stats: stats, revision: last}
	}

	// Phase 1.
	for id, e := range map[string]map[string]any{
		"tju":    {"displayName": "Tianjin University", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin"},
		"nankai": {"displayName": "Nankai University", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin"},
		"bj-ai":  {"displayName": "Beijing Zhongguancun AI Institute", "kind": "ENTITY_KIND_RESEARCH_INSTITUTE", "region": "Beijing", "futureIndustryPlatform": true},
		"hb-eq":  {"displayName": "Langfang Haixin Equipment Co., Ltd.", "kind": "ENTITY_KIND_ENTERPRISE", "region": "Hebei", "leadingEnterprise": true},
	} {
		write("POST", "/v1/entities?entityId="+id, e)
	}
	write("POST", "/v1/groups?groupId=space", map[string]any{"displayName": "Aerospace Talent Alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "aerospace"})
	write("POST", "/v1/groups?groupId=bio", map[string]any{"displayName": "Biomedicine Consortium", "kind": "GROUP_KIND_CONSORTIUM", "field": "biomedicine"})
	for _, m := range [][2]string{{"space", "tju"}, {"space", "bj-ai"}, {"space", "hb-eq"}, {"bio", "nankai"}, {"bio", "bj-ai"}} {
		write("POST", "/v1/groups/"+m[0]+"/memberships", map[string]any{"entity": "entities/" + m[1], "role": "MEMBERSHIP_ROLE_MEMBER"})
	}
	write("POST", "/v1/talentRecords?talentRecordId=r1", map[string]any{"subject": "entities/tju", "category": "TALENT_CATEGORY_CULTIVATED", "count": "300"})
	write("POST", "/v1/talentRecords?talentRecordId=r2", map[string]any{"subject": "entities/hb-eq", "category": "TALENT_CATEGORY_GATHERED", "count": "120"})
	write("POST", "/v1/targets?targetId=platforms", map[string]any{"displayName": "Future-industry platforms and leading enterprises",
		"metric": "TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES", "goalValue": "100", "deadline": "2027-12-31T00:00:00Z"})
	for i := range 3 {
		write("POST", fmt.Sprintf("/v1/policies?policyId=p%d", i), map[string]any{"title": fmt.Sprintf("Pilot policy %d", i),
			"issuer": "Binhai talent office", "level": "POLICY_LEVEL_DISTRICT", "pilot": i < 2})
	}
	p1 := record()
	if got := fmt.Sprint(p1.summary["jingjinjiOrganisations"], "/", p1.summary["pilotPolicies"], "/", p1.summary["targets"]); got != "2/2/1" {
		t.Errorf("after phase 1: jingjinjiOrganisations/pilotPolicies/targets = %s, want 2/2/1", got)
	}
	if mt, _ := p1.stats["memberTalentsByCategory"].(map[string]any); fmt.Sprint(mt["TALENT_CATEGORY_CULTIVATED"], "/", mt["TALENT_CATEGORY_GATHERED"]) != "300/120" {
		t.Errorf("space's member talents: %v, want 300 cultivated (tju) and 120 gathered (hb-eq)", p1.stats["memberTalentsByCategory"])
	}

	// Phase 2: hb-eq leaves the alliance, bj-ai closes, bio goes.
	write("PATCH", "/v1/groups/space/memberships/hb-eq?updateMask=status,endTime", map[string]any{"status": "LIFECYCLE_STATUS_WITHDRAWN", "endTime": time.Now().UTC().Format(time.RFC3339Nano)})
	write("PATCH", "/v1/entities/bj-ai?updateMask=status,endTime", map[string]any{"status": "LIFECYCLE_STATUS_INACTIVE", "endTime": time.Now().UTC().Format(time.RFC3339Nano)})
	write("DELETE", "/v1/groups/bio?force=true", nil)
	p2 := record()
	if fmt.Sprint(p2.summary["jingjinjiOrganisations"]) != "0" || fmt.Sprint(p2.stats["members"]) != "1" {
		t.Errorf("after phase 2: jingjinjiOrganisations %v (want 0), space members %v (want 1)", p2.summary["jingjinjiOrganisations"], p2.stats["members"])
	}

	// Phase 3.
	write("POST", "/v1/entities?entityId=tjut", map[string]any{"displayName": "Tianjin University of Technology", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin", "leadingEnterprise": true})
	write("POST", "/v1/groups/space/memberships", map[string]any{"entity": "entities/tjut", "role": "MEMBERSHIP_ROLE_LEAD"})
	write("POST", "/v1/talentRecords?talentRecordId=r3", map[string]any{"subject": "entities/tjut", "category": "TALENT_CATEGORY_ASSESSED", "count": "50"})
	p3 := record()

	asOf := func(p point) string { return "asOf=" + url.QueryEscape(p.at.UTC().Format(time.RFC3339Nano)) }
	checkAsOf := func(when string) {
		t.Helper()
		for i, p := range []point{p1, p2, p3} {
			sum, _ := s.must(t, "GET", "/v1/summary?"+asOf(p), nil)
			region, _ := s.must(t, "GET", "/v1/breakdowns/region?"+asOf(p), nil)
			stats, _ := s.must(t, "GET", "/v1/groups/space/stats?"+asOf(p), nil)
			for what, pair := range map[string][2]map[string]any{"summary": {sum, p.summary}, "region breakdown": {region, p.region}, "space stats": {stats, p.stats}} {
				if !reflect.DeepEqual(pair[0], pair[1]) {
					t.Errorf("%s: %s as of phase %d's time:\n got %v\nwant %v", when, what, i+1, pair[0], pair[1])
				}
			}
		}
		// The consortium deleted in phase 2 existed as of phase 1 only.
		if r := s.call(t, "GET", "/v1/groups/bio/stats?"+asOf(p1), nil); r.Status != 200 {
			t.Errorf("%s: bio's stats as of phase 1: %v", when, r)
		}
		checkError(t, s.call(t, "GET", "/v1/groups/bio/stats?"+asOf(p2), nil), 404, 5)
		// The history at the three times.
		start, end := p1.at, p3.at
		h, _ := s.must(t, "GET", "/v1/summary:history?startTime="+url.QueryEscape(start.UTC().Format(time.RFC3339Nano))+
			"&endTime="+url.QueryEscape(end.UTC().Format(time.RFC3339Nano))+"&interval=120s", nil)
		pts, _ := h["points"].([]any)
		if len(pts) == 0 {
			t.Fatalf("%s: no history points: %v", when, h)
		}
		if first, _ := pts[0].(map[string]any); !reflect.DeepEqual(first["summary"], p1.summary) {
			t.Errorf("%s: history at phase 1's time:\n got %v\nwant %v", when, first["summary"], p1.summary)
		}
	}
	checkAsOf("live")

	// Bad as_of and history requests are refused naming the field.
	checkError(t, s.call(t, "GET", "/v1/summary?asOf=yesterday", nil), 400, 3)
	checkError(t, s.call(t, "GET", "/v1/summary:history?startTime=2024-06-14T00:00:00Z&endTime=2024-06-15T00:00:00Z&interval=1s", nil), 400, 3)
	checkError(t, s.call(t, "GET", "/v1/summary:history?startTime=2024-06-14T00:00:00Z&endTime=2026-06-15T00:00:00Z&interval=3600s", nil), 400, 3)

	// The history survives a restart from the checkpoint.
	if err := s.metrics[0].stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.metrics[0].start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(p3.revision, 10), nil)
		if r.Status != 200 {
			return fmt.Errorf("after restart: %v", r)
		}
		return nil
	})
	checkAsOf("after a restart")
	// The search index, restored from the checkpoint, has every change.
	m, _ := s.must(t, "GET", "/v1/entities:search?query="+url.QueryEscape("天津大学"), nil)
	if fmt.Sprint(m["totalSize"]) != "2" {
		t.Errorf("search after a restart: %v, want tju and tjut", m)
	}
}

// TestOffice_SearchAndTargetProgress finds organisations by English and
// Chinese names, parts of names and credit code through the gateway,
// pages through results, sees a rename and a delete at once (with
// minRevision), and reads a target's progress, live.
func TestOffice_SearchAndTargetProgress(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	s := startStack(t, stackOptions{})
	var last int64
	write := func(method, path string, body any) {
		t.Helper()
		_, r := s.must(t, method, path, body)
		last = r.revision(t)
	}
	write("POST", "/v1/entities?entityId=tju", map[string]any{"displayName": "Tianjin University", "kind": "ENTITY_KIND_UNIVERSITY",
		"region": "Tianjin", "creditCode": "121201044013593210"})
	write("POST", "/v1/entities?entityId=tjut", map[string]any{"displayName": "Tianjin University of Technology", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin", "leadingEnterprise": true})
	write("POST", "/v1/entities?entityId=nankai", map[string]any{"displayName": "Nankai University", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin", "futureIndustryPlatform": true})
	for i := range 25 {
		write("POST", fmt.Sprintf("/v1/entities?entityId=co-%d", i), map[string]any{"displayName": fmt.Sprintf("Tianjin Binhai Haixin Company %d", i), "kind": "ENTITY_KIND_ENTERPRISE"})
	}
	write("POST", "/v1/groups?groupId=space", map[string]any{"displayName": "Binhai Aerospace Talent Alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "aerospace"})

	search := func(q string, extra string) map[string]any {
		t.Helper()
		m, _ := s.must(t, "GET", "/v1/entities:search?query="+url.QueryEscape(q)+"&minRevision="+strconv.FormatInt(last, 10)+extra, nil)
		return m
	}
	first := func(m map[string]any) string {
		rs, _ := m["results"].([]any)
		if len(rs) == 0 {
			return ""
		}
		return fmt.Sprint(rs[0].(map[string]any)["name"])
	}
	for _, q := range []string{"天津大学", "Tianjin Univ", "tianjin university", "121201044013593210"} {
		if m := search(q, ""); first(m) != "entities/tju" {
			t.Errorf("search %q: first %q, want entities/tju: %v", q, first(m), m)
		}
	}
	if m := search("aerospace alliance", ""); first(m) != "groups/space" {
		t.Errorf("search for a group: %v", m)
	}
	// Pages of 10 through 25 companies.
	seen := map[string]bool{}
	token := ""
	for page := 0; ; page++ {
		m := search("haixin company", "&pageSize=10&pageToken="+url.QueryEscape(token))
		if fmt.Sprint(m["totalSize"]) != "25" {
			t.Fatalf("totalSize %v, want 25", m["totalSize"])
		}
		rs, _ := m["results"].([]any)
		for _, r := range rs {
			seen[fmt.Sprint(r.(map[string]any)["name"])] = true
		}
		if token, _ = m["nextPageToken"].(string); token == "" || page > 5 {
			break
		}
	}
	if len(seen) != 25 {
		t.Errorf("pages held %d distinct results, want 25", len(seen))
	}
	checkError(t, s.call(t, "GET", "/v1/entities:search?query=", nil), 400, 3)
	checkError(t, s.call(t, "GET", "/v1/entities:search?query=x&pageSize=1000", nil), 400, 3)
	checkError(t, s.call(t, "GET", "/v1/entities:search?query=x&pageToken=garbage", nil), 400, 3)

	// A rename and a delete are seen by the next search at their revision.
	write("PATCH", "/v1/entities/nankai?updateMask=displayName", map[string]any{"displayName": "Nankai Institute of Advanced Study"})
	if m := search("nankai university", ""); fmt.Sprint(m["totalSize"]) != "0" {
		t.Errorf("the old name still found: %v", m)
	}
	write("DELETE", "/v1/entities/tjut", nil)
	if m := search("tianjin university", ""); fmt.Sprint(m["totalSize"]) != "1" {
		t.Errorf("after deleting tjut: %v", m)
	}

	// Target progress, live: nankai (platform) is the one platform or
	// leading enterprise left.
	write("POST", "/v1/targets?targetId=platforms", map[string]any{"displayName": "Future-industry platforms and leading enterprises",
		"metric": "TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES", "goalValue": "100"})
	m, _ := s.must(t, "GET", "/v1/targets:progress?minRevision="+strconv.FormatInt(last, 10), nil)
	ts, _ := m["targets"].([]any)
	if len(ts) != 1 {
		t.Fatalf("targets progress: %v", m)
	}
	tp := ts[0].(map[string]any)
	if fmt.Sprint(tp["currentValue"], "/", tp["goalValue"], "/", tp["fraction"]) != "1/100/0.01" {
		t.Errorf("progress %v, want 1 of 100", tp)
	}
	write("POST", "/v1/entities?entityId=lead-co", map[string]any{"displayName": "Lead Co", "kind": "ENTITY_KIND_ENTERPRISE", "leadingEnterprise": true})
	one, _ := s.must(t, "GET", "/v1/targets/platforms:progress?minRevision="+strconv.FormatInt(last, 10), nil)
	if fmt.Sprint(one["currentValue"]) != "2" {
		t.Errorf("progress after a new leading enterprise: %v, want 2", one)
	}
	checkError(t, s.call(t, "GET", "/v1/targets/nope:progress", nil), 404, 5)
}
