package gateway

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Full gRPC names of the methods with a fast path.
const (
	methodGetEntity  = "/talentreg.registry.v1.RegistryService/GetEntity"
	methodGetSummary = "/talentreg.metrics.v1.MetricsService/GetSummary"
)

// The fast paths answer the hottest routes, GET /v1/entities/{id} and GET
// /v1/summary, without the generic grpc-gateway machinery (pattern
// matching, header annotation, query binding, response forwarding, a
// reflective JSON marshal), which costs about as much CPU as the gRPC
// call itself. They handle only the plain form of a request, which they
// answer exactly as the generated handler would
// (TestGateway_FastPathMatchesGeneric and
// TestGateway_SummaryFastPathMatchesGeneric against fakes,
// TestGateway_FastPathMatchesGeneric_RealRegistry against the registry
// itself); anything else (a query string, escaped path, a body, gRPC
// timeout, forwarded-host or TE header) returns false and takes the
// generic route.

// plainGet reports whether r is a GET the fast paths may answer: no query,
// no escaped path, no body, and none of the headers the generic handler
// interprets beyond those forwardMetadata copies. (X-Forwarded-For is
// already gone: ServeHTTP drops the client's.)
func plainGet(r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.RawQuery != "" || r.URL.RawPath != "" || r.ContentLength != 0 {
		return false
	}
	h := r.Header
	return len(h["Grpc-Timeout"]) == 0 && len(h["X-Forwarded-For"]) == 0 && len(h["X-Forwarded-Host"]) == 0 && len(h["Te"]) == 0
}

// forwardMetadata is the metadata the generic path sends for r:
// authorization (ServeHTTP has refused values metadata cannot carry), the
// request id, the user agent, x-forwarded-host and x-forwarded-for.
func forwardMetadata(r *http.Request) metadata.MD {
	h := r.Header
	md := make(metadata.MD, 5)
	md[mdRequestID] = h[HeaderRequestID]
	if auth := h["Authorization"]; len(auth) > 0 {
		md["authorization"] = auth
	}
	if ua := h["User-Agent"]; len(ua) > 0 && validMetadataValue(ua[0]) {
		md[mdUserAgent] = ua[:1]
	}
	if r.Host != "" && validMetadataValue(r.Host) {
		md["x-forwarded-host"] = []string{r.Host}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && validMetadataValue(ip) {
		md["x-forwarded-for"] = []string{ip}
	}
	return md
}

// serveFast answers r through a fast path, calling the backend with ctx
// (r's context, or ServeHTTP's derived from it), and reports true, or
// reports false having written nothing.
func (g *Gateway) serveFast(w *recorder, r *http.Request, ctx context.Context) bool {
	if !plainGet(r) {
		return false
	}
	const entities = "/v1/entities/"
	switch p := r.URL.Path; {
	case p == "/v1/summary":
		g.serveGetSummary(w, r, ctx)
		return true
	case len(p) > len(entities) && p[:len(entities)] == entities &&
		strings.IndexByte(p[len(entities):], '/') < 0 && strings.IndexByte(p[len(entities):], ':') < 0:
		g.serveGetEntity(w, r, ctx, p[len("/v1/"):])
		return true
	}
	return false
}

// serveGetEntity answers GET /v1/entities/{id} (name is "entities/{id}"),
// reading the registry's answer in place (entityScratch).
func (g *Gateway) serveGetEntity(w *recorder, r *http.Request, ctx context.Context, name string) {
	ctx = metadata.NewOutgoingContext(ctx, forwardMetadata(r))
	w.route = methodGetEntity
	s := getEntityScratch()
	defer putEntityScratch(s)
	err := g.registry.Invoke(ctx, methodGetEntity, &registryv1.GetEntityRequest{Name: name}, &s.wire, wireCall...)
	if err != nil {
		writeError(w, g.marsh, classifyCall(ctx, methodGetEntity, r, err, g.cfg.MaxBodyBytes), nil)
		return
	}
	e := s.decode()
	if e == nil {
		resp := new(registryv1.GetEntityResponse)
		if err := proto.Unmarshal(s.wire.b, resp); err != nil {
			// What gRPC's own codec answers for a message it cannot decode.
			err = status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
			writeError(w, g.marsh, classifyCall(ctx, methodGetEntity, r, err, g.cfg.MaxBodyBytes), nil)
			return
		}
		e = resp.GetEntity()
	}
	g.writeJSON(w, r, ctx, methodGetEntity, nil, e, func(b []byte) ([]byte, bool) {
		return appendEntityJSON(b, e)
	})
}

// serveGetSummary answers GET /v1/summary: the metrics read with the
// connection's monotonic floor (replicaSet), its X-Revision, and the floor
// raised to it, as the generic path does with raiseConnFloor.
func (g *Gateway) serveGetSummary(w *recorder, r *http.Request, ctx context.Context) {
	ctx = metadata.NewOutgoingContext(ctx, forwardMetadata(r))
	w.route = methodGetSummary
	var header metadata.MD
	resp, err := g.metrics.GetSummary(ctx, &metricsv1.GetSummaryRequest{}, grpc.Header(&header))
	if err != nil {
		writeError(w, g.marsh, classifyCall(ctx, methodGetSummary, r, err, g.cfg.MaxBodyBytes), header)
		return
	}
	if revs := header[mdRevision]; len(revs) > 0 {
		w.Header()[HeaderRevision] = revs
		raiseFloorTo(connStateFrom(ctx), revs)
	}
	g.writeJSON(w, r, ctx, methodGetSummary, header, resp, func(b []byte) ([]byte, bool) {
		return appendSummaryJSON(b, resp)
	})
}

// writeJSON writes msg as JSON with its append encoder, or with the
// gateway's marshaler when the encoder declines, from a pooled buffer.
func (g *Gateway) writeJSON(w *recorder, r *http.Request, ctx context.Context, method string, header metadata.MD, msg proto.Message, encode func([]byte) ([]byte, bool)) {
	bp := getBuf()
	defer putBuf(bp)
	buf, ok := encode((*bp)[:0])
	*bp = buf
	if !ok {
		var err error
		if buf, err = g.marsh.Marshal(msg); err != nil {
			writeError(w, g.marsh, classifyCall(ctx, method, r, err, g.cfg.MaxBodyBytes), header)
			return
		}
	}
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(buf)
}

// bufPool holds answer buffers of the fast paths: the ResponseWriter
// copies what it is given, so a buffer is free again once Write returns.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns a buffer to the pool, unless an unusual answer grew it.
func putBuf(b *[]byte) {
	if cap(*b) <= 16<<10 {
		bufPool.Put(b)
	}
}

// validMetadataValue accepts what gRPC allows in an ASCII metadata value,
// as grpc-gateway checks before forwarding a header.
func validMetadataValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
