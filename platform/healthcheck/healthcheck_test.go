package healthcheck

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/platform/command"
	"talentreg/platform/freeport"
)

// serveHealth serves grpc.health.v1 on loopback and returns its address
// and the health server to set statuses on.
func serveHealth(t *testing.T, opts ...grpc.ServerOption) (string, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	h := health.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), h
}

func run(t *testing.T, env map[string]string, target Target, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut, target)
	return out.String() + errOut.String(), err
}

func TestRun_GRPC(t *testing.T) {
	addr, h := serveHealth(t)
	h.SetServingStatus("talentreg.metrics.v1.MetricsService", healthpb.HealthCheckResponse_NOT_SERVING)
	_, port, _ := net.SplitHostPort(addr)
	target := Target{GRPCAddr: "127.0.0.1:1", Service: ""}

	if out, err := run(t, nil, target, "--addr", addr); err != nil || !strings.Contains(out, "SERVING") {
		t.Fatalf("serving server: %v %s", err, out)
	}
	// The service's own listen address, from its environment, asked on loopback.
	if _, err := run(t, map[string]string{"TALENTREG_GRPC_ADDR": "0.0.0.0:" + port}, target); err != nil {
		t.Fatalf("address from TALENTREG_GRPC_ADDR: %v", err)
	}
	if _, err := run(t, map[string]string{"TALENTREG_GRPC_ADDR": ":" + port}, target); err != nil {
		t.Fatalf("address :port: %v", err)
	}
	_, err := run(t, nil, target, "--addr", addr, "--service", "talentreg.metrics.v1.MetricsService")
	if err == nil || !strings.Contains(err.Error(), "NOT_SERVING") || command.ExitCode(err) != 1 {
		t.Fatalf("NOT_SERVING service: %v (exit %d), want NOT_SERVING and exit 1", err, command.ExitCode(err))
	}
	closed := freeport.For(t)
	if _, err := run(t, nil, target, "--addr", closed, "--timeout", "500ms"); command.ExitCode(err) != 1 {
		t.Fatalf("nothing listening: %v, want exit 1", err)
	}
}

func TestRun_HTTP(t *testing.T) {
	healthy := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(host)
	target := Target{HTTPAddr: "127.0.0.1:1", Path: "/healthz"}
	if _, err := run(t, map[string]string{"TALENTREG_HTTP_ADDR": "0.0.0.0:" + port}, target); err != nil {
		t.Fatalf("healthy gateway: %v", err)
	}
	healthy = false
	if _, err := run(t, nil, target, "--url", srv.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: %v", err)
	}
}

// TestRun_TLS: with --ca the check verifies the server's certificate and
// presents a client certificate to a server that requires one; without
// TLS flags a TLS server is not healthy.
func TestRun_TLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t)
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.Raw)
	serverCert := issue(t, ca, caKey, "registry", x509.ExtKeyUsageServerAuth)
	clientCert := issue(t, ca, caKey, "prober", x509.ExtKeyUsageClientAuth)
	clientFiles := writePair(t, dir, "client", clientCert)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr, _ := serveHealth(t, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	target := Target{GRPCAddr: addr}
	caFile := filepath.Join(dir, "ca.crt")
	if out, err := run(t, nil, target, "--ca", caFile, "--server-name", "registry", "--cert", clientFiles[0], "--key", clientFiles[1]); err != nil {
		t.Fatalf("TLS with a client certificate: %v %s", err, out)
	}
	if _, err := run(t, nil, target, "--ca", caFile, "--server-name", "someone-else", "--cert", clientFiles[0], "--key", clientFiles[1]); err == nil {
		t.Fatal("a certificate for another name was accepted")
	}
	if _, err := run(t, nil, target, "--timeout", "1s"); err == nil {
		t.Fatal("plaintext to a TLS server was healthy")
	}
}

func TestRun_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--cert", "c.pem"},
		{"--server-name", "x"},
		{"--ca", filepath.Join(t.TempDir(), "missing.pem")},
		{"extra"},
		{"--no-such-flag"},
	} {
		if _, err := run(t, nil, Target{GRPCAddr: "127.0.0.1:1"}, args...); command.ExitCode(err) != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePair(t *testing.T, dir, name string, c tls.Certificate) [2]string {
	t.Helper()
	crt, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, crt, "CERTIFICATE", c.Certificate[0])
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, key, "PRIVATE KEY", der)
	return [2]string{crt, key}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
