package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/bench/dataset"
	"talentreg/bench/etcd"
	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
)

// startFloor builds (when needed) and starts the bare gRPC floor and the
// stock grpc-gateway in front of it.
func (e *env) startFloor(ctx context.Context) error {
	e.floorBin = e.cfg.FloorBin
	if e.floorBin == "" {
		e.floorBin = filepath.Join(e.work, "floor")
		e.logf("building the floor: go build talentreg/bench/cmd/floor")
		if err := goBuild(ctx, e.cfg.Root, e.floorBin, "talentreg/bench/cmd/floor"); err != nil {
			return err
		}
	}
	grpcAddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	p, err := e.g.Start(proc.Spec{Name: "floor-grpc", Path: e.floorBin,
		Args: []string{"-mode", "grpc", "-addr", grpcAddr, "-entities", strconv.Itoa(e.cfg.Entities)}})
	if err != nil {
		return err
	}
	if err := p.WaitReady(ctx, e.cfg.ReadyTimeout, grpcServing(plain(grpcAddr))); err != nil {
		return err
	}
	httpAddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	gw, err := e.g.Start(proc.Spec{Name: "floor-gateway", Path: e.floorBin,
		Args: []string{"-mode", "gateway", "-addr", httpAddr, "-backend", grpcAddr}})
	if err != nil {
		return err
	}
	if err := gw.WaitReady(ctx, e.cfg.ReadyTimeout, httpOK(http.DefaultClient, "http://"+httpAddr+"/v1/summary")); err != nil {
		return err
	}
	tunedAddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	tuned, err := e.g.Start(proc.Spec{Name: "floor-gateway-gc400", Path: e.floorBin, Env: floorGCEnv,
		Args: []string{"-mode", "gateway", "-addr", tunedAddr, "-backend", grpcAddr}})
	if err != nil {
		return err
	}
	if err := tuned.WaitReady(ctx, e.cfg.ReadyTimeout, httpOK(http.DefaultClient, "http://"+tunedAddr+"/v1/summary")); err != nil {
		return err
	}
	e.floor.grpcAddr, e.floor.grpcPID = grpcAddr, p.PID
	e.floor.httpAddr, e.floor.httpPID = httpAddr, gw.PID
	e.floor.httpTunedAddr, e.floor.httpTunedPID = tunedAddr, tuned.PID
	e.logf("floor: bare gRPC on %s (pid %d), stock grpc-gateway on %s (pid %d), the same with %s on %s (pid %d)",
		grpcAddr, p.PID, httpAddr, gw.PID, strings.Join(floorGCEnv, " "), tunedAddr, tuned.PID)
	return nil
}

// floorGCEnv gives the stock grpc-gateway floor the GC settings our gateway
// runs with by default (gateway.Defaults: --gc-percent 400 under a
// --memory-limit of 1 GiB), so that the gateway's ratio to it measures our
// code, not a GC setting (issue 16).
var floorGCEnv = []string{"GOGC=400", "GOMEMLIMIT=1024MiB"}

// buildEtcd finds or builds the etcdmember binary that runs every etcd
// member of the run. Without it, or with both kinds of etcd case disabled,
// those cases skip, saying why.
func (e *env) buildEtcd(ctx context.Context) {
	switch {
	case !e.cfg.Etcd && !e.cfg.EtcdBackend:
		e.markUnavailable(compEtcdBin, "disabled (-etcd=false -etcd-backend=false)")
	case e.cfg.EtcdBin != "":
		e.etcdBin = e.cfg.EtcdBin
	default:
		bin := filepath.Join(e.work, "etcdmember")
		e.logf("building etcd: go build %s", etcd.Package)
		if err := goBuild(ctx, e.cfg.Root, bin, etcd.Package); err != nil {
			e.markUnavailable(compEtcdBin, err.Error())
		} else {
			e.etcdBin = bin
		}
	}
	if !e.cfg.Etcd {
		e.markUnavailable(compEtcdPeer, "disabled (-etcd=false)")
	} else if why, ok := e.unavailable[compEtcdBin]; ok {
		e.markUnavailable(compEtcdPeer, why)
	}
}

// startEtcd starts the peer holding the read data set: one etcd member
// with etcd's default limits and durability, loaded with the same Entity
// bytes under the same keys as the floor. Failures make the peer's cases
// skip.
func (e *env) startEtcd(ctx context.Context) {
	if why := e.missing([]string{compEtcdPeer}); why != "" {
		e.markUnavailable(compEtcd, why)
		return
	}
	c, err := etcd.Start(ctx, e.g, e.etcdBin, "etcd-read", filepath.Join(e.work, "etcd-read"), 1, etcd.DefaultLimits, e.cfg.ReadyTimeout)
	if err == nil {
		err = e.loadEtcd(ctx, c.Members[0].Addr)
	}
	if err != nil {
		e.markUnavailable(compEtcd, "etcd: "+err.Error())
		return
	}
	e.peer = c.Members[0]
	e.logf("etcd: %s on %s (pid %d), %d entities loaded", etcd.Version(e.etcdBin), e.peer.Addr, e.peer.Proc.PID, e.cfg.Entities)
}

func (e *env) loadEtcd(ctx context.Context, addr string) error {
	cc, err := rawgrpc.Dial(addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return etcd.Load(ctx, cc, e.cfg.Entities, 8, func(i int) (string, []byte) {
		return dataset.EntityName(i), dataset.EntityBytes(i)
	})
}

// startTalentreg starts the read stack: a registry, a metrics service
// following it from its first revision, the read data set imported
// through the registry, and the gateway once metrics has caught up. As
// metrics applies the import transaction by transaction from the change
// feed, its history holds every one of them (the as-of cases ask for
// times across it). Whatever fails makes the cases that need it skip.
func (e *env) startTalentreg(ctx context.Context) {
	e.bins = map[string]string{}
	e.tr.admin = map[string]string{}
	for _, name := range []string{"registry", "metrics", "gateway"} {
		why := ""
		path := filepath.Join(e.cfg.BinDir, name)
		if !e.cfg.Talentreg {
			why = "disabled (-talentreg=false)"
		} else if st, err := os.Stat(path); err != nil || st.IsDir() {
			why = fmt.Sprintf("not built: no %s (run make build)", path)
		}
		if why != "" {
			e.markUnavailable(name, why)
			if name != "gateway" {
				e.markUnavailable(name+" binary", why)
			}
			continue
		}
		e.bins[name] = path
	}
	if e.unavailable[compRegistry] != "" {
		e.markUnavailable(compMetrics, first(e.unavailable[compMetrics], "needs the registry: "+e.unavailable[compRegistry]))
		e.markUnavailable(compGateway, first(e.unavailable[compGateway], "needs the registry: "+e.unavailable[compRegistry]))
		return
	}
	dir := filepath.Join(e.work, "read")
	reg, addr, err := e.startRegistry(ctx, "registry", dir)
	if err != nil {
		why := "registry: " + err.Error()
		for _, c := range []string{compRegistry, compMetrics, compGateway} {
			e.markUnavailable(c, first(e.unavailable[c], why))
		}
		return
	}
	var met *proc.Process
	var maddr string
	if e.unavailable[compMetrics] == "" {
		// Loaded (from the empty registry's snapshot) before the
		// import starts, so that its history is complete from the start.
		met, maddr, err = e.startMetrics(ctx, "metrics", dir, addr)
		if err == nil {
			err = waitRevision(ctx, maddr, 0, e.cfg.ReadyTimeout)
		}
		if err != nil {
			e.markUnavailable(compMetrics, "metrics: "+err.Error())
		}
	}
	e.mainData = buildImport(e.cfg.Entities, e.cfg.Groups, 1)
	e.tr.historyFrom = time.Now()
	res, err := runImport(ctx, plain(addr), e.mainData)
	e.tr.historyTo = time.Now()
	if err == nil && res.failed > 0 {
		err = fmt.Errorf("import of the read data set: %d items failed, first: %s", res.failed, res.firstError)
	}
	if err != nil {
		why := "registry: " + err.Error()
		for _, c := range []string{compRegistry, compMetrics, compGateway} {
			e.markUnavailable(c, first(e.unavailable[c], why))
		}
		return
	}
	rev := res.revision
	e.tr.registry, e.tr.registryAddr = reg, addr
	e.logf("registry: %s (pid %d), read data set imported: %d items, revision %d, in %v", addr, reg.PID, e.mainData.items, rev, res.elapsed.Round(time.Millisecond))

	if e.unavailable[compMetrics] == "" {
		if err := waitRevision(ctx, maddr, rev, e.cfg.ReadyTimeout); err != nil {
			e.markUnavailable(compMetrics, "metrics: "+err.Error())
		} else {
			e.tr.metrics, e.tr.metricsAddr = met, maddr
			e.logf("metrics: %s (pid %d), caught up with revision %d (followed the import from revision 0)", maddr, met.PID, rev)
		}
	}
	if e.unavailable[compGateway] == "" {
		gw, haddr, err := e.startGateway(ctx, "gateway", addr, e.tr.metricsAddr)
		if err != nil {
			e.markUnavailable(compGateway, "gateway: "+err.Error())
		} else {
			e.tr.gateway, e.tr.httpAddr = gw, haddr
			e.logf("gateway: %s (pid %d)", haddr, gw.PID)
		}
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// startRegistry starts a registry named name on a fresh database in dir.
// Extra flags follow the database's.
func (e *env) startRegistry(ctx context.Context, name, dir string, flags ...string) (*proc.Process, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	return e.startRegistryOn(ctx, name, append([]string{"--db", filepath.Join(dir, "registry.db")}, flags...)...)
}

// etcdStore are the registry's flags of its etcd backend on cluster c.
func etcdStore(c *etcd.Cluster) []string {
	return []string{"--store", "etcd", "--etcd-endpoints", c.Endpoints(), "--etcd-prefix", "/talentreg/"}
}

// startRegistryOn starts a registry named name on the store its flags
// name (--db FILE, or etcdStore) and waits until it serves.
func (e *env) startRegistryOn(ctx context.Context, name string, store ...string) (*proc.Process, string, error) {
	return e.startServer(ctx, name, e.bins["registry"], func(addr, admin string) ([]string, readyCheck) {
		return append([]string{"--grpc-addr", addr, "--admin-addr", admin, "--admin-pprof", "--log-level", "warn"}, store...), grpcServing(plain(addr))
	})
}

// startMetrics starts a metrics service named name with a fresh checkpoint
// in dir, following registry. It waits until the service answers health
// checks, not until it has caught up.
func (e *env) startMetrics(ctx context.Context, name, dir, registry string) (*proc.Process, string, error) {
	return e.startMetricsThen(ctx, name, dir, registry, nil)
}

// startMetricsThen is startMetrics calling started, if not nil, as soon as
// the process is started, before it serves: the bootstrap case profiles
// the load from there.
func (e *env) startMetricsThen(ctx context.Context, name, dir, registry string, started func()) (*proc.Process, string, error) {
	return e.startServerThen(ctx, name, e.bins["metrics"], func(addr, admin string) ([]string, readyCheck) {
		return []string{
			"--grpc-addr", addr, "--registry", registry, "--db", filepath.Join(dir, name+".db"),
			"--admin-addr", admin, "--admin-pprof", "--log-level", "warn",
		}, grpcServing(plain(addr))
	}, started)
}

// startGateway starts a gateway named name in front of registry and
// metrics; with metrics empty it has no metrics backend (and serves
// entities only).
func (e *env) startGateway(ctx context.Context, name, registry, metrics string) (*proc.Process, string, error) {
	ready := "/readyz"
	if metrics == "" {
		metrics = "127.0.0.1:1"
		ready = "/healthz" // no metrics backend: /readyz stays 503
	}
	return e.startServer(ctx, name, e.bins["gateway"], func(addr, admin string) ([]string, readyCheck) {
		return []string{
			"--http-addr", addr, "--registry", registry, "--metrics", metrics, "--admin-addr", admin, "--admin-pprof", "--log-level", "warn",
		}, httpOK(http.DefaultClient, "http://"+addr+ready)
	})
}

// readyCheck says whether a started process serves yet.
type readyCheck = func(context.Context) error

// startServer starts one of our services, named name, from bin on a fresh
// serving address and admin address, with the arguments and readiness
// check args gives for them, and waits until it is ready. It returns the
// serving address.
func (e *env) startServer(ctx context.Context, name, bin string, args func(addr, admin string) ([]string, readyCheck)) (*proc.Process, string, error) {
	return e.startServerThen(ctx, name, bin, args, nil)
}

// startServerThen is startServer calling started, if not nil, once the
// process is started (again if it is started again), with its admin
// address known to profileDuring.
func (e *env) startServerThen(ctx context.Context, name, bin string, args func(addr, admin string) ([]string, readyCheck), started func()) (*proc.Process, string, error) {
	var p *proc.Process
	var addr, admin string
	err := proc.RetryExited(ctx, func() error {
		var err error
		if addr, admin, err = freeAddrs(); err != nil {
			return err
		}
		argv, ready := args(addr, admin)
		if p, err = e.g.Start(proc.Spec{Name: name, Path: bin, Args: argv}); err != nil {
			return err
		}
		if started != nil {
			e.tr.admin[name] = "http://" + admin
			started()
		}
		if err := p.WaitReady(ctx, e.cfg.ReadyTimeout, ready); err != nil {
			p.Stop(5 * time.Second)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	e.tr.admin[name] = "http://" + admin
	return p, addr, nil
}

func freeAddrs() (string, string, error) {
	a, err := proc.FreeAddr()
	if err != nil {
		return "", "", err
	}
	b, err := proc.FreeAddr()
	return a, b, err
}

// grpcServing returns a readiness check: the server at ep answers the
// standard health check with SERVING.
func grpcServing(ep endpoint) func(context.Context) error {
	return func(ctx context.Context) error {
		cc, err := grpc.NewClient(ep.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, ep.dialOptions()...)...)
		if err != nil {
			return err
		}
		defer cc.Close()
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %v", resp.GetStatus())
		}
		return nil
	}
}

// httpOK returns a readiness check: GET url with client answers 200.
func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// waitRevision waits until the metrics service at addr answers GetSummary
// with min_revision rev, retrying while it is unreachable.
func waitRevision(ctx context.Context, addr string, rev int64, timeout time.Duration) error {
	cc, err := rawgrpc.Dial(addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := rawgrpc.AppendVarint(nil, 1, uint64(rev))
	var resp rawgrpc.Frame
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		err := rawgrpc.Invoke(cctx, cc, methodGetSummary, req, &resp)
		ccancel()
		if err == nil {
			got, err := rawgrpc.VarintField(resp.B, 1)
			if err != nil {
				return err
			}
			if int64(got) >= rev {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("metrics did not reach revision %d", rev), err)
		case <-tick.C:
		}
	}
}
