package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	bbolt "go.etcd.io/bbolt"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/admin"
	"talentreg/platform/command"
	"talentreg/platform/flagenv"
	"talentreg/platform/grpcserver"
	"talentreg/platform/healthcheck"
	"talentreg/platform/logging"
	"talentreg/platform/security"
	"talentreg/platform/tlsfiles"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kvstore"
	"talentreg/services/registry/storage"
)

// Config is the registry's configuration.
type Config struct {
	GRPCAddr         string
	DB               string
	AdminAddr        string
	AdminPprof       bool
	RetainChanges    int64
	ProgressInterval time.Duration
	MmapSize         int
	ShutdownGrace    time.Duration
	LogLevel         string
	GCPercent        int
	MemoryLimitMiB   int64
	Security         security.Server
	Streams          grpcapi.StreamLimits
	// Store is the engine: "bolt" (the file --db) or "etcd".
	Store string
	Etcd  EtcdConfig
	WAL   WALConfig
	// crash is the write-ahead log's fault hook (crash tests only).
	crash func(point string)
}

// WALConfig is the bbolt engine's write-ahead log.
type WALConfig struct {
	On                 bool
	Dir                string // default: beside --db
	CheckpointInterval time.Duration
	CheckpointBytes    int64
}

// AddFlags registers the log's flags on fs.
func (w *WALConfig) AddFlags(fs *flag.FlagSet) {
	fs.BoolVar(&w.On, "wal", w.On, "bbolt: acknowledge a group of writes after one append + fdatasync of a write-ahead log; bbolt is synced by background checkpoints")
	fs.StringVar(&w.Dir, "wal-dir", w.Dir, "folder of the write-ahead log (default: --db followed by .wal); it belongs with the file: move, back up and restore them together")
	fs.DurationVar(&w.CheckpointInterval, "wal-checkpoint-interval", w.CheckpointInterval, "checkpoint (sync bbolt, drop the log records it covers) at least this often while writes arrive")
	fs.Int64Var(&w.CheckpointBytes, "wal-checkpoint-bytes", w.CheckpointBytes, "checkpoint sooner once the log holds this many bytes (bounds the replay after a crash)")
}

// Validate reports the first invalid log flag.
func (w *WALConfig) Validate() error {
	switch {
	case w.CheckpointInterval < 10*time.Millisecond:
		return fmt.Errorf("--wal-checkpoint-interval must be at least 10ms, got %s", w.CheckpointInterval)
	case w.CheckpointBytes < 64<<10:
		return fmt.Errorf("--wal-checkpoint-bytes must be at least 65536, got %d", w.CheckpointBytes)
	}
	return nil
}

// options are the bolt options of the log for the file db.
func (w WALConfig) options(db string) bolt.Options {
	return bolt.Options{WAL: w.On, WALDir: w.dir(db), CheckpointInterval: w.CheckpointInterval, CheckpointBytes: w.CheckpointBytes}
}

func (w WALConfig) dir(db string) string {
	if w.Dir != "" {
		return w.Dir
	}
	return bolt.DefaultWALDir(db)
}

// walDirFlag registers --wal-dir for an offline tool, which applies a
// pending log of the file before reading it.
func walDirFlag(fs *flag.FlagSet) *string {
	return fs.String("wal-dir", "", "write-ahead log folder of the file (default: the file's name followed by .wal); a log not yet applied is applied first")
}

// EtcdConfig is how the registry reaches its etcd cluster.
type EtcdConfig struct {
	Endpoints       string // comma-separated
	Prefix          string
	CA, Cert, Key   string
	ServerName      string
	Username        string
	PasswordFile    string
	MaxTxnOps       int
	MaxRequestBytes int
	CompactEvery    time.Duration
	RequestTimeout  time.Duration
	// HealthInterval is how often the replica checks that it reaches an
	// etcd quorum (see package storeprobe).
	HealthInterval time.Duration
	// AutoSyncInterval is how often the member list is re-read (0: never).
	AutoSyncInterval time.Duration
}

// DefaultConfig returns the defaults of API.md "Running".
func DefaultConfig() Config {
	return Config{
		GRPCAddr: "127.0.0.1:9090", DB: "data/registry.db", AdminAddr: "127.0.0.1:9091",
		RetainChanges: 1_000_000, ProgressInterval: 5 * time.Second, MmapSize: 4 << 30,
		ShutdownGrace: 10 * time.Second, LogLevel: "info",
		GCPercent: 400, MemoryLimitMiB: 1024,
		Streams: grpcapi.DefaultStreamLimits(),
		Store:   "bolt",
		WAL:     WALConfig{On: true, CheckpointInterval: 30 * time.Second, CheckpointBytes: 64 << 20},
		Etcd: EtcdConfig{Prefix: "/talentreg/", MaxTxnOps: etcdkv.DefaultLimits.Ops, MaxRequestBytes: etcdkv.DefaultLimits.Bytes,
			CompactEvery: 10 * time.Minute, RequestTimeout: 10 * time.Second, HealthInterval: time.Second, AutoSyncInterval: time.Minute},
	}
}

// AddFlags registers every field on fs.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address")
	fs.StringVar(&c.DB, "db", c.DB, "bbolt database file (created if missing)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin HTTP address for /metrics (and /debug/pprof with --admin-pprof); empty disables")
	fs.BoolVar(&c.AdminPprof, "admin-pprof", c.AdminPprof, "serve /debug/pprof on the admin address too (command line, goroutine stacks, CPU profiles and traces for whoever reaches that port, which takes no credential)")
	fs.Int64Var(&c.RetainChanges, "retain-changes", c.RetainChanges, "change events kept before compaction")
	fs.DurationVar(&c.ProgressInterval, "progress-interval", c.ProgressInterval, "how often a quiet WatchChanges stream gets a progress message")
	fs.IntVar(&c.MmapSize, "mmap-size", c.MmapSize, "initial bbolt mmap size in bytes (address space, not memory)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long in-flight calls may finish after SIGTERM")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go GC target percentage (unless GOGC is set): the heap is small and short-lived, so collecting less often saves CPU")
	fs.Int64Var(&c.MemoryLimitMiB, "memory-limit-mib", c.MemoryLimitMiB, "soft limit on Go heap memory in MiB (unless GOMEMLIMIT is set); the GC works harder near it")
	c.Security.AddFlags(fs)
	fs.IntVar(&c.Streams.MaxStreams, "max-streams", c.Streams.MaxStreams, "watch and snapshot streams open at once; more are refused RESOURCE_EXHAUSTED")
	fs.IntVar(&c.Streams.MaxStreamsPerClient, "max-streams-per-client", c.Streams.MaxStreamsPerClient, "watch and snapshot streams of one client (peer host) open at once")
	fs.DurationVar(&c.Streams.StallTimeout, "stream-stall-timeout", c.Streams.StallTimeout, "end a watch or snapshot stream whose client takes no message for this long")
	fs.DurationVar(&c.Streams.SnapshotMaxDuration, "snapshot-max-duration", c.Streams.SnapshotMaxDuration, "end a snapshot still running after this long (it holds a read transaction)")
	fs.StringVar(&c.Store, "store", c.Store, "storage engine: bolt (the file --db) or etcd (--etcd-endpoints; several registry replicas may share it)")
	c.WAL.AddFlags(fs)
	c.Etcd.AddFlags(fs)
}

// AddFlags registers the etcd connection flags on fs.
func (e *EtcdConfig) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.Endpoints, "etcd-endpoints", e.Endpoints, "etcd client URLs, comma-separated (https:// with --etcd-ca)")
	fs.StringVar(&e.Prefix, "etcd-prefix", e.Prefix, "key prefix of this registry in etcd")
	fs.StringVar(&e.CA, "etcd-ca", e.CA, "PEM CA bundle to verify etcd (TLS)")
	fs.StringVar(&e.Cert, "etcd-cert", e.Cert, "PEM client certificate for etcd (mutual TLS)")
	fs.StringVar(&e.Key, "etcd-key", e.Key, "PEM key of --etcd-cert")
	fs.StringVar(&e.ServerName, "etcd-server-name", e.ServerName, "name expected in etcd's certificates")
	fs.StringVar(&e.Username, "etcd-username", e.Username, "etcd user (etcd's own authentication)")
	fs.StringVar(&e.PasswordFile, "etcd-password-file", e.PasswordFile, "file holding the password of --etcd-username")
	fs.IntVar(&e.MaxTxnOps, "etcd-max-txn-ops", e.MaxTxnOps, "operations in one transaction the registry may send; etcd's --max-txn-ops must be at least this (checked at start)")
	fs.IntVar(&e.MaxRequestBytes, "etcd-max-request-bytes", e.MaxRequestBytes, "bytes in one transaction the registry may send; etcd's --max-request-bytes must be at least this (checked at start)")
	fs.DurationVar(&e.RequestTimeout, "etcd-request-timeout", e.RequestTimeout, "give up on one etcd request after this long and answer UNAVAILABLE (the client waits for a reachable member otherwise)")
	fs.DurationVar(&e.HealthInterval, "etcd-health-interval", e.HealthInterval, "how often the replica checks that it reaches an etcd quorum (a linearizable read with this as its deadline); NOT_SERVING after 3 failures in a row, SERVING again at the next success")
	fs.DurationVar(&e.AutoSyncInterval, "etcd-auto-sync-interval", e.AutoSyncInterval, "re-read etcd's member list this often and use the members' advertised client URLs (0: never; set 0 when --etcd-endpoints are proxies or a load balancer)")
	fs.DurationVar(&e.CompactEvery, "etcd-compact-every", e.CompactEvery, "compact etcd's MVCC history this often, keeping one interval of it (0: leave it to etcd's --auto-compaction-*)")
}

// Validate reports the first invalid etcd flag.
func (e *EtcdConfig) Validate() error {
	switch {
	case e.Endpoints == "":
		return errors.New("--store etcd needs --etcd-endpoints")
	case (e.Cert == "") != (e.Key == ""):
		return errors.New("--etcd-cert and --etcd-key go together")
	case e.MaxTxnOps < 1024 || e.MaxRequestBytes < 1<<20:
		return fmt.Errorf("--etcd-max-txn-ops must be at least 1024 and --etcd-max-request-bytes at least 1 MiB (a batch of 1,000 entities and its indexes is one transaction), got %d and %d", e.MaxTxnOps, e.MaxRequestBytes)
	case e.Prefix == "" || !strings.HasSuffix(e.Prefix, "/"):
		return fmt.Errorf("--etcd-prefix must end with /, got %q", e.Prefix)
	case e.RequestTimeout <= 0:
		return fmt.Errorf("--etcd-request-timeout must be positive, got %s", e.RequestTimeout)
	case e.HealthInterval < 10*time.Millisecond:
		return fmt.Errorf("--etcd-health-interval must be at least 10ms, got %s", e.HealthInterval)
	case e.AutoSyncInterval < 0:
		return fmt.Errorf("--etcd-auto-sync-interval must not be negative (0 turns it off), got %s", e.AutoSyncInterval)
	}
	return nil
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.GRPCAddr == "":
		return errors.New("--grpc-addr must not be empty")
	case c.DB == "":
		return errors.New("--db must not be empty")
	case c.RetainChanges < 1:
		return fmt.Errorf("--retain-changes must be at least 1, got %d", c.RetainChanges)
	case c.ProgressInterval < 10*time.Millisecond:
		return fmt.Errorf("--progress-interval must be at least 10ms, got %s", c.ProgressInterval)
	case c.MmapSize < 0:
		return fmt.Errorf("--mmap-size must not be negative")
	case c.GCPercent < 10:
		return fmt.Errorf("--gc-percent must be at least 10, got %d", c.GCPercent)
	case c.MemoryLimitMiB < 64:
		return fmt.Errorf("--memory-limit-mib must be at least 64, got %d", c.MemoryLimitMiB)
	case c.Streams.MaxStreams < 1 || c.Streams.MaxStreamsPerClient < 1:
		return fmt.Errorf("--max-streams and --max-streams-per-client must be at least 1, got %d and %d", c.Streams.MaxStreams, c.Streams.MaxStreamsPerClient)
	case c.Streams.StallTimeout < 10*time.Millisecond || c.Streams.SnapshotMaxDuration < 10*time.Millisecond:
		return fmt.Errorf("--stream-stall-timeout and --snapshot-max-duration must be at least 10ms, got %s and %s", c.Streams.StallTimeout, c.Streams.SnapshotMaxDuration)
	}
	switch c.Store {
	case "bolt":
		if err := c.WAL.Validate(); err != nil {
			return err
		}
	case "etcd":
		if err := c.Etcd.Validate(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--store must be bolt or etcd, got %q", c.Store)
	}
	return c.Security.Validate(map[string]string{"grpc-addr": c.GRPCAddr, "admin-addr": c.AdminAddr})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return check(ctx, args[1:], getenv, stdout, stderr)
		case "migrate":
			return migrate(ctx, args[1:], getenv, stdout, stderr)
		case "compact":
			return compact(args[1:], getenv, stdout, stderr)
		case "backup":
			return backup(ctx, args[1:], getenv, stdout, stderr)
		case "healthcheck":
			return healthcheck.Run(ctx, args[1:], getenv, stdout, stderr, healthcheck.Target{
				GRPCAddr: DefaultConfig().GRPCAddr, Service: registryv1.RegistryService_ServiceDesc.ServiceName})
		}
	}
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.AddFlags(fs)
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	if err := cfg.Validate(); err != nil {
		return command.UsageError{Err: err}
	}
	log, err := logging.New(stderr, "registry", cfg.LogLevel)
	if err != nil {
		return command.UsageError{Err: err}
	}
	// An undocumented fault hook for the crash tests: the process kills
	// itself at the N-th passage through a point of the log.
	if spec := getenv("TALENTREG_WAL_CRASH"); spec != "" {
		if cfg.crash, err = crashHook(spec); err != nil {
			return command.UsageError{Err: err}
		}
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.MemoryLimitMiB << 20)
	}
	return serve(ctx, cfg, log)
}

// openStore opens the database as served: fsync on (a write is
// acknowledged only once durable), and a backup restored (a new id).
func openStore(ctx context.Context, cfg Config) (*kvstore.Store, error) {
	bo := cfg.WAL.options(cfg.DB)
	bo.InitialMmapSize, bo.Crash = cfg.MmapSize, cfg.crash
	opts := storage.Options{RetainChanges: cfg.RetainChanges, RestoreBackup: true, Bolt: bo}
	if cfg.Store == "bolt" {
		return storage.OpenBolt(cfg.DB, opts)
	}
	eo, err := cfg.Etcd.options()
	if err != nil {
		return nil, command.UsageError{Err: err}
	}
	return storage.OpenEtcd(ctx, eo, opts)
}

// options are the etcdkv options of the flags.
func (c EtcdConfig) options() (etcdkv.Options, error) {
	eo := etcdkv.Options{
		Endpoints: strings.Split(c.Endpoints, ","), Prefix: c.Prefix, Username: c.Username,
		Limits: kv.Limits{Ops: c.MaxTxnOps, Bytes: c.MaxRequestBytes}, CompactEvery: c.CompactEvery, RequestTimeout: c.RequestTimeout,
		AutoSyncInterval: c.AutoSyncInterval,
	}
	if c.AutoSyncInterval == 0 {
		eo.AutoSyncInterval = -1 // never
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return eo, fmt.Errorf("--etcd-password-file: %w", err)
		}
		eo.Password = strings.TrimSpace(string(b))
	}
	if c.CA != "" || c.Cert != "" {
		cfg, err := tlsfiles.Client{CAFile: c.CA, CertFile: c.Cert, KeyFile: c.Key, ServerName: c.ServerName}.Config()
		if err != nil {
			return eo, fmt.Errorf("etcd TLS: %w", err)
		}
		eo.TLS = cfg
	}
	return eo, nil
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing the database", "err", err)
		}
	}()
	if db := storage.Bolt(store); db != nil {
		if r := db.Recovered(); r != nil {
			log.Warn("not closed cleanly: replayed the write-ahead log", "wal_dir", cfg.WAL.dir(cfg.DB),
				"checkpoint_record", r.From, "last_record", r.To, "records", r.Records, "torn_tail_cut", r.Cut)
		}
	}
	if from, now, ok := store.RestoredFrom(); ok && now {
		log.Warn("restored a backup: the database has a new registry id, and consumers reload from a snapshot",
			"registry_id", store.ID(), "backup_of", from.RegistryID, "backup_revision", from.Revision, "backup_taken_at", from.TakenAt)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "talentreg_registry_revision", Help: "Last committed registry revision.",
	}, func() float64 { return float64(store.Revision()) }))
	if db := storage.Bolt(store); db != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "talentreg_registry_commits_total", Help: "Write transactions committed (each one fsync, serving one or more mutations).",
		}, func() float64 { return float64(db.Commits()) }))
	}

	sec, err := cfg.Security.Build(log, reg)
	if err != nil {
		return command.UsageError{Err: err}
	}
	defer sec.Auth.Close()
	api := grpcapi.New(store, grpcapi.Options{TokenKey: store.TokenKey(), ProgressInterval: cfg.ProgressInterval, Logger: log, Limits: cfg.Streams})
	registerStoreMetrics(reg, storage.Bolt(store), func() int64 { return int64(api.StreamStats().Open) }, int64(cfg.Streams.MaxStreams), log)
	for _, c := range []struct {
		name, help string
		value      func(grpcapi.StreamStats) int64
	}{
		{"refused", "Watch and snapshot streams refused at the stream limits.", func(st grpcapi.StreamStats) int64 { return st.Refused }},
		{"stalled", "Streams ended because their client took no message for --stream-stall-timeout.", func(st grpcapi.StreamStats) int64 { return st.Stalled }},
		{"timed_out", "Snapshots ended at --snapshot-max-duration.", func(st grpcapi.StreamStats) int64 { return st.TimedOut }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "talentreg_registry_streams_" + c.name + "_total", Help: c.help},
			func() float64 { return float64(c.value(api.StreamStats())) }))
	}
	srv := grpcserver.New(log, reg, grpcserver.Options{Auth: sec.Auth, TLS: sec.GRPC, NoReflection: sec.NoReflection}, grpcapi.ServerOptions()...)
	grpcapi.Register(srv.Server, api)
	grpcapi.RegisterAdmin(srv.Server, grpcapi.NewAdmin(store, log))
	srv.Health.SetServingStatus(registryv1.RegistryService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	adminWait, err := admin.Start(ctx, cfg.AdminAddr, reg, log, sec.Admin, cfg.AdminPprof)
	if err != nil {
		lis.Close()
		return err
	}
	sec.ReloadOnSIGHUP(ctx, log)
	available := storeAvailable(reg)
	if p, ok := store.Engine().(kv.Pinger); ok {
		go probeStore(ctx, p, cfg.Etcd.HealthInterval, srv, api, available, log)
	}
	where := cfg.DB
	if cfg.Store == "etcd" {
		where = cfg.Etcd.Endpoints + " " + cfg.Etcd.Prefix
	}
	wal := ""
	if db := storage.Bolt(store); db != nil && db.WAL() {
		wal = cfg.WAL.dir(cfg.DB)
	}
	log.Info("serving", "grpc_addr", lis.Addr().String(), "store", cfg.Store, "db", where, "wal", wal, "revision", store.Revision(), "registry_id", store.ID(),
		"tls", sec.GRPC != nil, "auth", sec.Auth.Enabled())

	// On shutdown, end watch and snapshot streams first: they never end on
	// their own and would hold the graceful stop for the whole grace period.
	go func() { <-ctx.Done(); api.Shutdown() }()
	serveErr := srv.Serve(ctx, lis, cfg.ShutdownGrace)
	cancel()
	if err := adminWait(); err != nil && serveErr == nil {
		serveErr = err
	}
	log.Info("stopped", "revision", store.Revision())
	return serveErr
}

// check verifies a database file offline.
func check(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "data/registry.db", "database file (--store bolt)")
	walDir := walDirFlag(fs)
	store := fs.String("store", "bolt", "engine holding the registry: bolt (--db) or etcd (--etcd-endpoints, --etcd-prefix …)")
	etcd := DefaultConfig().Etcd
	etcd.CompactEvery = 0
	etcd.AddFlags(fs)
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	spec, err := parseEngine("--store", *store+":"+map[string]string{"bolt": *db, "etcd": etcd.Endpoints}[*store], etcd)
	if err != nil {
		return command.UsageError{Err: err}
	}
	spec.walDir = *walDir
	name := *db
	if spec.kind == "etcd" {
		name = "etcd " + etcd.Endpoints + " " + etcd.Prefix
	}
	// Opening verifies every page of a file's structure; Check then
	// decodes every record, matches every index and runs the engine's own
	// check.
	st, err := spec.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		return fmt.Errorf("%s: inconsistent:\n%w", name, err)
	}
	fmt.Fprintf(stdout, "%s: consistent at revision %d (compacted up to %d), registry %s\n", name, st.Revision(), st.CompactedRevision(), st.ID())
	fmt.Fprintf(stdout, "format %s\n", st.Format())
	if mark, ok := st.Backup(); ok {
		fmt.Fprintf(stdout, "a backup of %s; served, it becomes a new registry id\n", mark)
	} else if mark, _, ok := st.RestoredFrom(); ok {
		fmt.Fprintf(stdout, "registry %s, restored from a backup of %s\n", st.ID(), mark)
	}
	if db := storage.Bolt(st); db != nil {
		u, err := db.Usage()
		if err != nil {
			return err
		}
		printUsage(stdout, u)
	}
	return nil
}

// printUsage writes where the file's space goes, one bucket a line.
func printUsage(w io.Writer, u bolt.Usage) {
	const mib = 1 << 20
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "bucket\tkeys\tallocated MiB\tin use MiB\t\n")
	for _, b := range u.Buckets {
		if b.Keys == 0 && b.Allocated == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t\n", b.Name, b.Keys, float64(b.Allocated)/mib, float64(b.InUse)/mib)
	}
	fmt.Fprintf(tw, "free pages\t\t%.1f\t\t\n", float64(u.FreeBytes)/mib)
	fmt.Fprintf(tw, "file\t\t%.1f\t\t\n", float64(u.FileBytes)/mib)
	tw.Flush()
}

// compact writes a compacted copy of a database with bbolt.Compact.
func compact(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("db", "data/registry.db", "database file to read (not modified)")
	dst := fs.String("out", "", "new file to write (must not exist)")
	walDir := walDirFlag(fs)
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	if *dst == "" {
		return command.UsageError{Err: errors.New("--out is required")}
	}
	if _, err := os.Stat(*dst); err == nil {
		return command.UsageError{Err: fmt.Errorf("--out %s already exists", *dst)}
	}
	// Open through the store first: it refuses missing, foreign, corrupt
	// or locked files with a clear error, and creates nothing.
	// A pending write-ahead log is applied then: the copy is never stale.
	store, err := storage.OpenBolt(*src, storage.Options{Bolt: bolt.Options{MustExist: true, WALDir: *walDir}})
	if err != nil {
		return err
	}
	if err := store.Close(); err != nil {
		return err
	}
	from, err := bbolt.Open(*src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := bbolt.Open(*dst, 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return err
	}
	err = bbolt.Compact(to, from, 64<<20)
	if cerr := to.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(*dst) // no half-written copy left behind
		return err
	}
	fmt.Fprintf(stdout, "compacted %s into %s\n", *src, *dst)
	return nil
}
