package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMalformedCorpus sends requests that are wrong in every way a client
// can get them wrong. None may produce a 5xx; each answer is a JSON error
// body with a talentreg ErrorInfo; where API.md says which status, it is
// that one; and a rejected create leaves nothing behind.
func TestMalformedCorpus(t *testing.T) {
	s := needShared(t)
	ent, grp := uid("mal"), uid("malg")
	createEntity(t, s, ent, nil)
	createGroup(t, s, grp, "GROUP_KIND_ALLIANCE", "aerospace")
	m, _ := s.must(t, "GET", "/v1/entities?pageSize=1", nil)
	token := str(t, m, "nextPageToken")

	type item struct {
		name, method, path string
		body               any
		header             []string
		status             int    // 0: any 4xx; anyOK: any answer below 500
		createdID          string // when set, the entity must not exist afterwards
	}
	var corpus []item
	add := func(name, method, path string, body any, status int) {
		corpus = append(corpus, item{name: name, method: method, path: path, body: body, status: status})
	}
	create := func(name, body string, status int) {
		id := uid("malc")
		corpus = append(corpus, item{name: name, method: "POST", path: "/v1/entities?entityId=" + id, body: body, status: status, createdID: id})
	}

	// Bad JSON.
	for i, b := range []string{
		`{`, `}`, `{"displayName":}`, `{"displayName":"x",}`, `{'displayName':'x'}`, `nul`, `{"displayName":"x"`,
		`{"displayName":"x"}}`, "{\"displayName\":\"x\"\x00}", `{"displayName":"\x"}`, `[`, `"just a string"`, `42`,
		strings.Repeat("[", 10000), strings.Repeat(`{"a":`, 5000), `{"displayName":"x","displayName":"y","kind":"ENTITY_KIND_OTHER"}`,
	} {
		create(fmt.Sprintf("bad JSON %d", i), b, 0)
	}
	// Wrong types.
	for i, b := range []string{
		`{"displayName":1,"kind":"ENTITY_KIND_OTHER"}`, `{"displayName":"x","kind":true}`, `{"displayName":"x","kind":[]}`,
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER","industries":"aerospace"}`, `{"displayName":"x","kind":"ENTITY_KIND_OTHER","industries":[1]}`,
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER","leadingEnterprise":"yes"}`, `{"displayName":"x","kind":"ENTITY_KIND_OTHER","createTime":"yesterday"}`,
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER","createTime":"99999-01-01T00:00:00Z"}`, `{"displayName":{"zh":"x"},"kind":"ENTITY_KIND_OTHER"}`,
		`{"displayName":null,"kind":"ENTITY_KIND_OTHER"}`,
	} {
		create(fmt.Sprintf("wrong type %d", i), b, 400)
	}
	// Unknown enums and fields.
	for i, b := range []string{
		`{"displayName":"x","kind":"ENTITY_KIND_BANK"}`, `{"displayName":"x","kind":"entity_kind_other"}`, `{"displayName":"x","kind":99}`,
		`{"displayName":"x","kind":-1}`, `{"displayName":"x","kind":"ENTITY_KIND_UNSPECIFIED"}`, `{"displayName":"x","kind":0}`,
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER","colour":"red"}`, `{"display_name":"x","kind":"ENTITY_KIND_OTHER","extra":{}}`,
	} {
		create(fmt.Sprintf("enum or field %d", i), b, 0)
	}
	// A valid value followed by anything but white space is not JSON: the
	// rest must not be ignored (a second object's fields would be lost).
	for i, b := range []string{
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER"} garbage`, `{"displayName":"x","kind":"ENTITY_KIND_OTHER"}}}`,
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER"}[1,2`, `{"displayName":"x","kind":"ENTITY_KIND_OTHER"} {"region":"Hebei"}`,
	} {
		create(fmt.Sprintf("trailing data %d", i), b, 400)
	}
	// A query parameter that names no field is refused, not ignored: a
	// typo must not silently return the unfiltered list.
	add("misspelt filter parameter", "GET", "/v1/entities?filtr=kind%20%3D%20ENTITY_KIND_UNIVERSITY", nil, 400)
	add("unknown parameter on a mutation", "POST", "/v1/entities?entityId="+uid("malq")+"&bogusParam=1", `{"displayName":"x","kind":"ENTITY_KIND_OTHER"}`, 400)
	add("unknown parameter on the summary", "GET", "/v1/summary?minRev=1", nil, 400)
	add("unknown parameter on a single-resource GET", "GET", "/v1/entities/"+ent+"?fields=name", nil, 400)
	add("unknown parameter on the batch create", "POST", "/v1/entities:batchCreate?validateOnly=true", `{"requests":[{"entityId":"`+uid("malb")+`","entity":{"displayName":"x","kind":"ENTITY_KIND_OTHER"}}]}`, 400)
	add("garbage etag on delete", "DELETE", "/v1/entities/"+ent+"?etag=bogus", nil, 400)
	add("garbage etag on update", "PATCH", "/v1/entities/"+ent, `{"region":"Hebei","etag":"W/\"1\""}`, 400)
	add("trailing object on update", "PATCH", "/v1/entities/"+ent, `{"displayName":"first"} {"region":"Hebei"}`, 400)
	add("trailing white space", "POST", "/v1/entities?entityId="+uid("malws"), "{\"displayName\":\"x\",\"kind\":\"ENTITY_KIND_OTHER\"} \r\n\t", 200)
	// An output-only field on create is ignored or rejected.
	create("name on create", `{"displayName":"x","kind":"ENTITY_KIND_OTHER","name":"entities/other"}`, anyOK)
	add("unknown role", "POST", "/v1/groups/"+grp+"/memberships", `{"entity":"entities/`+ent+`","role":"MEMBERSHIP_ROLE_KING"}`, 400)
	add("unknown category", "POST", "/v1/talentRecords", `{"subject":"entities/`+ent+`","category":"TALENT_CATEGORY_BORN","count":"1"}`, 400)
	add("count not a number", "POST", "/v1/talentRecords", `{"subject":"entities/`+ent+`","category":"TALENT_CATEGORY_GATHERED","count":"many"}`, 400)
	add("count overflows int64", "POST", "/v1/talentRecords", `{"subject":"entities/`+ent+`","category":"TALENT_CATEGORY_GATHERED","count":"99999999999999999999"}`, 400)
	add("count fractional", "POST", "/v1/talentRecords", `{"subject":"entities/`+ent+`","category":"TALENT_CATEGORY_GATHERED","count":1.5}`, 400)
	add("subject not a resource name", "POST", "/v1/talentRecords", `{"subject":"`+ent+`","category":"TALENT_CATEGORY_GATHERED","count":"1"}`, 400)
	add("subject of the wrong kind", "POST", "/v1/talentRecords", `{"subject":"programs/x","category":"TALENT_CATEGORY_GATHERED","count":"1"}`, 400)
	add("membership entity not a name", "POST", "/v1/groups/"+grp+"/memberships", `{"entity":"`+ent+`","role":"MEMBERSHIP_ROLE_MEMBER"}`, 400)
	add("batch of nothing", "POST", "/v1/entities:batchCreate", `{"requests":[]}`, 400)
	add("batch not a list", "POST", "/v1/entities:batchCreate", `{"requests":{}}`, 400)
	add("batch duplicate ids", "POST", "/v1/entities:batchCreate", `{"requests":[{"entityId":"dup-x","entity":{"displayName":"a","kind":"ENTITY_KIND_OTHER"}},{"entityId":"dup-x","entity":{"displayName":"b","kind":"ENTITY_KIND_OTHER"}}]}`, 0)

	// Oversize bodies.
	add("body over 4 MiB", "POST", "/v1/entities", strings.Repeat(" ", sharedBodyLimit+1), 413)
	add("PATCH over 4 MiB", "PATCH", "/v1/entities/"+ent, `{"displayName":"`+strings.Repeat("x", sharedBodyLimit)+`"}`, 413)
	add("batch over 4 MiB", "POST", "/v1/entities:batchCreate", `{"requests":[`+strings.Repeat(`{"entityId":"x","entity":{"displayName":"x","kind":"ENTITY_KIND_OTHER"}},`, 60000)+`]}`, 413)
	add("32 MiB body", "POST", "/v1/entities", strings.Repeat("x", 32<<20), 413)

	// Bad ids and names.
	for i, id := range []string{
		"UPPER", "1starts-with-digit", "-dash", "has_underscore", "has.dot", strings.Repeat("a", 64), "a%2Fb", "a%20b",
		"%00", "..", "%2E%2E", "caf%C3%A9", "%E2%80%AE", "a:b", "~", "%F0%9F%98%80",
	} {
		add(fmt.Sprintf("bad id in path %d", i), "GET", "/v1/entities/"+id, nil, 0)
		corpus = append(corpus, item{name: fmt.Sprintf("bad entityId %d", i), method: "POST", path: "/v1/entities?entityId=" + id,
			body: `{"displayName":"x","kind":"ENTITY_KIND_OTHER"}`, status: 400})
	}
	add("bad membership parent", "POST", "/v1/groups/NO/memberships", `{"entity":"entities/`+ent+`","role":"MEMBERSHIP_ROLE_MEMBER"}`, 0)
	add("entity path with extra segment", "GET", "/v1/entities/a/b", nil, 404)
	add("empty id", "GET", "/v1/entities/", nil, 0)
	add("double slash", "GET", "/v1//entities", nil, 0)

	// Tampered and foreign page tokens, bad paging and filters.
	if token != "" {
		add("truncated token", "GET", "/v1/entities?pageToken="+q(token[:len(token)/2]), nil, 400)
		add("token with a flipped character", "GET", "/v1/entities?pageToken="+q(flip(token)), nil, 400)
		add("token from another filter", "GET", "/v1/entities?filter="+q(`region = "x"`)+"&pageToken="+q(token), nil, 400)
		add("token from another collection", "GET", "/v1/groups?pageToken="+q(token), nil, 400)
		add("token of entities used for changes", "GET", "/v1/changes?pageToken="+q(token), nil, 400)
	}
	for i, tok := range []string{"x", "%00", "AAAA", strings.Repeat("A", 5000), "%FF%FE", "=="} {
		add(fmt.Sprintf("garbage token %d", i), "GET", "/v1/entities?pageToken="+tok, nil, 400)
	}
	for i, p := range []string{
		"/v1/entities?pageSize=-1", "/v1/entities?pageSize=abc", "/v1/entities?pageSize=99999999999", "/v1/entities?pageSize=1.5",
		"/v1/changes?startRevision=x", "/v1/changes?startRevision=99999999999999999999",
		"/v1/summary?minRevision=x",
		"/v1/entities?filter=" + q("kind ="), "/v1/entities?filter=" + q("kind = ENTITY_KIND_BANK"), "/v1/entities?filter=" + q("(((("),
		"/v1/entities?filter=" + q(`region = "a" OR region = "b"`), "/v1/entities?filter=" + q(`NOT region = "a"`),
		"/v1/entities?filter=" + q(`displayName = "x"`), "/v1/entities?filter=" + q(strings.Repeat(`region = "a" AND `, 2000)+`region = "a"`),
		"/v1/groups/-/memberships?filter=" + q(`entity = 5`), "/v1/entities?%zz=1", "/v1/entities?filter=%zz",
	} {
		add(fmt.Sprintf("bad query %d", i), "GET", p, nil, 0)
	}
	// Odd but not necessarily wrong: any answer below 500.
	for i, p := range []string{
		"/v1/changes?startRevision=-5", "/v1/summary?minRevision=-1", "/v1/groups/-/memberships",
		"/v1/groups/-/memberships?filter=" + q(`entity = "not-a-name"`),
		"/v1/entities?updateMask=displayName", "/v1/entities?unknownParam=1",
	} {
		add(fmt.Sprintf("odd query %d", i), "GET", p, nil, anyOK)
	}
	for i, p := range []string{
		"/v1/entities/" + ent + "?updateMask=" + q("display_name,,region"), "/v1/entities/" + ent + "?updateMask=" + q("name"),
		"/v1/entities/" + ent + "?updateMask=" + q("etag"), "/v1/entities/" + ent + "?updateMask=" + q("industries.0"),
		"/v1/entities/" + ent + "?updateMask=" + q("*,region"), "/v1/entities/" + ent + "?updateMask=" + q("DisplayName"),
	} {
		add(fmt.Sprintf("odd update mask %d", i), "PATCH", p, `{"region":"x"}`, anyOK)
	}
	add("PATCH of another entity's name", "PATCH", "/v1/entities/"+ent, `{"name":"entities/other","region":"x"}`, anyOK)

	// Unicode edge cases. Valid text must be accepted or rejected by the
	// rules, never crash anything; invalid encodings are 400.
	for i, name := range []string{
		"\u0000", "a\u0000b", "\u200b", "\u202eevil", "\ufeffbom", "e\u0301", "👩‍👩‍👧‍👦", "\U0010FFFF", "\ufffd",
		strings.Repeat("界", 201), strings.Repeat("😀", 201), " ", "\t\n", "\u00a0",
	} {
		corpus = append(corpus, item{name: fmt.Sprintf("unicode display name %d", i), method: "POST", path: "/v1/entities?entityId=" + uid("uni"),
			body: `{"displayName":` + jsonString(name) + `,"kind":"ENTITY_KIND_OTHER"}`, status: anyOK})
	}
	for i, b := range []string{
		"{\"displayName\":\"\xff\",\"kind\":\"ENTITY_KIND_OTHER\"}", "{\"displayName\":\"\xc3\",\"kind\":\"ENTITY_KIND_OTHER\"}",
		"{\"displayName\":\"\xed\xa0\x80\",\"kind\":\"ENTITY_KIND_OTHER\"}", "\xef\xbb\xbf{\"displayName\":\"x\",\"kind\":\"ENTITY_KIND_OTHER\"}",
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER","industries":["航天"]}`,
	} {
		create(fmt.Sprintf("invalid UTF-8 or slug %d", i), b, 400)
	}
	for i, b := range []string{
		`{"displayName":"\ud800","kind":"ENTITY_KIND_OTHER"}`, `{"displayName":"\udc00\ud800","kind":"ENTITY_KIND_OTHER"}`,
		`{"displayName":"x","kind":"ENTITY_KIND_OTHER","region":"\u0000"}`,
	} {
		create(fmt.Sprintf("unicode escapes %d", i), b, anyOK)
	}
	add("invalid UTF-8 in filter", "GET", "/v1/entities?filter="+q("region = \"\xff\""), nil, 400)
	add("region filter in Chinese", "GET", "/v1/entities?filter="+q(`region = "滨海"`), nil, 200)

	// Headers.
	corpus = append(corpus,
		item{name: "non-ASCII Authorization", method: "GET", path: "/v1/entities/" + ent, header: []string{"Authorization", "Bearer \xe9"}, status: anyOK},
		item{name: "garbage grpc-timeout", method: "GET", path: "/v1/entities/" + ent, header: []string{"Grpc-Timeout", "forever"}, status: 400},
		item{name: "binary metadata header", method: "GET", path: "/v1/entities/" + ent, header: []string{"Grpc-Metadata-X-Bin", "!!!"}, status: anyOK},
		item{name: "XML content type", method: "POST", path: "/v1/entities?entityId=" + uid("malx"), body: `<entity/>`, header: []string{"Content-Type", "application/xml"}, status: 415},
		item{name: "form content type", method: "POST", path: "/v1/entities", body: `displayName=x`, header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415},
		item{name: "JSON sent as form", method: "POST", path: "/v1/entities?entityId=" + uid("malf"), body: `{"displayName":"x","kind":"ENTITY_KIND_OTHER"}`, header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415},
		item{name: "method override header", method: "POST", path: "/v1/entities/" + ent, body: `{}`, header: []string{"X-HTTP-Method-Override", "DELETE"}, status: 405},
	)
	// Methods and routes.
	for _, mth := range []string{"PUT", "TRACE", "OPTIONS", "DELETE"} {
		add("method "+mth+" on a collection", mth, "/v1/entities", nil, 0)
	}
	add("unknown version", "GET", "/v2/entities", nil, 404)
	add("verb on get route", "GET", "/v1/entities/"+ent+":undelete", nil, 0)

	for _, it := range corpus {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		r, err := send(ctx, it.method, s.url+it.path, it.body, it.header...)
		cancel()
		if err != nil {
			// Only an oversize body may be cut off by the server before
			// the client finished sending it.
			if it.status == 413 && isConnReset(err) {
				continue
			}
			t.Errorf("%s: %v", it.name, err)
			continue
		}
		if r.Status >= 500 {
			t.Errorf("%s: %s %s → %v", it.name, it.method, short(it.path), r)
			continue
		}
		if it.status > 0 && r.Status != it.status {
			t.Errorf("%s: %s %s → %v, want %d", it.name, it.method, short(it.path), r, it.status)
		}
		if it.status == 0 && r.Status < 400 {
			t.Errorf("%s: %s %s → %v, want a 4xx", it.name, it.method, short(it.path), r)
		}
		if r.Status >= 400 {
			m := r.obj(t)
			if _, ok := m["code"].(float64); !ok {
				t.Errorf("%s: error body without a code: %v", it.name, r)
			}
			if info := errorInfo(m); info == nil || info["domain"] != "talentreg" || !upperSnake(fmt.Sprint(info["reason"])) {
				t.Errorf("%s: error body without a talentreg ErrorInfo: %v", it.name, r)
			}
		}
		if it.createdID != "" && r.Status >= 400 {
			if g := s.call(t, "GET", "/v1/entities/"+it.createdID, nil); g.Status != 404 {
				t.Errorf("%s: rejected create left entities/%s behind: %v", it.name, it.createdID, g)
			}
		}
	}
	// Everything still works.
	s.must(t, "GET", "/v1/entities/"+ent, nil)
	s.must(t, "GET", "/v1/summary", nil)
}

// anyOK marks a corpus item whose answer may be anything below 500.
const anyOK = -1

func flip(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isConnReset reports whether err is the server cutting the connection,
// which a server may do to a body it refuses: ECONNRESET, EPIPE while the
// client still writes, or net.ErrClosed, which is what the client's writer
// gets once its reader saw the reset and net/http closed the connection
// (the ECONNRESET itself is then not in the returned chain). Any other
// error, a refused connection above all (the gateway crashed), is not.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
