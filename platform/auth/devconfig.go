package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/MicahParks/jwkset"

	"talentreg/platform/devcerts"
)

// DevServices are the services' certificate identities in a dev config.
var DevServices = []string{"registry", "metrics", "gateway"}

// DevTokenRoles are the roles a dev config has a static token for, each
// written to <role>.token.
var DevTokenRoles = []string{RoleAdmin, RoleViewer, RoleEditor, RoleImporter, RoleAuditor, RoleFeedReader}

// DevIssuer is the JWT issuer of a dev config, DevAudience its audience.
const (
	DevIssuer   = "talentreg-dev"
	DevAudience = "talentreg"
)

// WriteDevConfig writes a working local auth config into dir: a CA
// (ca.crt, ca.key), a certificate per DevServices entry, a static token
// per DevTokenRoles entry (<role>.token, and their hashes in tokens.csv),
// an ES256 JWT issuer (jwt-signing.key, jwks.json) and auth.yaml. hosts
// are extra names for the service certificates. For laptops and tests.
func WriteDevConfig(dir string, hosts []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	write := func(name string, data []byte, mode os.FileMode) error {
		return os.WriteFile(filepath.Join(dir, name), data, mode)
	}
	ca, err := devcerts.NewCA("talentreg dev CA")
	if err != nil {
		return err
	}
	if err := ca.Write(dir, "ca"); err != nil {
		return err
	}
	for _, svc := range DevServices {
		leaf, err := ca.Issue(svc, hosts...)
		if err != nil {
			return err
		}
		if err := leaf.Write(dir, svc); err != nil {
			return err
		}
	}
	lines := []string{"# sha256 of the token, principal, roles (talentctl auth new-token prints a line)"}
	for _, role := range DevTokenRoles {
		tok := NewToken()
		if err := write(role+".token", []byte(tok+"\n"), 0o600); err != nil {
			return err
		}
		lines = append(lines, TokenLine(tok, "dev-"+role, []string{role}))
	}
	if err := write("tokens.csv", []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	jwtKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := devcerts.WriteKey(filepath.Join(dir, "jwt-signing.key"), jwtKey); err != nil {
		return err
	}
	jwks, err := PublicJWKS(&jwtKey.PublicKey)
	if err != nil {
		return err
	}
	if err := write("jwks.json", jwks, 0o644); err != nil {
		return err
	}
	return write("auth.yaml", []byte(devAuthYAML), 0o644)
}

const devAuthYAML = `# Written by 'talentctl auth dev-config' for local use. The format is
# documented in the README ("Security").
issuers:
  - issuer: talentreg-dev
    audiences: [talentreg]
    jwksFile: jwks.json          # re-read when it changes
    algorithms: [ES256]
    rolesClaim: roles            # 'talentctl auth jwt --roles' puts them there
staticTokens:
  file: tokens.csv               # re-read on SIGHUP
certificates:
  - principal: spiffe://talentreg/metrics
    roles: [feed-reader]         # the metrics service follows the change feed
  - principal: spiffe://talentreg/gateway
    proxy: true                  # forwards its callers' tokens and addresses
`

// KeyID names a public key by the SHA-256 of its encoding, so that the
// JWKS and the tokens signed with the key agree without sharing state.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(h[:12]), nil
}

// PublicJWKS returns a JWK Set holding pub, for ES256 signatures.
func PublicJWKS(pub *ecdsa.PublicKey) ([]byte, error) {
	kid, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: kid, ALG: jwkset.AlgES256, USE: jwkset.UseSig,
	}})
	if err != nil {
		return nil, err
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyWrite(context.Background(), jwk); err != nil {
		return nil, err
	}
	raw, err := set.JSONPublic(context.Background())
	if err != nil {
		return nil, err
	}
	var pretty any
	if err := json.Unmarshal(raw, &pretty); err != nil {
		return nil, err
	}
	return json.MarshalIndent(pretty, "", "  ")
}
