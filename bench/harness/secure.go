package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/yaml"

	"talentreg/bench/h2grpc"
	"talentreg/bench/load"
	"talentreg/bench/proc"
	"talentreg/platform/auth"
	"talentreg/platform/devcerts"
)

// endpoint is how the harness reaches a server: its address and, for the
// auth-on stack, TLS and a credential.
type endpoint struct {
	addr string
	// tls, when set, is the client's TLS config (the dev CA; for the mTLS
	// case also a client certificate). Nil is plaintext.
	tls *tls.Config
	// token is a bearer token sent with every call; "" sends none.
	token string
}

// plain is the endpoint of a server without TLS or authentication.
func plain(addr string) endpoint { return endpoint{addr: addr} }

// dialOptions are grpc-go's dial options for ep, after rawgrpc.Dial's own.
func (ep endpoint) dialOptions() []grpc.DialOption {
	var opts []grpc.DialOption
	if ep.tls != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(ep.tls)))
	}
	if ep.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(ep.token)))
	}
	return opts
}

// h2Options are the light client's options for ep.
func (ep endpoint) h2Options() h2grpc.Options {
	o := h2grpc.Options{TLS: ep.tls}
	if ep.token != "" {
		o.Metadata = [][2]string{{"authorization", "Bearer " + ep.token}}
	}
	return o
}

// httpHeaders are the extra headers of ep's HTTP requests.
func (ep endpoint) httpHeaders() []load.Header {
	if ep.token == "" {
		return nil
	}
	return []load.Header{{Name: "Authorization", Value: "Bearer " + ep.token}}
}

// bearer sends a bearer token with every grpc-go call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the harness talks to loopback only.
func (bearer) RequireTransportSecurity() bool { return false }

// Names of the auth-on stack's processes, its bench client certificate's
// principal, and the subject of its JWT.
const (
	registryAuth  = "registry-auth"
	gatewayAuth   = "gateway-auth"
	benchCertName = "bench-client"
	benchSubject  = "bench"
)

// startAuthStack starts the auth-on read stack next to the auth-off one: a
// registry serving the dev auth config (auth.WriteDevConfig) with TLS and
// optional client certificates, loaded with the same read data set, and a
// gateway in front of it serving HTTPS and calling the registry over
// mutual TLS as its trusted proxy. The clients: a JWT signed by the dev
// issuer with the viewer role, and a client certificate from the dev CA
// whose principal the config binds to viewer. Whatever fails makes the
// auth-on cases skip, saying why.
func (e *env) startAuthStack(ctx context.Context) {
	if !e.cfg.Auth {
		e.markUnavailable(compRegistryAuth, "disabled (-auth=false)")
		e.markUnavailable(compGatewayAuth, e.unavailable[compRegistryAuth])
		return
	}
	if why := e.missing([]string{compRegistry}); why != "" {
		e.markUnavailable(compRegistryAuth, "needs the auth-off registry's data set: "+why)
		e.markUnavailable(compGatewayAuth, e.unavailable[compRegistryAuth])
		return
	}
	if err := e.startAuthRegistry(ctx); err != nil {
		e.markUnavailable(compRegistryAuth, "registry (auth on): "+err.Error())
		e.markUnavailable(compGatewayAuth, e.unavailable[compRegistryAuth])
		return
	}
	if why := e.missing([]string{compGateway}); why != "" {
		e.markUnavailable(compGatewayAuth, why)
		return
	}
	if err := e.startAuthGateway(ctx); err != nil {
		e.markUnavailable(compGatewayAuth, "gateway (auth on): "+err.Error())
	}
}

func (e *env) startAuthRegistry(ctx context.Context) error {
	dir := filepath.Join(e.work, "auth")
	if err := auth.WriteDevConfig(dir, nil); err != nil {
		return err
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	clientCert, err := issueClientCert(dir, benchCertName)
	if err != nil {
		return err
	}
	principal := "spiffe://talentreg/" + benchCertName
	if err := bindCertificate(file("auth.yaml"), principal, auth.RoleViewer); err != nil {
		return err
	}
	token, err := signJWT(file("jwt-signing.key"), benchSubject, []string{auth.RoleViewer}, 24*time.Hour)
	if err != nil {
		return err
	}
	importer, err := os.ReadFile(file(auth.RoleImporter + ".token"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(file("ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("ca.crt holds no certificate")
	}
	e.adminClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	caOnly := &tls.Config{RootCAs: pool}

	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
		return err
	}
	addr, admin, err := freeAddrs()
	if err != nil {
		return err
	}
	p, err := e.g.Start(proc.Spec{Name: registryAuth, Path: e.bins["registry"], Args: []string{
		"--grpc-addr", addr, "--db", filepath.Join(dir, "db", "registry.db"), "--admin-addr", admin, "--log-level", "warn",
		"--auth-config", file("auth.yaml"), "--tls-cert", file("registry.crt"), "--tls-key", file("registry.key"),
		"--tls-client-ca", file("ca.crt"), "--tls-client-auth", "optional",
	}})
	if err != nil {
		return err
	}
	if err := p.WaitReady(ctx, e.cfg.ReadyTimeout, grpcServing(endpoint{addr: addr, tls: caOnly})); err != nil {
		p.Stop(5 * time.Second)
		return err
	}
	e.tr.admin[registryAuth] = "https://" + admin
	// Without a credential the registry must refuse: the cases would
	// otherwise measure a registry with authentication off.
	if _, err := preflight(ctx, endpoint{addr: addr, tls: caOnly}, methodGetEntity, getRequest(0)); status.Code(err) != codes.Unauthenticated {
		return fmt.Errorf("a call without credentials was answered %v, want UNAUTHENTICATED", err)
	}
	res, err := runImport(ctx, endpoint{addr: addr, tls: caOnly, token: strings.TrimSpace(string(importer))}, e.mainData)
	if err == nil && res.failed > 0 {
		err = fmt.Errorf("%d items failed, first: %s", res.failed, res.firstError)
	}
	if err != nil {
		return fmt.Errorf("import of the read data set: %w", err)
	}
	e.sec.registry, e.sec.registryAddr, e.sec.dir = p, addr, dir
	e.sec.jwt = endpoint{addr: addr, tls: caOnly, token: token}
	e.sec.mtls = endpoint{addr: addr, tls: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}}
	e.logf("registry (auth on): %s (pid %d), TLS with optional client certificates, read data set imported in %v: %d items, revision %d",
		addr, p.PID, res.elapsed.Round(time.Millisecond), e.mainData.items, res.revision)
	return nil
}

func (e *env) startAuthGateway(ctx context.Context) error {
	file := func(name string) string { return filepath.Join(e.sec.dir, name) }
	addr, admin, err := freeAddrs()
	if err != nil {
		return err
	}
	// No metrics backend: its client certificate would be the gateway's
	// own, and the auth-on cases read entities only.
	p, err := e.g.Start(proc.Spec{Name: gatewayAuth, Path: e.bins["gateway"], Args: []string{
		"--http-addr", addr, "--registry", e.sec.registryAddr, "--metrics", "127.0.0.1:1", "--admin-addr", admin, "--log-level", "error",
		"--tls-cert", file("gateway.crt"), "--tls-key", file("gateway.key"),
		"--registry-ca", file("ca.crt"), "--client-cert", file("gateway.crt"), "--client-key", file("gateway.key"),
	}})
	if err != nil {
		return err
	}
	if err := p.WaitReady(ctx, e.cfg.ReadyTimeout, httpOK(e.adminClient, "https://"+addr+"/healthz")); err != nil {
		p.Stop(5 * time.Second)
		return err
	}
	e.tr.admin[gatewayAuth] = "https://" + admin
	https := endpoint{addr: addr, tls: e.sec.jwt.tls}
	pre := &load.HTTPConn{Addr: addr, TLS: https.tls}
	defer pre.Close()
	if err := pre.Do(load.NewRequest("GET", addr, "/v1/entities/x", "", nil), nil); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		p.Stop(5 * time.Second)
		return fmt.Errorf("a request without credentials was answered %v, want HTTP 401", err)
	}
	https.token = e.sec.jwt.token
	e.sec.gateway, e.sec.https = p, https
	e.logf("gateway (auth on): https://%s (pid %d), mutual TLS to the registry as its proxy", addr, p.PID)
	return nil
}

// issueClientCert issues a client certificate named name from the CA in
// dir (ca.crt, ca.key), writes it as name.crt and name.key, and returns it.
func issueClientCert(dir, name string) (tls.Certificate, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return tls.Certificate{}, err
	}
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		return tls.Certificate{}, errors.New("ca.crt holds no PEM certificate")
	}
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return tls.Certificate{}, err
	}
	caKey, err := devcerts.ReadKey(filepath.Join(dir, "ca.key"))
	if err != nil {
		return tls.Certificate{}, err
	}
	ca := &devcerts.CA{Cert: caCert, Key: caKey, DER: blk.Bytes}
	leaf, err := ca.Issue(name)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := leaf.Write(dir, name); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
}

// bindCertificate adds a certificate principal with one role to the auth
// config at path, whatever else the config holds, and checks that the
// services will accept the result.
func bindCertificate(path, principal, role string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	certs, _ := cfg["certificates"].([]any)
	cfg["certificates"] = append(certs, map[string]any{"principal": principal, "roles": []string{role}})
	if b, err = yaml.Marshal(cfg); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	_, err = auth.LoadConfig(path)
	return err
}

// signJWT signs a dev-issuer JWT (ES256, with the key's kid) for subject
// with roles, valid for ttl.
func signJWT(keyFile, subject string, roles []string, ttl time.Duration) (string, error) {
	key, err := devcerts.ReadKey(keyFile)
	if err != nil {
		return "", err
	}
	kid, err := auth.KeyID(&key.PublicKey)
	if err != nil {
		return "", err
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": auth.DevIssuer, "aud": auth.DevAudience, "sub": subject, "roles": roles,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	tok.Header["kid"] = kid
	return tok.SignedString(key)
}
