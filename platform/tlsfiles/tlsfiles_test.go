package tlsfiles_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"talentreg/platform/devcerts"
	"talentreg/platform/tlsfiles"
)

// pki writes a CA and "server" and "client" certificates into a folder.
func pki(t *testing.T) (dir string, ca *devcerts.CA) {
	t.Helper()
	dir = t.TempDir()
	ca, err := devcerts.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Write(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"server", "client"} {
		leaf, err := ca.Issue(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := leaf.Write(dir, name); err != nil {
			t.Fatal(err)
		}
	}
	return dir, ca
}

// serve accepts TLS connections with cfg, completing handshakes and
// recording the client certificate's subject of each, until the test ends.
func serve(t *testing.T, cfg *tls.Config) (addr string, peers chan string) {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	peers = make(chan string, 16)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					peers <- "error: " + err.Error()
					return
				}
				name := "none"
				if cs := tc.ConnectionState(); len(cs.VerifiedChains) > 0 {
					name = cs.VerifiedChains[0][0].Subject.CommonName
				}
				peers <- name
				_, _ = c.Write([]byte("x"))
			}()
		}
	}()
	return lis.Addr().String(), peers
}

func dial(addr string, cfg *tls.Config) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

func TestMutualTLS_RefusesClientsWithoutCertificate(t *testing.T) {
	dir, _ := pki(t)
	srv, err := tlsfiles.Server{
		CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		ClientCAFile: filepath.Join(dir, "ca.crt"), RequireClientCert: true,
	}.Config()
	if err != nil {
		t.Fatal(err)
	}
	addr, peers := serve(t, srv)

	anon, err := tlsfiles.Client{CAFile: filepath.Join(dir, "ca.crt")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, anon); err == nil {
		t.Fatal("a client without a certificate completed the handshake")
	}
	if got := <-peers; !strings.HasPrefix(got, "error:") {
		t.Errorf("server side of the certificate-less handshake: %s", got)
	}

	// A certificate from another CA is refused too.
	other, err := devcerts.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	odir := t.TempDir()
	if err := stranger.Write(odir, "client"); err != nil {
		t.Fatal(err)
	}
	foreign, err := tlsfiles.Client{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(odir, "client.crt"), KeyFile: filepath.Join(odir, "client.key")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, foreign); err == nil {
		t.Fatal("a client certificate of a foreign CA was accepted")
	}
	<-peers

	mutual, err := tlsfiles.Client{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, mutual); err != nil {
		t.Fatalf("a client with a certificate of the CA: %v", err)
	}
	if got := <-peers; got != "client" {
		t.Errorf("the server saw client certificate %q, want client", got)
	}
}

func TestServer_ReloadsItsCertificate(t *testing.T) {
	dir, ca := pki(t)
	srv, err := tlsfiles.Server{CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, srv)
	client, err := tlsfiles.Client{CAFile: filepath.Join(dir, "ca.crt")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cn, err := dial(addr, client); err != nil || cn != "server" {
		t.Fatalf("first handshake: %q, %v", cn, err)
	}
	// Rotate: a new certificate (another CN) in place of the old files.
	next, err := ca.Issue("server-rotated")
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Write(dir, "server"); err != nil {
		t.Fatal(err)
	}
	bumpMTime(t, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		cn, err := dial(addr, client)
		if err == nil && cn == "server-rotated" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the rotation the server still presents %q (%v)", cn, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClient_FollowsItsCAFile(t *testing.T) {
	dir, _ := pki(t)
	// The server's certificate comes from a new CA the client does not
	// trust yet; adding that CA to the client's bundle file is enough.
	newCA, err := devcerts.NewCA("new CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := newCA.Issue("server")
	if err != nil {
		t.Fatal(err)
	}
	sdir := t.TempDir()
	if err := leaf.Write(sdir, "server"); err != nil {
		t.Fatal(err)
	}
	srv, err := tlsfiles.Server{CertFile: filepath.Join(sdir, "server.crt"), KeyFile: filepath.Join(sdir, "server.key")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, srv)
	client, err := tlsfiles.Client{CAFile: filepath.Join(dir, "ca.crt")}.Config()
	if err != nil {
		t.Fatal(err)
	}
	var uerr x509.UnknownAuthorityError
	if _, err := dial(addr, client); !errors.As(err, &uerr) {
		t.Fatalf("a server of an untrusted CA: %v, want an unknown authority error", err)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := newCA.Write(sdir, "newca"); err != nil {
		t.Fatal(err)
	}
	extra, err := os.ReadFile(filepath.Join(sdir, "newca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), append(bundle, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	bumpMTime(t, filepath.Join(dir, "ca.crt"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, err := dial(addr, client); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the client never trusted the CA added to its bundle")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bumpMTime moves files' modification time forward, so a rewrite within
// the file system's timestamp granularity is still seen as a change.
func bumpMTime(t *testing.T, paths ...string) {
	t.Helper()
	later := time.Now().Add(2 * time.Second)
	for _, p := range paths {
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
}
