package h2grpc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/auth"
	"talentreg/platform/devcerts"
)

// pki is a CA with a server certificate and a client certificate
// (spiffe://talentreg/bench-client) it issued.
type pki struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newPKI(t testing.TB) pki {
	t.Helper()
	ca, err := devcerts.NewCA("h2grpc test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair := func(name string) tls.Certificate {
		leaf, err := ca.Issue(name)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{leaf.DER}, PrivateKey: leaf.Key}
	}
	p := pki{pool: x509.NewCertPool(), server: pair("server"), client: pair("bench-client")}
	p.pool.AddCert(ca.Cert)
	return p
}

// seen is what the server saw of one call.
type seen struct {
	authorization []string
	certificate   string
}

// startTLS starts a grpc-go server over TLS that asks for (but does not
// require) client certificates and reports what it saw of each call.
func startTLS(t *testing.T, p pki) (string, <-chan seen) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan seen, 10000)
	s := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.VerifyClientCertIfGiven})),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			var s seen
			md, _ := metadata.FromIncomingContext(ctx)
			s.authorization = md.Get("authorization")
			if pr, ok := peer.FromContext(ctx); ok {
				if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
					s.certificate = auth.CertificateName(ti.State.VerifiedChains[0][0])
				}
			}
			calls <- s
			return h(ctx, req)
		}))
	registryv1.RegisterRegistryServiceServer(s, server{})
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().String(), calls
}

// TestDialWith_TLSCarriesMetadataOnEveryCall: over TLS, every one of many
// concurrent calls carries the connection's authorization metadata, the
// first (indexing literals) and all later ones (HPACK indexes) alike.
func TestDialWith_TLSCarriesMetadataOnEveryCall(t *testing.T) {
	p := newPKI(t)
	addr, calls := startTLS(t, p)
	token := "Bearer " + strings.Repeat("t0ken.", 60) // as long as a JWT
	c, err := DialWith(addr, Options{TLS: &tls.Config{RootCAs: p.pool}, Metadata: [][2]string{{"Authorization", token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
	const workers, each = 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := &Call{}
			req, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/e-" + string(rune('a'+w))})
			for range each {
				if err := c.Invoke(context.Background(), m, req, call); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for range workers * each {
		s := <-calls
		if len(s.authorization) != 1 || s.authorization[0] != token {
			t.Fatalf("server saw authorization %q, want the token once", s.authorization)
		}
		if s.certificate != "" {
			t.Fatalf("server saw a client certificate %q; none was given", s.certificate)
		}
	}
}

// TestDialWith_ClientCertificate: a TLS config holding a certificate
// authenticates the client (mutual TLS) with no metadata at all.
func TestDialWith_ClientCertificate(t *testing.T) {
	p := newPKI(t)
	addr, calls := startTLS(t, p)
	c, err := DialWith(addr, Options{TLS: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/x"})
	call := &Call{}
	if err := c.Invoke(context.Background(), c.Method(registryv1.RegistryService_GetEntity_FullMethodName), req, call); err != nil {
		t.Fatal(err)
	}
	var resp registryv1.GetEntityResponse
	if err := proto.Unmarshal(call.Response, &resp); err != nil || resp.GetEntity().GetName() != "entities/x" {
		t.Fatalf("response %v, %v", &resp, err)
	}
	if s := <-calls; s.certificate != "spiffe://talentreg/bench-client" || len(s.authorization) != 0 {
		t.Fatalf("server saw certificate %q, authorization %q", s.certificate, s.authorization)
	}
}

// TestDialWith_RefusesAServerWithoutH2: a TLS server that does not
// negotiate h2 is refused at dial time, with a message saying so.
func TestDialWith_RefusesAServerWithoutH2(t *testing.T) {
	p := newPKI(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.server}}) // no ALPN
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			defer c.Close()
		}
	}()
	_, err = DialWith(l.Addr().String(), Options{TLS: &tls.Config{RootCAs: p.pool}})
	if err == nil || !strings.Contains(err.Error(), "did not negotiate h2") {
		t.Fatalf("dial: %v, want a refusal naming h2", err)
	}
}

// TestEncodeMetadata_IndexesAfterTheFirstCall: decoded in sequence by one
// HPACK decoder, as the server does, the first block and every later one
// yield the metadata, and later blocks spend one byte per field on it.
// Metadata too large for the table goes as literals every time.
func TestEncodeMetadata_IndexesAfterTheFirstCall(t *testing.T) {
	token := "Bearer " + strings.Repeat("x", 400)
	for _, tc := range []struct {
		name    string
		md      [][2]string
		indexed bool
	}{
		{"a token", [][2]string{{"Authorization", token}, {"x-request-id", "bench"}}, true},
		{"beyond the table", [][2]string{{"authorization", "Bearer " + strings.Repeat("y", 5000)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Conn{addr: "127.0.0.1:1", scheme: "https"}
			c.mdFirst, c.mdAgain, c.mdIndexed = encodeMetadata(tc.md)
			m := c.Method("/p.S/M")
			dec := hpack.NewDecoder(4096, nil)
			for i, block := range [][]byte{m.first, m.block, m.block} {
				fields, err := dec.DecodeFull(block)
				if err != nil {
					t.Fatalf("block %d: %v", i, err)
				}
				got := map[string]string{}
				for _, f := range fields {
					got[f.Name] = f.Value
				}
				for _, kv := range tc.md {
					if got[strings.ToLower(kv[0])] != kv[1] {
						t.Fatalf("block %d: %s = %.20q…, want %.20q…", i, kv[0], got[strings.ToLower(kv[0])], kv[1])
					}
				}
				if got[":scheme"] != "https" {
					t.Fatalf("block %d: :scheme %q", i, got[":scheme"])
				}
			}
			base := len(m.first) - len(c.mdFirst)
			if tc.indexed {
				if len(m.block)-base != len(tc.md) || c.mdIndexed == 0 {
					t.Fatalf("later blocks spend %d bytes on %d fields, want one each", len(m.block)-base, len(tc.md))
				}
			} else if !bytes.Equal(m.first, m.block) || c.mdIndexed != 0 {
				t.Fatal("metadata beyond the table must be sent the same way every time")
			}
		})
	}
}

// TestConn_FailsWhenTheServerTableCannotHoldTheMetadata: a server whose
// HPACK table is smaller than the indexed metadata would misread every
// call after the first; the connection fails instead, saying why.
func TestConn_FailsWhenTheServerTableCannotHoldTheMetadata(t *testing.T) {
	c, err := DialWith(rawServer(t, nil, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 64}), Options{Metadata: benchToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
	for range 100 { // the SETTINGS frame may arrive after a few calls
		if err = c.Invoke(context.Background(), m, benchReq, &Call{}); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "HPACK table") {
		t.Fatalf("calls: %v, want a failure naming the HPACK table", err)
	}
}

// rawConn dials a rawServer, over TLS with a token when secure.
func rawConn(t testing.TB, p pki, secure bool, md [][2]string) *Conn {
	t.Helper()
	var srv *tls.Config
	o := Options{Metadata: md}
	if secure {
		srv = &tls.Config{Certificates: []tls.Certificate{p.server}, NextProtos: []string{"h2"}}
		o.TLS = &tls.Config{RootCAs: p.pool}
	}
	c, err := DialWith(rawServer(t, srv), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	benchToken = [][2]string{{"authorization", "Bearer " + strings.Repeat("j", 400)}} // as long as a JWT
	benchReq   = func() []byte {
		b, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/e-0000001"})
		return b
	}()
)

// TestInvoke_MetadataAndTLSAllocations: metadata adds no allocation to a
// call, and TLS adds nothing beyond crypto/tls's own reader, which
// Conn.readFromUntil allocates at each socket read (the test server's
// reads count too). The server is written on bytes and allocates nothing
// else, so the rest is the client's, its reader and flusher included:
// x/net/http2's Framer allocates ~20 objects per response it decodes.
func TestInvoke_MetadataAndTLSAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	p := newPKI(t)
	allocs := func(secure bool, md [][2]string) float64 {
		c := rawConn(t, p, secure, md)
		m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
		call := &Call{}
		invoke := func() {
			if err := c.Invoke(context.Background(), m, benchReq, call); err != nil || len(call.Response) == 0 {
				t.Fatalf("call: %v, %d bytes", err, len(call.Response))
			}
		}
		for range 100 { // grow buffers, settle TLS session tickets
			invoke()
		}
		return testing.AllocsPerRun(1000, invoke)
	}
	plain, plainToken := allocs(false, nil), allocs(false, benchToken)
	secure, secureToken := allocs(true, nil), allocs(true, benchToken)
	t.Logf("allocations per call: plaintext %.0f, with a token %.0f; TLS %.0f, with a token %.0f", plain, plainToken, secure, secureToken)
	if plainToken > plain || secureToken > secure {
		t.Errorf("metadata adds allocations: plaintext %.0f → %.0f, TLS %.0f → %.0f", plain, plainToken, secure, secureToken)
	}
	if secure > plain+2 {
		t.Errorf("TLS adds %.0f allocations per call, more than crypto/tls's reader makes", secure-plain)
	}
}

// BenchmarkInvoke is the client's cost per call against a server that
// costs next to nothing: plaintext, and TLS with a JWT-sized token.
func BenchmarkInvoke(b *testing.B) {
	p := newPKI(b)
	for _, bc := range []struct {
		name   string
		secure bool
		md     [][2]string
	}{{"plaintext", false, nil}, {"tls-token", true, benchToken}} {
		b.Run(bc.name, func(b *testing.B) {
			c := rawConn(b, p, bc.secure, bc.md)
			m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
			call := &Call{}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Invoke(context.Background(), m, benchReq, call); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// rawServer starts an HTTP/2 server written directly on bytes (over TLS
// when cfg is set) that answers every request stream with one
// GetEntityResponse and allocates nothing once serving.
func rawServer(t testing.TB, cfg *tls.Config, settings ...http2.Setting) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveRaw(c, settings)
		}
	}()
	return l.Addr().String()
}

func serveRaw(c net.Conn, settings []http2.Setting) {
	defer c.Close()
	block := func(kv ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for i := 0; i < len(kv); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1], Sensitive: true})
		}
		return b.Bytes()
	}
	frame := func(out []byte, typ, flags byte, payload ...[]byte) ([]byte, int) {
		n := 0
		for _, p := range payload {
			n += len(p)
		}
		out = append(out, byte(n>>16), byte(n>>8), byte(n), typ, flags, 0, 0, 0, 0)
		idAt := len(out) - 4
		for _, p := range payload {
			out = append(out, p...)
		}
		return out, idAt
	}
	msg, _ := proto.Marshal(&registryv1.GetEntityResponse{Entity: &registryv1.Entity{Name: "entities/e-0000001", DisplayName: strings.Repeat("x", 300)}})
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(len(msg)))
	var resp []byte
	var idAt [3]int
	resp, idAt[0] = frame(resp, 0x1, 0x4, block(":status", "200", "content-type", "application/grpc")) // HEADERS, END_HEADERS
	resp, idAt[1] = frame(resp, 0x0, 0x0, prefix[:], msg)                                              // DATA
	resp, idAt[2] = frame(resp, 0x1, 0x5, block("grpc-status", "0"))                                   // HEADERS, END_HEADERS|END_STREAM

	br := bufio.NewReaderSize(c, 64<<10)
	var preface [24]byte
	if _, err := io.ReadFull(br, preface[:]); err != nil {
		return
	}
	var sb bytes.Buffer
	if err := http2.NewFramer(&sb, nil).WriteSettings(settings...); err != nil {
		return
	}
	if _, err := c.Write(sb.Bytes()); err != nil {
		return
	}
	var hdr [9]byte
	payload := make([]byte, 1<<16)
	out := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags := hdr[3], hdr[4]
		id := hdr[5:9]
		if n > len(payload) {
			payload = make([]byte, n)
		}
		if _, err := io.ReadFull(br, payload[:n]); err != nil {
			return
		}
		out = out[:0]
		switch typ {
		case 0x4: // SETTINGS
			if flags&0x1 == 0 {
				out = append(out, 0, 0, 0, 0x4, 0x1, 0, 0, 0, 0)
			}
		case 0x6: // PING
			if flags&0x1 == 0 {
				out = append(out, 0, 0, 8, 0x6, 0x1, 0, 0, 0, 0)
				out = append(out, payload[:8]...)
			}
		case 0x0: // DATA: give the connection window back, answer at the end of the stream
			if n > 0 {
				out = append(out, 0, 0, 4, 0x8, 0, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			}
			if flags&0x1 != 0 {
				start := len(out)
				out = append(out, resp...)
				for _, at := range idAt {
					copy(out[start+at:], id)
				}
			}
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}
