package auth

import "context"

// Method says how a principal was authenticated. The numbers match the
// registry API's AuthMethod enum.
type Method uint8

// Authentication methods.
const (
	// MethodNone: the service runs without authentication.
	MethodNone Method = iota + 1
	// MethodJWT: a bearer JWT verified against an issuer's keys.
	MethodJWT
	// MethodStaticToken: a bearer token found in the static token file.
	MethodStaticToken
	// MethodMTLS: a verified TLS client certificate.
	MethodMTLS
	// MethodAnonymous: no credential, allowed by the anonymous role.
	MethodAnonymous
)

// String returns the lower-case name used in logs.
func (m Method) String() string {
	switch m {
	case MethodNone:
		return "none"
	case MethodJWT:
		return "jwt"
	case MethodStaticToken:
		return "static"
	case MethodMTLS:
		return "mtls"
	case MethodAnonymous:
		return "anonymous"
	}
	return "unknown"
}

// AnonymousName is the principal name of an anonymous caller.
const AnonymousName = "anonymous"

// Principal is an authenticated caller and where its call came from.
type Principal struct {
	// Name identifies the caller: a JWT's subject (with the issuer's
	// prefix), a static token's name, a certificate's URI SAN or common
	// name, "anonymous", or "" when authentication is off.
	Name   string
	Method Method
	// Roles are the caller's roles, from its credential and the config's
	// bindings.
	Roles []string
	// Peer is the client's address: the original client's, as a trusted
	// proxy forwarded it, else the connection's remote address.
	Peer string
	// Via is the trusted proxy's identity when the call came through one.
	Via string
	// UserAgent is the client's user agent (through a proxy, the one the
	// proxy forwarded).
	UserAgent string
	// RequestID is the call's correlation id (x-request-id).
	RequestID string

	perms permSet
}

// Can reports whether p holds permission perm.
func (p *Principal) Can(perm string) bool {
	i, ok := catalogue.index[perm]
	return ok && p.perms.has(i)
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of the call ctx belongs to, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
