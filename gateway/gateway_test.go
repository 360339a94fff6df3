package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/gateway"
	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/admin"
	"talentreg/platform/freeport"
)

func TestGateway_ResponseJSON(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "GET", s.url+"/v1/entities/tju", nil, nil)
	if r.status != 200 {
		t.Fatalf("GET entity: %v", r)
	}
	m := r.json(t)
	// The resource itself (response_body), lowerCamelCase, enum names,
	// unpopulated fields present.
	for key, want := range map[string]any{
		"name": "entities/tju", "displayName": "Tianjin University", "kind": "ENTITY_KIND_UNIVERSITY",
		"creditCode": "", "leadingEnterprise": false, "industries": []any{}, "createTime": nil,
	} {
		got, ok := m[key]
		if !ok {
			t.Errorf("field %q missing from %s", key, r.body)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if _, ok := m["display_name"]; ok {
		t.Errorf("proto field names used: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestGateway_Int64AsString(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "GET", s.url+"/v1/summary", nil, nil)
	if r.status != 200 {
		t.Fatalf("GET summary: %v", r)
	}
	if m := r.json(t); m["revision"] != "1" || m["entities"] != "0" {
		t.Errorf("int64 figures not JSON strings (or unpopulated ones missing): %s", r.body)
	}
}

func TestGateway_RevisionHeader(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	body := `{"displayName":"Acme","kind":"ENTITY_KIND_ENTERPRISE"}`
	r := do(t, "POST", s.url+"/v1/entities?entityId=acme", strings.NewReader(body), nil)
	if r.status != 200 {
		t.Fatalf("POST: %v", r)
	}
	if got := r.header.Values(gateway.HeaderRevision); len(got) != 1 || got[0] != "1" {
		t.Errorf("X-Revision = %q, want [1]", got)
	}
	for k := range r.header {
		if strings.HasPrefix(k, "Grpc-Metadata-") {
			t.Errorf("backend metadata leaked as %s", k)
		}
	}
	if m := r.json(t); m["name"] != "entities/acme" || m["etag"] != "e1" {
		t.Errorf("body is not the created entity: %s", r.body)
	}
}

func TestGateway_ForwardsAuthorizationAndRequestID(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "GET", s.url+"/v1/entities/a", nil, map[string]string{
		"Authorization": "Bearer t0ken", "X-Request-Id": "req-123", "Grpc-Metadata-Evil": "1", "X-Other": "x",
	})
	if r.status != 200 {
		t.Fatal(r)
	}
	if got := r.header.Get(gateway.HeaderRequestID); got != "req-123" {
		t.Errorf("X-Request-Id echoed as %q, want req-123", got)
	}
	md := s.registry.metadata()
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer t0ken" {
		t.Errorf("authorization metadata = %q", got)
	}
	if got := md.Get("x-request-id"); len(got) != 1 || got[0] != "req-123" {
		t.Errorf("x-request-id metadata = %q", got)
	}
	for _, k := range []string{"evil", "x-other", "grpc-metadata-evil"} {
		if v := md.Get(k); len(v) > 0 {
			t.Errorf("header forwarded as metadata %s=%q", k, v)
		}
	}

	t.Run("generated when absent", func(t *testing.T) {
		r1 := do(t, "GET", s.url+"/v1/entities/a", nil, nil)
		id1 := r1.header.Get(gateway.HeaderRequestID)
		if got := s.registry.metadata().Get("x-request-id"); len(got) != 1 || got[0] != id1 || id1 == "" {
			t.Errorf("generated id %q, backend saw %q", id1, got)
		}
		r2 := do(t, "GET", s.url+"/v1/entities/a", nil, nil)
		if id2 := r2.header.Get(gateway.HeaderRequestID); id2 == id1 {
			t.Errorf("two requests got the same id %q", id1)
		}
	})
	t.Run("replaced when unusable", func(t *testing.T) {
		r := do(t, "GET", s.url+"/v1/entities/a", nil, map[string]string{"X-Request-Id": strings.Repeat("x", 200)})
		if got := r.header.Get(gateway.HeaderRequestID); got == "" || len(got) > 128 {
			t.Errorf("overlong request id echoed as %q", got)
		}
	})
	t.Run("replaced when repeated", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.url+"/v1/entities/a", nil)
		req.Header.Add("X-Request-Id", "one")
		req.Header.Add("X-Request-Id", "two")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Values(gateway.HeaderRequestID)
		if len(got) != 1 || got[0] == "one" || got[0] == "two" {
			t.Errorf("echoed %q, want one generated id", got)
		}
		if md := s.registry.metadata().Get("x-request-id"); len(md) != 1 || md[0] != got[0] {
			t.Errorf("backend saw %q", md)
		}
	})
	t.Run("non-ASCII authorization is no 5xx", func(t *testing.T) {
		r := do(t, "GET", s.url+"/v1/entities/a", nil, map[string]string{"Authorization": "Bearer \xe9t\xe9"})
		if r.status >= 500 {
			t.Errorf("got %v", r)
		}
	})
}

// TestGateway_Errors drives every kind of error through the gateway: the
// HTTP status, the gRPC code, a message naming the cause, a google.rpc.ErrorInfo
// of domain talentreg with the given reason (the backend's own when it sent
// one, the gateway's when it made the error), and for INVALID_ARGUMENT a
// google.rpc.BadRequest naming the field when the field is known.
func TestGateway_Errors(t *testing.T) {
	s, _, _ := startStack(t, 1, func(c *gateway.Config) { c.MaxBodyBytes = 1024 })
	entity := s.url + "/v1/entities?entityId=x"
	for _, tc := range []struct {
		name       string
		method     string
		url        string
		body       string
		httpStatus int
		code       codes.Code
		inMessage  string
		reason     string
		field      string // the BadRequest field violation, "" for none
	}{
		{"backend error keeps its code and details", "GET", s.url + "/v1/entities/missing", "", 404, codes.NotFound, "not found", "NOT_FOUND", ""},
		{"validation error", "POST", entity, `{"kind":"ENTITY_KIND_ENTERPRISE"}`, 400, codes.InvalidArgument, "display_name", "INVALID_FIELD", "entity.display_name"},
		{"unknown field named", "POST", entity, `{"displayName":"A","kind":"ENTITY_KIND_ENTERPRISE","colour":"red"}`, 400, codes.InvalidArgument, "colour", gateway.ReasonUnknownField, "colour"},
		{"unknown nested field named", "POST", s.url + "/v1/entities:batchCreate", `{"requests":[{"entityId":"a","entity":{"displayName":"x","hue":2}}]}`, 400, codes.InvalidArgument, "hue", gateway.ReasonUnknownField, "hue"},
		{"unknown enum", "POST", entity, `{"displayName":"A","kind":"ENTITY_KIND_SPACESHIP"}`, 400, codes.InvalidArgument, "ENTITY_KIND_SPACESHIP", gateway.ReasonInvalidField, "kind"},
		{"wrong type", "POST", entity, `{"displayName":5}`, 400, codes.InvalidArgument, "displayName", gateway.ReasonInvalidField, "displayName"},
		{"malformed JSON", "POST", entity, `{"displayName":`, 400, codes.InvalidArgument, "", gateway.ReasonInvalidJSON, ""},
		{"not JSON", "POST", entity, `<entity/>`, 400, codes.InvalidArgument, "", gateway.ReasonInvalidJSON, ""},
		{"not an object", "POST", entity, `[1,2]`, 400, codes.InvalidArgument, "", gateway.ReasonInvalidJSON, ""},
		{"lone surrogate", "POST", entity, `{"displayName":"\ud800"}`, 400, codes.InvalidArgument, "surrogate", gateway.ReasonInvalidField, "displayName"},
		{"lone surrogate before another field", "POST", entity, `{"displayName":"ab\ud83d","kind":"ENTITY_KIND_OTHER"}`, 400, codes.InvalidArgument, `\ud83d is half`, gateway.ReasonInvalidField, "displayName"},
		{"lone low surrogate in a list", "POST", entity, `{"displayName":"\ud83d\ude00","industries":["x", "\udc00"]}`, 400, codes.InvalidArgument, "line 1:51", gateway.ReasonInvalidField, "industries"},
		{"invalid UTF-8 in body", "POST", entity, "{\"displayName\":\"\xff\"}", 400, codes.InvalidArgument, "UTF-8", gateway.ReasonInvalidJSON, ""},
		{"bad query type", "GET", s.url + "/v1/summary?minRevision=abc", "", 400, codes.InvalidArgument, "", gateway.ReasonInvalidQueryParameter, "minRevision"},
		{"bad query type among good ones", "GET", s.url + "/v1/entities?filter=x&pageSize=1.5&pageToken=t", "", 400, codes.InvalidArgument, "", gateway.ReasonInvalidQueryParameter, "pageSize"},
		{"query parameter in proto spelling", "GET", s.url + "/v1/summary?min_revision=-", "", 400, codes.InvalidArgument, "", gateway.ReasonInvalidQueryParameter, "min_revision"},
		{"bad query type on a mutation", "DELETE", s.url + "/v1/entities/a?etag=e1&force=maybe", "", 400, codes.InvalidArgument, "", gateway.ReasonInvalidQueryParameter, "force"},
		{"bad escape in a query value", "GET", s.url + "/v1/entities?filter=%zz", "", 400, codes.InvalidArgument, "escape", gateway.ReasonInvalidQueryParameter, "filter"},
		{"bad escape in a query name", "GET", s.url + "/v1/entities?%zz=1", "", 400, codes.InvalidArgument, "escape", gateway.ReasonInvalidQueryParameter, ""},
		{"invalid UTF-8 in path", "GET", s.url + "/v1/entities/%FF", "", 400, codes.InvalidArgument, "UTF-8", gateway.ReasonInvalidEncoding, ""},
		{"invalid UTF-8 in query", "GET", s.url + "/v1/entities?filter=%FF", "", 400, codes.InvalidArgument, "UTF-8", gateway.ReasonInvalidEncoding, ""},
		{"unknown route", "GET", s.url + "/v1/nothing", "", 404, codes.NotFound, "no route", gateway.ReasonNoRoute, ""},
		{"unknown route outside v1", "GET", s.url + "/", "", 404, codes.NotFound, "no route", gateway.ReasonNoRoute, ""},
		{"removed import route", "POST", s.url + "/v1:import", "{}", 404, codes.NotFound, "no route", gateway.ReasonNoRoute, ""},
		{"removed snapshot route", "GET", s.url + "/v1/snapshot", "", 404, codes.NotFound, "no route", gateway.ReasonNoRoute, ""},
		{"wrong method", "PUT", s.url + "/v1/entities/a", "{}", 405, codes.Unimplemented, "PUT", gateway.ReasonMethodNotAllowed, ""},
		{"wrong method on a collection", "DELETE", s.url + "/v1/entities", "", 405, codes.Unimplemented, "DELETE", gateway.ReasonMethodNotAllowed, ""},
		{"wrong method on healthz", "POST", s.url + "/healthz", "", 405, codes.Unimplemented, "POST", gateway.ReasonMethodNotAllowed, ""},
		{"oversize body", "POST", entity, `{"displayName":"` + strings.Repeat("a", 2000) + `"}`, 413, codes.InvalidArgument, "1024 bytes", gateway.ReasonBodyTooLarge, ""},
		{"oversize PATCH body", "PATCH", s.url + "/v1/entities/a", `{"displayName":"` + strings.Repeat("a", 2000) + `"}`, 413, codes.InvalidArgument, "limit", gateway.ReasonBodyTooLarge, ""},
		{"bad grpc-timeout", "GET", s.url + "/v1/entities/a", "", 400, codes.InvalidArgument, "grpc-timeout", gateway.ReasonInvalidHeader, ""},
		{"unimplemented backend method", "GET", s.url + "/v1/breakdowns/region", "", 501, codes.Unimplemented, "GetBreakdown", "UNIMPLEMENTED", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			h := map[string]string{}
			if tc.name == "bad grpc-timeout" {
				h["Grpc-Timeout"] = "soon"
			}
			r := do(t, tc.method, tc.url, body, h)
			m := errorBody(t, r, tc.httpStatus, tc.code)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tc.inMessage) {
				t.Errorf("message %q does not mention %q", msg, tc.inMessage)
			}
			if info := detail(m, "google.rpc.ErrorInfo"); info == nil || info["reason"] != tc.reason {
				t.Errorf("ErrorInfo %v, want reason %s: %s", info, tc.reason, r.body)
			}
			var want []string
			if tc.field != "" {
				want = []string{tc.field}
			}
			if got := violatedFields(m); !slices.Equal(got, want) {
				t.Errorf("BadRequest fields %q, want %q: %s", got, want, r.body)
			}
		})
	}

	t.Run("details rendered", func(t *testing.T) {
		r := do(t, "POST", entity, strings.NewReader(`{"kind":"ENTITY_KIND_ENTERPRISE"}`), nil)
		m := errorBody(t, r, 400, codes.InvalidArgument)
		details := m["details"].([]any)
		if len(details) != 2 {
			t.Fatalf("details = %s, want ErrorInfo and BadRequest", r.body)
		}
		info := details[0].(map[string]any)
		if info["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" || info["domain"] != "talentreg" || info["reason"] != "INVALID_FIELD" {
			t.Errorf("ErrorInfo detail = %v", info)
		}
		if br := details[1].(map[string]any); br["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
			t.Errorf("BadRequest detail = %v", br)
		}
	})
	t.Run("unknown detail type dropped, not a 500", func(t *testing.T) {
		r := do(t, "GET", s.url+"/v1/entities/odd-detail", nil, nil)
		m := errorBody(t, r, 400, codes.InvalidArgument)
		if ds := m["details"].([]any); len(ds) != 1 {
			t.Errorf("details = %s, want only the ErrorInfo the gateway added", r.body)
		}
	})
	t.Run("oversize body without Content-Length", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(`{"displayName":"` + strings.Repeat("a", 4000) + `"}`))
			_ = pw.Close()
		}()
		r := do(t, "POST", entity, pr, nil) // a pipe: chunked, no length
		errorBody(t, r, 413, codes.InvalidArgument)
	})
	t.Run("body at the limit accepted", func(t *testing.T) {
		pad := 1024 - len(`{"displayName":"","kind":"ENTITY_KIND_ENTERPRISE"}`)
		b := `{"displayName":"` + strings.Repeat("a", pad) + `","kind":"ENTITY_KIND_ENTERPRISE"}`
		if r := do(t, "POST", entity, strings.NewReader(b), nil); r.status != 200 {
			t.Errorf("%d-byte body: %v", len(b), r)
		}
	})
	t.Run("deadline from grpc-timeout gives 504", func(t *testing.T) {
		r := do(t, "GET", s.url+"/v1/entities/slow", nil, map[string]string{"Grpc-Timeout": "100m"})
		m := errorBody(t, r, 504, codes.DeadlineExceeded)
		if info := detail(m, "google.rpc.ErrorInfo"); info["reason"] != "DEADLINE_EXCEEDED" {
			t.Errorf("ErrorInfo = %v, want DEADLINE_EXCEEDED", info)
		}
	})
}

func TestGateway_UpdateMaskFromBody(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "PATCH", s.url+"/v1/entities/a", strings.NewReader(`{"region":"Beijing","leadingEnterprise":true}`), nil)
	if r.status != 200 {
		t.Fatal(r)
	}
	m := r.json(t)
	if m["displayName"] != "region,leading_enterprise" && m["displayName"] != "leading_enterprise,region" {
		t.Errorf("derived mask = %v, want the body's fields", m["displayName"])
	}
	if m["name"] != "entities/a" {
		t.Errorf("name from the path = %v", m["name"])
	}
	r = do(t, "PATCH", s.url+"/v1/entities/a?updateMask=region", strings.NewReader(`{"region":"Hebei","displayName":"x"}`), nil)
	if m := r.json(t); m["displayName"] != "region" {
		t.Errorf("explicit mask = %v, want region", m["displayName"])
	}
}

func TestGateway_BackendDownIs503ThenRecovers(t *testing.T) {
	addr := freeport.For(t)
	cfg := gateway.DefaultConfig()
	cfg.Registry = addr
	cfg.Metrics = []string{freeport.For(t)}
	cfg.ReconnectMaxDelay = 200 * time.Millisecond
	s := startGateway(t, cfg)

	start := time.Now()
	r := do(t, "GET", s.url+"/v1/entities/a", nil, nil)
	m := errorBody(t, r, 503, codes.Unavailable)
	if msg := m["message"].(string); !strings.HasPrefix(msg, "registry unavailable") {
		t.Errorf("message %q does not name the registry", msg)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("503 took %v: connection errors must surface quickly", d)
	}
	r = do(t, "GET", s.url+"/v1/summary", nil, nil)
	if m := errorBody(t, r, 503, codes.Unavailable); !strings.HasPrefix(m["message"].(string), "metrics unavailable") {
		t.Errorf("message %q does not name metrics", m["message"])
	}
	if r := do(t, "GET", s.url+"/readyz", nil, nil); r.status != 503 {
		t.Errorf("/readyz with backends down: %v", r)
	}
	if r := do(t, "GET", s.url+"/healthz", nil, nil); r.status != 200 {
		t.Errorf("/healthz with backends down: %v", r)
	}

	fr := &fakeRegistry{}
	startBackend(t, addr, func(s *grpc.Server) { registryv1.RegisterRegistryServiceServer(s, fr) })
	eventually(t, 10*time.Second, func() error {
		if r := do(t, "GET", s.url+"/v1/entities/a", nil, nil); r.status != 200 {
			return fmt.Errorf("after the registry came back: %v", r)
		}
		return nil
	})
}

func TestGateway_Readyz(t *testing.T) {
	s, backends, _ := startStack(t, 2, nil)
	get := func() (int, gateway.Readiness) {
		r := do(t, "GET", s.url+"/readyz", nil, nil)
		var rd gateway.Readiness
		if err := json.Unmarshal(r.body, &rd); err != nil {
			t.Fatalf("/readyz body %q: %v", r.body, err)
		}
		return r.status, rd
	}
	if code, rd := get(); code != 200 || !rd.Ready || rd.Registry != "SERVING" || rd.Metrics != "SERVING" {
		t.Fatalf("/readyz = %d %+v, want 200 and both SERVING", code, rd)
	}
	backends[0].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if code, rd := get(); code != 503 || rd.Ready || rd.Registry != "NOT_SERVING" {
		t.Errorf("registry NOT_SERVING: /readyz = %d %+v, want 503", code, rd)
	}
	backends[0].health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	// One metrics replica down still leaves the gateway ready.
	backends[1].stop()
	eventually(t, 5*time.Second, func() error {
		if code, rd := get(); code != 200 {
			return fmt.Errorf("one replica of two down: /readyz = %d %+v", code, rd)
		}
		return nil
	})
	backends[2].stop()
	eventually(t, 5*time.Second, func() error {
		if code, rd := get(); code != 503 || rd.Metrics == "SERVING" {
			return fmt.Errorf("all replicas down: /readyz = %d %+v", code, rd)
		}
		return nil
	})
}

func TestGateway_RoundRobin(t *testing.T) {
	s, backends, fms := startStack(t, 2, nil)
	seen := map[string]int{}
	for range 20 {
		r := do(t, "GET", s.url+"/v1/summary", nil, nil)
		if r.status != 200 {
			t.Fatal(r)
		}
		seen[r.json(t)["programs"].(string)]++
	}
	if seen["1"] == 0 || seen["2"] == 0 {
		t.Fatalf("replicas seen %v, want both", seen)
	}

	t.Run("unhealthy replica skipped", func(t *testing.T) {
		backends[1].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		defer backends[1].health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		eventually(t, 5*time.Second, func() error {
			before := fms[0].calls.Load()
			for range 10 {
				if r := do(t, "GET", s.url+"/v1/summary", nil, nil); r.status != 200 {
					return fmt.Errorf("request failed: %v", r)
				}
			}
			if n := fms[0].calls.Load() - before; n != 0 {
				return fmt.Errorf("NOT_SERVING replica still got %d of 10 calls", n)
			}
			return nil
		})
	})

	t.Run("stopping a replica fails no request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					resp, err := http.Get(s.url + "/v1/summary")
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, b))
						continue
					}
					ok.Add(1)
				}
			}()
		}
		eventually(t, 5*time.Second, func() error {
			if ok.Load() < 50 {
				return errors.New("load not started")
			}
			return nil
		})
		backends[1].stop() // abrupt: connections closed mid-call
		before := ok.Load()
		eventually(t, 5*time.Second, func() error {
			if ok.Load() < before+200 {
				return errors.New("too few requests after the stop")
			}
			return nil
		})
		cancel()
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d requests failed while a replica stopped; first: %v", n, n+ok.Load(), firstErr.Load())
		}
	})
}

func TestGateway_StreamOutlivesTimeouts(t *testing.T) {
	s, _, _ := startStack(t, 1, func(c *gateway.Config) {
		c.ReadTimeout = 300 * time.Millisecond
		c.WriteTimeout = 300 * time.Millisecond
	})
	resp, err := http.Get(s.url + "/v1/changes:watch?startRevision=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	n := 0
	for time.Since(start) < time.Second && sc.Scan() {
		var msg struct {
			Result struct {
				Revision string `json:"revision"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil || msg.Result.Revision == "" {
			t.Fatalf("stream line %q: %v", sc.Bytes(), err)
		}
		n++
	}
	if time.Since(start) < time.Second {
		t.Fatalf("stream ended after %v and %d messages (%v): the timeouts cut it", time.Since(start), n, sc.Err())
	}

	t.Run("stream error before the first message", func(t *testing.T) {
		// Streams report errors in-band, as grpc-gateway does: one line
		// {"error":{code,message,details}}; before any message the HTTP
		// status is the error's too.
		r := do(t, "GET", s.url+"/v1/changes:watch?startRevision=-1", nil, nil)
		var line struct {
			Error map[string]any `json:"error"`
		}
		if err := json.Unmarshal(r.body, &line); err != nil || r.status != 400 || line.Error["code"] != float64(codes.OutOfRange) {
			t.Errorf("got %v, want 400 and an OUT_OF_RANGE error line", r)
		}
		if info := detail(line.Error, "google.rpc.ErrorInfo"); info == nil || info["domain"] != gateway.ErrorDomain || info["reason"] != "OUT_OF_RANGE" {
			t.Errorf("stream error line without a talentreg ErrorInfo: %v", r)
		}
	})
}

func TestGateway_ShutdownEndsStreams(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	resp, err := http.Get(s.url + "/v1/changes:watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadBytes('\n'); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.cancel()
	select {
	case err := <-s.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.served <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5 s of shutdown with a stream open")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

func TestGateway_OperationalRoutes(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	if r := do(t, "GET", s.url+"/healthz", nil, nil); r.status != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("/healthz: %v", r)
	}
	do(t, "GET", s.url+"/v1/entities/a", nil, nil)
	do(t, "GET", s.url+"/v1/entities/missing", nil, nil)
	do(t, "GET", s.url+"/v1/nothing", nil, nil)
	rec := httptest.NewRecorder()
	admin.Handler(s.reg, false).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	r := response{status: rec.Code, body: rec.Body.Bytes()}
	for _, want := range []string{
		`talentreg_gateway_http_requests_total{code="200",rpc="GetEntity"} 1`,
		`talentreg_gateway_http_requests_total{code="404",rpc="GetEntity"} 1`,
		`talentreg_gateway_http_requests_total{code="404",rpc="none"} 1`,
		`talentreg_gateway_http_request_duration_seconds_count{rpc="GetEntity"} 2`,
		`talentreg_gateway_http_requests_in_flight 0`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r := do(t, "GET", s.url+"/metrics", nil, nil); r.status != 404 {
		t.Errorf("/metrics on the public port: %v, want 404 (it is served on the admin port)", r)
	}
}

// TestGateway_DeadlineBoundedByWriteTimeout: a client deadline longer than
// the write timeout (or none, on a call that waits) must still get an
// answer — 504 — rather than a connection closed with no response.
func TestGateway_DeadlineBoundedByWriteTimeout(t *testing.T) {
	s, _, _ := startStack(t, 1, func(c *gateway.Config) { c.WriteTimeout = time.Second })
	for _, timeout := range []string{"60S", "10H"} {
		req, err := http.NewRequest("GET", s.url+"/v1/summary?minRevision=999999", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Grpc-Timeout", timeout)
		client := &http.Client{Timeout: 30 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("Grpc-Timeout %s: no answer: %v", timeout, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"code":4`) ||
			!strings.Contains(string(body), "REVISION_NOT_APPLIED") || !strings.Contains(string(body), "revision 999999 not applied") {
			t.Errorf("Grpc-Timeout %s: %d %s, want 504 DEADLINE_EXCEEDED saying revision 999999 was not applied", timeout, resp.StatusCode, body)
		}
	}
}

// TestGateway_AllowAndHead: a 405 says which methods the path takes
// (RFC 9110 requires Allow), and HEAD answers as GET without a body.
func TestGateway_AllowAndHead(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	do := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, s.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/summary", "GET, HEAD"},
		{"PUT", "/v1/entities/acme", "DELETE, GET, HEAD, PATCH"},
		{"GET", "/v1/entities:batchCreate", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		resp, body := do(tc.method, tc.path)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow || !strings.Contains(string(body), "METHOD_NOT_ALLOWED") {
			t.Errorf("%s %s → %d Allow %q %s, want 405 Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body, tc.allow)
		}
	}
	resp, body := do("HEAD", "/v1/summary")
	if resp.StatusCode != http.StatusOK || len(body) != 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("HEAD /v1/summary → %d %q %q, want 200 with the GET's headers and no body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := do("HEAD", "/v1/changes:watch"); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("HEAD on the watch stream → %d Allow %q, want 405 Allow GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestGateway_UnknownQueryParameter: a parameter naming no field of the
// request is a 400 naming it, not silently ignored; known ones, in proto or
// JSON spelling, still work.
func TestGateway_UnknownQueryParameter(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	for _, q := range []string{"minRev=1", "min_revision.x=1", "bogus=1&minRevision=0"} {
		resp, err := http.Get(s.url + "/v1/summary?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name, _, _ := strings.Cut(q, "=")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "INVALID_QUERY_PARAMETER") ||
			!strings.Contains(string(body), `"field":"`+name+`"`) {
			t.Errorf("?%s → %d %s, want 400 INVALID_QUERY_PARAMETER naming %q", q, resp.StatusCode, body, name)
		}
	}
	for _, q := range []string{"minRevision=0", "min_revision=0"} {
		resp, err := http.Get(s.url + "/v1/summary?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("?%s → %d, want 200", q, resp.StatusCode)
		}
	}
}

// TestGateway_IncompleteBody: a client that sends less than its
// Content-Length and stops gets 408 once the read timeout passes — a
// standard status with a JSON body, not grpc-gateway's 499.
func TestGateway_IncompleteBody(t *testing.T) {
	s, _, _ := startStack(t, 1, func(c *gateway.Config) { c.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/entities?entityId=partial HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\n\r\n{\"displayName\":")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "REQUEST_BODY_INCOMPLETE") {
		t.Fatalf("incomplete body → %d %s, want 408 REQUEST_BODY_INCOMPLETE", resp.StatusCode, body)
	}
}

// TestGateway_QueryOnRoutesWithoutQueryFields: the routes whose request is
// all bound by path and body (single-resource GETs, the batch create) used
// to ignore any query parameter; they refuse one as every other route
// does: 400 INVALID_QUERY_PARAMETER naming it. An empty query is fine.
func TestGateway_QueryOnRoutesWithoutQueryFields(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/entities/tju", ""},
		{"HEAD", "/v1/entities/tju", ""},
		{"GET", "/v1/groups/g", ""},
		{"GET", "/v1/groups/g/memberships/tju", ""},
		{"GET", "/v1/talentRecords/r", ""},
		{"GET", "/v1/programs/p", ""},
		{"POST", "/v1/entities:batchCreate", `{"requests":[]}`},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		r := do(t, tc.method, s.url+tc.path+"?fields=name&view=FULL", body, nil)
		if tc.method == "HEAD" {
			if r.status != http.StatusBadRequest {
				t.Errorf("HEAD %s?fields=… → %d, want 400", tc.path, r.status)
			}
			continue
		}
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "INVALID_QUERY_PARAMETER") || !strings.Contains(string(r.body), `"field":"fields"`) {
			t.Errorf("%s %s?fields=… → %d %s, want 400 INVALID_QUERY_PARAMETER naming fields", tc.method, tc.path, r.status, r.body)
		}
	}
	if r := do(t, "GET", s.url+"/v1/entities/tju?&", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET with an empty query → %d %s, want 200", r.status, r.body)
	}
	// Routes that take query parameters are unchanged.
	if r := do(t, "DELETE", s.url+"/v1/entities/tju?force=true", nil, nil); r.status == http.StatusBadRequest {
		t.Errorf("DELETE ?force=true → %d %s", r.status, r.body)
	}
	// A parameter name of a megabyte is named, shortened.
	long := strings.Repeat("x", 1<<20)
	if r := do(t, "GET", s.url+"/v1/entities/tju?"+long+"=1", nil, nil); r.status != http.StatusBadRequest || len(r.body) > 2048 {
		t.Errorf("a 1 MiB parameter name → %d with a %d-byte body, want 400 with a short one", r.status, len(r.body))
	}
}

// TestGateway_ContentTypeMustBeJSON: a body sent as anything but JSON is
// 415 UNSUPPORTED_MEDIA_TYPE (curl -d sends form encoding by default); JSON
// with or without charset, a +json type and no Content-Type are read.
func TestGateway_ContentTypeMustBeJSON(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	body := `{"displayName":"Acme","kind":"ENTITY_KIND_ENTERPRISE"}`
	for ct, want := range map[string]int{
		"application/x-www-form-urlencoded": 415,
		"text/plain":                        415,
		"application/xml":                   415,
		"application/json; charset=latin1":  415,
		"not a media type;;":                415,
		"application/json":                  200,
		"application/json; charset=UTF-8":   200,
		"application/merge-patch+json":      200,
		"":                                  200,
	} {
		hdr := map[string]string{}
		if ct != "" {
			hdr["Content-Type"] = ct
		}
		r := do(t, "POST", s.url+"/v1/entities?entityId=acme", strings.NewReader(body), hdr)
		if want == 415 {
			errorBody(t, r, 415, codes.InvalidArgument)
			if !strings.Contains(string(r.body), "UNSUPPORTED_MEDIA_TYPE") {
				t.Errorf("Content-Type %q → %s, want UNSUPPORTED_MEDIA_TYPE", ct, r.body)
			}
		} else if r.status == 415 {
			t.Errorf("Content-Type %q → 415 %s", ct, r.body)
		}
	}
	// A GET or DELETE has no body to type.
	if r := do(t, "DELETE", s.url+"/v1/entities/tju", nil, map[string]string{"Content-Type": "text/plain"}); r.status == 415 {
		t.Errorf("DELETE with a Content-Type → 415")
	}
}

// TestGateway_UnforwardableAuthorization: an Authorization header gRPC
// metadata cannot carry (a tab, non-ASCII) is 401 TOKEN_MALFORMED from the
// gateway, not dropped and then refused as no credential at all.
func TestGateway_UnforwardableAuthorization(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	for _, v := range []string{"Bearer\tabc.def.ghi", "Bearer abc.d\u00e9f.ghi"} {
		r := do(t, "GET", s.url+"/v1/entities/tju", nil, map[string]string{"Authorization": v})
		errorBody(t, r, 401, codes.Unauthenticated)
		if !strings.Contains(string(r.body), "TOKEN_MALFORMED") || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q → %s, want TOKEN_MALFORMED and WWW-Authenticate", v, r.body)
		}
	}
}

// TestGateway_ContentEncodingIsRefused: the gateway decodes no content
// coding, so a body labelled gzip (compressed or not) is 415
// UNSUPPORTED_CONTENT_ENCODING with Accept-Encoding: identity; identity
// is plain.
func TestGateway_ContentEncodingIsRefused(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	plain := `{"displayName":"Acme","kind":"ENTITY_KIND_ENTERPRISE"}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(plain))
	zw.Close()
	for i, tc := range []struct {
		encoding, body string
		want           int
	}{
		{"gzip", gz.String(), 415},
		{"gzip", plain, 415}, // a false label is not read as plain
		{"identity, br", plain, 415},
		{"identity", plain, 200},
	} {
		id := fmt.Sprintf("enc-%d", i)
		r := do(t, "POST", s.url+"/v1/entities?entityId="+id, strings.NewReader(tc.body),
			map[string]string{"Content-Type": "application/json", "Content-Encoding": tc.encoding})
		if tc.want == 200 {
			if r.status != 200 {
				t.Errorf("Content-Encoding %q → %d %s, want 200", tc.encoding, r.status, r.body)
			}
			continue
		}
		errorBody(t, r, 415, codes.InvalidArgument)
		if !strings.Contains(string(r.body), "UNSUPPORTED_CONTENT_ENCODING") || r.header.Get("Accept-Encoding") != "identity" {
			t.Errorf("Content-Encoding %q → %s (Accept-Encoding %q), want UNSUPPORTED_CONTENT_ENCODING and identity", tc.encoding, r.body, r.header.Get("Accept-Encoding"))
		}
	}
}

// TestGateway_BoundsEchoedValues: an error that echoes a megabyte-long
// client value — in the backend's message, its ErrorInfo metadata, its
// BadRequest — reaches the client shortened; so do the gateway's own
// messages quoting a path or method.
func TestGateway_BoundsEchoedValues(t *testing.T) {
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "GET", s.url+"/v1/entities/echo-huge?&", nil, nil) // the generic path
	errorBody(t, r, 400, codes.InvalidArgument)
	if len(r.body) > 8<<10 || !strings.Contains(string(r.body), "(1048576 bytes)") {
		t.Errorf("backend echo → %d-byte body: %.300s", len(r.body), r.body)
	}
	r = do(t, "GET", s.url+"/v1/entities/echo-huge", nil, nil) // the fast path
	if len(r.body) > 8<<10 {
		t.Errorf("backend echo through the fast path → %d-byte body", len(r.body))
	}
	r = do(t, "GET", s.url+"/v1/"+strings.Repeat("p", 600<<10), nil, nil)
	if r.status != 404 || len(r.body) > 8<<10 {
		t.Errorf("a 600 KiB route → %d with a %d-byte body", r.status, len(r.body))
	}
}
