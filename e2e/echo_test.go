package e2e

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestEchoedValuesAreBounded sends client values of 600 KiB (a dimension
// name, an entity id, a path, a query parameter name, a Content-Type)
// wherever the stack echoes them: each answer is short, and no process of
// the stack writes a log line of more than a few KiB. A 600 KiB dimension
// used to come back whole in the 400 and in the metrics service's log.
func TestEchoedValuesAreBounded(t *testing.T) {
	s := needShared(t)
	huge := strings.Repeat("z", 600<<10)
	for _, tc := range []struct {
		name, method, path string
		body               any
		header             []string
	}{
		{"dimension", "GET", "/v1/breakdowns/" + huge, nil, nil},
		{"entity id", "GET", "/v1/entities/" + huge, nil, nil},
		{"group name", "GET", "/v1/groups/" + huge + "/stats", nil, nil},
		{"route", "GET", "/v1/" + huge, nil, nil},
		{"query parameter name", "GET", "/v1/summary?" + url.QueryEscape(huge) + "=1", nil, nil},
		{"filter", "GET", "/v1/entities?filter=" + url.QueryEscape(`region = "`+huge+`"`), nil, nil},
		{"content type", "POST", "/v1/entities", `{"displayName":"x","kind":"ENTITY_KIND_OTHER"}`, []string{"Content-Type", "application/" + huge}},
		{"entity id on create", "POST", "/v1/entities?entityId=" + huge, `{"displayName":"x","kind":"ENTITY_KIND_OTHER"}`, nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := send(ctx, tc.method, s.url+tc.path, tc.body, tc.header...)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Status < 400 || r.Status >= 500 || len(r.Body) > 8<<10 {
			t.Errorf("%s: %d with a body of %d bytes, want a 4xx of a few KiB at most", tc.name, r.Status, len(r.Body))
		}
	}
	for _, p := range append([]*proc{s.registry, s.gateway}, s.metrics...) {
		f, err := os.Open(p.logPath)
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReaderSize(f, 64<<10)
		for n := 1; ; n++ {
			line, err := rd.ReadString('\n')
			if len(line) > 8<<10 {
				t.Errorf("%s log line %d is %d bytes: %.200s…", p.name, n, len(line), line)
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
}
