package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"talentreg/bench/dataset"
	"talentreg/bench/etcd"
	"talentreg/bench/load"
	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
	"talentreg/bench/report"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

const (
	methodGetEntity    = registryv1.RegistryService_GetEntity_FullMethodName
	methodCreateEntity = registryv1.RegistryService_CreateEntity_FullMethodName
	methodListEntities = registryv1.RegistryService_ListEntities_FullMethodName
	methodImport       = registryv1.RegistryService_Import_FullMethodName
	methodGetSummary   = metricsv1.MetricsService_GetSummary_FullMethodName
	methodSearch       = metricsv1.MetricsService_SearchEntities_FullMethodName
)

// writeBase is the first entity index of written entities: above the read
// and bulk data sets, so ids and credit codes never collide.
const writeBase = 10_000_000

// caseDef is one step of a round; most produce one report case, the
// import step two (import and bootstrap).
type caseDef struct {
	name, desc string
	// also lists further cases the step produces, as name, desc pairs.
	also    [][2]string
	needs   []string
	timeout time.Duration
	run     func(ctx context.Context, round int) (map[string]report.Figures, error)
}

func (c caseDef) produces() []string {
	out := []string{c.name}
	for _, a := range c.also {
		out = append(out, a[0])
	}
	return out
}

func (c caseDef) descOf(name string) string {
	for _, a := range c.also {
		if a[0] == name {
			return a[1]
		}
	}
	return c.desc
}

// one wraps a run function that produces the figures of case name.
func one(name string, f func(ctx context.Context, round int) (report.Figures, error)) func(context.Context, int) (map[string]report.Figures, error) {
	return func(ctx context.Context, round int) (map[string]report.Figures, error) {
		figs, err := f(ctx, round)
		if figs == nil {
			return nil, err
		}
		return map[string]report.Figures{name: figs}, err
	}
}

// cases returns the steps of a round in groups; a group's steps alternate
// their order from round to round.
func (e *env) cases() [][]caseDef {
	n := e.cfg.Entities
	keys := readKeys(n)
	getReqs := make([][]byte, len(keys))
	rangeReqs := make([][]byte, len(keys))
	for j, k := range keys {
		getReqs[j] = getRequest(k)
		rangeReqs[j] = etcd.RangeRequest(dataset.EntityName(k))
	}
	httpGets := func(ep endpoint) [][]byte {
		out := make([][]byte, len(keys))
		for j, k := range keys {
			out[j] = load.NewRequest("GET", ep.addr, "/v1/"+dataset.EntityName(k), "", nil, ep.httpHeaders()...)
		}
		return out
	}
	etcdRanges := func(addr string) [][]byte {
		out := make([][]byte, len(keys))
		for j, k := range keys {
			out[j] = load.NewRequest("POST", addr, "/v3/kv/range", "application/json", etcd.GatewayRangeBody(dataset.EntityName(k)))
		}
		return out
	}
	getOnEtcd := func(n int) caseDef {
		name := "grpc-get/talentreg" + onEtcd(n)
		return caseDef{name: name, desc: fmt.Sprintf("GetEntity, registry on etcd, %s, linearizable read (server CPU: the registry and every member)", members(n)), needs: []string{compRegistryEtcd(n)},
			run: one(name, func(ctx context.Context, round int) (report.Figures, error) {
				st := e.onEtcd[n]
				return e.grpcCase(ctx, name, round, plain(st.registryAddr), st.pids(), []string{"registry" + onEtcd(n)}, methodGetEntity, getReqs, checkGetEntity(keys[0]))
			})}
	}
	httpGetOnEtcd := func(n int) caseDef {
		name := "http-get/talentreg" + onEtcd(n)
		return caseDef{name: name, desc: fmt.Sprintf("GET /v1/entities/{id}, gateway → registry on etcd, %s, linearizable read", members(n)), needs: []string{compGatewayEtcd(n)},
			run: one(name, func(ctx context.Context, round int) (report.Figures, error) {
				st := e.onEtcd[n]
				return e.httpCase(ctx, name, round, plain(st.httpAddr), append([]int{st.gateway.PID}, st.pids()...), []string{"gateway" + onEtcd(n), "registry" + onEtcd(n)}, httpGets(plain(st.httpAddr)), checkBody(dataset.EntityName(keys[0])))
			})}
	}
	createOn := func(n int) caseDef {
		name, name1 := "grpc-create/talentreg"+onEtcd(n), "grpc-create-c1/talentreg"+onEtcd(n)
		on, needs := "registry", []string{compRegistryBin}
		if n > 0 {
			on, needs = "registry on a fresh "+members(n)+" etcd cluster", []string{compEtcdBackend}
		}
		return caseDef{name: name, desc: "CreateEntity, durable, " + on + " each round",
			also:    [][2]string{{name1, "CreateEntity, durable, one client, on the registry of " + name + " right after it"}},
			needs:   needs,
			timeout: 2*(e.cfg.Warmup+e.cfg.Duration) + 2*time.Minute,
			run:     e.createCase(n)}
	}
	// The same on bbolt without the write-ahead log: every commit fsyncs
	// the file (what the log replaces).
	createNoWAL := func() caseDef {
		name, name1 := "grpc-create/talentreg-nowal", "grpc-create-c1/talentreg-nowal"
		return caseDef{name: name, desc: "CreateEntity, durable, registry with --wal=false (fsync of bbolt per commit) each round",
			also:    [][2]string{{name1, "CreateEntity, durable, one client, on the registry of " + name + " right after it"}},
			needs:   []string{compRegistryBin},
			timeout: 2*(e.cfg.Warmup+e.cfg.Duration) + 2*time.Minute,
			run:     e.createCaseNamed(0, "-nowal", "--wal=false")}
	}
	return [][]caseDef{
		{
			{name: "grpc-get/floor", desc: "GetEntity, bare grpc-go server, map lookup", needs: []string{compFloor},
				run: one("grpc-get/floor", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-get/floor", round, plain(e.floor.grpcAddr), []int{e.floor.grpcPID}, nil, methodGetEntity, getReqs, checkGetEntity(keys[0]))
				})},
			{name: "grpc-get/talentreg", desc: "GetEntity, registry (bbolt: one process, every read linearizable)", needs: []string{compRegistry},
				run: one("grpc-get/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-get/talentreg", round, plain(e.tr.registryAddr), []int{e.tr.registry.PID}, []string{"registry"}, methodGetEntity, getReqs, checkGetEntity(keys[0]))
				})},
			{name: "grpc-get/talentreg-jwt", desc: "GetEntity, registry with auth on: TLS, JWT bearer token (dev issuer, ES256; verified once, then from the cache)", needs: []string{compRegistryAuth},
				run: one("grpc-get/talentreg-jwt", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-get/talentreg-jwt", round, e.sec.jwt, []int{e.sec.registry.PID}, []string{registryAuth}, methodGetEntity, getReqs, checkGetEntity(keys[0]))
				})},
			{name: "grpc-get/talentreg-mtls", desc: "GetEntity, registry with auth on: TLS, client certificate (its principal bound to viewer)", needs: []string{compRegistryAuth},
				run: one("grpc-get/talentreg-mtls", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-get/talentreg-mtls", round, e.sec.mtls, []int{e.sec.registry.PID}, []string{registryAuth}, methodGetEntity, getReqs, checkGetEntity(keys[0]))
				})},
			getOnEtcd(1),
			getOnEtcd(3),
			{name: "grpc-range/etcd", desc: "etcd point Range (linearizable), gRPC", needs: []string{compEtcd},
				run: one("grpc-range/etcd", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-range/etcd", round, plain(e.peer.Addr), []int{e.peer.Proc.PID}, nil, etcd.MethodRange, rangeReqs, checkRange)
				})},
		},
		{
			{name: "http-get/floor", desc: "GET /v1/entities/{id}, stock grpc-gateway → bare server", needs: []string{compFloor},
				run: one("http-get/floor", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-get/floor", round, plain(e.floor.httpAddr), []int{e.floor.httpPID, e.floor.grpcPID}, nil, httpGets(plain(e.floor.httpAddr)), checkBody(dataset.EntityName(keys[0])))
				})},
			{name: "http-get/floor-gc400", desc: "GET /v1/entities/{id}, stock grpc-gateway with our gateway's GC settings (GOGC=400, GOMEMLIMIT=1024MiB) → bare server", needs: []string{compFloor},
				run: one("http-get/floor-gc400", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-get/floor-gc400", round, plain(e.floor.httpTunedAddr), []int{e.floor.httpTunedPID, e.floor.grpcPID}, nil, httpGets(plain(e.floor.httpTunedAddr)), checkBody(dataset.EntityName(keys[0])))
				})},
			{name: "http-get/talentreg", desc: "GET /v1/entities/{id}, gateway → registry", needs: []string{compGateway},
				run: one("http-get/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-get/talentreg", round, plain(e.tr.httpAddr), []int{e.tr.gateway.PID, e.tr.registry.PID}, []string{"gateway", "registry"}, httpGets(plain(e.tr.httpAddr)), checkBody(dataset.EntityName(keys[0])))
				})},
			{name: "http-get/talentreg-jwt", desc: "GET /v1/entities/{id} over HTTPS with a JWT, gateway → registry with auth on, over mutual TLS (the gateway its trusted proxy, forwarding the token)", needs: []string{compGatewayAuth},
				run: one("http-get/talentreg-jwt", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-get/talentreg-jwt", round, e.sec.https, []int{e.sec.gateway.PID, e.sec.registry.PID}, []string{gatewayAuth, registryAuth}, httpGets(e.sec.https), checkBody(dataset.EntityName(keys[0])))
				})},
			httpGetOnEtcd(1),
			httpGetOnEtcd(3),
			{name: "http-range/etcd", desc: "etcd gateway POST /v3/kv/range (linearizable)", needs: []string{compEtcd},
				run: one("http-range/etcd", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-range/etcd", round, plain(e.peer.Addr), []int{e.peer.Proc.PID}, nil, etcdRanges(e.peer.Addr), checkBody(`"count":"1"`))
				})},
		},
		{
			{name: "grpc-summary/floor", desc: "GetSummary, bare grpc-go server, fixed answer", needs: []string{compFloor},
				run: one("grpc-summary/floor", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-summary/floor", round, plain(e.floor.grpcAddr), []int{e.floor.grpcPID}, nil, methodGetSummary, [][]byte{{}}, checkSummary)
				})},
			{name: "grpc-summary/talentreg", desc: "GetSummary, metrics", needs: []string{compMetrics},
				run: one("grpc-summary/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-summary/talentreg", round, plain(e.tr.metricsAddr), []int{e.tr.metrics.PID}, []string{"metrics"}, methodGetSummary, [][]byte{{}}, checkSummary)
				})},
			// Next to its baseline, so that the ratio of the two is of
			// neighbours in every round.
			{name: "grpc-summary-asof/talentreg", desc: fmt.Sprintf("GetSummary as_of %d times spread over the history (%d over the read data set's import, whose every transaction metrics applied from the feed; %d from its end to now), metrics", asOfOld+asOfRecent, asOfOld, asOfRecent), needs: []string{compMetrics},
				run: one("grpc-summary-asof/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					reqs, err := summaryAsOfRequests(ctx, plain(e.tr.metricsAddr), asOfTimes(e.tr.historyFrom, e.tr.historyTo, time.Now()))
					if err != nil {
						return nil, fmt.Errorf("pre-flight: %w", err)
					}
					return e.grpcCase(ctx, "grpc-summary-asof/talentreg", round, plain(e.tr.metricsAddr), []int{e.tr.metrics.PID}, []string{"metrics"}, methodGetSummary, reqs, anyResponse(&metricsv1.GetSummaryResponse{}))
				})},
		},
		{
			{name: "grpc-breakdown/talentreg", desc: fmt.Sprintf("GetBreakdown by %s in turn, metrics", strings.Join(breakdownDims, ", ")), needs: []string{compMetrics},
				run: one("grpc-breakdown/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					reqs, err := breakdownRequests(ctx, plain(e.tr.metricsAddr), nil)
					if err != nil {
						return nil, fmt.Errorf("pre-flight: %w", err)
					}
					return e.grpcCase(ctx, "grpc-breakdown/talentreg", round, plain(e.tr.metricsAddr), []int{e.tr.metrics.PID}, []string{"metrics"}, methodGetBreakdown, reqs, anyResponse(&metricsv1.GetBreakdownResponse{}))
				})},
			{name: "grpc-breakdown-asof/talentreg", desc: fmt.Sprintf("GetBreakdown by %s in turn, as_of the times of grpc-summary-asof, metrics", strings.Join(breakdownDims, ", ")), needs: []string{compMetrics},
				run: one("grpc-breakdown-asof/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					reqs, err := breakdownRequests(ctx, plain(e.tr.metricsAddr), asOfTimes(e.tr.historyFrom, e.tr.historyTo, time.Now()))
					if err != nil {
						return nil, fmt.Errorf("pre-flight: %w", err)
					}
					return e.grpcCase(ctx, "grpc-breakdown-asof/talentreg", round, plain(e.tr.metricsAddr), []int{e.tr.metrics.PID}, []string{"metrics"}, methodGetBreakdown, reqs, anyResponse(&metricsv1.GetBreakdownResponse{}))
				})},
		},
		{
			{name: "http-summary/floor", desc: "GET /v1/summary, stock grpc-gateway → bare server", needs: []string{compFloor},
				run: one("http-summary/floor", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-summary/floor", round, plain(e.floor.httpAddr), []int{e.floor.httpPID, e.floor.grpcPID}, nil,
						[][]byte{load.NewRequest("GET", e.floor.httpAddr, "/v1/summary", "", nil)}, checkBody(`"entities"`))
				})},
			{name: "http-summary/floor-gc400", desc: "GET /v1/summary, stock grpc-gateway with our gateway's GC settings (GOGC=400, GOMEMLIMIT=1024MiB) → bare server", needs: []string{compFloor},
				run: one("http-summary/floor-gc400", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-summary/floor-gc400", round, plain(e.floor.httpTunedAddr), []int{e.floor.httpTunedPID, e.floor.grpcPID}, nil,
						[][]byte{load.NewRequest("GET", e.floor.httpTunedAddr, "/v1/summary", "", nil)}, checkBody(`"entities"`))
				})},
			{name: "http-summary/talentreg", desc: "GET /v1/summary, gateway → metrics", needs: []string{compGateway, compMetrics},
				run: one("http-summary/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					return e.httpCase(ctx, "http-summary/talentreg", round, plain(e.tr.httpAddr), []int{e.tr.gateway.PID, e.tr.metrics.PID}, []string{"gateway", "metrics"},
						[][]byte{load.NewRequest("GET", e.tr.httpAddr, "/v1/summary", "", nil)}, checkBody(`"entities"`))
				})},
		},
		{
			{name: "grpc-search/talentreg", desc: fmt.Sprintf("SearchEntities, a page of 20, words of one name (%q), at %d entities", searchQuery(keys[0]), n), needs: []string{compMetrics},
				run: one("grpc-search/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					return e.grpcCase(ctx, "grpc-search/talentreg", round, plain(e.tr.metricsAddr), []int{e.tr.metrics.PID}, []string{"metrics"}, methodSearch, searchRequests(keys), checkSearch)
				})},
			{name: "http-search/talentreg", desc: fmt.Sprintf("GET /v1/entities:search, a page of 20, at %d entities, gateway → metrics", n), needs: []string{compGateway, compMetrics},
				run: one("http-search/talentreg", func(ctx context.Context, round int) (report.Figures, error) {
					reqs := make([][]byte, len(keys))
					for j, k := range keys {
						reqs[j] = load.NewRequest("GET", e.tr.httpAddr, "/v1/entities:search?pageSize=20&query="+url.QueryEscape(searchQuery(k)), "", nil)
					}
					return e.httpCase(ctx, "http-search/talentreg", round, plain(e.tr.httpAddr), []int{e.tr.gateway.PID, e.tr.metrics.PID}, []string{"gateway", "metrics"}, reqs, checkBody(`"results":[{`))
				})},
		},
		{
			{name: "grpc-list/talentreg", desc: fmt.Sprintf("ListEntities, filtered, pages of 50, walking, at %d entities", n), needs: []string{compRegistry},
				run: one("grpc-list/talentreg", e.listCase)},
		},
		// The pair a target compares runs side by side, before the other
		// durable writes: a case that follows fsync-heavy ones shares the
		// disk with their writeback.
		{
			createOn(0),
			{name: "grpc-put/etcd", desc: "etcd Put (fsync), ~300-byte Entity, fresh etcd each round", needs: []string{compEtcdPeer},
				run: one("grpc-put/etcd", e.putCase)},
		},
		{
			createNoWAL(),
			createOn(1),
			createOn(3),
		},
		{
			{name: "lag/talentreg", desc: fmt.Sprintf("CreateEntity → GetSummary(min_revision = x-revision) at %.0f writes/s; latency is the wait after the ack", e.cfg.LagRate),
				needs: []string{compRegistryBin, compMetricsBin}, run: one("lag/talentreg", e.lagCase)},
		},
		{
			{name: "import/talentreg", desc: fmt.Sprintf("Import of %d entities + %d memberships (+%d groups), fresh registry",
				e.cfg.ImportEntities, e.cfg.ImportEntities*e.cfg.ImportMemberships, e.cfg.ImportGroups),
				also: append([][2]string{
					{"bootstrap/talentreg", "fresh metrics catching up with that registry: start → GetSummary at its revision"},
				}, e.searchBulkCases()...),
				needs:   []string{compRegistryBin},
				timeout: 30 * time.Minute,
				run:     e.importCase},
		},
	}
}

// readKeys returns the entity indices the read cases cycle through: up to
// 20,000 spread pseudo-randomly over the data set, the same in every run.
func readKeys(n int) []int {
	r := rand.New(rand.NewPCG(6, 6))
	keys := make([]int, min(n, 20000))
	for j := range keys {
		keys[j] = r.IntN(n)
	}
	keys[0] = 0
	return keys
}

// grpcCase runs a closed-loop unary case against ep: method with reqs in
// rotation, after check has validated one response.
func (e *env) grpcCase(ctx context.Context, name string, round int, ep endpoint, pids []int, profile []string, method string, reqs [][]byte, check func([]byte) error) (report.Figures, error) {
	resp, err := preflight(ctx, ep, method, reqs[0])
	if err == nil {
		err = check(resp)
	}
	if err != nil {
		return nil, fmt.Errorf("pre-flight: %w", err)
	}
	pool, err := e.newUnaryPool(ep, method, "")
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return e.loadFigures(ctx, name, round, pids, profile, 0, func(id int) (load.Op, error) {
		call := pool.worker(id)
		j := id * len(reqs) / e.cfg.Concurrency
		return func(ctx context.Context) (time.Duration, error) {
			req := reqs[j]
			if j++; j == len(reqs) {
				j = 0
			}
			resp, _, err := call(ctx, req)
			if err != nil {
				return 0, err
			}
			if len(resp) == 0 {
				return 0, errors.New("empty response")
			}
			return 0, nil
		}, nil
	})
}

// httpCase runs a closed-loop HTTP case against ep (its address and TLS;
// reqs carry its headers), one keep-alive connection per worker, reqs in
// rotation.
func (e *env) httpCase(ctx context.Context, name string, round int, ep endpoint, pids []int, profile []string, reqs [][]byte, check func([]byte) error) (report.Figures, error) {
	pre := &load.HTTPConn{Addr: ep.addr, TLS: ep.tls}
	var body []byte
	err := pre.Do(reqs[0], &body)
	pre.Close()
	if err == nil {
		err = check(body)
	}
	if err != nil {
		return nil, fmt.Errorf("pre-flight: %w", err)
	}
	var conns []*load.HTTPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	return e.loadFigures(ctx, name, round, pids, profile, 0, func(id int) (load.Op, error) {
		c := &load.HTTPConn{Addr: ep.addr, TLS: ep.tls}
		conns = append(conns, c)
		j := id * len(reqs) / e.cfg.Concurrency
		return func(context.Context) (time.Duration, error) {
			req := reqs[j]
			if j++; j == len(reqs) {
				j = 0
			}
			return 0, c.Do(req, nil)
		}, nil
	})
}

// listCase walks filtered pages of 50: each worker follows its filter's
// next_page_token and starts over at the end.
func (e *env) listCase(ctx context.Context, round int) (report.Figures, error) {
	const name = "grpc-list/talentreg"
	listReq := func(filter string, token []byte) []byte {
		b := rawgrpc.AppendVarint(nil, 1, 50)
		if len(token) > 0 {
			b = rawgrpc.AppendBytes(b, 2, token)
		}
		return rawgrpc.AppendString(b, 3, filter)
	}
	for _, f := range dataset.Filters {
		resp, err := preflight(ctx, plain(e.tr.registryAddr), methodListEntities, listReq(f, nil))
		if err != nil {
			return nil, fmt.Errorf("pre-flight %q: %w", f, err)
		}
		var lr registryv1.ListEntitiesResponse
		if err := proto.Unmarshal(resp, &lr); err != nil {
			return nil, err
		}
		if len(lr.GetEntities()) != 50 || lr.GetNextPageToken() == "" {
			return nil, fmt.Errorf("pre-flight %q: %d entities, next page token %q; want a full page and more", f, len(lr.GetEntities()), lr.GetNextPageToken())
		}
	}
	pool, err := e.newUnaryPool(plain(e.tr.registryAddr), methodListEntities, "")
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return e.loadFigures(ctx, name, round, []int{e.tr.registry.PID}, []string{"registry"}, 0, func(id int) (load.Op, error) {
		call := pool.worker(id)
		filter := dataset.Filters[id%len(dataset.Filters)]
		var token []byte
		return func(ctx context.Context) (time.Duration, error) {
			resp, _, err := call(ctx, listReq(filter, token))
			if err != nil {
				return 0, err
			}
			tok, n, err := rawgrpc.BytesField(resp, 2)
			if err != nil {
				return 0, err
			}
			if _, entities, _ := rawgrpc.BytesField(resp, 1); entities == 0 && len(token) == 0 {
				return 0, errors.New("first page empty")
			}
			if n == 0 {
				token = token[:0]
			} else {
				token = append(token[:0], tok...)
			}
			return 0, nil
		}, nil
	})
}

// createReq encodes the CreateEntity request of written entity i.
func createReq(i int) []byte {
	b, err := proto.Marshal(&registryv1.CreateEntityRequest{Entity: dataset.NewEntity(i), EntityId: dataset.EntityID(i)})
	if err != nil {
		panic(err) // generated messages always marshal
	}
	return b
}

func (e *env) nextWrite() int { return writeBase + int(e.seq.Add(1)) }

// members says how many etcd members a cluster of n has.
func members(n int) string {
	if n == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", n)
}

// createCase returns the step that measures durable CreateEntity on a
// fresh registry each round: on bbolt (n = 0) or on a fresh etcd cluster
// of n members. It runs Concurrency clients, then one
// client on the same registry: the latency of a create that waits for no
// other.
func (e *env) createCase(n int) func(context.Context, int) (map[string]report.Figures, error) {
	return e.createCaseNamed(n, onEtcd(n))
}

// createCaseNamed is createCase with the cases' name suffix and extra
// registry flags (bbolt only).
func (e *env) createCaseNamed(n int, suffix string, flags ...string) func(context.Context, int) (map[string]report.Figures, error) {
	name, name1 := "grpc-create/talentreg"+suffix, "grpc-create-c1/talentreg"+suffix
	regName := "registry-create" + suffix
	return func(ctx context.Context, round int) (map[string]report.Figures, error) {
		dir := filepath.Join(e.work, fmt.Sprintf("r%d-create%s", round+1, suffix))
		defer os.RemoveAll(dir)
		var (
			reg  *proc.Process
			addr string
			pids []int
			err  error
		)
		if n == 0 {
			reg, addr, err = e.startRegistry(ctx, regName, dir, flags...)
			if err != nil {
				return nil, err
			}
			defer reg.Stop(10 * time.Second)
			pids = []int{reg.PID}
		} else {
			var c *etcd.Cluster
			var stop func()
			reg, addr, c, stop, err = e.startFreshOnEtcd(ctx, regName, dir, n)
			if err != nil {
				return nil, err
			}
			defer stop()
			pids = append([]int{reg.PID}, c.PIDs()...)
		}
		i := e.nextWrite()
		resp, err := preflight(ctx, plain(addr), methodCreateEntity, createReq(i))
		if err != nil {
			return nil, fmt.Errorf("pre-flight: %w", err)
		}
		var got registryv1.CreateEntityResponse
		if err := proto.Unmarshal(resp, &got); err != nil || got.GetEntity().GetName() != dataset.EntityName(i) {
			return nil, fmt.Errorf("pre-flight: created %q (%v), want %s", got.GetEntity().GetName(), err, dataset.EntityName(i))
		}
		pool, err := e.newUnaryPool(plain(addr), methodCreateEntity, "")
		if err != nil {
			return nil, err
		}
		defer pool.Close()
		newOp := func(id int) (load.Op, error) {
			call := pool.worker(id)
			return func(ctx context.Context) (time.Duration, error) {
				_, _, err := call(ctx, createReq(e.nextWrite()))
				return 0, err
			}, nil
		}
		out := map[string]report.Figures{}
		for _, w := range []struct {
			name string
			conc int
		}{{name, e.cfg.Concurrency}, {name1, 1}} {
			if !e.selected(w.name) {
				continue
			}
			f, err := e.loadFiguresAt(ctx, w.name, round, pids, []string{regName}, 0, w.conc, newOp)
			if f != nil {
				out[w.name] = f
			}
			if err != nil {
				return out, fmt.Errorf("%s: %w", w.name, err)
			}
		}
		return out, nil
	}
}

// putCase measures etcd Put of the same entities on a fresh etcd.
func (e *env) putCase(ctx context.Context, round int) (report.Figures, error) {
	const name = "grpc-put/etcd"
	dir := filepath.Join(e.work, fmt.Sprintf("r%d-put", round+1))
	defer os.RemoveAll(dir)
	c, err := etcd.Start(ctx, e.g, e.etcdBin, "etcd-put", dir, 1, etcd.DefaultLimits, e.cfg.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Stop(10 * time.Second)
	s := c.Members[0]
	put := func(i int) []byte { return etcd.PutRequest(dataset.EntityName(i), dataset.EntityBytes(i)) }
	if _, err := preflight(ctx, plain(s.Addr), etcd.MethodPut, put(e.nextWrite())); err != nil {
		return nil, fmt.Errorf("pre-flight: %w", err)
	}
	pool, err := e.newUnaryPool(plain(s.Addr), etcd.MethodPut, "")
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return e.loadFigures(ctx, name, round, []int{s.Proc.PID}, nil, 0, func(id int) (load.Op, error) {
		call := pool.worker(id)
		return func(ctx context.Context) (time.Duration, error) {
			_, _, err := call(ctx, put(e.nextWrite()))
			return 0, err
		}, nil
	})
}

// lagCase paces CreateEntity at LagRate and, after each ack, asks a metrics
// service for GetSummary at the acknowledged revision; the recorded latency
// is that wait: write acknowledged → visible in the summary.
func (e *env) lagCase(ctx context.Context, round int) (report.Figures, error) {
	const name = "lag/talentreg"
	dir := filepath.Join(e.work, fmt.Sprintf("r%d-lag", round+1))
	defer os.RemoveAll(dir)
	reg, raddr, err := e.startRegistry(ctx, "registry-lag", dir)
	if err != nil {
		return nil, err
	}
	defer reg.Stop(10 * time.Second)
	met, maddr, err := e.startMetrics(ctx, "metrics-lag", dir, raddr)
	if err != nil {
		return nil, err
	}
	defer met.Stop(10 * time.Second)
	creates, err := e.newUnaryPool(plain(raddr), methodCreateEntity, "x-revision")
	if err != nil {
		return nil, err
	}
	defer creates.Close()
	summaries, err := e.newUnaryPool(plain(maddr), methodGetSummary, "")
	if err != nil {
		return nil, err
	}
	defer summaries.Close()
	newOp := func(id int) (load.Op, error) {
		create, summary := creates.worker(id), summaries.worker(id)
		return func(ctx context.Context) (time.Duration, error) {
			_, h, err := create(ctx, createReq(e.nextWrite()))
			if err != nil {
				return 0, err
			}
			if h == "" {
				return 0, errors.New("CreateEntity sent no x-revision header")
			}
			rev, err := strconv.ParseUint(h, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("x-revision %q: %w", h, err)
			}
			acked := time.Now()
			resp, _, err := summary(ctx, rawgrpc.AppendVarint(nil, 1, rev))
			if err != nil {
				return 0, err
			}
			lag := time.Since(acked)
			if got, err := rawgrpc.VarintField(resp, 1); err != nil || got < rev {
				return 0, fmt.Errorf("summary at revision %d (%v), asked for %d", got, err, rev)
			}
			return lag, nil
		}, nil
	}
	pre, _ := newOp(0)
	if _, err := pre(ctx); err != nil {
		return nil, fmt.Errorf("pre-flight: %w", err)
	}
	return e.loadFigures(ctx, name, round, []int{reg.PID, met.PID}, []string{"registry-lag", "metrics-lag"}, e.cfg.LagRate, newOp)
}

// importCase streams the bulk data set into a fresh registry, then starts a
// fresh metrics service and times its bootstrap to the import's revision.
func (e *env) importCase(ctx context.Context, round int) (map[string]report.Figures, error) {
	if e.bulkData == nil {
		t := time.Now()
		e.bulkData = buildImport(e.cfg.ImportEntities, e.cfg.ImportGroups, e.cfg.ImportMemberships)
		e.logf("  bulk data set encoded: %d items, %.0f MiB, in %v", e.bulkData.items, mib(e.bulkData.raw), time.Since(t).Round(time.Millisecond))
	}
	dir := filepath.Join(e.work, fmt.Sprintf("r%d-import", round+1))
	if !e.cfg.KeepWork { // -keep: the imported registry stays, to start again by hand
		defer os.RemoveAll(dir)
	}
	reg, addr, err := e.startRegistry(ctx, "registry-import", dir)
	if err != nil {
		return nil, err
	}
	defer reg.Stop(30 * time.Second)
	prof := e.profileDuring(ctx, "registry-import", fmt.Sprintf("import-r%d-registry.pprof", round+1), 30*time.Second)
	cpu0, _ := proc.CPUTime(reg.PID)
	res, err := runImport(ctx, plain(addr), e.bulkData)
	cpu1, _ := proc.CPUTime(reg.PID)
	prof()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(filepath.Join(dir, "registry.db"))
	if err != nil {
		return nil, err
	}
	imp := report.Figures{
		report.Items:       float64(e.bulkData.items),
		report.ItemsPerSec: float64(e.bulkData.items) / res.elapsed.Seconds(),
		report.Failed:      float64(res.failed),
		report.RawMiB:      mib(e.bulkData.raw),
		report.DBMiB:       mib(st.Size()),
		report.DBRatio:     float64(st.Size()) / float64(e.bulkData.raw),
		report.ServerUS:    float64((cpu1 - cpu0).Microseconds()) / float64(e.bulkData.items),
	}
	out := map[string]report.Figures{"import/talentreg": imp}
	if res.failed > 0 {
		return out, fmt.Errorf("%d items failed, first: %s", res.failed, res.firstError)
	}
	if why := e.missing([]string{compMetricsBin}); why != "" {
		return out, errors.New("bootstrap: " + why)
	}
	regCPU0, _ := proc.CPUTime(reg.PID)
	t0 := time.Now()
	// The profile starts with the process: it serves only once the
	// snapshot is loaded, and a profile from then sees only the search
	// index built behind it.
	prof = func() {}
	met, maddr, err := e.startMetricsThen(ctx, "metrics-import", dir, addr, func() {
		prof = e.profileDuring(ctx, "metrics-import", fmt.Sprintf("bootstrap-r%d-metrics.pprof", round+1), 10*time.Second)
	})
	if err != nil {
		prof()
		return out, fmt.Errorf("bootstrap: %w", err)
	}
	defer met.Stop(30 * time.Second)
	err = waitRevision(ctx, maddr, res.revision, 10*time.Minute)
	elapsed := time.Since(t0)
	metCPU, _ := proc.CPUTime(met.PID)
	regCPU1, _ := proc.CPUTime(reg.PID)
	prof()
	if err != nil {
		return out, fmt.Errorf("bootstrap: %w", err)
	}
	peak, _, err := proc.Memory(met.PID)
	if err != nil {
		return out, fmt.Errorf("bootstrap: %w", err)
	}
	out["bootstrap/talentreg"] = report.Figures{
		report.BootstrapSec:   elapsed.Seconds(),
		report.PeakRSSMiB:     mib(peak),
		report.MetricsCPUSec:  metCPU.Seconds(),
		report.RegistryCPUSec: (regCPU1 - regCPU0).Seconds(),
	}
	for _, c := range e.searchBulkCases() {
		if e.selected(c[0]) {
			// The search cases run on that metrics, now bootstrapped:
			// the data set is imported once.
			return out, e.searchBulk(ctx, round, met, maddr, out)
		}
	}
	return out, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// profileDuring, with ProfileDir set, starts fetching a CPU profile of the
// named talentreg process over d (cut short when the returned stop is
// called) into ProfileDir/file; stop waits for the file.
func (e *env) profileDuring(ctx context.Context, name, file string, d time.Duration) (stop func()) {
	admin := e.tr.admin[name]
	if e.cfg.ProfileDir == "" || admin == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fetchProfile(ctx, e.adminClient, admin, 0, d, filepath.Join(e.cfg.ProfileDir, file)); err != nil {
			e.logf("  profile %s: %v", name, err)
		}
	}()
	return func() { <-done }
}

// loadFigures runs load.Run with Concurrency workers and converts its
// result; with ProfileDir set it also fetches a CPU profile of each named
// talentreg process over the measured window.
func (e *env) loadFigures(ctx context.Context, name string, round int, pids []int, profile []string, rate float64, newWorker func(int) (load.Op, error)) (report.Figures, error) {
	return e.loadFiguresAt(ctx, name, round, pids, profile, rate, e.cfg.Concurrency, newWorker)
}

// loadFiguresAt is loadFigures with conc workers.
func (e *env) loadFiguresAt(ctx context.Context, name string, round int, pids []int, profile []string, rate float64, conc int, newWorker func(int) (load.Op, error)) (report.Figures, error) {
	return e.loadFiguresObserved(ctx, name, round, pids, profile, rate, conc, newWorker, nil)
}

// loadFiguresObserved is loadFiguresAt with load.Config's Observe.
func (e *env) loadFiguresObserved(ctx context.Context, name string, round int, pids []int, profile []string, rate float64, conc int, newWorker func(int) (load.Op, error), observe func(int, time.Duration)) (report.Figures, error) {
	var wg sync.WaitGroup
	if e.cfg.ProfileDir != "" && e.cfg.Duration >= time.Second {
		for _, p := range profile {
			admin := e.tr.admin[p]
			if admin == "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				file := filepath.Join(e.cfg.ProfileDir, fmt.Sprintf("%s-r%d-%s.pprof", strings.ReplaceAll(name, "/", "-"), round+1, p))
				if err := fetchProfile(ctx, e.adminClient, admin, e.cfg.Warmup, e.cfg.Duration, file); err != nil {
					e.logf("  profile %s: %v", p, err)
				}
			}()
		}
	}
	res, err := load.Run(ctx, load.Config{
		Concurrency: conc,
		Warmup:      e.cfg.Warmup,
		Duration:    e.cfg.Duration,
		Rate:        rate,
		NewWorker:   newWorker,
		ServerPIDs:  pids,
		Observe:     observe,
	})
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if res.Requests == 0 {
		return nil, fmt.Errorf("no successful request; %d errors, first: %s", res.Errors, res.FirstError)
	}
	f := report.Figures{
		report.QPS:       res.QPS,
		report.P50:       ms(res.P50),
		report.P99:       ms(res.P99),
		report.Errors:    float64(res.Errors),
		report.ServerUS:  res.ServerCPUPerRequest(),
		report.LoadUS:    res.LoadCPUPerRequest(),
		report.LoadShare: 100 * res.LoadCPU.Seconds() / (res.Window.Seconds() * float64(numCPU())),
	}
	if res.Errors > 0 {
		return f, fmt.Errorf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	return f, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fetchProfile waits for the warm-up, then saves a CPU profile over d from
// the admin server at base (http:// or https://host:port) with client.
func fetchProfile(ctx context.Context, client *http.Client, base string, warmup, d time.Duration, file string) error {
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := int(d / time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return err
	}
	// A process just started may not listen yet: asked again for up to 5 s.
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err = client.Do(req)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// preflight makes one call through grpc-go, the reference client, so that
// a case never measures a server that answers wrongly.
func preflight(ctx context.Context, ep endpoint, method string, req []byte) ([]byte, error) {
	cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var resp rawgrpc.Frame
	err = rawgrpc.Invoke(ctx, cc, method, req, &resp)
	return resp.B, err
}

func (e *env) dialN(ep endpoint) ([]*grpc.ClientConn, error) {
	var conns []*grpc.ClientConn
	for range e.cfg.GRPCConns {
		cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, cc)
	}
	return conns, nil
}

func closeAll(conns []*grpc.ClientConn) {
	for _, c := range conns {
		c.Close()
	}
}

// getRequest encodes the GetEntityRequest of read entity k.
func getRequest(k int) []byte { return rawgrpc.AppendString(nil, 1, dataset.EntityName(k)) }

func checkGetEntity(k int) func([]byte) error {
	return func(b []byte) error {
		var r registryv1.GetEntityResponse
		if err := proto.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.GetEntity().GetName() != dataset.EntityName(k) || r.GetEntity().GetDisplayName() != dataset.NewEntity(k).GetDisplayName() {
			return fmt.Errorf("GetEntity returned %q, want %s", r.GetEntity().GetName(), dataset.EntityName(k))
		}
		return nil
	}
}

func checkRange(b []byte) error {
	if n, err := etcd.RangeCount(b); err != nil || n != 1 {
		return fmt.Errorf("Range count %d (%v), want 1", n, err)
	}
	return nil
}

func checkSummary(b []byte) error {
	var r metricsv1.GetSummaryResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.GetEntities() < 1 {
		return fmt.Errorf("summary counts %d entities", r.GetEntities())
	}
	return nil
}

// searchQuery is a query finding data set entity k by words of its name
// (its title and number): one result, ranked first.
func searchQuery(k int) string {
	d := dataset.NewEntity(k).GetDisplayName()
	f := strings.Fields(d)
	return f[4] + " " + f[len(f)-1]
}

func searchRequests(keys []int) [][]byte {
	out := make([][]byte, len(keys))
	for j, k := range keys {
		out[j], _ = proto.Marshal(&metricsv1.SearchEntitiesRequest{Query: searchQuery(k), PageSize: 20})
	}
	return out
}

func checkSearch(b []byte) error {
	var r metricsv1.SearchEntitiesResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		return err
	}
	if len(r.GetResults()) == 0 {
		return fmt.Errorf("search found nothing (total %d)", r.GetTotalSize())
	}
	return nil
}

func checkBody(want string) func([]byte) error {
	return func(b []byte) error {
		if !bytes.Contains(b, []byte(want)) {
			if len(b) > 200 {
				b = b[:200]
			}
			return fmt.Errorf("response lacks %s: %s", want, b)
		}
		return nil
	}
}
