package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"talentreg/platform/devcerts"
)

// TestPeerOf_MemoOnlyAnswersForTheSameObjects: the per-connection memo
// gives each call the address and certificate name of its own
// connection, even when connections share a memo slot, an address object
// is seen with another certificate, or two address objects are equal.
func TestPeerOf_MemoOnlyAnswersForTheSameObjects(t *testing.T) {
	ca, err := devcerts.NewCA("memo CA")
	if err != nil {
		t.Fatal(err)
	}
	cert := func(name string) *x509.Certificate {
		leaf, err := ca.Issue(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(leaf.DER)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := cert("alice"), cert("bob")
	ctx := func(addr *net.TCPAddr, leaf *x509.Certificate) context.Context {
		p := &peer.Peer{Addr: addr}
		if leaf != nil {
			p.AuthInfo = credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}}
		}
		return peer.NewContext(context.Background(), p)
	}
	a1 := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4000}
	a2 := &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 4000 ^ (1 << 8) ^ (2 << 8)} // a1's slot
	a1twin := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4000}
	for i, c := range []struct {
		addr             *net.TCPAddr
		leaf             *x509.Certificate
		remote, certName string
	}{
		{a1, alice, "192.0.2.1:4000", CertificateName(alice)},
		{a1, alice, "192.0.2.1:4000", CertificateName(alice)},
		{a1, bob, "192.0.2.1:4000", CertificateName(bob)},
		{a1, nil, "192.0.2.1:4000", ""},
		{a2, alice, a2.String(), CertificateName(alice)},
		{a1, alice, "192.0.2.1:4000", CertificateName(alice)},
		{a1twin, nil, "192.0.2.1:4000", ""},
		{a1, bob, "192.0.2.1:4000", CertificateName(bob)},
	} {
		remote, name, _ := peerOf(ctx(c.addr, c.leaf))
		if remote != c.remote || name != c.certName {
			t.Errorf("call %d: %q %q, want %q %q", i, remote, name, c.remote, c.certName)
		}
	}
	if CertificateName(alice) == CertificateName(bob) {
		t.Fatal("the test's certificates have the same name")
	}
}

// TestPeerEntry_TokenHash: the connection's token memo answers the hash
// of the token asked about, whichever the connection sent before.
func TestPeerEntry_TokenHash(t *testing.T) {
	e := peers.lookup(&net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 1}, nil)
	for _, tok := range []string{"t1", "t1", "t2", "t1", string(make([]byte, 5000))} {
		if got := e.tokenHash(tok); got != sha256Sum(tok) {
			t.Errorf("tokenHash(%.8q) is not its SHA-256", tok)
		}
	}
	var none *peerEntry
	if none.tokenHash("t3") != sha256Sum("t3") {
		t.Error("without a memo: not the SHA-256")
	}
}
