package gateway

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"talentreg/platform/auth"
	"talentreg/platform/tlsfiles"
)

// Config is the gateway's configuration. DefaultConfig gives the defaults
// of API.md; AddFlags binds every field to a flag.
type Config struct {
	// HTTPAddr is the address the HTTP API listens on.
	HTTPAddr string
	// AdminAddr serves /metrics (and /debug/pprof with AdminPprof) for
	// operators; empty disables it. Neither is served on HTTPAddr.
	AdminAddr string
	// AdminPprof serves /debug/pprof on AdminAddr, which takes no
	// credential: off unless an operator asks for it.
	AdminPprof bool
	// Registry is the registry's gRPC address, host:port, or the
	// comma-separated addresses of its replicas (on etcd): calls are then
	// balanced over those whose health is SERVING.
	Registry string
	// Metrics lists the metrics replicas' gRPC addresses, balanced
	// round-robin.
	Metrics []string
	// MetricsResolve is how often host names in Metrics are resolved
	// again, each to every address it stands for (a headless Service: one
	// per replica); 0 uses the names as given, which pins each connection
	// to one address.
	MetricsResolve time.Duration
	// MaxBodyBytes caps a request body; a larger one gets 413.
	MaxBodyBytes int64
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server timeouts. Server-streaming routes are exempt from the read
	// and write timeouts.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds each backend health check made by /readyz.
	ReadyTimeout time.Duration
	// ReconnectMaxDelay caps the backoff between reconnection attempts to a
	// backend that went away, so the gateway recovers soon after it returns.
	ReconnectMaxDelay time.Duration
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// GCPercent is applied with debug.SetGCPercent unless GOGC is set in the
	// environment; 0 leaves the runtime default.
	GCPercent int
	// MemoryLimitMiB is applied with debug.SetMemoryLimit unless GOMEMLIMIT
	// is set in the environment; 0 leaves it unlimited.
	MemoryLimitMiB int64
	// TLS serves HTTPS on HTTPAddr and AdminAddr. Without it the gateway
	// listens on loopback addresses only, unless InsecureNoTLS: bearer
	// tokens must not cross a network in clear text.
	TLS           tlsfiles.Server
	InsecureNoTLS bool
	// RegistryTLS and MetricsTLS are how the gateway reaches its backends:
	// their CAs and its own client certificate (the identity the services
	// trust as a proxy).
	RegistryTLS, MetricsTLS tlsfiles.Client
	// MaxWatchStreams and MaxWatchStreamsPerClient cap the watch streams
	// open at once, in all and per client; more are refused 429.
	MaxWatchStreams, MaxWatchStreamsPerClient int
	// StreamStallTimeout ends a stream whose client takes no chunk for
	// this long.
	StreamStallTimeout time.Duration
	// Dashboard serves the talent office's dashboard (package dashboard)
	// under /dashboard/.
	Dashboard bool
	// ClientKey names a request's client for MaxWatchStreamsPerClient; nil
	// means RemoteHost. Not a flag: the hook for authenticated principals.
	ClientKey func(*http.Request) string
}

// DefaultConfig returns the defaults: the gateway on 127.0.0.1:8080 in
// front of a registry on 127.0.0.1:9090 and one metrics replica on
// 127.0.0.1:9190, a 4 MiB body limit.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          "127.0.0.1:8080",
		AdminAddr:         "127.0.0.1:8081",
		Registry:          "127.0.0.1:9090",
		Metrics:           []string{"127.0.0.1:9190"},
		MetricsResolve:    10 * time.Second,
		MaxBodyBytes:      4 << 20,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   10 * time.Second,
		ReadyTimeout:      2 * time.Second,
		ReconnectMaxDelay: 2 * time.Second,
		LogLevel:          "info",
		GCPercent:         400,
		MemoryLimitMiB:    1024,

		MaxWatchStreams:          128,
		MaxWatchStreamsPerClient: 8,
		StreamStallTimeout:       30 * time.Second,
		Dashboard:                true,
	}
}

// AddFlags registers one flag per field on fs, with c's values as defaults.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "address of the HTTP/JSON API")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "address of /metrics (and /debug/pprof with --admin-pprof) for operators (empty: off)")
	fs.BoolVar(&c.AdminPprof, "admin-pprof", c.AdminPprof, "serve /debug/pprof on the admin address too (command line, goroutine stacks, CPU profiles and traces for whoever reaches that port, which takes no credential)")
	fs.StringVar(&c.Registry, "registry", c.Registry, "registry gRPC address; replicas of one registry (on etcd) comma-separated, balanced over those SERVING")
	fs.Func("metrics", "metrics gRPC address; a comma-separated list is balanced round-robin (default "+strings.Join(c.Metrics, ",")+")", func(s string) error {
		c.Metrics = splitList(s)
		return nil
	})
	fs.DurationVar(&c.MetricsResolve, "metrics-resolve-interval", c.MetricsResolve, "resolve host names in --metrics again this often, balancing over every address each stands for (0: use them as given)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body accepted; larger gets 413")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "time to read request headers")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "time to read a whole request (streaming routes exempt)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time to write a response (streaming routes exempt)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "keep-alive idle timeout")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "wait for in-flight requests on shutdown")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "timeout of each backend health check made by /readyz")
	fs.DurationVar(&c.ReconnectMaxDelay, "reconnect-max-delay", c.ReconnectMaxDelay, "longest backoff between reconnection attempts to a backend")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "GC target percentage unless GOGC is set (0: runtime default)")
	fs.Int64Var(&c.MemoryLimitMiB, "memory-limit-mib", c.MemoryLimitMiB, "soft memory limit in MiB unless GOMEMLIMIT is set (0: none)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", c.TLS.CertFile, "PEM certificate (chain) to serve HTTPS on --http-addr and --admin-addr; reloaded when the file changes")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", c.TLS.KeyFile, "PEM private key of --tls-cert")
	fs.BoolVar(&c.InsecureNoTLS, "insecure-no-tls", c.InsecureNoTLS, "serve plain HTTP on non-loopback addresses (behind a proxy that terminates TLS); bearer tokens then travel in clear text")
	fs.StringVar(&c.RegistryTLS.CAFile, "registry-ca", c.RegistryTLS.CAFile, "PEM CA bundle to verify the registry (turns TLS on towards it)")
	fs.StringVar(&c.MetricsTLS.CAFile, "metrics-ca", c.MetricsTLS.CAFile, "PEM CA bundle to verify the metrics replicas (turns TLS on towards them)")
	fs.StringVar(&c.RegistryTLS.ServerName, "registry-server-name", c.RegistryTLS.ServerName, "name expected in the registry's certificate (default: the host of --registry)")
	fs.StringVar(&c.MetricsTLS.ServerName, "metrics-server-name", c.MetricsTLS.ServerName, "name expected in the metrics replicas' certificates (default: each host of --metrics)")
	fs.Func("client-cert", "PEM client certificate presented to the backends (mutual TLS): the gateway's proxy identity", func(v string) error {
		c.RegistryTLS.CertFile, c.MetricsTLS.CertFile = v, v
		return nil
	})
	fs.Func("client-key", "PEM key of --client-cert", func(v string) error {
		c.RegistryTLS.KeyFile, c.MetricsTLS.KeyFile = v, v
		return nil
	})
	fs.IntVar(&c.MaxWatchStreams, "max-watch-streams", c.MaxWatchStreams, "watch streams open at once; more get 429 (keep it within the registry's --max-streams-per-client: the gateway is one client of it)")
	fs.IntVar(&c.MaxWatchStreamsPerClient, "max-watch-streams-per-client", c.MaxWatchStreamsPerClient, "watch streams one client (remote host) may have open at once")
	fs.BoolVar(&c.Dashboard, "dashboard", c.Dashboard, "serve the talent office's dashboard at /dashboard/ (--dashboard=false: off)")
	fs.DurationVar(&c.StreamStallTimeout, "stream-stall-timeout", c.StreamStallTimeout, "end a watch stream whose client takes nothing for this long")
}

// Validate reports every invalid field, joined.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(validHostPort(c.HTTPAddr), "--http-addr %q: want host:port", c.HTTPAddr)
	check(c.AdminAddr == "" || validHostPort(c.AdminAddr), "--admin-addr %q: want host:port or empty", c.AdminAddr)
	registries := splitList(c.Registry)
	check(len(registries) > 0, "--registry %q: want host:port", c.Registry)
	seenRegistry := map[string]bool{}
	for _, r := range registries {
		check(validHostPort(r), "--registry %q: want host:port", r)
		check(!seenRegistry[r], "--registry %q: listed twice", r)
		seenRegistry[r] = true
	}
	check(len(c.Metrics) > 0, "--metrics: want at least one host:port")
	seen := map[string]bool{}
	for _, m := range c.Metrics {
		check(validHostPort(m), "--metrics %q: want host:port", m)
		check(!seen[m], "--metrics %q: listed twice", m)
		seen[m] = true
	}
	check(c.MetricsResolve >= 0, "--metrics-resolve-interval %v: want >= 0", c.MetricsResolve)
	check(c.MaxBodyBytes > 0, "--max-body-bytes %d: want > 0", c.MaxBodyBytes)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read-header-timeout", c.ReadHeaderTimeout},
		{"read-timeout", c.ReadTimeout},
		{"write-timeout", c.WriteTimeout},
		{"idle-timeout", c.IdleTimeout},
		{"shutdown-timeout", c.ShutdownTimeout},
		{"ready-timeout", c.ReadyTimeout},
		{"reconnect-max-delay", c.ReconnectMaxDelay},
		{"stream-stall-timeout", c.StreamStallTimeout},
	} {
		check(d.v > 0, "--%s %v: want > 0", d.name, d.v)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	check(c.MaxWatchStreams > 0, "--max-watch-streams %d: want > 0", c.MaxWatchStreams)
	check(c.MaxWatchStreamsPerClient > 0, "--max-watch-streams-per-client %d: want > 0", c.MaxWatchStreamsPerClient)
	check(c.GCPercent >= 0, "--gc-percent %d: want >= 0", c.GCPercent)
	check(c.MemoryLimitMiB >= 0, "--memory-limit-mib %d: want >= 0", c.MemoryLimitMiB)
	if err := c.TLS.Validate(""); err != nil {
		errs = append(errs, err)
	}
	check((c.RegistryTLS.CertFile == "") == (c.RegistryTLS.KeyFile == ""), "--client-cert and --client-key go together")
	if !c.TLS.Enabled() && !c.InsecureNoTLS {
		for flag, addr := range map[string]string{"http-addr": c.HTTPAddr, "admin-addr": c.AdminAddr} {
			check(addr == "" || auth.Loopback(addr),
				"refusing to serve plain HTTP on --%s %s: bearer tokens would cross the network in clear text; give --tls-cert and --tls-key, listen on loopback, or pass --insecure-no-tls (behind a TLS-terminating proxy)", flag, addr)
		}
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func validHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port != ""
}
