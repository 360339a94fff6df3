package e2e

import (
	"talentreg/platform/auth"

	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// q escapes a query parameter value.
func q(s string) string { return url.QueryEscape(s) }

// createEntity creates an entity with id and the given fields.
func createEntity(t *testing.T, s *stack, id string, fields map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"displayName": "Entity " + id, "kind": "ENTITY_KIND_ENTERPRISE"}
	for k, v := range fields {
		body[k] = v
	}
	m, _ := s.must(t, "POST", "/v1/entities?entityId="+id, body)
	return m
}

func createGroup(t *testing.T, s *stack, id, kind, field string) map[string]any {
	t.Helper()
	m, _ := s.must(t, "POST", "/v1/groups?groupId="+id, map[string]any{"displayName": "Group " + id, "kind": kind, "field": field})
	return m
}

func createMembership(t *testing.T, s *stack, group, entity, role string) (map[string]any, resp) {
	t.Helper()
	return s.must(t, "POST", "/v1/groups/"+group+"/memberships", map[string]any{"entity": "entities/" + entity, "role": role})
}

// str returns m[key] as a string, failing the test when it is not one.
func str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key].(string)
	if !ok {
		t.Fatalf("%s = %#v, want a string, in %v", key, m[key], m)
	}
	return v
}

// list pages through a collection (pageSize per call) and returns every
// item and the number of calls.
func list(t *testing.T, s *stack, path, field string, pageSize int) ([]map[string]any, int) {
	t.Helper()
	var items []map[string]any
	token, calls := "", 0
	sep := "?"
	if regexp.MustCompile(`\?`).MatchString(path) {
		sep = "&"
	}
	for {
		p := path + sep + "pageSize=" + strconv.Itoa(pageSize)
		if token != "" {
			p += "&pageToken=" + q(token)
		}
		m, _ := s.must(t, "GET", p, nil)
		calls++
		raw, ok := m[field].([]any)
		if !ok {
			t.Fatalf("GET %s: %q is not a list: %v", p, field, m)
		}
		if len(raw) > pageSize {
			t.Fatalf("GET %s: %d items, more than pageSize %d", p, len(raw), pageSize)
		}
		for _, it := range raw {
			items = append(items, it.(map[string]any))
		}
		if _, ok := m["nextPageToken"]; !ok {
			t.Fatalf("GET %s: nextPageToken missing (unpopulated fields must be emitted): %v", p, m)
		}
		token = str(t, m, "nextPageToken")
		if token == "" {
			return items, calls
		}
		if calls > 1000 {
			t.Fatalf("GET %s: more than 1000 pages", path)
		}
	}
}

func names(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprint(it["name"]))
	}
	return out
}

func TestEntity_CRUD(t *testing.T) {
	s := needShared(t)
	id := uid("crud")
	body := map[string]any{
		"displayName": "Tianjin University", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin",
		"industries": []string{"information-innovation", "biomedicine"}, "futureIndustryPlatform": true,
	}
	created, cr := s.must(t, "POST", "/v1/entities?entityId="+id, body)
	rev := cr.revision(t)
	if str(t, created, "name") != "entities/"+id || str(t, created, "etag") == "" || created["createTime"] == nil {
		t.Errorf("created entity: %v", created)
	}
	if created["kind"] != "ENTITY_KIND_UNIVERSITY" || created["leadingEnterprise"] != false || created["creditCode"] != "" {
		t.Errorf("enum names and unpopulated fields: %v", created)
	}

	got, _ := s.must(t, "GET", "/v1/entities/"+id, nil)
	if fmt.Sprint(got) != fmt.Sprint(created) {
		t.Errorf("GET = %v, want the created entity %v", got, created)
	}

	t.Run("PATCH with mask in JSON spelling", func(t *testing.T) {
		upd, ur := s.must(t, "PATCH", "/v1/entities/"+id+"?updateMask=displayName", map[string]any{"displayName": "TJU", "region": "ignored"})
		if ur.revision(t) <= rev {
			t.Errorf("update revision %d not after create %d", ur.revision(t), rev)
		}
		if upd["displayName"] != "TJU" || upd["region"] != "Tianjin" || upd["etag"] == created["etag"] {
			t.Errorf("updated: %v", upd)
		}
	})
	t.Run("PATCH with mask in proto spelling", func(t *testing.T) {
		upd, _ := s.must(t, "PATCH", "/v1/entities/"+id+"?updateMask=display_name", map[string]any{"displayName": "Tianjin U"})
		if upd["displayName"] != "Tianjin U" {
			t.Errorf("updated: %v", upd)
		}
	})
	t.Run("PATCH without mask changes the body's fields", func(t *testing.T) {
		upd, _ := s.must(t, "PATCH", "/v1/entities/"+id, map[string]any{"region": "Beijing", "leadingEnterprise": true})
		if upd["region"] != "Beijing" || upd["leadingEnterprise"] != true || upd["displayName"] != "Tianjin U" || upd["kind"] != "ENTITY_KIND_UNIVERSITY" {
			t.Errorf("updated: %v", upd)
		}
		if ind, _ := upd["industries"].([]any); len(ind) != 2 {
			t.Errorf("industries not in the body were changed: %v", upd["industries"])
		}
	})
	t.Run("PATCH with the current etag", func(t *testing.T) {
		cur, _ := s.must(t, "GET", "/v1/entities/"+id, nil)
		upd, _ := s.must(t, "PATCH", "/v1/entities/"+id, map[string]any{"region": "Hebei", "etag": cur["etag"]})
		if upd["region"] != "Hebei" {
			t.Errorf("updated: %v", upd)
		}
	})
	t.Run("DELETE with etag", func(t *testing.T) {
		cur, _ := s.must(t, "GET", "/v1/entities/"+id, nil)
		m, dr := s.must(t, "DELETE", "/v1/entities/"+id+"?etag="+q(str(t, cur, "etag")), nil)
		if len(m) != 0 {
			t.Errorf("DELETE body = %v, want {}", m)
		}
		dr.revision(t)
		if r := s.call(t, "GET", "/v1/entities/"+id, nil); r.Status != 404 {
			t.Errorf("GET after DELETE: %v", r)
		}
	})
}

func TestEntity_ServerAssignedIDAndRequestID(t *testing.T) {
	s := needShared(t)
	m, _ := s.must(t, "POST", "/v1/entities", map[string]any{"displayName": "No id", "kind": "ENTITY_KIND_OTHER"})
	if !regexp.MustCompile(`^entities/[a-z][a-z0-9-]{0,62}$`).MatchString(str(t, m, "name")) {
		t.Errorf("server-made name %q does not match the id pattern", m["name"])
	}
	reqID := uid("req")
	a, ra := s.must(t, "POST", "/v1/entities?requestId="+reqID, map[string]any{"displayName": "Once", "kind": "ENTITY_KIND_OTHER"})
	b, rb := s.must(t, "POST", "/v1/entities?requestId="+reqID, map[string]any{"displayName": "Once", "kind": "ENTITY_KIND_OTHER"})
	if a["name"] != b["name"] || a["etag"] != b["etag"] {
		t.Errorf("retry with the same requestId made another entity: %v then %v", a["name"], b["name"])
	}
	if ra.Header.Get("X-Revision") != rb.Header.Get("X-Revision") {
		t.Logf("note: a retried create answers X-Revision %s, the first %s", rb.Header.Get("X-Revision"), ra.Header.Get("X-Revision"))
	}
}

func TestGroup_CRUD(t *testing.T) {
	s := needShared(t)
	id := uid("grp")
	g, gr := s.must(t, "POST", "/v1/groups?groupId="+id, map[string]any{"displayName": "Aerospace alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "aerospace"})
	gr.revision(t)
	if g["name"] != "groups/"+id || g["kind"] != "GROUP_KIND_ALLIANCE" || g["field"] != "aerospace" {
		t.Errorf("created group: %v", g)
	}
	if got, _ := s.must(t, "GET", "/v1/groups/"+id, nil); fmt.Sprint(got) != fmt.Sprint(g) {
		t.Errorf("GET = %v, want %v", got, g)
	}
	upd, _ := s.must(t, "PATCH", "/v1/groups/"+id, map[string]any{"field": "aerospace-utilization"})
	if upd["field"] != "aerospace-utilization" || upd["displayName"] != "Aerospace alliance" {
		t.Errorf("updated group: %v", upd)
	}
	items, _ := list(t, s, "/v1/groups?filter="+q(`field = "aerospace-utilization"`), "groups", 50)
	if !slices.Contains(names(items), "groups/"+id) {
		t.Errorf("filtered list %v lacks groups/%s", names(items), id)
	}
	s.must(t, "DELETE", "/v1/groups/"+id, nil)
	if r := s.call(t, "GET", "/v1/groups/"+id, nil); r.Status != 404 {
		t.Errorf("GET after DELETE: %v", r)
	}
}

func TestMembership_CRUDAndReverseLookup(t *testing.T) {
	s := needShared(t)
	g1, g2 := uid("cons"), uid("alli")
	e1, e2 := uid("mem"), uid("mem")
	createGroup(t, s, g1, "GROUP_KIND_CONSORTIUM", "biomedicine")
	createGroup(t, s, g2, "GROUP_KIND_ALLIANCE", "financial-leasing")
	createEntity(t, s, e1, nil)
	createEntity(t, s, e2, nil)

	m, mr := createMembership(t, s, g1, e1, "MEMBERSHIP_ROLE_LEAD")
	mr.revision(t)
	if m["name"] != "groups/"+g1+"/memberships/"+e1 || m["entity"] != "entities/"+e1 || m["role"] != "MEMBERSHIP_ROLE_LEAD" || m["joinTime"] == nil {
		t.Errorf("created membership: %v", m)
	}
	createMembership(t, s, g1, e2, "MEMBERSHIP_ROLE_MEMBER")
	createMembership(t, s, g2, e1, "MEMBERSHIP_ROLE_MEMBER")

	if got, _ := s.must(t, "GET", "/v1/groups/"+g1+"/memberships/"+e1, nil); fmt.Sprint(got) != fmt.Sprint(m) {
		t.Errorf("GET membership = %v, want %v", got, m)
	}
	members, _ := list(t, s, "/v1/groups/"+g1+"/memberships", "memberships", 1)
	if want := []string{"groups/" + g1 + "/memberships/" + e1, "groups/" + g1 + "/memberships/" + e2}; fmt.Sprint(names(members)) != fmt.Sprint(want) {
		t.Errorf("members of %s = %v, want %v", g1, names(members), want)
	}
	groupsOf, _ := list(t, s, "/v1/groups/-/memberships?filter="+q(`entity="entities/`+e1+`"`), "memberships", 50)
	got := names(groupsOf)
	slices.Sort(got)
	want := []string{"groups/" + g1 + "/memberships/" + e1, "groups/" + g2 + "/memberships/" + e1}
	slices.Sort(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups of %s = %v, want %v", e1, got, want)
	}

	upd, _ := s.must(t, "PATCH", "/v1/groups/"+g1+"/memberships/"+e2, map[string]any{"role": "MEMBERSHIP_ROLE_LEAD"})
	if upd["role"] != "MEMBERSHIP_ROLE_LEAD" {
		t.Errorf("updated membership: %v", upd)
	}
	s.must(t, "DELETE", "/v1/groups/"+g2+"/memberships/"+e1, nil)
	groupsOf, _ = list(t, s, "/v1/groups/-/memberships?filter="+q(`entity = "entities/`+e1+`"`), "memberships", 50)
	if fmt.Sprint(names(groupsOf)) != fmt.Sprint([]string{"groups/" + g1 + "/memberships/" + e1}) {
		t.Errorf("after delete, groups of %s = %v", e1, names(groupsOf))
	}
}

func TestProgramAndTalentRecord_CRUD(t *testing.T) {
	s := needShared(t)
	pid, eid, gid := uid("prog"), uid("subj"), uid("subjg")
	p, _ := s.must(t, "POST", "/v1/programs?programId="+pid, map[string]any{"displayName": "Haihe Talent", "level": "PROGRAM_LEVEL_MUNICIPAL"})
	if p["name"] != "programs/"+pid || p["level"] != "PROGRAM_LEVEL_MUNICIPAL" {
		t.Errorf("created program: %v", p)
	}
	if got, _ := s.must(t, "GET", "/v1/programs/"+pid, nil); fmt.Sprint(got) != fmt.Sprint(p) {
		t.Errorf("GET program = %v", got)
	}
	progs, _ := list(t, s, "/v1/programs?filter="+q("level = PROGRAM_LEVEL_MUNICIPAL"), "programs", 100)
	if !slices.Contains(names(progs), "programs/"+pid) {
		t.Errorf("programs %v lack %s", names(progs), pid)
	}
	createEntity(t, s, eid, nil)
	createGroup(t, s, gid, "GROUP_KIND_CONSORTIUM", "digital-economy")

	rid := uid("rec")
	rec, rr := s.must(t, "POST", "/v1/talentRecords?talentRecordId="+rid, map[string]any{
		"subject": "entities/" + eid, "category": "TALENT_CATEGORY_GATHERED", "count": "1200", "program": "programs/" + pid, "period": "2024-06",
	})
	rr.revision(t)
	if rec["name"] != "talentRecords/"+rid || rec["count"] != "1200" || rec["category"] != "TALENT_CATEGORY_GATHERED" {
		t.Errorf("created record (count is an int64: a JSON string): %v", rec)
	}
	s.must(t, "POST", "/v1/talentRecords?talentRecordId="+uid("rec"), map[string]any{
		"subject": "groups/" + gid, "category": "TALENT_CATEGORY_CULTIVATED", "count": 300, "period": "2024",
	})
	if got, _ := s.must(t, "GET", "/v1/talentRecords/"+rid, nil); fmt.Sprint(got) != fmt.Sprint(rec) {
		t.Errorf("GET record = %v", got)
	}
	recs, _ := list(t, s, "/v1/talentRecords?filter="+q(`subject = "entities/`+eid+`"`), "talentRecords", 10)
	if fmt.Sprint(names(recs)) != fmt.Sprint([]string{"talentRecords/" + rid}) {
		t.Errorf("records of %s = %v", eid, names(recs))
	}
	upd, _ := s.must(t, "PATCH", "/v1/talentRecords/"+rid, map[string]any{"count": "1300"})
	if upd["count"] != "1300" {
		t.Errorf("updated record: %v", upd)
	}
	s.must(t, "DELETE", "/v1/talentRecords/"+rid, nil)
	if r := s.call(t, "GET", "/v1/talentRecords/"+rid, nil); r.Status != 404 {
		t.Errorf("GET after DELETE: %v", r)
	}
}

func TestEntity_BatchCreate(t *testing.T) {
	s := needShared(t)
	region := uid("Batch")
	var reqs []map[string]any
	var want []string
	for range 3 {
		id := uid("batch")
		want = append(want, "entities/"+id)
		reqs = append(reqs, map[string]any{"entityId": id, "entity": map[string]any{"displayName": id, "kind": "ENTITY_KIND_INCUBATOR", "region": region}})
	}
	m, r := s.must(t, "POST", "/v1/entities:batchCreate", map[string]any{"requests": reqs})
	last := r.revision(t)
	got, _ := m["entities"].([]any)
	if len(got) != 3 {
		t.Fatalf("batch answer: %v", m)
	}
	for i, e := range got {
		if e.(map[string]any)["name"] != want[i] {
			t.Errorf("entities[%d] = %v, want %s (request order)", i, e.(map[string]any)["name"], want[i])
		}
	}
	// k resources take k consecutive revisions; X-Revision is the last.
	ch, _ := s.must(t, "GET", fmt.Sprintf("/v1/changes?startRevision=%d&pageSize=3", last-2), nil)
	var revs []string
	var chNames []string
	for _, c := range ch["changes"].([]any) {
		revs = append(revs, fmt.Sprint(c.(map[string]any)["revision"]))
		chNames = append(chNames, fmt.Sprint(c.(map[string]any)["name"]))
	}
	if fmt.Sprint(revs) != fmt.Sprint([]string{strconv.FormatInt(last-2, 10), strconv.FormatInt(last-1, 10), strconv.FormatInt(last, 10)}) || fmt.Sprint(chNames) != fmt.Sprint(want) {
		t.Errorf("changes %v %v, want revisions %d..%d for %v", revs, chNames, last-2, last, want)
	}

	t.Run("atomic: one bad request creates nothing", func(t *testing.T) {
		good, bad := uid("batch"), uid("batch")
		r := s.call(t, "POST", "/v1/entities:batchCreate", map[string]any{"requests": []map[string]any{
			{"entityId": good, "entity": map[string]any{"displayName": "ok", "kind": "ENTITY_KIND_OTHER"}},
			{"entityId": bad, "entity": map[string]any{"displayName": "", "kind": "ENTITY_KIND_OTHER"}},
		}})
		if r.Status != 400 {
			t.Errorf("batch with an invalid entity: %v", r)
		}
		if r := s.call(t, "GET", "/v1/entities/"+good, nil); r.Status != 404 {
			t.Errorf("the valid half of a failed batch exists: %v", r)
		}
	})
}

func TestEntity_PaginationToTheEnd(t *testing.T) {
	s := needShared(t)
	region := uid("Pages")
	var want []string
	for range 23 {
		id := uid("page")
		createEntity(t, s, id, map[string]any{"region": region})
		want = append(want, "entities/"+id)
	}
	slices.Sort(want) // name order
	for _, size := range []int{1, 7, 23, 1000} {
		items, calls := list(t, s, "/v1/entities?filter="+q(`region = "`+region+`"`), "entities", size)
		if got := names(items); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pageSize %d: got %d entities %v, want %v", size, len(got), got, want)
		}
		if wantCalls := (23 + size - 1) / size; calls < wantCalls || calls > wantCalls+1 {
			t.Errorf("pageSize %d: %d calls, want %d (or one more for an empty last page)", size, calls, wantCalls)
		}
	}
	t.Run("default page size", func(t *testing.T) {
		m, _ := s.must(t, "GET", "/v1/entities?filter="+q(`region = "`+region+`"`), nil)
		if n := len(m["entities"].([]any)); n != 23 || m["nextPageToken"] != "" {
			t.Errorf("one page of the default size 50: %d entities, token %q", n, m["nextPageToken"])
		}
	})
}

func TestEntity_Filters(t *testing.T) {
	s := needShared(t)
	region := uid("Filt")
	uni := uid("uni")
	createEntity(t, s, uni, map[string]any{"kind": "ENTITY_KIND_UNIVERSITY", "region": region, "industries": []string{"biomedicine"}})
	ent := uid("ent")
	createEntity(t, s, ent, map[string]any{"region": region, "industries": []string{"aerospace", "new-materials"}, "leadingEnterprise": true})
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{`kind = ENTITY_KIND_UNIVERSITY AND region = "` + region + `"`, []string{uni}},
		{`region = "` + region + `" AND industries:"aerospace"`, []string{ent}},
		{`region = "` + region + `" AND leadingEnterprise = true`, []string{ent}},
		{`region = "` + region + `"`, []string{ent, uni}},
		{`region = "` + region + `" AND kind = ENTITY_KIND_INCUBATOR`, nil},
	} {
		items, _ := list(t, s, "/v1/entities?filter="+q(tc.filter), "entities", 10)
		var want []string
		for _, id := range tc.want {
			want = append(want, "entities/"+id)
		}
		slices.Sort(want)
		if got := names(items); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("filter %s: got %v, want %v", tc.filter, got, want)
		}
	}
}

func TestEntity_DeleteWithDependants(t *testing.T) {
	s := needShared(t)
	g, e := uid("dep"), uid("dep")
	createGroup(t, s, g, "GROUP_KIND_ALLIANCE", "aerospace")
	createEntity(t, s, e, nil)
	createMembership(t, s, g, e, "MEMBERSHIP_ROLE_MEMBER")
	rid := uid("deprec")
	s.must(t, "POST", "/v1/talentRecords?talentRecordId="+rid, map[string]any{"subject": "entities/" + e, "category": "TALENT_CATEGORY_ASSESSED", "count": "5"})

	r := s.call(t, "DELETE", "/v1/entities/"+e, nil)
	checkError(t, r, 400, codeFailedPrecondition)
	m, dr := s.must(t, "DELETE", "/v1/entities/"+e+"?force=true", nil)
	if len(m) != 0 {
		t.Errorf("DELETE body = %v, want {}", m)
	}
	last := dr.revision(t)
	for _, p := range []string{"/v1/entities/" + e, "/v1/groups/" + g + "/memberships/" + e, "/v1/talentRecords/" + rid} {
		if r := s.call(t, "GET", p, nil); r.Status != 404 {
			t.Errorf("GET %s after the cascade: %v", p, r)
		}
	}
	// The cascade took one revision per resource, the entity's last or not,
	// all ending at X-Revision.
	ch, _ := s.must(t, "GET", fmt.Sprintf("/v1/changes?startRevision=%d&pageSize=3", last-2), nil)
	var deleted []string
	for _, c := range ch["changes"].([]any) {
		c := c.(map[string]any)
		if c["type"] == "CHANGE_TYPE_DELETED" {
			deleted = append(deleted, fmt.Sprint(c["name"]))
		}
		if c["revision"] == strconv.FormatInt(last, 10) && c["type"] != "CHANGE_TYPE_DELETED" {
			t.Errorf("change at X-Revision %d is %v", last, c)
		}
	}
	slices.Sort(deleted)
	want := []string{"entities/" + e, "groups/" + g + "/memberships/" + e, "talentRecords/" + rid}
	slices.Sort(want)
	if fmt.Sprint(deleted) != fmt.Sprint(want) {
		t.Errorf("cascade changes %v, want %v", deleted, want)
	}
}

func TestChangeFeed_ListAndWatch(t *testing.T) {
	s := needShared(t)
	id := uid("feed")
	_, cr := s.must(t, "POST", "/v1/entities?entityId="+id, map[string]any{"displayName": "Feed", "kind": "ENTITY_KIND_OTHER"})
	start := cr.revision(t)
	_, ur := s.must(t, "PATCH", "/v1/entities/"+id, map[string]any{"region": "Binhai"})
	_, dr := s.must(t, "DELETE", "/v1/entities/"+id, nil)
	end := dr.revision(t)

	t.Run("list pages in revision order", func(t *testing.T) {
		var revs []int64
		var types []string
		token := ""
		for len(revs) < 3 {
			p := fmt.Sprintf("/v1/changes?startRevision=%d&pageSize=1", start)
			if token != "" {
				p += "&pageToken=" + q(token)
			}
			m, _ := s.must(t, "GET", p, nil)
			for _, c := range m["changes"].([]any) {
				c := c.(map[string]any)
				rev, _ := strconv.ParseInt(fmt.Sprint(c["revision"]), 10, 64)
				if len(revs) > 0 && rev <= revs[len(revs)-1] {
					t.Fatalf("revision %d after %d", rev, revs[len(revs)-1])
				}
				if c["name"] == "entities/"+id {
					revs = append(revs, rev)
					types = append(types, fmt.Sprint(c["type"]))
				}
			}
			if token = fmt.Sprint(m["nextPageToken"]); token == "" {
				break
			}
		}
		want := []int64{start, ur.revision(t), end}
		if fmt.Sprint(revs) != fmt.Sprint(want) || fmt.Sprint(types) != fmt.Sprint([]string{"CHANGE_TYPE_CREATED", "CHANGE_TYPE_UPDATED", "CHANGE_TYPE_DELETED"}) {
			t.Errorf("changes of %s: revisions %v types %v, want %v created/updated/deleted", id, revs, types, want)
		}
	})

	t.Run("watch streams past the gateway's write timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/changes:watch?startRevision=%d", s.url, start), nil)
		req.Header.Set("Authorization", "Bearer "+tokens[auth.RoleAdmin])
		hr, err := (&http.Client{Transport: httpClient.Transport}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer hr.Body.Close()
		if hr.StatusCode != 200 {
			t.Fatalf("watch: %d", hr.StatusCode)
		}
		sc := bufio.NewScanner(hr.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		began := time.Now()
		seen := map[int64]bool{}
		progress := 0
		for sc.Scan() {
			var line struct {
				Result *struct {
					Changes []struct {
						Revision string `json:"revision"`
					} `json:"changes"`
					Revision string `json:"revision"`
				} `json:"result"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Result == nil {
				t.Fatalf("stream line %s: %v", sc.Bytes(), err)
			}
			if len(line.Result.Changes) == 0 {
				progress++
			}
			for _, c := range line.Result.Changes {
				rev, _ := strconv.ParseInt(c.Revision, 10, 64)
				seen[rev] = true
			}
			if seen[start] && seen[end] && progress > 0 && time.Since(began) > sharedWriteTimeout+time.Second {
				return // outlived the write timeout, with changes and progress
			}
		}
		t.Fatalf("stream ended after %v (%v): seen start %v end %v, %d progress messages", time.Since(began), sc.Err(), seen[start], seen[end], progress)
	})
}

// TestRemovedRoutes_NotFound: Import, StreamSnapshot and VerifyProjection
// are gRPC-only (a client stream over HTTP could commit part of an import, a
// snapshot holds a read transaction as long as the client reads, and a
// verification recounts everything). Their former HTTP routes answer a JSON
// 404 NO_ROUTE, and an import body sent there writes nothing.
func TestRemovedRoutes_NotFound(t *testing.T) {
	s := needShared(t)
	a, b := uid("imp"), uid("imp")
	importBody := `{"items":[{"entity":{"name":"entities/` + a + `","displayName":"Imported A","kind":"ENTITY_KIND_OTHER"}}]}` + "\n" +
		`{"items":[{"entity":{"name":"entities/` + b + `","displayName":"Imported B","kind":"ENTITY_KIND_OTHER"}}]}`
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1:import", importBody},
		{"GET", "/v1/snapshot", nil},
		{"POST", "/v1/projection:verify", "{}"},
	} {
		r := s.call(t, tc.method, tc.path, tc.body)
		m := checkError(t, r, 404, codeNotFound)
		if m == nil {
			continue
		}
		if info := errorInfo(m); info == nil || info["domain"] != "talentreg" || info["reason"] != "NO_ROUTE" {
			t.Errorf("%s %s: ErrorInfo %v, want talentreg NO_ROUTE: %v", tc.method, tc.path, info, r)
		}
	}
	for _, id := range []string{a, b} {
		r := s.call(t, "GET", "/v1/entities/"+id, nil)
		if m := checkError(t, r, 404, codeNotFound); m != nil {
			if info := errorInfo(m); info == nil || info["reason"] != "RESOURCE_NOT_FOUND" {
				t.Errorf("entities/%s: %v, want RESOURCE_NOT_FOUND (nothing imported)", id, r)
			}
		}
	}
}
