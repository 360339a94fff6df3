package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// TestGateway_FastPathMatchesGeneric checks that GET /v1/entities/{id}
// answers the same through the fast path as through the generated handler
// (forced by an empty query, "?&", which the fast path leaves to it):
// body, status, headers and the metadata the registry receives.
func TestGateway_FastPathMatchesGeneric(t *testing.T) {
	s, backends, _ := startStack(t, 1, nil)
	hdr := map[string]string{"Authorization": "Bearer abc", "X-Request-Id": "same-id"}
	for _, id := range []string{"tju", "missing", "odd-detail", "UPPER"} {
		fast := do(t, "GET", s.url+"/v1/entities/"+id, nil, hdr)
		fastMD := s.registry.metadata()
		generic := do(t, "GET", s.url+"/v1/entities/"+id+"?&", nil, hdr)
		genericMD := s.registry.metadata()
		if fast.status != generic.status || !sameJSON(fast.body, generic.body) {
			t.Errorf("%s: fast %v, generic %v", id, fast, generic)
		}
		for _, h := range []string{"Content-Type", "X-Request-Id", "X-Revision"} {
			if fast.header.Get(h) != generic.header.Get(h) {
				t.Errorf("%s: header %s fast %q, generic %q", id, h, fast.header.Get(h), generic.header.Get(h))
			}
		}
		// content-type too: the fast path's codec must not name a subtype.
		for _, k := range []string{"authorization", "x-request-id", "x-forwarded-host", "x-forwarded-for", "content-type"} {
			if f, g := fastMD.Get(k), genericMD.Get(k); len(f) != len(g) || (len(f) > 0 && f[0] != g[0]) {
				t.Errorf("%s: metadata %s fast %q, generic %q", id, k, f, g)
			}
		}
		if ct := fastMD.Get("content-type"); len(ct) != 1 || ct[0] != "application/grpc" {
			t.Errorf("%s: content-type %q, want application/grpc", id, ct)
		}
	}
	backends[0].stop()
	fast := do(t, "GET", s.url+"/v1/entities/tju", nil, nil)
	generic := do(t, "GET", s.url+"/v1/entities/tju?&", nil, nil)
	errorBody(t, fast, 503, codes.Unavailable)
	errorBody(t, generic, 503, codes.Unavailable)
}

// TestGateway_SummaryFastPathMatchesGeneric checks that GET /v1/summary
// answers the same through the fast path as through the generated handler
// (forced by "?&"): body, status, headers and the metadata the metrics
// replica receives; and that a revision the fast path answered with holds
// later reads on the connection as the generic path's does.
func TestGateway_SummaryFastPathMatchesGeneric(t *testing.T) {
	s, backends, fms := startStack(t, 1, nil)
	fms[0].setByKind(map[string]int64{"ENTITY_KIND_UNIVERSITY": 3, "ENTITY_KIND_ENTERPRISE": 5, "ENTITY_KIND_INCUBATOR": 0})
	fms[0].revision.Store(7)
	hdr := map[string]string{"Authorization": "Bearer abc", "X-Request-Id": "same-id", "User-Agent": "parity/1"}
	fast := do(t, "GET", s.url+"/v1/summary", nil, hdr)
	fastMD := fms[0].metadata()
	generic := do(t, "GET", s.url+"/v1/summary?&", nil, hdr)
	genericMD := fms[0].metadata()
	if fast.status != 200 || fast.status != generic.status || !sameJSON(fast.body, generic.body) {
		t.Errorf("fast %v, generic %v", fast, generic)
	}
	for _, h := range []string{"Content-Type", "X-Request-Id", "X-Revision", "X-Content-Type-Options"} {
		if fast.header.Get(h) != generic.header.Get(h) || fast.header.Get(h) == "" {
			t.Errorf("header %s fast %q, generic %q", h, fast.header.Get(h), generic.header.Get(h))
		}
	}
	if len(fastMD) != len(genericMD) {
		t.Errorf("metadata fast %v, generic %v", fastMD, genericMD)
	}
	for k, g := range genericMD {
		if k == "user-agent" {
			continue // gRPC's own, the same library
		}
		if f := fastMD.Get(k); len(f) != len(g) || (len(f) > 0 && f[0] != g[0]) {
			t.Errorf("metadata %s fast %q, generic %q", k, f, g)
		}
	}

	// The revision a fast answer gave holds later reads on the connection:
	// with the replica back at 3, a read must not answer from it.
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	if rev, _ := summaryRevision(t, c, s.url); rev != 7 {
		t.Fatalf("first read at %d, want 7", rev)
	}
	fms[0].revision.Store(3)
	ctxReq, err := http.NewRequest("GET", s.url+"/v1/summary", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctxReq.Header.Set("Grpc-Timeout", "200m") // generic path, bounded wait
	resp, err := c.Do(ctxReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("read after the replica went back: %d, want 504 (the connection has seen 7)", resp.StatusCode)
	}

	backends[1].stop()
	errorBody(t, do(t, "GET", s.url+"/v1/summary", nil, nil), 503, codes.Unavailable)
	errorBody(t, do(t, "GET", s.url+"/v1/summary?&", nil, nil), 503, codes.Unavailable)
}

// BenchmarkGateway_GetEntity measures the gateway's handler for GET
// /v1/entities/{id} against an in-process fake registry over loopback gRPC
// (the fake's cost included): the fast path and the generic one.
//
// "stock" is grpc-gateway with default options in front of the same fake,
// the baseline of the benchmark harness's floor; allocations per request
// are the steadiest figure to compare on a busy machine.
func BenchmarkGateway_GetEntity(b *testing.B) {
	s, backends, _ := startStack(b, 1, nil)
	conn, err := grpc.NewClient(backends[0].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stock := runtime.NewServeMux()
	if err := registryv1.RegisterRegistryServiceHandlerClient(context.Background(), stock, registryv1.NewRegistryServiceClient(conn)); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, url string
		h         http.Handler
	}{
		{"fast", "/v1/entities/tju", s.gw},
		{"generic", "/v1/entities/tju?&", s.gw},
		{"stock", "/v1/entities/tju", stock},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.url, nil)
			req.RemoteAddr = "127.0.0.1:1234"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				req.Header = http.Header{}
				bc.h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
