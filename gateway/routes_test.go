package gateway_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"talentreg/gateway"
	"talentreg/gateway/openapi"
)

// TestGateway_RoutesMatchDocument sends one request per operation of the
// served /openapi.json and checks the gateway routes it (whatever the fake
// backend then answers): the document and the route table agree.
func TestGateway_RoutesMatchDocument(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "GET", s.url+"/openapi.json", nil, nil)
	if r.status != 200 || string(r.body) != string(openapi.Document) {
		t.Fatalf("/openapi.json is not the embedded document: %d, %d bytes", r.status, len(r.body))
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name    string `json:"name"`
				In      string `json:"in"`
				Pattern string `json:"pattern"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	wildcard := regexp.MustCompile(`\[\^/\]\+`)
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			url := path
			for _, p := range op.Parameters {
				if p.In != "path" {
					continue
				}
				v := "x"
				if p.Pattern != "" {
					v = wildcard.ReplaceAllString(p.Pattern, "x")
				}
				url = strings.Replace(url, "{"+p.Name+"}", v, 1)
			}
			method = strings.ToUpper(method)
			if url == "/v1/changes:watch" {
				url += "?startRevision=-1" // the fake's immediate error, not an endless stream
			}
			r := do(t, method, s.url+url, strings.NewReader("{}"), nil)
			if r.status == 404 || r.status == 405 {
				m := r.json(t)
				if d, _ := m["details"].([]any); len(d) > 0 {
					if info, _ := d[0].(map[string]any); info["reason"] == gateway.ReasonNoRoute || info["reason"] == gateway.ReasonMethodNotAllowed {
						t.Errorf("%s %s (documented as %s): not routed: %s", method, url, path, r.body)
					}
				}
			}
			n++
		}
	}
	if n < 31 { // 5 resources × 5 methods, batch create, changes, watch, 3 metrics reads
		t.Errorf("only %d operations in the document", n)
	}
}
