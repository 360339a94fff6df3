package load

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"talentreg/platform/devcerts"
)

// TestHTTPConn_TLSWithAuthorization: over TLS the connection speaks
// HTTP/1.1 (never h2, which the parser does not read), sends the
// request's extra headers, and is kept alive across requests.
func TestHTTPConn_TLSWithAuthorization(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 1 {
			http.Error(w, "want HTTP/1.1 over TLS, got "+r.Proto, http.StatusBadRequest)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer abc" {
			http.Error(w, "authorization "+got, http.StatusUnauthorized)
			return
		}
		w.Write([]byte("hello " + r.URL.Path))
	}))
	srv.EnableHTTP2 = true // offered; the client must still choose HTTP/1.1
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := srv.Listener.Addr().String()
	c := &HTTPConn{Addr: addr, TLS: &tls.Config{RootCAs: pool}}
	defer c.Close()
	req := NewRequest("GET", addr, "/x", "", nil, Header{"Authorization", "Bearer abc"})
	var body []byte
	for range 3 {
		if err := c.Do(req, &body); err != nil || string(body) != "hello /x" {
			t.Fatalf("%q, %v", body, err)
		}
	}
	if err := c.Do(NewRequest("GET", addr, "/x", "", nil), &body); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without the header: %v, want 401", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 kept alive", n)
	}
	// An unknown CA fails the handshake.
	bad := &HTTPConn{Addr: addr, TLS: &tls.Config{RootCAs: x509.NewCertPool()}}
	defer bad.Close()
	if err := bad.Do(req, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unknown CA: %v", err)
	}
}

func TestNewRequest_Headers(t *testing.T) {
	got := string(NewRequest("POST", "h:1", "/p", "application/json", []byte("{}"), Header{"Authorization", "Bearer t"}, Header{"X-Request-Id", "r"}))
	want := "POST /p HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer t\r\nX-Request-Id: r\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestHTTPConn_TLSAndHeadersAllocations: a request with an Authorization
// header allocates nothing in plaintext, and over TLS nothing beyond
// crypto/tls's own reader, which Conn.readFromUntil allocates at each
// socket read (the test server's reads count too). The server is written
// on bytes and allocates nothing else once serving.
func TestHTTPConn_TLSAndHeadersAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	ca, err := devcerts.NewCA("load test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("server")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.DER}, PrivateKey: leaf.Key}}}
	allocs := func(secure bool) float64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := &HTTPConn{Addr: l.Addr().String()}
		if secure {
			l = tls.NewListener(l, srvTLS)
			c.TLS = &tls.Config{RootCAs: pool}
		}
		defer l.Close()
		go serveFixed(l)
		defer c.Close()
		req := NewRequest("GET", c.Addr, "/v1/entities/e-0000001", "", nil, Header{"Authorization", "Bearer " + strings.Repeat("j", 400)})
		do := func() {
			if err := c.Do(req, nil); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			do()
		}
		return testing.AllocsPerRun(1000, do)
	}
	plain, secure := allocs(false), allocs(true)
	t.Logf("allocations per request with a token: plaintext %.0f, TLS %.0f", plain, secure)
	if plain != 0 || secure > 2 {
		t.Fatalf("allocations per request: plaintext %.0f (want 0), TLS %.0f (want at most crypto/tls's 2)", plain, secure)
	}
}

// serveFixed answers every request (headers only, no body) on every
// connection of l with the same small response, allocating nothing once a
// connection is serving.
func serveFixed(l net.Listener) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"name\":\"x\"}\n")
	end := []byte("\r\n\r\n")
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 64<<10)
			n := 0
			for {
				m, err := c.Read(buf[n:])
				if err != nil {
					return
				}
				n += m
				for {
					i := bytes.Index(buf[:n], end)
					if i < 0 {
						break
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
					n = copy(buf, buf[i+len(end):n])
				}
			}
		}()
	}
}
