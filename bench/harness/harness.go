// Package harness runs the talentreg benchmark: it starts the floors (a bare
// grpc-go server and stock grpc-gateway in front of it), the peer (etcd),
// the talentreg services, and the registry on its etcd backend (on 1- and
// 3-member etcd clusters) as separate processes on loopback ports, drives
// each case with the load generator, alternating A/B cases over several
// rounds, and returns a report with every target checked within each round.
// Every process it starts is stopped by PID before Run returns, whatever
// happens.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"talentreg/bench/etcd"
	"talentreg/bench/proc"
	"talentreg/bench/report"
)

// Component names a case may depend on.
const (
	compFloor       = "floor"
	compEtcdBin     = "etcd binary" // etcdmember built (fresh clusters per round)
	compEtcdPeer    = "etcd peer"   // the peer's cases enabled and etcd built
	compEtcd        = "etcd"        // the peer holding the read data set, running
	compRegistry    = "registry"    // the read stack's registry, running
	compMetrics     = "metrics"
	compGateway     = "gateway"
	compRegistryBin = "registry binary"
	compMetricsBin  = "metrics binary"
	// The auth-on read stack: a registry with the dev auth config and TLS,
	// on the same data set, and a gateway in front of it.
	compRegistryAuth = "registry (auth on)"
	compGatewayAuth  = "gateway (auth on)"
	// compEtcdBackend is the registry on its etcd backend: those cases
	// enabled, the registry and etcd built (fresh clusters per round).
	// compRegistryEtcd(n) and compGatewayEtcd(n) are its read stack on an
	// n-member cluster, running.
	compEtcdBackend = "registry on etcd"
)

// etcdSizes are the etcd cluster sizes the registry's etcd backend is
// measured on: one member (etcd's cost alone) and three (replication, the
// smallest cluster that survives the loss of a member).
var etcdSizes = []int{1, 3}

// compRegistryEtcd names the read stack's registry on an n-member etcd
// cluster, running with the read data set.
func compRegistryEtcd(n int) string { return fmt.Sprintf("registry on etcd (%d members)", n) }

// compGatewayEtcd names the gateway in front of compRegistryEtcd(n).
func compGatewayEtcd(n int) string { return fmt.Sprintf("gateway on etcd (%d members)", n) }

// onEtcd is the suffix of the cases of the registry on an n-member etcd
// cluster ("-etcd3"), or "" for n = 0, the registry on bbolt.
func onEtcd(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("-etcd%d", n)
}

// etcdStack is a read stack on etcd: a cluster, a registry on it loaded
// with the read data set, and a gateway in front of the registry.
type etcdStack struct {
	cluster                *etcd.Cluster
	registry, gateway      *proc.Process
	registryAddr, httpAddr string
	// imported is how the import of the read data set went.
	imported  importResult
	importErr error
}

// pids are the processes whose CPU a read through the registry costs: the
// registry and every etcd member.
func (s *etcdStack) pids() []int { return append([]int{s.registry.PID}, s.cluster.PIDs()...) }

// env is the state of one run.
type env struct {
	cfg   Config
	log   io.Writer
	g     *proc.Group
	work  string
	start time.Time

	floorBin string
	etcdBin  string
	bins     map[string]string // registry, metrics, gateway → path

	// unavailable holds, per component, why it cannot be used.
	unavailable map[string]string

	floor struct {
		grpcAddr, httpAddr string
		grpcPID, httpPID   int
		// The same stock grpc-gateway under our gateway's GC settings
		// (floorGCEnv): the fair floor for the gateway's targets.
		httpTunedAddr string
		httpTunedPID  int
	}
	peer *etcd.Member
	// onEtcd are the read stacks on etcd, by cluster size.
	onEtcd map[int]*etcdStack
	tr     struct {
		registry, metrics, gateway          *proc.Process
		registryAddr, metricsAddr, httpAddr string
		admin                               map[string]string // process name → admin base URL
		// historyFrom and historyTo bracket the import of the read data
		// set, which metrics applied transaction by transaction: the
		// history the as-of cases read.
		historyFrom, historyTo time.Time
	}
	// sec is the auth-on read stack and its clients.
	sec struct {
		registry, gateway *proc.Process
		registryAddr, dir string
		// jwt and mtls reach the registry with a JWT, and with a client
		// certificate; https reaches the gateway with the JWT.
		jwt, mtls, https endpoint
	}
	// adminClient fetches profiles from admin servers, plain or TLS (it
	// trusts the auth-on stack's CA once that exists).
	adminClient *http.Client

	mainData *importData
	bulkData *importData
	seq      atomic.Int64 // unique ids for writes
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s "+format+"\n", append([]any{time.Since(e.start).Round(time.Millisecond)}, args...)...)
}

// Run runs the benchmark described by cfg and returns its report. It returns
// an error only when the run cannot start at all (no floor); a case that
// cannot run is reported as skipped, with the reason.
func Run(ctx context.Context, cfg Config) (rep *report.Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, log: cfg.Log, start: time.Now(), unavailable: map[string]string{}, adminClient: http.DefaultClient, onEtcd: map[int]*etcdStack{}}
	loadStart := loadavg()
	if e.log == nil {
		e.log = io.Discard
	}
	if cfg.Root == "" {
		if cfg.Root, err = findRoot(); err != nil {
			return nil, err
		}
		e.cfg.Root = cfg.Root
	}
	if cfg.BinDir == "" {
		e.cfg.BinDir = filepath.Join(cfg.Root, "bin")
	}
	e.work = cfg.WorkDir
	if e.work == "" {
		if e.work, err = os.MkdirTemp("", "talentreg-bench-"); err != nil {
			return nil, err
		}
	}
	e.g = &proc.Group{LogDir: filepath.Join(e.work, "logs")}
	defer func() {
		if serr := e.g.StopAll(10 * time.Second); serr != nil {
			err = errors.Join(err, serr)
		}
		if !cfg.KeepWork && cfg.WorkDir == "" {
			os.RemoveAll(e.work)
		} else {
			e.logf("work dir kept: %s", e.work)
		}
	}()

	rep = &report.Report{Title: cfg.Title, Command: cfg.Command, Started: e.start}
	if err := e.startFloor(ctx); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	e.buildEtcd(ctx)
	e.startEtcd(ctx)
	e.startTalentreg(ctx)
	e.startAuthStack(ctx)
	e.startEtcdStacks(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	groups := e.cases()
	for _, g := range groups {
		for _, c := range g {
			for _, name := range c.produces() {
				rc := rep.Case(name, c.descOf(name))
				rc.Rounds = make([]report.Figures, cfg.Rounds)
				if !e.selected(name) {
					rc.Skip = "not selected (-only)"
				} else if why := e.missing(c.needs); why != "" {
					rc.Skip = why
				}
			}
		}
	}
	for round := range cfg.Rounds {
		e.logf("round %d/%d", round+1, cfg.Rounds)
		for _, g := range groups {
			order := slices.Clone(g)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, c := range order {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				e.runCase(ctx, rep, c, round)
			}
		}
	}
	rep.Checks = checks(e.cfg)
	rep.Comparisons = comparisons(e.cfg.Concurrency)
	rep.Machine = machine(loadStart)
	rep.Versions = e.versions()
	rep.Settings = e.settings()
	rep.Notes = e.notes()
	rep.Elapsed = time.Since(e.start)
	return rep, nil
}

func (e *env) selected(name string) bool { return e.cfg.Only == nil || e.cfg.Only.MatchString(name) }

// markUnavailable records why component c cannot be used, and logs it
// then: a note at the end of a long report is easily lost.
func (e *env) markUnavailable(c, why string) {
	e.unavailable[c] = why
	e.logf("%s unavailable: %s", c, why)
}

// missing returns why one of comps is unavailable, or "".
func (e *env) missing(comps []string) string {
	for _, c := range comps {
		if why, ok := e.unavailable[c]; ok {
			return why
		}
	}
	return ""
}

func (e *env) runCase(ctx context.Context, rep *report.Report, c caseDef, round int) {
	var run []string
	for _, name := range c.produces() {
		if rc := rep.Find(name); rc.Skip == "" {
			run = append(run, name)
		}
	}
	if len(run) == 0 {
		return
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = e.cfg.Warmup + e.cfg.Duration + time.Minute
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	figs, err := c.run(cctx, round)
	for _, name := range run {
		rc := rep.Find(name)
		f, ok := figs[name]
		if ok {
			rc.Rounds[round] = f
			e.logf("  %-22s %s", name, summarize(f))
		}
		if err != nil && (!ok || len(c.produces()) == 1) {
			rc.Errors = append(rc.Errors, fmt.Sprintf("round %d: %v", round+1, err))
			e.logf("  %-22s error: %v", name, err)
		}
	}
}

func summarize(f report.Figures) string {
	if q, ok := f[report.QPS]; ok {
		s := fmt.Sprintf("%8.0f QPS  p50 %.3f ms  p99 %.3f ms", q, f[report.P50], f[report.P99])
		if _, ok := f[report.ServerUS]; ok {
			s += fmt.Sprintf("  errors %.0f  server %.1f µs/req  load %.1f µs/req", f[report.Errors], f[report.ServerUS], f[report.LoadUS])
		}
		if w, ok := f[report.P99WorstShape]; ok {
			s += fmt.Sprintf("  worst shape's p99 %.3f ms", w)
		}
		return s
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, f[k]))
	}
	return strings.Join(parts, "  ")
}

// findRoot walks up from the working directory to the directory holding
// go.work.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: no go.work above the working directory; set Root")
		}
		dir = parent
	}
}

// goBuild builds pkg into out from the repository root, with flags.
func goBuild(ctx context.Context, root, out, pkg string, flags ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}
