package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// keySource is an issuer's verification keys.
type keySource interface {
	keyfunc() jwt.Keyfunc
	// has reports whether the key kid is still published.
	has(ctx context.Context, kid string) bool
	// generation numbers the key set: the same non-zero number means the
	// same keys. 0 means unknown (ask has).
	generation() uint64
	close()
}

// issuer verifies the tokens of one IssuerConfig.
type issuer struct {
	cfg    IssuerConfig
	keys   keySource
	parser *jwt.Parser
}

func newIssuer(ctx context.Context, cfg IssuerConfig, path func(string) string, log *slog.Logger) (*issuer, error) {
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	leeway := DefaultLeeway
	if cfg.Leeway != nil {
		leeway = cfg.Leeway.Duration
	}
	is := &issuer{cfg: cfg, parser: jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	)}
	var err error
	if cfg.JWKSFile != "" {
		is.keys, err = newFileKeys(path(cfg.JWKSFile))
	} else {
		refresh := DefaultRefreshInterval
		if cfg.RefreshInterval != nil && cfg.RefreshInterval.Duration > 0 {
			refresh = cfg.RefreshInterval.Duration
		}
		is.keys, err = newURLKeys(ctx, cfg.JWKSURL, refresh, log)
	}
	if err != nil {
		return nil, fmt.Errorf("issuer %s: %w", cfg.Issuer, err)
	}
	return is, nil
}

// fileKeys is a JWKS file, re-read when it changes (checked at most once a
// second, and at once when a token names a key it lacks).
type fileKeys struct {
	path string

	mu      sync.Mutex
	kf      keyfunc.Keyfunc
	gen     int // bumped at each load
	stamp   fileStamp
	checked time.Time

	// loaded mirrors gen and checkedAt mirrors checked (unix ns), read
	// without the mutex by generation.
	loaded    atomic.Uint64
	checkedAt atomic.Int64
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newFileKeys(path string) (*fileKeys, error) {
	k := &fileKeys{path: path}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *fileKeys) load() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("JWKS file: %w", err)
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("JWKS file: %w", err)
	}
	kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(b))
	if err != nil {
		return fmt.Errorf("JWKS file %s: %w", k.path, err)
	}
	k.kf, k.stamp, k.checked = kf, fileStamp{st.ModTime(), st.Size()}, time.Now()
	k.gen++
	k.loaded.Store(uint64(k.gen))
	k.checkedAt.Store(k.checked.UnixNano())
	return nil
}

// refresh re-reads the file if it changed; force skips the once-a-second
// throttle. A file that cannot be read keeps the last good keys.
func (k *fileKeys) refresh(force bool) (keyfunc.Keyfunc, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if force || time.Since(k.checked) >= time.Second {
		k.checked = time.Now()
		k.checkedAt.Store(k.checked.UnixNano())
		if st, err := os.Stat(k.path); err == nil && (fileStamp{st.ModTime(), st.Size()}) != k.stamp {
			_ = k.load()
		}
	}
	return k.kf, k.gen
}

func (k *fileKeys) keyfunc() jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kf, gen := k.refresh(false)
		key, err := kf.Keyfunc(t)
		if err != nil {
			// Perhaps the key was just added: look at the file now.
			if kf2, gen2 := k.refresh(true); gen2 != gen {
				return kf2.Keyfunc(t)
			}
		}
		return key, err
	}
}

func (k *fileKeys) has(ctx context.Context, kid string) bool {
	kf, _ := k.refresh(false)
	_, err := kf.Storage().KeyRead(ctx, kid)
	return err == nil
}

// generation is the number of the file's current load, after the same
// once-a-second look at the file that has does; within that second it
// takes no lock.
func (k *fileKeys) generation() uint64 {
	if time.Now().UnixNano()-k.checkedAt.Load() < int64(time.Second) {
		return k.loaded.Load()
	}
	_, gen := k.refresh(false)
	return uint64(gen)
}

func (k *fileKeys) close() {}

// urlKeys is a JWKS URL, refreshed periodically and, at most every 10 s,
// when a token names an unknown key (rotation).
type urlKeys struct {
	kf     keyfunc.Keyfunc
	cancel context.CancelFunc
}

func newURLKeys(ctx context.Context, url string, refresh time.Duration, log *slog.Logger) (*urlKeys, error) {
	ctx, cancel := context.WithCancel(ctx)
	fail := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		HTTPTimeout:               10 * time.Second,
		RefreshInterval:           refresh,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(10*time.Second), 1),
		RateLimitWaitMax:          time.Second,
		NoErrorReturnFirstHTTPReq: &fail,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				log.Warn("refreshing a JWKS failed; keeping the last keys", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("JWKS URL %s: %w", url, err)
	}
	return &urlKeys{kf: kf, cancel: cancel}, nil
}

func (k *urlKeys) keyfunc() jwt.Keyfunc { return k.kf.Keyfunc }

func (k *urlKeys) has(ctx context.Context, kid string) bool {
	_, err := k.kf.Storage().KeyRead(ctx, kid)
	return err == nil
}

// generation is unknown: the library refreshes the keys by itself.
func (k *urlKeys) generation() uint64 { return 0 }

func (k *urlKeys) close() { k.cancel() }

// jwtCache remembers verified tokens until the earliest of their expiry
// and the cache TTL, and only while their key is still published.
type jwtCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedToken
}

type cachedToken struct {
	name  string
	grant grant
	// st is the config the token was verified under: an entry made under
	// another (a reload raced the cache's clearing) is not used.
	st      *state
	issuer  *issuer
	kid     string
	keysGen uint64 // the issuer's key set when verified (0: unknown)
	expires time.Time
}

const jwtCacheMax = 10000

func (c *jwtCache) get(ctx context.Context, st *state, key [32]byte, now time.Time) (cachedToken, bool) {
	if st.tokenCacheTTL() <= 0 {
		return cachedToken{}, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || e.st != st || !now.Before(e.expires) {
		return cachedToken{}, false
	}
	// The key is still published if the key set has not changed since
	// (a number to compare); else ask the key set.
	if gen := e.issuer.keys.generation(); gen == 0 || gen != e.keysGen {
		if !e.issuer.keys.has(ctx, e.kid) {
			return cachedToken{}, false
		}
	}
	return e, true
}

func (c *jwtCache) put(key [32]byte, e cachedToken) {
	if e.st.tokenCacheTTL() <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= jwtCacheMax {
		c.m = make(map[[32]byte]cachedToken) // simple bound: start over
	}
	c.m[key] = e
}

func (c *jwtCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// authError is a failed authentication: the reason is the ErrorInfo
// reason, the message is safe to show the caller.
type authError struct {
	reason string
	msg    string
}

func (e *authError) Error() string { return e.msg }

// Reasons of failed authentications (ErrorInfo reason, and the label of
// the failures counter).
const (
	ReasonCredentialsMissing = "CREDENTIALS_MISSING"
	ReasonTokenMalformed     = "TOKEN_MALFORMED"
	ReasonTokenInvalid       = "TOKEN_INVALID"
	ReasonTokenExpired       = "TOKEN_EXPIRED"
	ReasonTokenNotYetValid   = "TOKEN_NOT_YET_VALID"
	ReasonTokenAudience      = "TOKEN_AUDIENCE"
	ReasonTokenIssuer        = "TOKEN_ISSUER"
	ReasonTokenUnknown       = "TOKEN_UNKNOWN"
	ReasonCertificateUnknown = "CERTIFICATE_UNKNOWN"
	ReasonRateLimited        = "AUTH_RATE_LIMITED"
	ReasonPermissionDenied   = "PERMISSION_DENIED"
)

// verifyJWT verifies raw against the issuer its iss claim names.
// key is tokenHash(raw).
func (st *state) verifyJWT(ctx context.Context, cache *jwtCache, raw string, key [32]byte, now time.Time) (name string, g grant, err error) {
	if e, ok := cache.get(ctx, st, key, now); ok {
		return e.name, e.grant, nil
	}
	var claims jwt.MapClaims
	unverified, _, perr := jwt.NewParser().ParseUnverified(raw, &claims)
	if perr != nil {
		return "", grant{}, &authError{ReasonTokenMalformed, "bearer token is not a well-formed JWT"}
	}
	if _, ok := unverified.Header["crit"]; ok {
		// RFC 7515 4.1.11: extensions a recipient does not understand
		// make the token invalid; this service understands none.
		return "", grant{}, &authError{ReasonTokenInvalid, "JWT header names critical extensions (crit), which this service does not support"}
	}
	iss, _ := claims["iss"].(string)
	is := st.issuers[iss]
	if is == nil {
		return "", grant{}, &authError{ReasonTokenIssuer, "JWT issuer is not trusted"}
	}
	// The key set's number before verifying: a change while verifying
	// makes the entry ask the key set on its first use.
	keysGen := is.keys.generation()
	claims = jwt.MapClaims{}
	tok, err := is.parser.ParseWithClaims(raw, &claims, is.keys.keyfunc())
	if err != nil || !tok.Valid {
		return "", grant{}, jwtError(err)
	}
	nameClaim := is.cfg.PrincipalClaim
	if nameClaim == "" {
		nameClaim = "sub"
	}
	sub, _ := claims[nameClaim].(string)
	if sub == "" {
		return "", grant{}, &authError{ReasonTokenInvalid, "JWT has no " + nameClaim + " claim naming the caller"}
	}
	if !usableName(sub) {
		// The name goes into every change's audit entry and into logs.
		return "", grant{}, &authError{ReasonTokenInvalid, fmt.Sprintf("JWT %s claim must be at most %d bytes of printable UTF-8", nameClaim, maxPrincipalName)}
	}
	name = is.cfg.PrincipalPrefix + sub
	var roles []string
	if is.cfg.RolesClaim != "" {
		roles = st.knownRoles(claimStrings(claims[is.cfg.RolesClaim]))
	}
	g = st.grant(name, roles)
	exp, _ := claims.GetExpirationTime()
	kid, _ := unverified.Header["kid"].(string)
	if exp != nil && kid != "" {
		until := now.Add(st.tokenCacheTTL())
		if exp.Time.Before(until) {
			until = exp.Time
		}
		cache.put(key, cachedToken{name: name, grant: g, st: st, issuer: is, kid: kid, keysGen: keysGen, expires: until})
	}
	return name, g, nil
}

// tokenHash is the SHA-256 of a bearer token, the key under which it is
// known (only hashes are kept): a token of usual size is copied to the
// stack rather than converted to a []byte on the heap. Not inlined: its
// buffer would otherwise enlarge the frame of every authenticated call,
// memo hit or not, and with it the handler goroutine's stack.
//
//go:noinline
func tokenHash(token string) [32]byte {
	var buf [1024]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(append(buf[:0], token...))
	}
	return sha256.Sum256([]byte(token))
}

// maxPrincipalName bounds the name a token gives its caller.
const maxPrincipalName = 256

// usableName reports whether a token's caller name is one the audit trail
// and logs may hold as it is: bounded, valid UTF-8, no control characters.
func usableName(s string) bool {
	if len(s) > maxPrincipalName || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// requiredClaim finds the claim golang-jwt names in a missing-claim error
// ("aud claim is required").
var requiredClaim = regexp.MustCompile(`\b([a-z]+) claim is required`)

// jwtError maps a golang-jwt validation error to a reason.
func jwtError(err error) *authError {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return &authError{ReasonTokenExpired, "JWT has expired"}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &authError{ReasonTokenNotYetValid, "JWT is not valid yet"}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &authError{ReasonTokenAudience, "JWT audience is not this service"}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return &authError{ReasonTokenIssuer, "JWT issuer is not trusted"}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &authError{ReasonTokenMalformed, "bearer token is not a well-formed JWT"}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		claim := "exp"
		if m := requiredClaim.FindStringSubmatch(err.Error()); m != nil {
			claim = m[1]
		}
		return &authError{ReasonTokenInvalid, "JWT lacks a required claim (" + claim + ")"}
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		// Claims are checked only once the signature holds (golang-jwt
		// verifies it first): naming the fault tells a forger nothing.
		return &authError{ReasonTokenInvalid, "JWT has a claim of the wrong type (exp, nbf and iat are numbers; aud is a string or a list of them)"}
	}
	// Bad signature, unknown kid, a disallowed algorithm: one answer, so
	// that a forger learns nothing about which check failed.
	return &authError{ReasonTokenInvalid, "JWT signature cannot be verified"}
}

// claimStrings reads a claim holding a list of strings or one
// space-separated string.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
