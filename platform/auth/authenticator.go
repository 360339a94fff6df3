package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Options configure an Authenticator.
type Options struct {
	// ConfigPath is the --auth-config file; empty turns authentication
	// off (every caller may do everything, as MethodNone).
	ConfigPath string
	Logger     *slog.Logger
	// Registerer receives the failure counters (nil: not registered).
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Authenticator authenticates gRPC calls. Its config can be reloaded
// while it serves.
type Authenticator struct {
	path    string
	log     *slog.Logger
	now     func() time.Time
	state   atomic.Pointer[state]
	limiter *sourceLimiter
	cache   jwtCache

	failures *prometheus.CounterVec
	reloads  *prometheus.CounterVec

	reloadMu sync.Mutex
	ctx      context.Context
	cancel   context.CancelFunc
}

// state is everything derived from one reading of the config.
type state struct {
	cfg       *Config
	roles     roleTable
	issuers   map[string]*issuer
	static    map[[32]byte]staticToken
	certs     map[string]CertificateConfig
	bindings  map[string][]string
	anonymous []string // nil: no anonymous access

	// Resolved once per config rather than on every call: the roles
	// (bindings included) and permissions of each certificate principal
	// (static tokens keep theirs in staticToken.grant), and the
	// permissions of anonymous callers.
	certGrants     map[string]grant
	anonymousPerms permSet
}

// grant is what a principal holds: its roles (the credential's and its
// bindings) and their permissions.
type grant struct {
	roles []string
	perms permSet
}

// grant resolves the roles a credential names for principal name: the
// config's bindings are added, unknown roles (a JWT's claim) grant
// nothing. The roles slice is full, so a caller's append copies it.
func (st *state) grant(name string, roles []string) grant {
	g := grant{roles: append(append([]string{}, roles...), st.bindings[name]...)}
	g.roles = g.roles[:len(g.roles):len(g.roles)]
	for _, r := range g.roles {
		g.perms.union(st.roles[r])
	}
	return g
}

// New returns an Authenticator for opts, reading the config file.
func New(opts Options) (*Authenticator, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Authenticator{path: opts.ConfigPath, log: opts.Logger, now: opts.Now}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "talentreg_auth_failures_total",
		Help: "Calls refused before reaching a method: failed authentications and rate-limited sources, by reason.",
	}, []string{"reason"})
	a.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "talentreg_auth_reloads_total",
		Help: "Reloads of the auth config (SIGHUP), by result.",
	}, []string{"result"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(a.failures, a.reloads)
	}
	if a.path == "" {
		a.state.Store(&state{})
		return a, nil
	}
	st, err := a.load()
	if err != nil {
		a.cancel()
		return nil, err
	}
	a.state.Store(st)
	a.limiter = newSourceLimiter(st.cfg.FailedAuth, a.now)
	return a, nil
}

// tokenCacheTTL is how long a verified token is remembered under st.
func (st *state) tokenCacheTTL() time.Duration {
	if st.cfg != nil && st.cfg.TokenCacheTTL != nil {
		return st.cfg.TokenCacheTTL.Duration
	}
	return DefaultTokenCacheTTL
}

// Enabled reports whether calls are authenticated.
func (a *Authenticator) Enabled() bool { return a.path != "" }

// Config returns the config in force (nil when authentication is off).
func (a *Authenticator) Config() *Config { return a.state.Load().cfg }

// Close stops background key refreshes.
func (a *Authenticator) Close() {
	a.cancel()
	for _, is := range a.state.Load().issuers {
		is.keys.close()
	}
}

func (a *Authenticator) load() (*state, error) {
	cfg, err := LoadConfig(a.path)
	if err != nil {
		return nil, err
	}
	st := &state{cfg: cfg, issuers: map[string]*issuer{}, certs: map[string]CertificateConfig{}, bindings: map[string][]string{}}
	if st.roles, err = newRoleTable(cfg.Roles); err != nil {
		return nil, err
	}
	for _, ic := range cfg.Issuers {
		is, err := newIssuer(a.ctx, ic, cfg.path, a.log)
		if err != nil {
			for _, done := range st.issuers {
				done.keys.close()
			}
			return nil, err
		}
		st.issuers[ic.Issuer] = is
	}
	if cfg.StaticTokens != nil {
		if st.static, err = loadStaticTokens(cfg.path(cfg.StaticTokens.File), st.roles); err != nil {
			return nil, err
		}
	}
	for _, cc := range cfg.Certificates {
		st.certs[cc.Principal] = cc
	}
	for _, b := range cfg.Bindings {
		st.bindings[b.Principal] = append(st.bindings[b.Principal], b.Roles...)
	}
	if cfg.Anonymous != nil {
		st.anonymous = append([]string{}, cfg.Anonymous.Roles...)
		for _, r := range st.anonymous {
			st.anonymousPerms.union(st.roles[r])
		}
	}
	st.certGrants = make(map[string]grant, len(st.certs))
	for name, cc := range st.certs {
		st.certGrants[name] = st.grant(name, cc.Roles)
	}
	for h, t := range st.static {
		t.grant = st.grant(t.name, t.roles)
		st.static[h] = t
	}
	return st, nil
}

// Reload re-reads the config file, its static token file and JWKS files.
// On error the config in force stays, and the error says why.
func (a *Authenticator) Reload() error {
	if a.path == "" {
		return nil
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	st, err := a.load()
	if err != nil {
		a.reloads.WithLabelValues("error").Inc()
		return err
	}
	old := a.state.Swap(st)
	for _, is := range old.issuers {
		is.keys.close()
	}
	a.limiter.reconfigure(st.cfg.FailedAuth)
	a.cache.clear()
	a.reloads.WithLabelValues("ok").Inc()
	return nil
}

// Error is a refused call: Code is UNAUTHENTICATED, PERMISSION_DENIED or
// RESOURCE_EXHAUSTED (as a gRPC code name), Reason the ErrorInfo reason.
type Error struct {
	Unauthenticated bool
	RateLimited     bool
	Reason          string
	Message         string
	// Permission is the permission that was missing (PERMISSION_DENIED).
	Permission string
}

func (e *Error) Error() string { return e.Message }

// Authenticate returns the caller of the call ctx belongs to.
func (a *Authenticator) Authenticate(ctx context.Context) (*Principal, error) {
	md := incomingMetadata{ctx}
	st := a.state.Load()
	p := &Principal{RequestID: clip(RequestID(ctx), 256)}
	remote, certName, conn := peerOf(ctx)
	if cc, ok := st.certs[certName]; ok && cc.Proxy {
		p.Via = certName
		p.Peer = lastForwarded(md)
		p.UserAgent = first(md, "grpcgateway-user-agent")
		certName = ""
	}
	if p.Peer == "" {
		p.Peer = remote
	}
	if p.UserAgent == "" {
		p.UserAgent = first(md, "user-agent")
	}
	if a.path == "" {
		p.Method = MethodNone
		p.perms = allPermsSet()
		return p, nil
	}
	token, hasToken, err := bearer(md)
	if err != nil {
		a.failures.WithLabelValues(ReasonTokenMalformed).Inc()
		return nil, err
	}
	switch {
	case hasToken:
		source := hostOf(p.Peer)
		if !a.limiter.allow(source) {
			a.failures.WithLabelValues(ReasonRateLimited).Inc()
			return nil, &Error{RateLimited: true, Reason: ReasonRateLimited,
				Message: "too many failed authentications from " + source + "; try again later"}
		}
		var g grant
		h := conn.tokenHash(token)
		if strings.Count(token, ".") == 2 {
			p.Method = MethodJWT
			p.Name, g, err = a.verifyJWT(ctx, st, token, h, a.now())
		} else {
			p.Method = MethodStaticToken
			t, ok := st.static[h]
			if !ok {
				err = &authError{ReasonTokenUnknown, "bearer token is not known"}
			}
			p.Name, g = t.name, t.grant
		}
		if err != nil {
			a.limiter.fail(source)
			var ae *authError
			if !errors.As(err, &ae) {
				ae = &authError{ReasonTokenInvalid, "bearer token cannot be verified"}
			}
			a.failures.WithLabelValues(ae.reason).Inc()
			return nil, &Error{Unauthenticated: true, Reason: ae.reason, Message: "unauthenticated: " + ae.msg}
		}
		p.Roles, p.perms = g.roles, g.perms
	case certName != "":
		g := st.certGrants[certName]
		p.Method, p.Name, p.Roles, p.perms = MethodMTLS, certName, g.roles, g.perms
	case st.anonymous != nil:
		p.Method, p.Name, p.Roles, p.perms = MethodAnonymous, AnonymousName, st.anonymous, st.anonymousPerms
	default:
		a.failures.WithLabelValues(ReasonCredentialsMissing).Inc()
		return nil, &Error{Unauthenticated: true, Reason: ReasonCredentialsMissing,
			Message: "unauthenticated: send a bearer token (authorization: Bearer …) or a client certificate"}
	}
	return p, nil
}

func (a *Authenticator) verifyJWT(ctx context.Context, st *state, raw string, key [32]byte, now time.Time) (string, grant, error) {
	if len(st.issuers) == 0 {
		return "", grant{}, &authError{ReasonTokenIssuer, "JWT bearer tokens are not accepted here (no issuer is configured)"}
	}
	return st.verifyJWT(ctx, &a.cache, raw, key, now)
}

func (st *state) knownRoles(rs []string) []string {
	out := rs[:0:0]
	for _, r := range rs {
		if _, ok := st.roles[r]; ok {
			out = append(out, r)
		}
	}
	return out
}

// incomingMetadata reads a call's metadata a key at a time, as
// metadata.MD.Get would. metadata.FromIncomingContext copies the whole map
// (every key lower-cased, every value slice copied) on every call: 3% of
// the registry's CPU under GetEntity load, auth on or off.
type incomingMetadata struct{ ctx context.Context }

// Get returns the values of key, a lower-case name.
func (m incomingMetadata) Get(key string) []string {
	return metadata.ValueFromIncomingContext(m.ctx, key)
}

// bearer returns the token of an "authorization: Bearer …" header.
func bearer(md incomingMetadata) (string, bool, error) {
	vs := md.Get("authorization")
	if len(vs) == 0 {
		return "", false, nil
	}
	if len(vs) > 1 {
		return "", false, &Error{Unauthenticated: true, Reason: ReasonTokenMalformed, Message: "unauthenticated: more than one authorization header"}
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(vs[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", false, &Error{Unauthenticated: true, Reason: ReasonTokenMalformed, Message: "unauthenticated: the authorization header must be \"Bearer <token>\""}
	}
	return token, true, nil
}

// peerOf returns the connection's remote address and, for a verified TLS
// client certificate, its identity: the first URI SAN, else the common
// name; and the connection's memo (nil for a connection that is not TCP).
func peerOf(ctx context.Context) (remote, certName string, conn *peerEntry) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return "", "", nil
	}
	var leaf *x509.Certificate
	if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
		leaf = ti.State.VerifiedChains[0][0]
	}
	tcp, _ := pr.Addr.(*net.TCPAddr)
	if tcp == nil {
		if pr.Addr != nil {
			remote = pr.Addr.String()
		}
		if leaf != nil {
			certName = CertificateName(leaf)
		}
		return remote, certName, nil
	}
	e := peers.lookup(tcp, leaf)
	return e.remote, e.certName, e
}

// peerMemo remembers what Authenticate derives from a connection, which
// presents the same address and certificate objects on every call:
// formatting them (the address, the certificate's URI) cost two to four
// allocations on every call, and hashing the bearer token, which a client
// sends unchanged on every call of a connection, a third of a cached
// JWT's time. It is a small direct-mapped table: a slot holds the last
// connection that hashed to it, and an entry is used only for the very
// objects it was made from.
type peerMemo struct {
	slots [256]atomic.Pointer[peerEntry]
}

// peerEntry is what peerMemo keeps of one connection.
type peerEntry struct {
	addr             *net.TCPAddr
	leaf             *x509.Certificate
	remote, certName string
	// token is the last bearer token seen on the connection, with its hash.
	token atomic.Pointer[hashedToken]
}

type hashedToken struct {
	raw  string
	hash [32]byte
}

var peers peerMemo

func (m *peerMemo) lookup(addr *net.TCPAddr, leaf *x509.Certificate) *peerEntry {
	h := uint(addr.Port)
	if n := len(addr.IP); n > 0 {
		h ^= uint(addr.IP[n-1]) << 8
	}
	slot := &m.slots[h%uint(len(m.slots))]
	if e := slot.Load(); e != nil && e.addr == addr && e.leaf == leaf {
		return e
	}
	e := &peerEntry{addr: addr, leaf: leaf, remote: addr.String()}
	if leaf != nil {
		e.certName = CertificateName(leaf)
	}
	slot.Store(e)
	return e
}

// tokenHash returns tokenHash(token), from the connection's memo when it
// sent the same token last (e may be nil: no memo).
func (e *peerEntry) tokenHash(token string) [32]byte {
	if e == nil {
		return tokenHash(token)
	}
	if t := e.token.Load(); t != nil && t.raw == token {
		return t.hash
	}
	t := &hashedToken{raw: token, hash: tokenHash(token)}
	e.token.Store(t)
	return t.hash
}

// CertificateName is a certificate's principal: its first URI SAN, else
// its subject common name.
func CertificateName(c *x509.Certificate) string {
	if len(c.URIs) > 0 {
		return c.URIs[0].String()
	}
	return c.Subject.CommonName
}

// lastForwarded returns the last address of x-forwarded-for: the one the
// proxy itself added.
func lastForwarded(md incomingMetadata) string {
	vs := md.Get("x-forwarded-for")
	if len(vs) == 0 {
		return ""
	}
	parts := strings.Split(vs[len(vs)-1], ",")
	return strings.TrimSpace(parts[len(parts)-1])
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func first(md incomingMetadata, key string) string {
	if vs := md.Get(key); len(vs) > 0 {
		return clip(vs[0], 256)
	}
	return ""
}

// clip bounds a client-supplied value kept in logs and change events.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// allPermsSet is every permission of the catalogue, built once.
var allPermsSet = sync.OnceValue(func() permSet {
	var s permSet
	for i := range catalogue.names {
		s.add(i)
	}
	return s
})

// Describe is for logs: "alice (jwt)".
func (p *Principal) Describe() string {
	if p.Name == "" {
		return p.Method.String()
	}
	return fmt.Sprintf("%s (%s)", p.Name, p.Method)
}
