// Package tlsfiles builds TLS configurations from PEM files that are
// reloaded when they change: certificates and keys can be rotated, and CA
// bundles extended, without restarting a service.
//
// Files are checked at most once a second, on the next handshake after
// that second; a file that cannot be read or parsed keeps the last good
// version in use (and the error is returned by Check).
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// stamp identifies a version of a file.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(paths ...string) (stamp, error) {
	var s stamp
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return stamp{}, err
		}
		if st.ModTime().After(s.mod) {
			s.mod = st.ModTime()
		}
		s.size = s.size*31 + st.Size()
	}
	return s, nil
}

// reloader holds a value parsed from files, re-parsed when they change.
type reloader[T any] struct {
	paths []string
	parse func() (T, error)

	mu      sync.Mutex
	val     T
	stamp   stamp
	checked time.Time
	lastErr error
}

func newReloader[T any](parse func() (T, error), paths ...string) (*reloader[T], error) {
	r := &reloader[T]{paths: paths, parse: parse}
	st, err := stampOf(paths...)
	if err != nil {
		return nil, err
	}
	if r.val, err = parse(); err != nil {
		return nil, err
	}
	r.stamp, r.checked = st, time.Now()
	return r, nil
}

func (r *reloader[T]) get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < time.Second {
		return r.val
	}
	r.checked = time.Now()
	st, err := stampOf(r.paths...)
	if err != nil {
		r.lastErr = err
		return r.val
	}
	if st == r.stamp {
		return r.val
	}
	v, err := r.parse()
	if err != nil {
		// A half-written file (cert replaced before key) parses on a
		// later look; until then keep serving the last good one.
		r.lastErr = err
		return r.val
	}
	r.val, r.stamp, r.lastErr = v, st, nil
	return r.val
}

// KeyPair is a certificate and key reloaded from files.
type KeyPair struct{ r *reloader[*tls.Certificate] }

// LoadKeyPair loads a PEM certificate (chain) and key.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	r, err := newReloader(func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS key pair %s, %s: %w", certFile, keyFile, err)
		}
		return &c, nil
	}, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &KeyPair{r}, nil
}

// Certificate returns the current certificate.
func (k *KeyPair) Certificate() *tls.Certificate { return k.r.get() }

// Pool is a CA bundle reloaded from a file.
type Pool struct{ r *reloader[*x509.CertPool] }

// LoadPool loads a PEM file of CA certificates.
func LoadPool(file string) (*Pool, error) {
	r, err := newReloader(func() (*x509.CertPool, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
		}
		return p, nil
	}, file)
	if err != nil {
		return nil, err
	}
	return &Pool{r}, nil
}

// CertPool returns the current pool.
func (p *Pool) CertPool() *x509.CertPool { return p.r.get() }

// Server names a server's TLS files.
type Server struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, makes the server ask for client
	// certificates signed by these CAs.
	ClientCAFile string
	// RequireClientCert refuses handshakes without a valid client
	// certificate; otherwise one is verified if given.
	RequireClientCert bool
}

// Enabled reports whether TLS is configured.
func (s Server) Enabled() bool { return s.CertFile != "" || s.KeyFile != "" }

// Validate reports a half-given configuration.
func (s Server) Validate(prefix string) error {
	switch {
	case (s.CertFile == "") != (s.KeyFile == ""):
		return fmt.Errorf("--%stls-cert and --%stls-key go together", prefix, prefix)
	case s.ClientCAFile != "" && s.CertFile == "":
		return fmt.Errorf("--%stls-client-ca needs --%stls-cert and --%stls-key", prefix, prefix, prefix)
	}
	return nil
}

// Config returns a server TLS config (TLS 1.2 or later) advertising alpn,
// whose certificate and client CAs follow their files.
func (s Server) Config(alpn ...string) (*tls.Config, error) {
	kp, err := LoadKeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, err
	}
	var pool *Pool
	if s.ClientCAFile != "" {
		if pool, err = LoadPool(s.ClientCAFile); err != nil {
			return nil, err
		}
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: alpn}
	// GetCertificate as well, for servers (net/http) that check a config
	// has a certificate before serving.
	base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.Certificate(), nil }
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   alpn,
			Certificates: []tls.Certificate{*kp.Certificate()},
		}
		if pool != nil {
			c.ClientCAs = pool.CertPool()
			c.ClientAuth = tls.VerifyClientCertIfGiven
			if s.RequireClientCert {
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return c, nil
	}
	return base, nil
}

// Client names a client's TLS files.
type Client struct {
	// CAFile verifies the server; empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate, sent when the
	// server asks (mutual TLS).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate
	// (default: the host dialled).
	ServerName string
}

// Enabled reports whether the client uses TLS.
func (c Client) Enabled() bool { return c.CAFile != "" || c.CertFile != "" }

// Validate reports a half-given configuration; flag names the flags'
// prefix, e.g. "registry-".
func (c Client) Validate(caFlag, certFlag, keyFlag string) error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("--%s and --%s go together", certFlag, keyFlag)
	}
	return nil
}

// Config returns a client TLS config whose CA bundle and client
// certificate follow their files.
func (c Client) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CertFile != "" {
		kp, err := LoadKeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.Certificate(), nil
		}
	}
	if c.CAFile == "" {
		return cfg, nil
	}
	pool, err := LoadPool(c.CAFile)
	if err != nil {
		return nil, err
	}
	// Verify against the pool as it is at each handshake: Go's own check
	// reads RootCAs once, so it is skipped and redone here in full.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		opts := x509.VerifyOptions{
			Roots:         pool.CertPool(),
			DNSName:       cs.ServerName,
			Intermediates: x509.NewCertPool(),
		}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
	return cfg, nil
}
