package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"talentreg/gateway/openapi"
)

// routeTemplate is one path of the OpenAPI document, split into segments
// ("{x}" matches any one segment), with its methods.
type routeTemplate struct {
	segments []string
	methods  []string
}

// routeTemplates parses the embedded OpenAPI document once: it lists every
// API route, so it answers "which methods does this path take?" for the
// Allow header of a 405 without a second copy of the route table.
var routeTemplates = sync.OnceValue(func() []routeTemplate {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		panic("gateway: embedded OpenAPI document: " + err.Error()) // generated and tested; cannot happen
	}
	var out []routeTemplate
	for path, ops := range doc.Paths {
		rt := routeTemplate{segments: strings.Split(strings.Trim(path, "/"), "/")}
		for m := range ops {
			if m != "parameters" {
				rt.methods = append(rt.methods, strings.ToUpper(m))
			}
		}
		out = append(out, rt)
	}
	return out
})

// allowedMethods returns the methods the API routes take at path, sorted,
// with HEAD wherever GET is served (see ServeHTTP); nil when no route has
// the path.
func allowedMethods(path string) []string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var out []string
	for _, rt := range routeTemplates() {
		if matchSegments(rt.segments, segs) {
			out = append(out, rt.methods...)
		}
	}
	if slices.Contains(out, http.MethodGet) && !streamingPath(path) {
		out = append(out, http.MethodHead)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func matchSegments(tmpl, segs []string) bool {
	if len(tmpl) != len(segs) {
		return false
	}
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if t != segs[i] {
			return false
		}
	}
	return true
}

// headWriter answers HEAD: the headers of the GET, without its body.
type headWriter struct{ http.ResponseWriter }

// Write implements http.ResponseWriter, discarding the body.
func (h headWriter) Write(b []byte) (int, error) { return len(b), nil }
