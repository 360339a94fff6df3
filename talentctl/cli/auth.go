package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"talentreg/platform/auth"
	"talentreg/platform/devcerts"
)

func (a *app) authCommand() *cobra.Command {
	cmd := parent(&cobra.Command{
		Use:   "auth",
		Short: "Credentials: a local dev config, static tokens, JWTs",
	})
	cmd.AddCommand(a.devConfigCommand(), a.newTokenCommand(), a.jwtCommand())
	return cmd
}

func (a *app) devConfigCommand() *cobra.Command {
	var out string
	var force bool
	var hosts []string
	cmd := &cobra.Command{
		Use:   "dev-config --out DIR",
		Short: "Write a working local auth config: a CA and service certificates, static tokens per role, a JWT issuer key",
		Long: `dev-config writes everything a local stack needs to run with authentication
and mutual TLS on:

  ca.crt ca.key                  a self-signed CA (valid one year)
  {registry,metrics,gateway}.crt/.key
                                 service certificates for localhost, 127.0.0.1 and ::1, with
                                 URI SANs spiffe://talentreg/<service> (their principals)
  tokens.csv                     static token hashes: admin, viewer, editor, importer, auditor
  <role>.token                   the tokens themselves (mode 0600)
  jwks.json jwt-signing.key      a JWT issuer "talentreg-dev" (ES256), for 'talentctl auth jwt'
  auth.yaml                      the --auth-config of the registry and metrics services

It is for a laptop: keep production keys out of it.`,
		Args: argsBetween(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("auth dev-config: --out DIR is required")}
			}
			if _, err := os.Stat(filepath.Join(out, "auth.yaml")); err == nil && !force {
				return usageError{fmt.Errorf("auth dev-config: %s already holds a config (--force replaces it)", out)}
			}
			if err := auth.WriteDevConfig(out, hosts); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, `Wrote a local auth config to %[1]s. Serve with it:

  registry --auth-config %[1]s/auth.yaml --tls-cert %[1]s/registry.crt --tls-key %[1]s/registry.key \
           --tls-client-ca %[1]s/ca.crt --tls-client-auth optional
  metrics  --auth-config %[1]s/auth.yaml --tls-cert %[1]s/metrics.crt --tls-key %[1]s/metrics.key \
           --tls-client-ca %[1]s/ca.crt --tls-client-auth optional \
           --registry-ca %[1]s/ca.crt --client-cert %[1]s/metrics.crt --client-key %[1]s/metrics.key
  gateway  --tls-cert %[1]s/gateway.crt --tls-key %[1]s/gateway.key \
           --registry-ca %[1]s/ca.crt --metrics-ca %[1]s/ca.crt --client-cert %[1]s/gateway.crt --client-key %[1]s/gateway.key

Call it:

  export TALENTREG_CA=%[1]s/ca.crt TALENTREG_TOKEN_FILE=%[1]s/admin.token
  talentctl summary
  curl --cacert %[1]s/ca.crt -H "Authorization: Bearer $(cat %[1]s/admin.token)" https://localhost:8080/v1/summary
`, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "folder to write (created if missing)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing config in the folder")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "extra DNS name or IP for the service certificates (repeatable)")
	return cmd
}

func (a *app) newTokenCommand() *cobra.Command {
	var roles []string
	cmd := &cobra.Command{
		Use:   "new-token PRINCIPAL --roles ROLE[,ROLE]",
		Short: "Make a static bearer token: prints the token and the line to add to the static token file",
		Args:  argsBetween(1, 1, "a principal name"),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(roles) == 0 {
				return usageError{errors.New("auth new-token: --roles is required")}
			}
			tok := auth.NewToken()
			fmt.Fprintf(a.stdout, "token (give it to %s; it is not stored anywhere):\n  %s\nline for the static token file (then SIGHUP the services):\n  %s\n",
				args[0], tok, auth.TokenLine(tok, args[0], roles))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "roles of the principal: "+strings.Join(sortedRoles(), ", "))
	return cmd
}

func sortedRoles() []string {
	return []string{auth.RoleViewer, auth.RoleEditor, auth.RoleImporter, auth.RoleFeedReader, auth.RoleAuditor, auth.RoleAdmin}
}

func (a *app) jwtCommand() *cobra.Command {
	var keyFile, issuer, subject string
	var audiences, roles []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "jwt --key jwt-signing.key --subject NAME [--roles ROLE,…]",
		Short: "Sign a JWT with a dev issuer key (for tests and demos; production tokens come from your identity provider)",
		Args:  argsBetween(0, 0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if keyFile == "" || subject == "" {
				return usageError{errors.New("auth jwt: --key and --subject are required")}
			}
			key, err := devcerts.ReadKey(keyFile)
			if err != nil {
				return usageError{err}
			}
			kid, err := auth.KeyID(&key.PublicKey)
			if err != nil {
				return err
			}
			now := time.Now()
			claims := jwt.MapClaims{
				"iss": issuer, "sub": subject, "aud": audiences,
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
			}
			if len(roles) > 0 {
				claims["roles"] = roles
			}
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
			tok.Header["kid"] = kid
			signed, err := tok.SignedString(key)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, signed)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "ES256 signing key (PKCS#8 PEM), e.g. the dev config's jwt-signing.key")
	cmd.Flags().StringVar(&issuer, "issuer", "talentreg-dev", "iss claim")
	cmd.Flags().StringSliceVar(&audiences, "audience", []string{"talentreg"}, "aud claim")
	cmd.Flags().StringVar(&subject, "subject", "", "sub claim: the principal")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "roles claim")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	return cmd
}
