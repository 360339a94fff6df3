// Package security holds the security settings every talentreg binary
// shares: the server side (--auth-config, --insecure-no-auth, --tls-*) with
// protected mode and SIGHUP reloads, and the client side (a CA, a client
// certificate, a bearer token) as gRPC dial options.
package security

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"talentreg/platform/auth"
	"talentreg/platform/tlsfiles"
)

// Server is a service's security configuration.
type Server struct {
	// AuthConfig is the --auth-config file; empty turns authentication off
	// (allowed on loopback addresses only, unless InsecureNoAuth).
	AuthConfig     string
	InsecureNoAuth bool
	TLS            tlsfiles.Server
	// ClientAuth is "require" (default) or "optional": whether a client
	// certificate is required when --tls-client-ca is given.
	ClientAuth string
}

// AddFlags registers the server flags on fs.
func (s *Server) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.AuthConfig, "auth-config", s.AuthConfig, "auth config file (YAML): JWT issuers, static tokens, certificate principals, role bindings; without it the service serves loopback addresses only")
	fs.BoolVar(&s.InsecureNoAuth, "insecure-no-auth", s.InsecureNoAuth, "serve without authentication on any address (everyone may do everything); a warning is logged at every start")
	fs.StringVar(&s.TLS.CertFile, "tls-cert", s.TLS.CertFile, "PEM certificate (chain) to serve TLS on every listener; reloaded when the file changes")
	fs.StringVar(&s.TLS.KeyFile, "tls-key", s.TLS.KeyFile, "PEM private key of --tls-cert")
	fs.StringVar(&s.TLS.ClientCAFile, "tls-client-ca", s.TLS.ClientCAFile, "PEM CA bundle for client certificates (mutual TLS); a client certificate's URI SAN or CN is its principal")
	fs.StringVar(&s.ClientAuth, "tls-client-auth", "require", "with --tls-client-ca: require a client certificate on the gRPC listener, or make it optional (bearer-token clients without one)")
}

// Validate reports an inconsistent configuration and enforces protected
// mode over the listen addresses (flag name → address).
func (s *Server) Validate(listen map[string]string) error {
	if err := s.TLS.Validate(""); err != nil {
		return err
	}
	switch s.ClientAuth {
	case "", "require", "optional":
	default:
		return fmt.Errorf("--tls-client-auth must be require or optional, got %q", s.ClientAuth)
	}
	if s.AuthConfig != "" && s.InsecureNoAuth {
		return errors.New("--auth-config and --insecure-no-auth contradict each other: give one")
	}
	return auth.ProtectedMode(s.AuthConfig != "", s.InsecureNoAuth, listen)
}

// Built is a Server's configuration made ready to serve.
type Built struct {
	Auth *auth.Authenticator
	// GRPC and Admin are the listeners' TLS configs, nil without TLS.
	// The admin listener asks for, but never requires, a client
	// certificate, so a Prometheus without one can scrape it.
	GRPC, Admin *tls.Config
	// NoReflection is set when the auth config switches reflection off.
	NoReflection bool
}

// Build loads the auth config and TLS files and logs the posture: a
// warning when serving without authentication.
func (s *Server) Build(log *slog.Logger, reg prometheus.Registerer) (*Built, error) {
	a, err := auth.New(auth.Options{ConfigPath: s.AuthConfig, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	b := &Built{Auth: a, NoReflection: !a.Config().ReflectionEnabled()}
	if s.TLS.Enabled() {
		grpcTLS := s.TLS
		grpcTLS.RequireClientCert = s.ClientAuth != "optional"
		if b.GRPC, err = grpcTLS.Config("h2"); err != nil {
			a.Close()
			return nil, err
		}
		if b.Admin, err = s.TLS.Config("h2", "http/1.1"); err != nil {
			a.Close()
			return nil, err
		}
	}
	switch {
	case s.InsecureNoAuth:
		log.Warn("serving WITHOUT AUTHENTICATION (--insecure-no-auth): every caller may read and change everything")
	case s.AuthConfig == "":
		log.Warn("serving without authentication on loopback only (no --auth-config): every local caller may do everything")
	}
	if !s.TLS.Enabled() && s.AuthConfig != "" {
		log.Warn("bearer tokens travel in clear text: give --tls-cert and --tls-key")
	}
	return b, nil
}

// ReloadOnSIGHUP reloads the auth config (and the static token and JWKS
// files it names) on every SIGHUP until ctx ends. TLS files reload by
// themselves when they change.
func (b *Built) ReloadOnSIGHUP(ctx context.Context, log *slog.Logger) {
	if !b.Auth.Enabled() {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if err := b.Auth.Reload(); err != nil {
					log.Error("reloading the auth config failed; the previous one stays in force", "err", err)
				} else {
					log.Info("auth config reloaded")
				}
			}
		}
	}()
}

// Client is how a binary calls another talentreg service.
type Client struct {
	TLS tlsfiles.Client
	// Token is a bearer token; TokenFile names a file holding one (re-read
	// when it changes, so a rotated token is picked up).
	Token, TokenFile string
}

// Validate reports an inconsistent client configuration.
func (c *Client) Validate() error {
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("a client certificate needs both its certificate and its key file")
	}
	if c.Token != "" && c.TokenFile != "" {
		return errors.New("give a token or a token file, not both")
	}
	return nil
}

// DialOptions returns the transport and per-call credentials to reach
// target: TLS when a CA or client certificate is configured, plaintext
// otherwise; a bearer token on every call when one is configured. A token
// is never sent in clear text to a non-loopback address.
func (c *Client) DialOptions(target string) ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	secure := c.TLS.Enabled()
	if secure {
		cfg, err := c.TLS.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if c.Token != "" || c.TokenFile != "" {
		if !secure && !loopbackTarget(target) {
			return nil, fmt.Errorf("refusing to send a bearer token in clear text to %s: configure TLS (a CA file)", target)
		}
		ts := &tokenSource{token: strings.TrimSpace(c.Token), file: c.TokenFile, secure: secure}
		if c.TokenFile != "" {
			if _, err := ts.get(); err != nil {
				return nil, err
			}
		}
		opts = append(opts, grpc.WithPerRPCCredentials(ts))
	}
	return opts, nil
}

func loopbackTarget(target string) bool {
	t := target
	if i := strings.LastIndex(t, "///"); i >= 0 {
		t = t[i+3:]
	}
	for _, a := range strings.Split(t, ",") {
		if !auth.Loopback(a) {
			return false
		}
	}
	return true
}

// tokenSource sends "authorization: Bearer <token>" on every call.
type tokenSource struct {
	token  string
	file   string
	secure bool

	mu      sync.Mutex
	checked time.Time
	mod     time.Time
}

func (t *tokenSource) get() (string, error) {
	if t.file == "" {
		return t.token, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.checked) < time.Second && t.token != "" {
		return t.token, nil
	}
	t.checked = time.Now()
	st, err := os.Stat(t.file)
	if err != nil {
		if t.token != "" {
			return t.token, nil // keep the last token while the file is replaced
		}
		return "", fmt.Errorf("token file: %w", err)
	}
	if st.ModTime().Equal(t.mod) && t.token != "" {
		return t.token, nil
	}
	b, err := os.ReadFile(t.file)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", t.file)
	}
	t.token, t.mod = tok, st.ModTime()
	return t.token, nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t *tokenSource) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := t.get()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials:
// DialOptions has already refused clear text beyond loopback.
func (t *tokenSource) RequireTransportSecurity() bool { return false }
