package e2e

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"
)

// gRPC codes as they appear in error bodies.
const (
	codeInvalidArgument    = 3
	codeDeadlineExceeded   = 4
	codeNotFound           = 5
	codeAlreadyExists      = 6
	codeFailedPrecondition = 9
	codeAborted            = 10
	codeOutOfRange         = 11
	codeUnimplemented      = 12
	codeUnavailable        = 14
)

// checkError checks r is an error body {"code","message","details"} with
// the HTTP status and gRPC code given, and returns it.
func checkError(t testing.TB, r resp, httpStatus, code int) map[string]any {
	t.Helper()
	if r.Status != httpStatus {
		t.Errorf("status: got %v, want %d", r, httpStatus)
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	m := r.obj(t)
	if c, _ := m["code"].(float64); int(c) != code {
		t.Errorf("code %v, want %d: %v", m["code"], code, r)
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Errorf("no message: %v", r)
	}
	if _, ok := m["details"].([]any); !ok {
		t.Errorf("no details array: %v", r)
	}
	if info := errorInfo(m); info == nil || info["domain"] != "talentreg" || !upperSnake(fmt.Sprint(info["reason"])) {
		t.Errorf("no google.rpc.ErrorInfo of domain talentreg with an UPPER_SNAKE reason: %v", r)
	}
	return m
}

// errorInfo returns the body's google.rpc.ErrorInfo detail, or nil.
func errorInfo(m map[string]any) map[string]any {
	ds, _ := m["details"].([]any)
	for _, d := range ds {
		if d, ok := d.(map[string]any); ok && d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			return d
		}
	}
	return nil
}

// hasDetail reports whether the body carries a detail of the given type.
func hasDetail(m map[string]any, typ string) bool {
	ds, _ := m["details"].([]any)
	for _, d := range ds {
		if d, ok := d.(map[string]any); ok && d["@type"] == "type.googleapis.com/"+typ {
			return true
		}
	}
	return false
}

// violatedFields lists the fields of the body's google.rpc.BadRequest.
func violatedFields(m map[string]any) []string {
	var fields []string
	ds, _ := m["details"].([]any)
	for _, d := range ds {
		d, _ := d.(map[string]any)
		if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		vs, _ := d["fieldViolations"].([]any)
		for _, v := range vs {
			if v, ok := v.(map[string]any); ok {
				fields = append(fields, fmt.Sprint(v["field"]))
			}
		}
	}
	return fields
}

// TestErrorTable drives every row of API.md's error table through the
// gateway: the HTTP status, the gRPC code in the body, a message naming the
// field, an ErrorInfo (domain talentreg) on every answer, whoever made the
// error, and BadRequest details for validation failures. Errors the
// gateway makes itself (before any backend call) have the gateway's reasons
// and name the field when it is known.
func TestErrorTable(t *testing.T) {
	s := needShared(t)
	ent, grp, prog := uid("err"), uid("errg"), uid("errp")
	code := creditCode(ent)
	created := createEntity(t, s, ent, map[string]any{"creditCode": code})
	createGroup(t, s, grp, "GROUP_KIND_CONSORTIUM", "digital-economy")
	createMembership(t, s, grp, ent, "MEMBERSHIP_ROLE_MEMBER")
	s.must(t, "POST", "/v1/programs?programId="+prog, map[string]any{"displayName": "Kunpeng Plan", "level": "PROGRAM_LEVEL_DISTRICT"})
	staleEtag := str(t, created, "etag")
	s.must(t, "PATCH", "/v1/entities/"+ent, map[string]any{"region": "Binhai"}) // the etag moves on

	valid := func(extra string) string {
		return `{"displayName":"X","kind":"ENTITY_KIND_ENTERPRISE"` + extra + `}`
	}
	type row struct {
		name, method, path string
		body               any
		status, code       int
		field              string // the message must mention it ("" when the gateway rejects before any field)
		badRequest         bool   // a google.rpc.BadRequest detail is expected
	}
	rows := []row{
		// INVALID_ARGUMENT → 400
		{"malformed JSON", "POST", "/v1/entities?entityId=" + uid("e"), `{"displayName":`, 400, codeInvalidArgument, "", false},
		{"wrong type", "POST", "/v1/entities?entityId=" + uid("e"), `{"displayName":["X"],"kind":"ENTITY_KIND_ENTERPRISE"}`, 400, codeInvalidArgument, "displayName", true},
		{"unknown field", "POST", "/v1/entities?entityId=" + uid("e"), valid(`,"colour":"red"`), 400, codeInvalidArgument, "colour", true},
		{"unknown enum", "POST", "/v1/entities?entityId=" + uid("e"), `{"displayName":"X","kind":"ENTITY_KIND_SPACESHIP"}`, 400, codeInvalidArgument, "ENTITY_KIND_SPACESHIP", true},
		{"bad query parameter", "GET", "/v1/summary?minRevision=soon", nil, 400, codeInvalidArgument, "soon", true},
		{"bad escape in a query parameter", "GET", "/v1/entities?pageSize=1&filter=%zz", nil, 400, codeInvalidArgument, "escape", true},
		{"missing required field", "POST", "/v1/entities?entityId=" + uid("e"), `{"kind":"ENTITY_KIND_ENTERPRISE"}`, 400, codeInvalidArgument, "display_name", true},
		{"unspecified enum", "POST", "/v1/entities?entityId=" + uid("e"), `{"displayName":"X","kind":"ENTITY_KIND_UNSPECIFIED"}`, 400, codeInvalidArgument, "kind", true},
		{"display name too long", "POST", "/v1/entities?entityId=" + uid("e"), `{"displayName":"` + strings.Repeat("x", 201) + `","kind":"ENTITY_KIND_ENTERPRISE"}`, 400, codeInvalidArgument, "display_name", true},
		{"bad id", "POST", "/v1/entities?entityId=Bad_Id", valid(""), 400, codeInvalidArgument, "entity_id", true},
		{"bad name in path", "GET", "/v1/entities/UPPER", nil, 400, codeInvalidArgument, "name", false},
		{"bad filter syntax", "GET", "/v1/entities?filter=" + q("kind = = ("), nil, 400, codeInvalidArgument, "filter", false},
		{"filter on an unknown field", "GET", "/v1/entities?filter=" + q(`colour = "red"`), nil, 400, codeInvalidArgument, "filter", false},
		{"bad update mask", "PATCH", "/v1/entities/" + ent + "?updateMask=colour", `{"region":"x"}`, 400, codeInvalidArgument, "colour", false},
		{"bad page token", "GET", "/v1/entities?pageToken=garbage", nil, 400, codeInvalidArgument, "page_token", false},
		{"count zero", "POST", "/v1/talentRecords", `{"subject":"entities/` + ent + `","category":"TALENT_CATEGORY_GATHERED","count":"0"}`, 400, codeInvalidArgument, "count", true},
		{"count negative", "POST", "/v1/talentRecords", `{"subject":"entities/` + ent + `","category":"TALENT_CATEGORY_GATHERED","count":"-3"}`, 400, codeInvalidArgument, "count", true},
		{"bad credit code checksum", "POST", "/v1/entities?entityId=" + uid("e"), valid(`,"creditCode":"` + badCheck(creditCode(uid("cc"))) + `"`), 400, codeInvalidArgument, "credit_code", true},
		{"bad credit code length", "POST", "/v1/entities?entityId=" + uid("e"), valid(`,"creditCode":"123"`), 400, codeInvalidArgument, "credit_code", true},
		{"bad period", "POST", "/v1/talentRecords", `{"subject":"entities/` + ent + `","category":"TALENT_CATEGORY_GATHERED","count":"1","period":"June"}`, 400, codeInvalidArgument, "period", true},
		{"unknown breakdown dimension", "GET", "/v1/breakdowns/colour", nil, 400, codeInvalidArgument, "dimension", false},
		{"batch over 1000", "POST", "/v1/entities:batchCreate", batchOf(1001), 400, codeInvalidArgument, "requests", false},
		// NOT_FOUND → 404
		{"missing entity", "GET", "/v1/entities/" + uid("nope"), nil, 404, codeNotFound, "entities/", false},
		{"missing group", "GET", "/v1/groups/" + uid("nope"), nil, 404, codeNotFound, "groups/", false},
		{"missing membership", "GET", "/v1/groups/" + grp + "/memberships/" + uid("nope"), nil, 404, codeNotFound, "memberships/", false},
		{"missing record", "GET", "/v1/talentRecords/" + uid("nope"), nil, 404, codeNotFound, "talentRecords/", false},
		{"missing program", "GET", "/v1/programs/" + uid("nope"), nil, 404, codeNotFound, "programs/", false},
		{"missing group stats", "GET", "/v1/groups/" + uid("nope") + "/stats", nil, 404, codeNotFound, "groups/", false},
		{"update missing", "PATCH", "/v1/entities/" + uid("nope"), `{"region":"x"}`, 404, codeNotFound, "entities/", false},
		{"delete missing", "DELETE", "/v1/entities/" + uid("nope"), nil, 404, codeNotFound, "entities/", false},
		{"membership of a missing entity", "POST", "/v1/groups/" + grp + "/memberships", `{"entity":"entities/` + uid("nope") + `","role":"MEMBERSHIP_ROLE_MEMBER"}`, 404, codeNotFound, "entities/", false},
		{"membership of a missing group", "POST", "/v1/groups/" + uid("nope") + "/memberships", `{"entity":"entities/` + ent + `","role":"MEMBERSHIP_ROLE_MEMBER"}`, 404, codeNotFound, "groups/", false},
		{"record of a missing subject", "POST", "/v1/talentRecords", `{"subject":"groups/` + uid("nope") + `","category":"TALENT_CATEGORY_GATHERED","count":"1"}`, 404, codeNotFound, "groups/", false},
		{"record of a missing program", "POST", "/v1/talentRecords", `{"subject":"entities/` + ent + `","category":"TALENT_CATEGORY_GATHERED","count":"1","program":"programs/` + uid("nope") + `"}`, 404, codeNotFound, "programs/", false},
		// ALREADY_EXISTS → 409
		{"existing id", "POST", "/v1/entities?entityId=" + ent, valid(""), 409, codeAlreadyExists, ent, false},
		{"existing credit code", "POST", "/v1/entities?entityId=" + uid("e"), valid(`,"creditCode":"` + code + `"`), 409, codeAlreadyExists, "credit_code", false},
		{"same membership twice", "POST", "/v1/groups/" + grp + "/memberships", `{"entity":"entities/` + ent + `","role":"MEMBERSHIP_ROLE_LEAD"}`, 409, codeAlreadyExists, ent, false},
		{"existing program id", "POST", "/v1/programs?programId=" + prog, `{"displayName":"P","level":"PROGRAM_LEVEL_DISTRICT"}`, 409, codeAlreadyExists, prog, false},
		// ABORTED → 409
		{"stale etag on update", "PATCH", "/v1/entities/" + ent, `{"region":"Hebei","etag":"` + staleEtag + `"}`, 409, codeAborted, "etag", false},
		{"stale etag on delete", "DELETE", "/v1/entities/" + ent + "?etag=" + q(staleEtag), nil, 409, codeAborted, "etag", false},
		// FAILED_PRECONDITION → 400
		{"delete with dependants", "DELETE", "/v1/entities/" + ent, nil, 400, codeFailedPrecondition, "", false},
		{"delete group with members", "DELETE", "/v1/groups/" + grp, nil, 400, codeFailedPrecondition, "", false},
		// 413
		{"body over the limit", "POST", "/v1/entities?entityId=" + uid("e"), `{"displayName":"` + strings.Repeat("x", sharedBodyLimit) + `"}`, 413, codeInvalidArgument, "limit", false},
		// gateway routing
		{"unknown route", "GET", "/v1/nowhere", nil, 404, codeNotFound, "", false},
		{"wrong method", "PUT", "/v1/entities/" + ent, valid(""), 405, codeUnimplemented, "PUT", false},
	}
	// What the gateway answers for the errors it makes itself: the
	// ErrorInfo reason, and the BadRequest field when it names one.
	gatewayMade := map[string]struct{ reason, field string }{
		"malformed JSON":                  {"INVALID_JSON", ""},
		"wrong type":                      {"INVALID_FIELD", "displayName"},
		"unknown field":                   {"UNKNOWN_FIELD", "colour"},
		"unknown enum":                    {"INVALID_FIELD", "kind"},
		"bad query parameter":             {"INVALID_QUERY_PARAMETER", "minRevision"},
		"bad escape in a query parameter": {"INVALID_QUERY_PARAMETER", "filter"},
		"body over the limit":             {"REQUEST_BODY_TOO_LARGE", ""},
		"unknown route":                   {"NO_ROUTE", ""},
		"wrong method":                    {"METHOD_NOT_ALLOWED", ""},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, tc.method, tc.path, tc.body)
			m := checkError(t, r, tc.status, tc.code)
			if m == nil {
				return
			}
			msg, _ := m["message"].(string)
			if tc.field != "" && !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.field)) {
				t.Errorf("message %q does not name %q", msg, tc.field)
			}
			if r.Header.Get("X-Request-Id") == "" {
				t.Errorf("no X-Request-Id on an error answer")
			}
			// checkError asserted the ErrorInfo itself.
			if want, ok := gatewayMade[tc.name]; ok {
				if info := errorInfo(m); info == nil || info["reason"] != want.reason {
					t.Errorf("ErrorInfo %v, want reason %s", info, want.reason)
				}
				if want.field != "" && !slices.Contains(violatedFields(m), want.field) {
					t.Errorf("BadRequest fields %q do not name %q: %v", violatedFields(m), want.field, r)
				}
			}
			if tc.badRequest && !hasDetail(m, "google.rpc.BadRequest") {
				t.Errorf("validation failure without a google.rpc.BadRequest detail: %v", r)
			}
		})
	}

	t.Run("compacted change-feed start is OUT_OF_RANGE", func(t *testing.T) {
		// The shared registry keeps its default retention: nothing is
		// compacted yet, so revision 1 is still there. The compacted case
		// runs on a stack with a small --retain-changes (TestChangeFeed_Compacted).
		s.must(t, "GET", "/v1/changes?startRevision=1&pageSize=1", nil)
	})
	t.Run("tampered page token", func(t *testing.T) {
		m, _ := s.must(t, "GET", "/v1/entities?pageSize=1", nil)
		tok := str(t, m, "nextPageToken")
		if tok == "" {
			t.Skip("fewer than two entities")
		}
		b := []byte(tok)
		b[len(b)/2] ^= 1
		checkError(t, s.call(t, "GET", "/v1/entities?pageSize=1&pageToken="+q(string(b)), nil), 400, codeInvalidArgument)
		// A token of another filter is no token of this call.
		checkError(t, s.call(t, "GET", "/v1/entities?pageSize=1&filter="+q("kind = ENTITY_KIND_OTHER")+"&pageToken="+q(tok), nil), 400, codeInvalidArgument)
		checkError(t, s.call(t, "GET", "/v1/groups?pageSize=1&pageToken="+q(tok), nil), 400, codeInvalidArgument)
	})
}

func upperSnake(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// batchOf returns a batchCreate body of n valid requests.
func batchOf(n int) map[string]any {
	reqs := make([]map[string]any, n)
	for i := range reqs {
		reqs[i] = map[string]any{"entityId": fmt.Sprintf("big-%d", i), "entity": map[string]any{"displayName": "x", "kind": "ENTITY_KIND_OTHER"}}
	}
	return map[string]any{"requests": reqs}
}

// TestChangeFeed_Compacted starts a registry that keeps only a few change
// events and asks for a compacted revision: 400 OUT_OF_RANGE with the
// compacted revision in the detail.
func TestChangeFeed_Compacted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	s := startStack(t, stackOptions{registryArgs: []string{"--retain-changes", "5"}})
	for range 12 {
		createEntity(t, s, uid("cmp"), nil)
	}
	var m map[string]any
	eventually(t, 15*time.Second, func() error {
		r := s.call(t, "GET", "/v1/changes?startRevision=1", nil)
		if r.Status == 200 {
			return fmt.Errorf("revision 1 not compacted yet after 12 writes with --retain-changes 5: %v", r)
		}
		m = checkError(t, r, 400, codeOutOfRange)
		return nil
	})
	info := errorInfo(m)
	if info == nil || info["domain"] != "talentreg" || info["reason"] != "REVISION_COMPACTED" {
		t.Errorf("ErrorInfo = %v, want talentreg REVISION_COMPACTED", info)
	}
	if md, _ := info["metadata"].(map[string]any); md == nil || len(md) == 0 {
		t.Errorf("ErrorInfo carries no compacted revision: %v", info)
	}
	// The metrics replica behind it still serves (it follows the live feed).
	s.must(t, "GET", "/v1/summary", nil)
}

// creditCodeChars is the alphabet of unified social credit codes
// (GB 32100-2015): digits and capitals without I, O, S, V, Z.
const creditCodeChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditCode returns a valid 18-character unified social credit code
// derived from seed: registration-authority and type "91", a Binhai
// division code, 9 characters from seed, and the check character.
func creditCode(seed string) string {
	h := fnv.New64a()
	h.Write([]byte(seed))
	n := h.Sum64()
	b := []byte("91120116")
	for range 9 {
		b = append(b, creditCodeChars[n%31])
		n /= 31
	}
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i, c := range b {
		sum += strings.IndexByte(creditCodeChars, c) * weights[i]
	}
	return string(append(b, creditCodeChars[(31-sum%31)%31]))
}

// badCheck returns code with a wrong check character.
func badCheck(code string) string {
	last := strings.IndexByte(creditCodeChars, code[17])
	return code[:17] + string(creditCodeChars[(last+1)%31])
}
