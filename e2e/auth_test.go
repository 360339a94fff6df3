package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"talentreg/platform/auth"
	"talentreg/platform/devcerts"
)

// rpc is one method of a talentreg service, as the tests call it.
type rpc struct {
	desc    protoreflect.MethodDescriptor
	full    string // /pkg.Service/Method
	backend string // "registry" or "metrics"
	// flags set on the request (e.g. force on a delete).
	flags []protoreflect.Name
}

func (r rpc) String() string {
	if len(r.flags) > 0 {
		return fmt.Sprintf("%s(%s)", r.desc.Name(), r.flags[0])
	}
	return string(r.desc.Name())
}

// allRPCs lists every method of every talentreg service, plus a variant
// with each flag that needs a permission of its own set.
func allRPCs(t *testing.T) []rpc {
	t.Helper()
	var out []rpc
	for _, sd := range auth.Services() {
		backend := "registry"
		if strings.Contains(string(sd.FullName()), ".metrics.") {
			backend = "metrics"
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			r := rpc{desc: m, full: "/" + string(sd.FullName()) + "/" + string(m.Name()), backend: backend}
			out = append(out, r)
			rule, _ := auth.RuleOf(m)
			for f := range rule.FlagPermissions {
				out = append(out, rpc{desc: m, full: r.full, backend: backend, flags: []protoreflect.Name{f}})
			}
		}
	}
	if len(out) < 35 {
		t.Fatalf("found only %d RPCs", len(out))
	}
	return out
}

// invoke calls r with an empty request (its flags set) and returns the
// call's status: for streams, the status of the first message received.
func invoke(ctx context.Context, conn *grpc.ClientConn, r rpc) error {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(r.desc.Input().FullName())
	if err != nil {
		return err
	}
	req := mt.New()
	for _, f := range r.flags {
		req.Set(req.Descriptor().Fields().ByName(f), protoreflect.ValueOfBool(true))
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(r.desc.Output().FullName())
	if err != nil {
		return err
	}
	resp := out.New().Interface()
	if !r.desc.IsStreamingClient() && !r.desc.IsStreamingServer() {
		return conn.Invoke(ctx, r.full, req.Interface(), resp)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: r.desc.IsStreamingServer(), ClientStreams: r.desc.IsStreamingClient()}, r.full)
	if err != nil {
		return err
	}
	if !r.desc.IsStreamingClient() {
		if err := st.SendMsg(req.Interface()); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(resp)
}

// grpcConn dials addr over TLS trusting the dev CA, without a client
// certificate: the credential is whatever each call carries.
func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	caPEM, err := os.ReadFile(devFile("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// devJWT signs claims over the dev issuer's defaults with key (the dev
// signing key unless another is given) under kid.
func devJWT(t *testing.T, over jwt.MapClaims, key *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	if key == nil {
		k, err := devcerts.ReadKey(devFile("jwt-signing.key"))
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	if kid == "" {
		devKey, err := devcerts.ReadKey(devFile("jwt-signing.key"))
		if err != nil {
			t.Fatal(err)
		}
		if kid, err = auth.KeyID(&devKey.PublicKey); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	claims := jwt.MapClaims{"iss": auth.DevIssuer, "aud": auth.DevAudience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range over {
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// badCredentials are refused by every route, each for its own reason.
func badCredentials(t *testing.T) map[string]string {
	t.Helper()
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": auth.DevIssuer, "aud": auth.DevAudience, "sub": "alice", "exp": now.Add(time.Hour).Unix()})
	noneTok, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"no credential":     "",
		"expired":           devJWT(t, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}, nil, ""),
		"not yet valid":     devJWT(t, jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}, nil, ""),
		"wrong audience":    devJWT(t, jwt.MapClaims{"aud": "another-service"}, nil, ""),
		"wrong issuer":      devJWT(t, jwt.MapClaims{"iss": "https://evil.example"}, nil, ""),
		"alg none":          noneTok,
		"forged signature":  devJWT(t, nil, forger, ""),
		"unknown kid":       devJWT(t, nil, forger, "not-a-published-kid"),
		"unknown static":    auth.NewToken(),
		"revoked-looking":   tokens[auth.RoleAdmin] + "x",
		"malformed bearer":  "a.b",
		"garbage three dot": "x.y.z",
	}
}

// TestAuth_EveryRPCRefusesBadCredentials calls every method of both
// services over gRPC with each bad credential: all UNAUTHENTICATED, and
// health stays open.
func TestAuth_EveryRPCRefusesBadCredentials(t *testing.T) {
	s := needShared(t)
	conns := map[string]*grpc.ClientConn{"registry": grpcConn(t, s.registry.grpcAddr), "metrics": grpcConn(t, s.metrics[0].grpcAddr)}
	bad := badCredentials(t)
	for _, r := range allRPCs(t) {
		for name, tok := range bad {
			ctx, cancel := context.WithTimeout(withToken(context.Background(), tok), 10*time.Second)
			err := invoke(ctx, conns[r.backend], r)
			cancel()
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s with %s: %v, want Unauthenticated", r, name, err)
			}
		}
	}
	for backend, conn := range conns {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health without credentials: %v, %v", backend, resp, err)
		}
	}
}

// allowedBy is the access each role should have, written out here
// independently of the roles' definitions in platform/auth.
func allowedBy(role string, r rpc) bool {
	m := string(r.desc.Name())
	read := (strings.HasPrefix(m, "Get") || strings.HasPrefix(m, "List") || m == "SearchEntities" || m == "WatchSummary") && m != "ListChanges" && m != "ListHistory"
	write := strings.HasPrefix(m, "Create") || strings.HasPrefix(m, "Update") || (strings.HasPrefix(m, "Delete") && len(r.flags) == 0)
	switch role {
	case auth.RoleAdmin:
		return true
	case auth.RoleViewer:
		return read
	case auth.RoleEditor:
		return read || write
	case auth.RoleImporter:
		return m == "Import" || m == "BatchCreateEntities"
	case auth.RoleFeedReader:
		return m == "ListChanges" || m == "WatchChanges" || m == "StreamSnapshot"
	case auth.RoleAuditor:
		return read || m == "ListHistory" || m == "ListChanges"
	}
	return false
}

// TestAuth_RoleMatrix calls every method (and every flag variant) with
// every role's token: PERMISSION_DENIED, naming the permission, exactly
// when the role may not.
func TestAuth_RoleMatrix(t *testing.T) {
	s := needShared(t)
	conns := map[string]*grpc.ClientConn{"registry": grpcConn(t, s.registry.grpcAddr), "metrics": grpcConn(t, s.metrics[0].grpcAddr)}
	for _, role := range auth.DevTokenRoles {
		for _, r := range allRPCs(t) {
			ctx, cancel := context.WithTimeout(withToken(context.Background(), tokens[role]), 20*time.Second)
			err := invoke(ctx, conns[r.backend], r)
			cancel()
			denied := status.Code(err) == codes.PermissionDenied
			if want := !allowedBy(role, r); denied != want {
				t.Errorf("%s calling %s: %v; want denied=%v", role, r, err, want)
				continue
			}
			if denied && !strings.Contains(status.Convert(err).Message(), "talentreg.") {
				t.Errorf("%s calling %s: the denial %q does not name the permission", role, r, status.Convert(err).Message())
			}
		}
	}
}

// httpRoutes lists every method and path of the gateway's OpenAPI document,
// with path parameters filled in.
func httpRoutes(t *testing.T, s *stack) [][2]string {
	t.Helper()
	r := s.call(t, "GET", "/openapi.json", nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for path, ops := range doc.Paths {
		p := path
		for strings.Contains(p, "{") {
			i, j := strings.IndexByte(p, '{'), strings.IndexByte(p, '}')
			p = p[:i] + "x" + p[j+1:]
		}
		for method := range ops {
			out = append(out, [2]string{strings.ToUpper(method), p})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[1]+a[0], b[1]+b[0]) })
	if len(out) < 25 {
		t.Fatalf("only %d routes in /openapi.json", len(out))
	}
	return out
}

// TestAuth_EveryRouteRefusesBadCredentials: through the gateway, every
// route answers a bad or missing credential 401 with a Bearer challenge,
// and the services decide (the gateway forwards, never checks).
func TestAuth_EveryRouteRefusesBadCredentials(t *testing.T) {
	s := needShared(t)
	bad := badCredentials(t)
	for _, route := range httpRoutes(t, s) {
		method, path := route[0], route[1]
		var body any
		if method == "POST" || method == "PATCH" {
			body = "{}"
		}
		for name, tok := range bad {
			h := "Bearer " + tok
			if tok == "" {
				h = ""
			}
			r := s.call(t, method, path, body, "Authorization", h)
			if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %s: %v (WWW-Authenticate %q), want 401 with a Bearer challenge", method, path, name, r, r.Header.Get("WWW-Authenticate"))
			}
		}
	}
	// Viewer may read but not force a cascade: 403 naming the permission.
	r := s.call(t, "DELETE", "/v1/entities/x?force=true", nil, "Authorization", "Bearer "+tokens[auth.RoleViewer])
	if r.Status != 403 || !strings.Contains(string(r.Body), "talentreg.entities.delete") {
		t.Errorf("viewer DELETE: %v, want 403 naming talentreg.entities.delete", r)
	}
	r = s.call(t, "DELETE", "/v1/entities/x?force=true", nil, "Authorization", "Bearer "+tokens[auth.RoleEditor])
	if r.Status != 403 || !strings.Contains(string(r.Body), "talentreg.entities.forceDelete") {
		t.Errorf("editor DELETE ?force=true: %v, want 403 naming talentreg.entities.forceDelete", r)
	}
}

// TestAuth_ActorIsRecorded: who made a change is in its change event and
// in the resource's :history, with the client's address as the gateway
// saw it (a forged X-Forwarded-For is ignored) and the request id.
func TestAuth_ActorIsRecorded(t *testing.T) {
	s := needShared(t)
	id := uid("audited")
	create := s.call(t, "POST", "/v1/entities?entityId="+id, map[string]any{"displayName": "Audited", "kind": "ENTITY_KIND_ENTERPRISE"},
		"Authorization", "Bearer "+tokens[auth.RoleEditor], "User-Agent", "office-pc/2.1", "X-Forwarded-For", "198.51.100.7")
	if create.Status != 200 {
		t.Fatalf("create: %v", create)
	}
	jwtTok := devJWT(t, jwt.MapClaims{"sub": "alice", "roles": []string{"editor"}}, nil, "")
	update := s.call(t, "PATCH", "/v1/entities/"+id, map[string]any{"region": "Hebei"}, "Authorization", "Bearer "+jwtTok)
	if update.Status != 200 {
		t.Fatalf("update with a JWT: %v", update)
	}
	if r := s.call(t, "GET", "/v1/entities/"+id+":history", nil, "Authorization", "Bearer "+tokens[auth.RoleViewer]); r.Status != 403 {
		t.Errorf("viewer reading the history: %v, want 403 (auditors and admins only)", r)
	}
	hist, _ := s.must(t, "GET", "/v1/entities/"+id+":history", nil, "Authorization", "Bearer "+tokens[auth.RoleAuditor])
	changes, _ := hist["changes"].([]any)
	if len(changes) != 2 {
		t.Fatalf("history of %s: %v", id, hist)
	}
	actor := func(i int) map[string]any { return changes[i].(map[string]any)["actor"].(map[string]any) }
	first, second := actor(0), actor(1)
	want := map[string]any{
		"principal": "dev-editor", "authMethod": "AUTH_METHOD_STATIC_TOKEN", "userAgent": "office-pc/2.1",
		"peer": "127.0.0.1", "via": "spiffe://talentreg/gateway", "requestId": create.Header.Get("X-Request-Id"),
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("create's actor.%s = %v, want %v (actor %v)", k, first[k], v, first)
		}
	}
	if second["principal"] != "alice" || second["authMethod"] != "AUTH_METHOD_JWT" {
		t.Errorf("update's actor %v, want alice by JWT", second)
	}
	// The same from the change feed, filtered by actor.
	feed, _ := s.must(t, "GET", `/v1/changes?filter=actor%20%3D%20%22alice%22%20AND%20resource%20%3D%20%22entities/`+id+`%22`, nil)
	fc, _ := feed["changes"].([]any)
	if len(fc) != 1 || fc[0].(map[string]any)["revision"] != changes[1].(map[string]any)["revision"] {
		t.Errorf("alice's changes to %s in the feed: %v", id, feed)
	}
}

// TestAuth_FeedNeedsTheFeedReaderIdentity: a metrics replica follows the
// registry over mutual TLS as spiffe://talentreg/metrics (feed-reader);
// without that identity, or with only a viewer's token, it cannot.
func TestAuth_FeedNeedsTheFeedReaderIdentity(t *testing.T) {
	s := needShared(t)
	dir := t.TempDir()
	// A client certificate of the right CA but another name: authenticated
	// by mTLS, bound to no role.
	ca := loadDevCA(t)
	other, err := ca.Issue("intruder")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Write(dir, "intruder"); err != nil {
		t.Fatal(err)
	}
	viewerTok := filepath.Join(dir, "viewer.token")
	if err := os.WriteFile(viewerTok, []byte(tokens[auth.RoleViewer]), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"no credential":       {"--registry-ca", devFile("ca.crt")},
		"unbound certificate": {"--registry-ca", devFile("ca.crt"), "--client-cert", filepath.Join(dir, "intruder.crt"), "--client-key", filepath.Join(dir, "intruder.key")},
		"viewer token":        {"--registry-ca", devFile("ca.crt"), "--registry-token-file", viewerTok},
	} {
		t.Run(name, func(t *testing.T) {
			p := newProc(t.TempDir(), "metrics-"+strings.ReplaceAll(name, " ", "-"), "metrics", append(append([]string{
				"--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--registry", s.registry.grpcAddr,
				"--db", filepath.Join(t.TempDir(), "m.db"), "--reconnect-max", "100ms",
			}, serverSecurity("metrics")...), args...)...)
			if err := p.start(); err != nil {
				t.Fatal(err)
			}
			defer p.stop(10 * time.Second)
			conn := grpcConn(t, p.grpcAddr)
			// It must stay NOT_SERVING while the registry refuses it: wait
			// until the registry has refused it a few times.
			eventually(t, 30*time.Second, func() error {
				if n := strings.Count(p.logTail(200), "Unauthenticated") + strings.Count(p.logTail(200), "PermissionDenied"); n < 2 {
					return fmt.Errorf("the replica has not yet been refused twice:\n%s", p.logTail(5))
				}
				return nil
			})
			resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				t.Errorf("a replica the registry refuses reports %v, %v; want NOT_SERVING", resp, err)
			}
		})
	}
	// The shared stack's replica, with the feed-reader certificate, serves.
	resp, err := healthpb.NewHealthClient(grpcConn(t, s.metrics[0].grpcAddr)).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("the replica with the feed-reader identity: %v, %v", resp, err)
	}
}

// TestAuth_MutualTLSRequired: with --tls-client-auth require, a client
// without a certificate does not complete the handshake.
func TestAuth_MutualTLSRequired(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newProc(dir, "registry-mtls", "registry", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--db", filepath.Join(dir, "r.db"),
		"--auth-config", devFile("auth.yaml"), "--tls-cert", devFile("registry.crt"), "--tls-key", devFile("registry.key"),
		"--tls-client-ca", devFile("ca.crt"), "--tls-client-auth", "require")
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	defer p.stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(withToken(context.Background(), tokens[auth.RoleAdmin]), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(grpcConn(t, p.grpcAddr)).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a client without a certificate: %v, want the handshake refused (Unavailable)", err)
	}

	caPEM, err := os.ReadFile(devFile("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(devFile("metrics.crt"), devFile("metrics.key"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("a client with a certificate of the CA: %v", err)
	}
}

// TestAuth_ProtectedMode: without --auth-config a service refuses a
// non-loopback address, naming the flag; --insecure-no-auth starts it with
// a warning.
func TestAuth_ProtectedMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		bin  string
		args []string
	}{
		{"registry", []string{"--grpc-addr", "0.0.0.0:0", "--admin-addr", "", "--db", filepath.Join(dir, "r.db")}},
		{"metrics", []string{"--grpc-addr", "0.0.0.0:0", "--admin-addr", "", "--db", filepath.Join(dir, "m.db")}},
		{"gateway", []string{"--http-addr", "0.0.0.0:0", "--admin-addr", ""}},
	} {
		p := newProc(dir, tc.bin+"-open", tc.bin, tc.args...)
		err := p.start()
		if err == nil {
			p.stop(10 * time.Second)
			t.Errorf("%s served on 0.0.0.0 without authentication", tc.bin)
			continue
		}
		want := "--auth-config"
		if tc.bin == "gateway" {
			want = "--tls-cert"
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "exit status 2") {
			t.Errorf("%s on 0.0.0.0: %v; want exit status 2 and a message naming %s", tc.bin, err, want)
		}
	}
	p := newProc(dir, "registry-insecure", "registry", "--grpc-addr", "0.0.0.0:0", "--admin-addr", "", "--db", filepath.Join(dir, "r2.db"), "--insecure-no-auth")
	if err := p.start(); err != nil {
		t.Fatalf("--insecure-no-auth: %v", err)
	}
	defer p.stop(10 * time.Second)
	if !strings.Contains(p.logTail(20), "WITHOUT AUTHENTICATION") {
		t.Errorf("--insecure-no-auth logged no warning:\n%s", p.logTail(20))
	}
}

func loadDevCA(t *testing.T) *devcerts.CA {
	t.Helper()
	key, err := devcerts.ReadKey(devFile("ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(devFile("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cert, der, err := parsePEMCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return &devcerts.CA{Cert: cert, Key: key, DER: der}
}

func parsePEMCert(b []byte) (*x509.Certificate, []byte, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, errors.New("no PEM block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	return c, blk.Bytes, err
}

// TestAuth_FailuresAreRateLimited: past its burst of failed
// authentications a client address is refused (429 through the gateway,
// which the registry trusts to name the client), and the failures are
// counted in Prometheus.
func TestAuth_FailuresAreRateLimited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	strict := filepath.Join(dir, "strict.yaml")
	cfg := fmt.Sprintf(`staticTokens: {file: %s}
certificates:
  - {principal: "spiffe://talentreg/metrics", roles: [feed-reader]}
  - {principal: "spiffe://talentreg/gateway", proxy: true}
failedAuth: {perMinute: 1, burst: 3}
`, devFile("tokens.csv"))
	if err := os.WriteFile(strict, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, stackOptions{registryArgs: []string{"--auth-config", strict}})
	id := uid("limited")
	for i := range 3 {
		if r := s.call(t, "GET", "/v1/entities/"+id, nil, "Authorization", "Bearer wrong-"+strconv.Itoa(i)); r.Status != 401 {
			t.Fatalf("bad token %d: %v, want 401", i, r)
		}
	}
	r := s.call(t, "GET", "/v1/entities/"+id, nil, "Authorization", "Bearer wrong-again")
	if r.Status != 429 || !strings.Contains(string(r.Body), "AUTH_RATE_LIMITED") {
		t.Fatalf("fourth bad token: %v, want 429 AUTH_RATE_LIMITED", r)
	}
	m, err := send(context.Background(), "GET", "https://"+s.registry.adminAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`talentreg_auth_failures_total{reason="TOKEN_UNKNOWN"} 3`, `talentreg_auth_failures_total{reason="AUTH_RATE_LIMITED"} 1`} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("registry /metrics lacks %s", want)
		}
	}
}
