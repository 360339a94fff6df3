package gateway

import (
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// methodGetEntity is the full gRPC name of RegistryService.GetEntity.
const methodGetEntity = "/talentreg.registry.v1.RegistryService/GetEntity"

// serveGetEntity answers the hottest route, GET /v1/entities/{id}, without
// the generic grpc-gateway machinery (pattern matching, header annotation,
// query binding, response forwarding), which costs about as much CPU as the
// gRPC call itself. It handles only the plain form of the request, which it
// answers exactly as the generated handler would
// (TestGateway_FastPathMatchesGeneric against a fake,
// TestGateway_FastPathMatchesGeneric_RealRegistry against the registry
// itself); anything else (a query string, escaped path, gRPC timeout or
// forwarded-for header) returns false and takes the generic route.
func (g *Gateway) serveGetEntity(w *recorder, r *http.Request) bool {
	const prefix = "/v1/entities/"
	p := r.URL.Path
	if r.Method != http.MethodGet || len(p) <= len(prefix) || p[:len(prefix)] != prefix ||
		r.URL.RawQuery != "" || r.URL.RawPath != "" || strings.IndexByte(p[len(prefix):], '/') >= 0 ||
		strings.IndexByte(p[len(prefix):], ':') >= 0 {
		return false
	}
	h := r.Header
	if len(h["Grpc-Timeout"]) > 0 || len(h["X-Forwarded-For"]) > 0 || len(h["X-Forwarded-Host"]) > 0 {
		return false
	}
	// The metadata the generic path sends: authorization (valid values
	// only), the request id, x-forwarded-host and x-forwarded-for.
	md := metadata.MD{mdRequestID: h[HeaderRequestID]}
	for _, v := range h["Authorization"] {
		if validMetadataValue(v) {
			md["authorization"] = append(md["authorization"], v)
		}
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
	ctx := metadata.NewOutgoingContext(r.Context(), md)
	w.route = methodGetEntity
	resp, err := g.registryClient.GetEntity(ctx, &registryv1.GetEntityRequest{Name: p[len("/v1/"):]})
	if err != nil {
		writeError(w, g.marsh, classifyMethod(methodGetEntity, r, err, g.cfg.MaxBodyBytes), nil)
		return true
	}
	buf, ok := appendEntityJSON(make([]byte, 0, 512), resp.GetEntity())
	if !ok {
		buf, err = g.marsh.Marshal(resp.GetEntity())
	}
	if err != nil {
		writeError(w, g.marsh, classifyMethod(methodGetEntity, r, err, g.cfg.MaxBodyBytes), nil)
		return true
	}
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(buf)
	return true
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
