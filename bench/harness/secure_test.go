package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"talentreg/platform/auth"
)

// TestAuthStackCredentials_AreAcceptedByTheDevConfig: the credentials the
// auth-on cases use — a JWT from the dev issuer and a client certificate
// from the dev CA bound into the config — authenticate as viewers with the
// platform's own Authenticator, and the edited config keeps the dev
// config's principals.
func TestAuthStackCredentials_AreAcceptedByTheDevConfig(t *testing.T) {
	dir := t.TempDir()
	if err := auth.WriteDevConfig(dir, nil); err != nil {
		t.Fatal(err)
	}
	cert, err := issueClientCert(dir, benchCertName)
	if err != nil {
		t.Fatal(err)
	}
	if err := bindCertificate(filepath.Join(dir, "auth.yaml"), "spiffe://talentreg/"+benchCertName, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	token, err := signJWT(filepath.Join(dir, "jwt-signing.key"), benchSubject, []string{auth.RoleViewer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Options{ConfigPath: filepath.Join(dir, "auth.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cfg := a.Config()
	names := map[string]bool{}
	for _, c := range cfg.Certificates {
		names[c.Principal] = true
	}
	for _, want := range []string{"spiffe://talentreg/metrics", "spiffe://talentreg/gateway", "spiffe://talentreg/" + benchCertName} {
		if !names[want] {
			t.Errorf("the edited config lacks certificate principal %s: %v", want, names)
		}
	}

	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	jwtCtx := metadata.NewIncomingContext(peer.NewContext(context.Background(), &peer.Peer{Addr: addr}),
		metadata.Pairs("authorization", "Bearer "+token))
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	mtlsCtx := metadata.NewIncomingContext(peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}},
	}}), metadata.MD{})
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		method auth.Method
		who    string
	}{
		{"jwt", jwtCtx, auth.MethodJWT, benchSubject},
		{"client certificate", mtlsCtx, auth.MethodMTLS, "spiffe://talentreg/" + benchCertName},
	} {
		p, err := a.Authenticate(tc.ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.Method != tc.method || p.Name != tc.who || !p.Can("talentreg.entities.get") || p.Can("talentreg.entities.create") {
			t.Errorf("%s: principal %+v, want %s by %v, a viewer", tc.name, p, tc.who, tc.method)
		}
	}
}

// TestEndpoint_CarriesItsCredential: each client of an endpoint sends its
// token, and only when it has one.
func TestEndpoint_CarriesItsCredential(t *testing.T) {
	ep := endpoint{addr: "127.0.0.1:1", tls: &tls.Config{}, token: "t0k"}
	if h := ep.httpHeaders(); len(h) != 1 || h[0].Name != "Authorization" || h[0].Value != "Bearer t0k" {
		t.Errorf("HTTP headers %v", h)
	}
	if o := ep.h2Options(); o.TLS != ep.tls || len(o.Metadata) != 1 || o.Metadata[0] != [2]string{"authorization", "Bearer t0k"} {
		t.Errorf("h2 options %+v", o)
	}
	if n := len(ep.dialOptions()); n != 2 {
		t.Errorf("%d grpc-go dial options, want TLS and the token", n)
	}
	none := plain("127.0.0.1:1")
	if len(none.httpHeaders()) != 0 || none.h2Options().TLS != nil || len(none.h2Options().Metadata) != 0 || len(none.dialOptions()) != 0 {
		t.Error("a plain endpoint sends a credential or TLS")
	}
}
