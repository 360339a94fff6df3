package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	"talentreg/platform/freeport"
)

var registryService = registryv1.RegistryService_ServiceDesc.ServiceName

// ledger records the acknowledged writes and the errors seen on the way.
type ledger struct {
	mu     sync.Mutex
	acks   map[string]int64 // entity id → the revision its create was acknowledged at
	errs   map[string]int   // error code → how many attempts ended with it
	failed []string         // answers no fault can explain
	n      atomic.Int64
}

func newLedger() *ledger { return &ledger{acks: map[string]int64{}, errs: map[string]int{}} }

func (l *ledger) ack(id string, rev int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks[id] = rev
	l.n.Add(1)
}

func (l *ledger) attemptFailed(code string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs[code]++
}

func (l *ledger) wrong(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = append(l.failed, fmt.Sprintf(format, args...))
}

// retryable reports whether a failed write may be retried (with its
// request id): the answer of a fault, not of the request.
func retryable(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// grpcWriter creates entities w-0, w-1, … until ctx ends, each with a
// request id, through the registry replicas in turn starting at its own:
// a failed attempt is retried with the same request id on the next
// replica, so an attempt that committed before its answer was lost is
// acknowledged with its first revision, never written twice.
func grpcWriter(ctx context.Context, l *ledger, name string, clients []registryv1.RegistryServiceClient, home int) {
	pace := time.NewTicker(20 * time.Millisecond) // pacing, not synchronisation
	defer pace.Stop()
	for n := 0; ; n++ {
		id := fmt.Sprintf("%s-%d", name, n)
		req := &registryv1.CreateEntityRequest{EntityId: id, RequestId: "req-" + id, Entity: &registryv1.Entity{
			DisplayName: id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, Region: []string{"Binhai", "Beijing", "Hebei"}[n%3]}}
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				return
			}
			actx, cancel := context.WithTimeout(ctx, 3*time.Second)
			var hdr metadata.MD
			_, err := clients[(home+attempt)%len(clients)].CreateEntity(actx, req, grpc.Header(&hdr))
			cancel()
			if err == nil {
				rev, perr := strconv.ParseInt(first(hdr.Get("x-revision")), 10, 64)
				if perr != nil {
					l.wrong("%s: x-revision %q", id, hdr.Get("x-revision"))
					return
				}
				l.ack(id, rev)
				break
			}
			if ctx.Err() != nil {
				return // unacknowledged: it may or may not exist
			}
			code := status.Code(err)
			l.attemptFailed(code.String())
			if !retryable(code) {
				l.wrong("%s attempt %d: %v", id, attempt, err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond): // pacing of retries
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
	}
}

// httpWriter is grpcWriter through the gateway, which balances over the
// registry replicas that serve.
func httpWriter(ctx context.Context, l *ledger, name, gatewayURL string) {
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for n := 0; ; n++ {
		id := fmt.Sprintf("%s-%d", name, n)
		u := gatewayURL + "/v1/entities?entityId=" + id + "&requestId=req-" + id
		body := map[string]any{"displayName": id, "kind": "ENTITY_KIND_INCUBATOR", "region": "Tianjin"}
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				return
			}
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r, err := send(actx, "POST", u, body, "Grpc-Timeout", "3S")
			cancel()
			if err == nil && r.Status == 200 {
				rev, perr := strconv.ParseInt(r.Header.Get("X-Revision"), 10, 64)
				if perr != nil {
					l.wrong("%s: X-Revision %q", id, r.Header.Get("X-Revision"))
					return
				}
				l.ack(id, rev)
				break
			}
			if ctx.Err() != nil {
				return
			}
			switch {
			case err != nil:
				l.attemptFailed("HTTP transport")
			case r.Status == 503 || r.Status == 504:
				l.attemptFailed("HTTP " + strconv.Itoa(r.Status))
			default:
				l.wrong("%s attempt %d through the gateway: %v", id, attempt, r)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// feedWatcher watches the change feed through the registry replicas that
// serve, resuming after the last revision received whenever its stream
// ends, and records any revision that is not the one after the last.
type feedWatcher struct {
	next    atomic.Int64 // the revision expected next
	resumes atomic.Int64
	mu      sync.Mutex
	wrong   []string
}

func watchFeed(ctx context.Context, client registryv1.RegistryServiceClient) *feedWatcher {
	w := &feedWatcher{}
	w.next.Store(1)
	go func() {
		for ctx.Err() == nil {
			stream, err := client.WatchChanges(ctx, &registryv1.WatchChangesRequest{StartRevision: w.next.Load()})
			for err == nil {
				var msg *registryv1.WatchChangesResponse
				if msg, err = stream.Recv(); err != nil {
					break
				}
				for _, c := range msg.GetChanges() {
					if want := w.next.Load(); c.GetRevision() != want {
						w.mu.Lock()
						w.wrong = append(w.wrong, fmt.Sprintf("revision %d where %d was next", c.GetRevision(), want))
						w.mu.Unlock()
					}
					w.next.Store(c.GetRevision() + 1)
				}
			}
			w.resumes.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // pacing of resumes
			}
		}
	}()
	return w
}

// TestEtcd_FaultsUnderLoad is the fault test of the registry on etcd: a
// 3-member etcd cluster, two registry replicas on it, a metrics replica
// following both (--registry a,b) and a gateway in front of both. Under
// write load — writers through each replica and one through the gateway,
// every acknowledged write recorded with its revision — the etcd leader is
// killed with SIGKILL and restarted, then a registry replica, in two
// rounds (each replica in turn), and only the killed process is
// restarted. Afterwards every acknowledged write exists at its revision;
// the change log holds one change per revision, with no gap and no
// repeat, and so did a watcher that followed it through the faults; the
// metrics replica's Summary equals a recount from the registry and its
// own VerifyProjection agrees, without ever having reloaded a snapshot;
// and every process serves again.
func TestEtcd_FaultsUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts etcd and the whole stack")
	}
	began := time.Now()
	dir := t.TempDir()
	cluster := startEtcd(t, 3)
	regs := []*proc{
		startProc(t, newProc(dir, "registry-a", "registry", registryArgs(dir, "127.0.0.1:0", cluster.endpoints(), "1s")...)),
		startProc(t, newProc(dir, "registry-b", "registry", registryArgs(dir, "127.0.0.1:0", cluster.endpoints(), "1s")...)),
	}
	both := regs[0].grpcAddr + "," + regs[1].grpcAddr
	met := startProc(t, newProc(dir, "metrics", "metrics", metricsArgs(dir, both)...))
	gw := startProc(t, newProc(dir, "gateway", "gateway", gatewayArgs(both, met.grpcAddr)...))
	gatewayURL := "https://" + gw.httpAddr
	eventually(t, 60*time.Second, func() error {
		if r, err := send(context.Background(), "GET", gatewayURL+"/readyz", nil); err != nil || r.Status != 200 {
			return fmt.Errorf("gateway not ready: %v %v", r, err)
		}
		return nil
	})

	var clients []registryv1.RegistryServiceClient
	for _, r := range regs {
		clients = append(clients, registryv1.NewRegistryServiceClient(replicasConn(t, r.grpcAddr)))
	}
	balanced := registryv1.NewRegistryServiceClient(replicasConn(t, regs[0].grpcAddr, regs[1].grpcAddr))

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	feed := watchFeed(watchCtx, balanced)
	l := newLedger()
	var writers sync.WaitGroup
	for i := range 4 {
		writers.Go(func() { grpcWriter(ctx, l, fmt.Sprintf("w%d", i), clients, i%2) })
	}
	writers.Go(func() { httpWriter(ctx, l, "gw", gatewayURL) })

	// progress waits until n more writes are acknowledged: the load goes
	// on through the fault.
	progress := func(what string, n int64) {
		t.Helper()
		target := l.n.Load() + n
		eventually(t, 60*time.Second, func() error {
			if got := l.n.Load(); got < target {
				return fmt.Errorf("%s: %d writes acknowledged, waiting for %d", what, got, target)
			}
			return nil
		})
	}
	start := time.Now()
	t.Logf("stack up in %v", start.Sub(began).Round(time.Millisecond))
	for round := range 2 {
		progress("before the faults", 15)
		victim := cluster.leader(t)
		step := time.Now()
		logStep := func(what string) {
			t.Logf("round %d: %s (%v, %d writes)", round, what, time.Since(step).Round(time.Millisecond), l.n.Load())
			step = time.Now()
		}
		logStep("killing etcd member " + cluster.members[victim].name + ", the leader")
		cluster.members[victim].kill()
		progress("with an etcd member down", 15)
		logStep("writes went on; restarting it")
		cluster.members[victim].restart(t)

		reg := regs[round%2]
		logStep("member back; killing " + reg.name)
		reg.signal(syscall.SIGKILL)
		_ = reg.wait(10 * time.Second)
		progress("with a registry replica down", 15)
		logStep("writes went on; restarting it")
		if err := reg.start(); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, reg, registryService, healthpb.HealthCheckResponse_SERVING, 30*time.Second)
		logStep("replica serving")
	}
	progress("after the faults", 15)
	stopLoad()
	writers.Wait()
	t.Logf("faults done in %v: %d writes acknowledged; failed attempts by code: %v", time.Since(start).Round(time.Millisecond), l.n.Load(), l.errs)
	if len(l.failed) > 0 {
		t.Fatalf("answers no fault explains:\n%v", l.failed)
	}

	// Every process serves again, none restarted by hand but the killed.
	for _, r := range regs {
		waitHealth(t, r, registryService, healthpb.HealthCheckResponse_SERVING, 30*time.Second)
		waitHealth(t, r, "", healthpb.HealthCheckResponse_SERVING, 30*time.Second)
	}
	waitHealth(t, met, metricsv1.MetricsService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING, 30*time.Second)
	eventually(t, 30*time.Second, func() error {
		if r, err := send(context.Background(), "GET", gatewayURL+"/readyz", nil); err != nil || r.Status != 200 {
			return fmt.Errorf("gateway not ready: %v %v", r, err)
		}
		return nil
	})

	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A client's connection to a replica killed and restarted may still be
	// in its reconnect backoff, where a call fails at once with the refused
	// dial: the checks wait for it to be ready, within cctx.
	ready := grpc.WaitForReady(true)
	// The change log, read from one replica: one change per revision from
	// 1 to the head, each entity created once.
	head, err := clients[0].ListChanges(cctx, &registryv1.ListChangesRequest{StartRevision: 1, PageSize: 1}, ready)
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]int64{}
	next := int64(1)
	for token := ""; ; {
		page, err := clients[0].ListChanges(cctx, &registryv1.ListChangesRequest{StartRevision: 1, PageSize: 1000, PageToken: token}, ready)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.GetChanges() {
			if c.GetRevision() != next {
				t.Fatalf("the change log has revision %d where %d was next", c.GetRevision(), next)
			}
			next++
			if c.GetType() == registryv1.ChangeType_CHANGE_TYPE_CREATED {
				if prev, dup := created[c.GetName()]; dup {
					t.Fatalf("%s created at revisions %d and %d", c.GetName(), prev, c.GetRevision())
				}
				created[c.GetName()] = c.GetRevision()
			}
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if next-1 != head.GetRevision() {
		t.Fatalf("the change log ends at %d, the head is %d", next-1, head.GetRevision())
	}
	for id, rev := range l.acks {
		if got, ok := created["entities/"+id]; !ok || got != rev {
			t.Errorf("acknowledged write %s at revision %d: created at %d (found %v)", id, rev, got, ok)
		}
	}

	// The entities, listed from the other replica.
	entities := map[string]bool{}
	for token := ""; ; {
		page, err := clients[1].ListEntities(cctx, &registryv1.ListEntitiesRequest{PageSize: 1000, PageToken: token}, ready)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEntities() {
			entities[e.GetName()] = true
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	for id := range l.acks {
		if !entities["entities/"+id] {
			t.Errorf("acknowledged write %s is not listed", id)
		}
	}
	if len(entities) != len(created) {
		t.Errorf("%d entities listed, %d created in the change log", len(entities), len(created))
	}

	// The watcher that followed the feed through the faults.
	eventually(t, 30*time.Second, func() error {
		if got := feed.next.Load() - 1; got < head.GetRevision() {
			return fmt.Errorf("the watcher is at %d, the head at %d", got, head.GetRevision())
		}
		return nil
	})
	stopWatch()
	feed.mu.Lock()
	if len(feed.wrong) > 0 {
		t.Errorf("the watcher saw the feed skip, repeat or go back: %v", feed.wrong)
	}
	feed.mu.Unlock()

	// Metrics: the Summary at the head equals the recount, and the
	// replica's own verification agrees.
	var sum map[string]any
	eventually(t, 30*time.Second, func() error {
		r, err := send(cctx, "GET", gatewayURL+"/v1/summary?minRevision="+strconv.FormatInt(head.GetRevision(), 10), nil)
		if err != nil || r.Status != 200 {
			return fmt.Errorf("summary: %v %v", r, err)
		}
		sum = r.obj(t)
		return nil
	})
	if got, want := sum["entities"], strconv.Itoa(len(entities)); got != want || sum["revision"] != strconv.FormatInt(head.GetRevision(), 10) {
		t.Errorf("Summary: %v entities at revision %v, the recount %s at %d", got, sum["revision"], want, head.GetRevision())
	}
	v, err := metricsv1.NewMetricsServiceClient(replicasConn(t, met.grpcAddr)).VerifyProjection(cctx, &metricsv1.VerifyProjectionRequest{})
	if err != nil || !v.GetConsistent() || v.GetRevision() < head.GetRevision() {
		t.Errorf("VerifyProjection: %v %v, want consistent at %d or later", v, err, head.GetRevision())
	}
	if n := sample(t, met, "talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Errorf("the metrics replica loaded %v snapshots: failing over must resume the feed, not reload it", n)
	}
	if n := sample(t, met, "talentreg_metrics_reconnects_total"); n < 1 {
		t.Errorf("the metrics replica never reconnected: its feed was never cut, the test proves nothing")
	}
	t.Logf("head %d, %d entities, the watcher resumed %d times, metrics reconnected %v times; checks took %v",
		head.GetRevision(), len(entities), feed.resumes.Load(), sample(t, met, "talentreg_metrics_reconnects_total"), time.Since(start).Round(time.Millisecond))
}

// tcpProxy forwards connections from its own loopback address to target;
// cut closes the listener and every connection, restore listens again.
type tcpProxy struct {
	addr, target string

	mu    sync.Mutex
	lis   net.Listener
	conns map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = lis.Addr().String()
	p.serve(lis)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				go func() {
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
					p.mu.Lock()
					delete(p.conns, pair[0])
					delete(p.conns, pair[1])
					p.mu.Unlock()
				}()
			}
		}
	}()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(lis)
}

// TestEtcd_ReplicaCutOffFromEtcd: a registry replica that loses etcd —
// here the only path from it to the cluster is cut, while the other
// replica keeps its own — turns NOT_SERVING and ends its feed streams; the
// metrics replica that followed it resumes from its applied revision on
// the other replica and keeps up with the writes made there, with no
// snapshot reload; once the path is back the replica serves again by
// itself.
func TestEtcd_ReplicaCutOffFromEtcd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts etcd and the stack")
	}
	dir := t.TempDir()
	cluster := startEtcd(t, 1)
	member, err := url.Parse(cluster.endpoints())
	if err != nil {
		t.Fatal(err)
	}
	path := startProxy(t, member.Host)
	// Auto-sync off: it would swap the proxy for the member's own URL.
	a := startProc(t, newProc(dir, "registry-a", "registry", append(registryArgs(dir, "127.0.0.1:0", "http://"+path.addr, "250ms"),
		"--etcd-auto-sync-interval", "0")...))
	bAddr := freeport.For(t)
	// The metrics replica starts while only a serves, so its feed runs
	// through a.
	met := startProc(t, newProc(dir, "metrics", "metrics", metricsArgs(dir, a.grpcAddr+","+bAddr)...))
	waitHealth(t, met, "", healthpb.HealthCheckResponse_SERVING, 60*time.Second)
	b := startProc(t, newProc(dir, "registry-b", "registry", registryArgs(dir, bAddr, cluster.endpoints(), "250ms")...))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	metricsClient := metricsv1.NewMetricsServiceClient(replicasConn(t, met.grpcAddr))
	write := func(client registryv1.RegistryServiceClient, id string) int64 {
		t.Helper()
		var hdr metadata.MD
		if _, err := client.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: id, Entity: &registryv1.Entity{
			DisplayName: id, Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY}}, grpc.Header(&hdr)); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		rev, err := strconv.ParseInt(first(hdr.Get("x-revision")), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	caughtUp := func(rev int64, entities int64) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			sum, err := metricsClient.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: rev})
			if err != nil || sum.GetEntities() != entities {
				return fmt.Errorf("metrics at revision %d: %v %v, want %d entities", rev, sum, err, entities)
			}
			return nil
		})
	}
	clientA := registryv1.NewRegistryServiceClient(replicasConn(t, a.grpcAddr))
	clientB := registryv1.NewRegistryServiceClient(replicasConn(t, b.grpcAddr))
	for i := range 3 {
		caughtUp(write(clientA, fmt.Sprint("a", i)), int64(i+1))
	}

	path.cut()
	waitHealth(t, a, registryService, healthpb.HealthCheckResponse_NOT_SERVING, 30*time.Second)
	waitHealth(t, a, "", healthpb.HealthCheckResponse_NOT_SERVING, 30*time.Second)
	var rev int64
	for i := range 3 {
		rev = write(clientB, fmt.Sprint("b", i))
	}
	caughtUp(rev, 6)
	if got, _ := healthOf(a.grpcAddr, registryService); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("registry a is %v while cut off: the feed may not have moved", got)
	}
	if n := sample(t, met, "talentreg_metrics_reconnects_total"); n < 1 {
		t.Fatal("the metrics replica never reconnected: its feed did not run through a")
	}
	if n := sample(t, met, "talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Fatalf("%v snapshot loads: failing over must resume the feed, not reload it", n)
	}
	if n := sample(t, a, "talentreg_registry_store_available"); n != 0 {
		t.Fatalf("talentreg_registry_store_available %v on the cut-off replica, want 0", n)
	}

	path.restore(t)
	waitHealth(t, a, registryService, healthpb.HealthCheckResponse_SERVING, 30*time.Second)
	caughtUp(write(clientA, "a-again"), 7)
	waitHealth(t, met, metricsv1.MetricsService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING, 10*time.Second)
}

// TestEtcd_TooLargeCascadeIsHTTP400: on a registry whose etcd transactions
// are held to 1,024 operations, a force delete of an entity in 300 groups
// (about 1,200 writes) is refused through the gateway with HTTP 400 and
// the reason TRANSACTION_TOO_LARGE, the message saying what to do, and
// nothing of it is deleted; once some memberships are deleted first, as
// the message says, the force delete goes through.
func TestEtcd_TooLargeCascadeIsHTTP400(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts etcd and the stack")
	}
	dir := t.TempDir()
	cluster := startEtcd(t, 1)
	reg := startProc(t, newProc(dir, "registry", "registry", append(registryArgs(dir, "127.0.0.1:0", cluster.endpoints(), "1s"),
		"--etcd-max-txn-ops", "1024")...))
	met := startProc(t, newProc(dir, "metrics", "metrics", metricsArgs(dir, reg.grpcAddr)...))
	gw := startProc(t, newProc(dir, "gateway", "gateway", gatewayArgs(reg.grpcAddr, met.grpcAddr)...))
	gatewayURL := "https://" + gw.httpAddr
	eventually(t, 60*time.Second, func() error {
		if r, err := send(context.Background(), "GET", gatewayURL+"/readyz", nil); err != nil || r.Status != 200 {
			return fmt.Errorf("gateway not ready: %v %v", r, err)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := registryv1.NewRegistryServiceClient(replicasConn(t, reg.grpcAddr))
	if _, err := client.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "hub", Entity: &registryv1.Entity{
		DisplayName: "Hub", Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}}); err != nil {
		t.Fatal(err)
	}
	// The groups and memberships in one Import (sub-chunks of
	// registry.MaxBatch on etcd): 600 calls one by one took ~20 s.
	const groups = 300
	var items []*registryv1.Resource
	for i := range groups {
		id := fmt.Sprintf("g%d", i)
		items = append(items,
			&registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{
				Name: "groups/" + id, DisplayName: id, Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}}},
			&registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{
				Name: "groups/" + id + "/memberships/hub", Entity: "entities/hub", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}})
	}
	stream, err := client.Import(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&registryv1.ImportRequest{Items: items}); err != nil {
		t.Fatal(err)
	}
	imported, err := stream.CloseAndRecv()
	if err != nil || imported.GetGroups().GetCreated() != groups || imported.GetMemberships().GetCreated() != groups {
		t.Fatalf("import of %d groups and their memberships: %v, %v", groups, imported, err)
	}

	r, err := send(ctx, "DELETE", gatewayURL+"/v1/entities/hub?force=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 400 || !strings.Contains(string(r.Body), "TRANSACTION_TOO_LARGE") || !strings.Contains(string(r.Body), "its 300 memberships") ||
		!strings.Contains(string(r.Body), "delete some of them first") {
		t.Fatalf("force delete of an entity in %d groups over HTTP: %v, want 400 TRANSACTION_TOO_LARGE naming the memberships and what to do", groups, r)
	}
	if r, err := send(ctx, "GET", gatewayURL+"/v1/groups/g0/memberships/hub", nil); err != nil || r.Status != 200 {
		t.Fatalf("a membership after the refused cascade: %v %v, want 200", r, err)
	}
	for i := range groups / 2 {
		if r, err := send(ctx, "DELETE", gatewayURL+fmt.Sprintf("/v1/groups/g%d/memberships/hub", i), nil); err != nil || r.Status != 200 {
			t.Fatalf("delete membership %d: %v %v", i, r, err)
		}
	}
	if r, err := send(ctx, "DELETE", gatewayURL+"/v1/entities/hub?force=true", nil); err != nil || r.Status != 200 {
		t.Fatalf("the force delete once half the memberships are gone: %v %v, want 200", r, err)
	}
}
