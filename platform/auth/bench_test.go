package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"talentreg/platform/devcerts"
)

// BenchmarkAuthenticate measures what authentication adds to every call,
// by credential: a JWT answered from the verified-token cache (the steady
// state of a client that reuses its token), a JWT verified in full (the
// first call with a token, and once a cache TTL after), a static token, a
// client certificate, and authentication off for reference. The harness's
// auth-on cases (bench/, grpc-get/talentreg-jwt and -mtls) measure the
// same paths end to end, with TLS.
func BenchmarkAuthenticate(b *testing.B) {
	key := newECKey(b, "k1")
	tok := NewToken()
	a, _ := testAuth(b, `certificates:
  - principal: spiffe://talentreg/bench
    roles: [viewer]
`, jwks(b, key), TokenLine(tok, "script", []string{RoleViewer}))
	jwtTok := sign(b, key, nil)
	uncached, _ := testAuth(b, "tokenCacheTTL: 0s\n", jwks(b, key))
	off, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}

	ca, err := devcerts.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := ca.Issue("bench")
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(leaf.DER)
	if err != nil {
		b.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}
	mtls := peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert, ca.Cert}}},
	}})
	// The metadata grpc-go's server hands a call from grpc-go's client.
	call := func(ctx context.Context, authorization string) context.Context {
		md := metadata.MD{":authority": {"127.0.0.1:9090"}, "user-agent": {"grpc-go/1.85.0"}}
		if authorization != "" {
			md["authorization"] = []string{authorization}
		}
		return metadata.NewIncomingContext(ctx, md)
	}
	direct := peer.NewContext(context.Background(), &peer.Peer{Addr: addr})
	mtls = call(mtls, "")

	for _, bc := range []struct {
		name   string
		a      *Authenticator
		ctx    context.Context
		method Method
	}{
		{"jwt-cached", a, call(direct, "Bearer "+jwtTok), MethodJWT},
		{"jwt-uncached", uncached, call(direct, "Bearer "+jwtTok), MethodJWT},
		{"static-token", a, call(direct, "Bearer "+tok), MethodStaticToken},
		{"mtls", a, mtls, MethodMTLS},
		{"off", off, call(direct, ""), MethodNone},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := bc.a.Authenticate(bc.ctx)
			if err != nil || p.Method != bc.method || !p.Can("talentreg.entities.get") {
				b.Fatalf("principal %+v, %v: want %v with talentreg.entities.get", p, err, bc.method)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := bc.a.Authenticate(bc.ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAuthenticate_AllocationsDoNotGrowWithMetadata: authenticating a call
// reads the few keys it needs and does not copy the call's metadata, so a
// call carrying many headers (through the gateway: forwarded ones) costs
// no more allocations than one carrying few.
func TestAuthenticate_AllocationsDoNotGrowWithMetadata(t *testing.T) {
	key := newECKey(t, "k1")
	a, _ := testAuth(t, "", jwks(t, key))
	tok := "Bearer " + sign(t, key, nil)
	direct := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}})
	allocs := func(extra int) float64 {
		md := metadata.Pairs(":authority", "127.0.0.1:9090", "user-agent", "grpc-go/1.85.0", "authorization", tok)
		for i := range extra {
			md.Append("x-extra-"+string(rune('a'+i)), "value")
		}
		ctx := metadata.NewIncomingContext(direct, md)
		if _, err := a.Authenticate(ctx); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() {
			if _, err := a.Authenticate(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	few, many := allocs(0), allocs(20)
	if many > few {
		t.Fatalf("allocations per call: %.0f with 3 metadata keys, %.0f with 23: the metadata is copied", few, many)
	}
}
