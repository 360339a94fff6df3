package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"talentreg/platform/security"
	"talentreg/services/metrics/follower"
	"talentreg/services/metrics/grpcapi"
)

// Config is the metrics service's configuration.
type Config struct {
	GRPCAddr string
	// Registry is the registry to follow: one gRPC target, or the
	// comma-separated host:port addresses of its replicas.
	Registry           string
	DB                 string
	AdminAddr          string
	AdminPprof         bool
	CheckpointInterval time.Duration
	CheckpointEvery    int64
	MaxWait            time.Duration
	ReconnectMax       time.Duration
	StaleAfter         time.Duration
	ShutdownGrace      time.Duration
	LogLevel           string
	// Search keeps the name search index (SearchEntities); off saves its
	// memory.
	Search bool
	// History keeps the figures' history (as_of reads, ListSummaryHistory).
	History bool
	// HistoryExactFor bounds the history: exact to the transaction this
	// long before the latest commit, at each UTC day boundary before (0:
	// every transaction, unbounded).
	HistoryExactFor time.Duration
	// Watch configures WatchSummary streams: their coalescing interval
	// and limits.
	Watch    grpcapi.WatchOptions
	Security security.Server
	// RegistryClient is how the follower reaches the registry: its CA,
	// this replica's client certificate (its feed-reader identity) or a
	// token file.
	RegistryClient security.Client
}

// DefaultConfig returns the defaults of API.md "Running".
func DefaultConfig() Config {
	return Config{
		GRPCAddr:           "127.0.0.1:9190",
		Registry:           "127.0.0.1:9090",
		DB:                 "data/metrics.db",
		AdminAddr:          "127.0.0.1:9191",
		CheckpointInterval: follower.DefaultConfig().CheckpointInterval,
		CheckpointEvery:    follower.DefaultConfig().CheckpointEvery,
		MaxWait:            5 * time.Second,
		ReconnectMax:       5 * time.Second,
		StaleAfter:         30 * time.Second,
		ShutdownGrace:      10 * time.Second,
		LogLevel:           "info",
		Search:             true,
		History:            true,
		HistoryExactFor:    90 * 24 * time.Hour,
		Watch:              grpcapi.DefaultWatchOptions(),
	}
}

// AddFlags registers every field on fs.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address")
	fs.StringVar(&c.Registry, "registry", c.Registry, "registry gRPC address to follow; replicas of one registry (on etcd) comma-separated: the feed fails over to one that is SERVING")
	fs.StringVar(&c.DB, "db", c.DB, "checkpoint bbolt file (created if missing; one per replica)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin HTTP address for /metrics (and /debug/pprof with --admin-pprof); empty disables")
	fs.BoolVar(&c.AdminPprof, "admin-pprof", c.AdminPprof, "serve /debug/pprof on the admin address too (command line, goroutine stacks, CPU profiles and traces for whoever reaches that port, which takes no credential)")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", c.CheckpointInterval, "longest time between checkpoints while changes arrive")
	fs.Int64Var(&c.CheckpointEvery, "checkpoint-every", c.CheckpointEvery, "checkpoint after this many changes")
	fs.DurationVar(&c.MaxWait, "max-wait", c.MaxWait, "longest min_revision wait for a request without a deadline")
	fs.DurationVar(&c.ReconnectMax, "reconnect-max", c.ReconnectMax, "longest wait between attempts to reach the registry")
	fs.DurationVar(&c.StaleAfter, "stale-after", c.StaleAfter, "how long the replica may be cut off from the registry (feed broken, reconnecting) and still serve; past it NOT_SERVING until caught up (0: forever)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long in-flight calls may finish after SIGTERM")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.History, "history", c.History, "keep the figures' history by commit time (as_of reads, ListSummaryHistory) in memory and in the checkpoint; false saves its memory (about 100 bytes per registry transaction within --history-exact-for) and as_of reads answer FAILED_PRECONDITION")
	fs.DurationVar(&c.HistoryExactFor, "history-exact-for", c.HistoryExactFor, "how long before the latest commit as_of reads are exact to the transaction; before that the history keeps the figures at each UTC day boundary only, and an as_of time answers the figures at the start of its UTC day (memory and checkpoint bounded by days, not transactions; 0: keep every transaction)")
	fs.BoolVar(&c.Search, "search", c.Search, "keep the name search index in memory (SearchEntities); false saves its memory and SearchEntities answers UNAVAILABLE")
	fs.DurationVar(&c.Watch.Interval, "summary-watch-interval", c.Watch.Interval, "shortest time between two messages of a WatchSummary stream: the changes of a burst of writes are sent as one")
	fs.IntVar(&c.Watch.MaxStreams, "max-streams", c.Watch.MaxStreams, "WatchSummary streams open at once; more are refused RESOURCE_EXHAUSTED")
	fs.IntVar(&c.Watch.MaxStreamsPerClient, "max-streams-per-client", c.Watch.MaxStreamsPerClient, "WatchSummary streams of one client (principal, else peer host) open at once")
	fs.DurationVar(&c.Watch.StallTimeout, "stream-stall-timeout", c.Watch.StallTimeout, "end a WatchSummary stream whose client takes no message for this long")
	c.Security.AddFlags(fs)
	fs.StringVar(&c.RegistryClient.TLS.CAFile, "registry-ca", c.RegistryClient.TLS.CAFile, "PEM CA bundle to verify the registry's certificate (turns TLS on towards the registry)")
	fs.StringVar(&c.RegistryClient.TLS.ServerName, "registry-server-name", c.RegistryClient.TLS.ServerName, "name expected in the registry's certificate (default: the host of --registry)")
	fs.StringVar(&c.RegistryClient.TLS.CertFile, "client-cert", c.RegistryClient.TLS.CertFile, "PEM client certificate presented to the registry (mutual TLS; its URI SAN or CN must be bound to feed-reader)")
	fs.StringVar(&c.RegistryClient.TLS.KeyFile, "client-key", c.RegistryClient.TLS.KeyFile, "PEM key of --client-cert")
	fs.StringVar(&c.RegistryClient.TokenFile, "registry-token-file", c.RegistryClient.TokenFile, "file holding a bearer token for the registry (feed-reader role), re-read when it changes")
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.GRPCAddr == "":
		return errors.New("--grpc-addr must not be empty")
	case c.DB == "":
		return errors.New("--db must not be empty")
	case c.CheckpointInterval < 10*time.Millisecond:
		return fmt.Errorf("--checkpoint-interval must be at least 10ms, got %s", c.CheckpointInterval)
	case c.CheckpointEvery < 1:
		return fmt.Errorf("--checkpoint-every must be at least 1, got %d", c.CheckpointEvery)
	case c.MaxWait <= 0:
		return fmt.Errorf("--max-wait must be positive, got %s", c.MaxWait)
	case c.ReconnectMax < 10*time.Millisecond:
		return fmt.Errorf("--reconnect-max must be at least 10ms, got %s", c.ReconnectMax)
	case c.StaleAfter < 0:
		return fmt.Errorf("--stale-after must not be negative, got %s", c.StaleAfter)
	case c.HistoryExactFor < 0:
		return fmt.Errorf("--history-exact-for must not be negative, got %s", c.HistoryExactFor)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("--shutdown-grace must not be negative, got %s", c.ShutdownGrace)
	case c.Watch.Interval < 10*time.Millisecond:
		return fmt.Errorf("--summary-watch-interval must be at least 10ms, got %s", c.Watch.Interval)
	case c.Watch.MaxStreams < 1 || c.Watch.MaxStreamsPerClient < 1:
		return fmt.Errorf("--max-streams and --max-streams-per-client must be at least 1, got %d and %d", c.Watch.MaxStreams, c.Watch.MaxStreamsPerClient)
	case c.Watch.StallTimeout < 10*time.Millisecond:
		return fmt.Errorf("--stream-stall-timeout must be at least 10ms, got %s", c.Watch.StallTimeout)
	}
	if err := validRegistry(c.Registry); err != nil {
		return err
	}
	if err := c.RegistryClient.Validate(); err != nil {
		return fmt.Errorf("--client-cert/--client-key: %w", err)
	}
	return c.Security.Validate(map[string]string{"grpc-addr": c.GRPCAddr, "admin-addr": c.AdminAddr})
}
