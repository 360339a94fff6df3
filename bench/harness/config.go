package harness

import (
	"errors"
	"io"
	"regexp"
	"time"
)

// Config is a benchmark run's parameters.
type Config struct {
	// Title heads the report.
	Title string
	// Command is recorded in the report as the command that produced it.
	Command string
	// Root is the repository root (holding go.work); found from the
	// working directory when empty.
	Root string
	// BinDir holds the talentreg binaries registry, metrics and gateway
	// (`make build`); Root/bin when empty.
	BinDir string
	// FloorBin is the floor server (bench/cmd/floor); built into WorkDir
	// with `go build` when empty.
	FloorBin string
	// EtcdBin is the etcdmember command (talentreg/etcdmember: etcd's
	// server module, embedded) that runs every etcd member of the run;
	// built into WorkDir with `go build` when empty.
	EtcdBin string
	// WorkDir receives databases and logs; a temporary directory, removed
	// afterwards, when empty.
	WorkDir string
	// KeepWork keeps WorkDir (logs, databases) after the run.
	KeepWork bool
	// ProfileDir, when set, receives a CPU profile of every talentreg server
	// process over the measured window of each load case, taken from its
	// admin port's /debug/pprof/profile.
	ProfileDir string

	// Rounds is how many times every case runs; A/B cases alternate their
	// order from round to round.
	Rounds int
	// Concurrency is the number of closed-loop workers per load case.
	Concurrency int
	// GRPCConns is the number of client connections a gRPC case spreads its
	// workers over.
	GRPCConns int
	// GRPCClient is the load generator's gRPC client: ClientH2 (light,
	// the default) or ClientGRPCGo.
	GRPCClient string
	// Warmup precedes each measured window.
	Warmup time.Duration
	// Duration is each measured window.
	Duration time.Duration

	// Entities is the size of the read data set (floors, etcd, talentreg).
	Entities int
	// Groups is the number of groups of the read data set; every entity is
	// a member of one.
	Groups int
	// ImportEntities, ImportGroups and ImportMemberships (per entity) size
	// the bulk data set of the import and bootstrap cases.
	ImportEntities, ImportGroups, ImportMemberships int
	// LagRate is the write rate of the write→visible case, per second.
	LagRate float64

	// Etcd enables the peer's cases: etcd itself (one member, its default
	// limits and durability) holding the same records.
	Etcd bool
	// EtcdBackend enables the cases of the registry on its etcd backend,
	// on 1- and 3-member clusters, next to the registry on bbolt.
	EtcdBackend bool
	// Talentreg enables the talentreg cases.
	Talentreg bool
	// Auth enables the auth-on cases: a second registry (and a gateway in
	// front of it) serving the dev auth config with TLS, on the same data.
	Auth bool
	// Only, when set, runs only the cases whose name it matches.
	Only *regexp.Regexp
	// ReadyTimeout bounds each wait for a server to become ready.
	ReadyTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Defaults returns the configuration of a full run, the one that writes
// BENCHMARKS.md: the sizes and targets of issue 6.
func Defaults() Config {
	return Config{
		Title:             "talentreg benchmarks",
		Rounds:            3,
		Concurrency:       50,
		GRPCConns:         1,
		GRPCClient:        ClientH2,
		Warmup:            2 * time.Second,
		Duration:          10 * time.Second,
		Entities:          100_000,
		Groups:            23,
		ImportEntities:    1_000_000,
		ImportGroups:      2_000,
		ImportMemberships: 3,
		LagRate:           1000,
		Etcd:              true,
		EtcdBackend:       true,
		Talentreg:         true,
		Auth:              true,
		ReadyTimeout:      2 * time.Minute,
	}
}

// Smoke returns a configuration that proves the harness works in a few
// seconds: one short round on tiny data, every case included.
func Smoke() Config {
	c := Defaults()
	c.Title = "talentreg benchmarks (smoke run: tiny data, figures not meaningful)"
	c.Rounds = 1
	c.Concurrency = 8
	c.Warmup = 150 * time.Millisecond
	c.Duration = 600 * time.Millisecond
	// The read data set is imported into each etcd stack at a few hundred
	// items a second (race-built registry, fsync per transaction). The
	// list case needs more than a page of 50 for its first filter (one
	// entity in 20): 1,200 gives 60.
	c.Entities = 1_200
	c.ImportEntities = 1_000
	c.ImportGroups = 23
	c.LagRate = 200
	c.ReadyTimeout = 30 * time.Second
	return c
}

func (c *Config) validate() error {
	switch {
	case c.Rounds < 1, c.Concurrency < 1, c.GRPCConns < 1, c.Duration <= 0, c.Warmup < 0:
		return errors.New("harness: Rounds, Concurrency, GRPCConns and Duration must be positive")
	case c.Entities < 1, c.Groups < 1, c.ImportEntities < 1, c.ImportGroups < c.ImportMemberships, c.LagRate <= 0:
		return errors.New("harness: data set sizes and LagRate must be positive, ImportGroups ≥ ImportMemberships")
	case c.ReadyTimeout <= 0:
		return errors.New("harness: ReadyTimeout must be positive")
	}
	return nil
}
