package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is the --auth-config file: who may authenticate how, and which
// roles they hold. It is YAML (or JSON); unknown keys are an error, so a
// typo never silently weakens access control. Relative file paths inside
// it are relative to the config file's folder.
type Config struct {
	// Issuers are the trusted JWT issuers.
	Issuers []IssuerConfig `json:"issuers,omitempty"`
	// StaticTokens names the file of static bearer tokens.
	StaticTokens *StaticTokensConfig `json:"staticTokens,omitempty"`
	// Certificates maps TLS client certificate identities (URI SAN, else
	// common name) to roles, or marks them as trusted proxies.
	Certificates []CertificateConfig `json:"certificates,omitempty"`
	// Bindings grant roles to principals by name, whatever their method.
	Bindings []Binding `json:"bindings,omitempty"`
	// Roles defines custom roles as permission patterns
	// ("talentreg.entities.get", "talentreg.entities.*").
	Roles map[string][]string `json:"roles,omitempty"`
	// Anonymous, when set, lets calls without any credential in with these
	// roles. Calls with a bad credential are still refused.
	Anonymous *AnonymousConfig `json:"anonymous,omitempty"`
	// Reflection serves gRPC server reflection (default true). Health is
	// always open.
	Reflection *bool `json:"reflection,omitempty"`
	// FailedAuth limits failed authentications per client address.
	FailedAuth *RateLimitConfig `json:"failedAuth,omitempty"`
	// TokenCacheTTL bounds how long a verified JWT is remembered (default
	// 1m; never past its expiry or the removal of its key; 0s disables).
	TokenCacheTTL *Duration `json:"tokenCacheTTL,omitempty"`

	dir string
}

// IssuerConfig is one trusted JWT issuer.
type IssuerConfig struct {
	// Issuer must equal the token's iss claim.
	Issuer string `json:"issuer"`
	// Audiences: the token's aud must hold at least one of them.
	Audiences []string `json:"audiences"`
	// JWKSFile or JWKSURL holds the issuer's public keys (exactly one).
	// A file is re-read when it changes; a URL is refreshed every
	// RefreshInterval and, rate limited, when a token names an unknown kid.
	JWKSFile string `json:"jwksFile,omitempty"`
	JWKSURL  string `json:"jwksURL,omitempty"`
	// RefreshInterval of a JWKS URL (default 10m).
	RefreshInterval *Duration `json:"refreshInterval,omitempty"`
	// Algorithms allowed (default RS256 and ES256). Only asymmetric
	// algorithms are accepted: never none, never HS*.
	Algorithms []string `json:"algorithms,omitempty"`
	// PrincipalClaim names the claim that identifies the caller (default
	// sub); PrincipalPrefix is put before it (e.g. "oidc:").
	PrincipalClaim  string `json:"principalClaim,omitempty"`
	PrincipalPrefix string `json:"principalPrefix,omitempty"`
	// RolesClaim optionally names a claim listing talentreg role names;
	// unknown names in it are ignored.
	RolesClaim string `json:"rolesClaim,omitempty"`
	// Leeway tolerated on exp, nbf and iat (default 30s).
	Leeway *Duration `json:"leeway,omitempty"`
}

// StaticTokensConfig names the static token file: one token a line,
// "sha256:<hex of the token's SHA-256>,<principal>,<role>[;<role>…]";
// blank lines and lines starting with # are ignored. It is re-read on
// SIGHUP.
type StaticTokensConfig struct {
	File string `json:"file"`
}

// CertificateConfig is one TLS client certificate identity.
type CertificateConfig struct {
	// Principal is the certificate's URI SAN (e.g.
	// spiffe://talentreg/metrics) or, without one, its common name.
	Principal string   `json:"principal"`
	Roles     []string `json:"roles,omitempty"`
	// Proxy marks a trusted proxy (the gateway): its calls are
	// authenticated by the bearer token they forward, and its
	// x-forwarded-for is the client's address. Its own identity grants
	// nothing.
	Proxy bool `json:"proxy,omitempty"`
}

// Binding grants roles to a principal.
type Binding struct {
	Principal string   `json:"principal"`
	Roles     []string `json:"roles"`
}

// AnonymousConfig is the anonymous caller's roles.
type AnonymousConfig struct {
	Roles []string `json:"roles"`
}

// RateLimitConfig is a token bucket per client address.
type RateLimitConfig struct {
	// PerMinute failures refill the bucket; Burst is its size.
	PerMinute float64 `json:"perMinute"`
	Burst     int     `json:"burst"`
}

// Duration is a time.Duration written as "30s", "10m".
type Duration struct{ time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' {
		return fmt.Errorf("duration must be a string such as \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration must not be negative, got %s", v)
	}
	d.Duration = v
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Defaults.
const (
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = 10 * time.Minute
	DefaultTokenCacheTTL   = time.Minute
	defaultFailuresPerMin  = 60
	defaultFailureBurst    = 30
)

// DefaultAlgorithms are the JWT algorithms allowed when an issuer names
// none.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// asymmetric are the JWT algorithms an issuer may allow.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// LoadConfig reads and validates the config file at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	c, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("auth config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates a config; relative paths are resolved
// against dir.
func ParseConfig(b []byte, dir string) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, err
	}
	c.dir = dir
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// path resolves a path from the config file.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate reports the first invalid setting, naming it.
func (c *Config) Validate() error {
	roles, err := newRoleTable(c.Roles)
	if err != nil {
		return err
	}
	checkRoles := func(where string, rs []string) error {
		for _, r := range rs {
			if _, ok := roles[r]; !ok {
				return fmt.Errorf("%s: unknown role %q", where, r)
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for i, is := range c.Issuers {
		at := fmt.Sprintf("issuers[%d]", i)
		switch {
		case is.Issuer == "":
			return fmt.Errorf("%s.issuer is required", at)
		case seen[is.Issuer]:
			return fmt.Errorf("%s.issuer %q is listed twice", at, is.Issuer)
		case len(is.Audiences) == 0:
			return fmt.Errorf("%s.audiences: at least one audience is required", at)
		case (is.JWKSFile == "") == (is.JWKSURL == ""):
			return fmt.Errorf("%s: exactly one of jwksFile and jwksURL is required", at)
		}
		seen[is.Issuer] = true
		for _, a := range is.Algorithms {
			if !slices.Contains(asymmetric, a) {
				return fmt.Errorf("%s.algorithms: %q is not allowed (allowed: %v; never none or HS*)", at, a, asymmetric)
			}
		}
	}
	if c.StaticTokens != nil && c.StaticTokens.File == "" {
		return errors.New("staticTokens.file is required")
	}
	certs := map[string]bool{}
	for i, cc := range c.Certificates {
		at := fmt.Sprintf("certificates[%d]", i)
		if cc.Principal == "" {
			return fmt.Errorf("%s.principal is required", at)
		}
		if certs[cc.Principal] {
			return fmt.Errorf("%s.principal %q is listed twice", at, cc.Principal)
		}
		certs[cc.Principal] = true
		if cc.Proxy && len(cc.Roles) > 0 {
			return fmt.Errorf("%s: a proxy's own identity holds no roles", at)
		}
		if err := checkRoles(at+".roles", cc.Roles); err != nil {
			return err
		}
	}
	for i, b := range c.Bindings {
		at := fmt.Sprintf("bindings[%d]", i)
		if b.Principal == "" {
			return fmt.Errorf("%s.principal is required", at)
		}
		if len(b.Roles) == 0 {
			return fmt.Errorf("%s.roles: at least one role is required", at)
		}
		if err := checkRoles(at+".roles", b.Roles); err != nil {
			return err
		}
	}
	if c.Anonymous != nil {
		if err := checkRoles("anonymous.roles", c.Anonymous.Roles); err != nil {
			return err
		}
	}
	if fa := c.FailedAuth; fa != nil && (fa.PerMinute <= 0 || fa.Burst < 1) {
		return errors.New("failedAuth: perMinute must be > 0 and burst ≥ 1")
	}
	if len(c.Issuers) == 0 && c.StaticTokens == nil && len(c.Certificates) == 0 && c.Anonymous == nil {
		return errors.New("no way to authenticate: configure issuers, staticTokens, certificates or anonymous")
	}
	return nil
}

// ReflectionEnabled reports whether gRPC reflection is served.
func (c *Config) ReflectionEnabled() bool { return c == nil || c.Reflection == nil || *c.Reflection }
