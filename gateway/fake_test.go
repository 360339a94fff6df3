package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"talentreg/gateway"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// fakeRegistry is an in-process registry answering a few RPCs the way the
// contract says, and recording the metadata it received.
type fakeRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
	rev atomic.Int64
	// flood makes WatchChanges send large messages as fast as the
	// client takes them.
	flood  atomic.Bool
	mu     sync.Mutex
	lastMD metadata.MD
}

func (f *fakeRegistry) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.lastMD = md.Copy()
	f.mu.Unlock()
}

func (f *fakeRegistry) metadata() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastMD
}

func (f *fakeRegistry) GetEntity(ctx context.Context, req *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	f.record(ctx)
	switch req.GetName() {
	case "entities/missing":
		st, _ := status.New(codes.NotFound, "entities/missing: not found").WithDetails(
			&errdetails.ErrorInfo{Reason: "NOT_FOUND", Domain: "talentreg"})
		return nil, st.Err()
	case "entities/odd-detail":
		sp := status.New(codes.InvalidArgument, "entity.name: odd").Proto()
		sp.Details = []*anypb.Any{{TypeUrl: "type.googleapis.com/nowhere.Unknown", Value: []byte{1, 2}}}
		return nil, status.FromProto(sp).Err()
	case "entities/echo-huge": // a backend echoing a client value whole
		huge := strings.Repeat("h", 1<<20)
		st, _ := status.New(codes.InvalidArgument, "entity.name: "+huge).WithDetails(
			&errdetails.ErrorInfo{Reason: "INVALID_FIELD", Domain: "talentreg", Metadata: map[string]string{"value": huge}},
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: huge, Description: huge}}})
		return nil, st.Err()
	case "entities/slow":
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &registryv1.GetEntityResponse{Entity: &registryv1.Entity{
		Name: req.GetName(), DisplayName: "Tianjin University", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
	}}, nil
}

func (f *fakeRegistry) CreateEntity(ctx context.Context, req *registryv1.CreateEntityRequest) (*registryv1.CreateEntityResponse, error) {
	f.record(ctx)
	e := req.GetEntity()
	if e.GetDisplayName() == "" {
		st, _ := status.New(codes.InvalidArgument, "entity.display_name: must be 1-200 characters").WithDetails(
			&errdetails.ErrorInfo{Reason: "INVALID_FIELD", Domain: "talentreg"},
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "entity.display_name", Description: "must be 1-200 characters"}}})
		return nil, st.Err()
	}
	e.Name = "entities/" + req.GetEntityId()
	e.Etag = "e1"
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-revision", strconv.FormatInt(f.rev.Add(1), 10), "x-internal", "secret"))
	return &registryv1.CreateEntityResponse{Entity: e}, nil
}

// UpdateEntity echoes the update mask it received as the display name.
func (f *fakeRegistry) UpdateEntity(ctx context.Context, req *registryv1.UpdateEntityRequest) (*registryv1.UpdateEntityResponse, error) {
	e := req.GetEntity()
	e.DisplayName = strings.Join(req.GetUpdateMask().GetPaths(), ",")
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-revision", strconv.FormatInt(f.rev.Add(1), 10)))
	return &registryv1.UpdateEntityResponse{Entity: e}, nil
}

// WatchChanges sends a progress message every 50 ms until the client goes.
func (f *fakeRegistry) WatchChanges(req *registryv1.WatchChangesRequest, stream grpc.ServerStreamingServer[registryv1.WatchChangesResponse]) error {
	if req.GetStartRevision() < 0 {
		return status.Error(codes.OutOfRange, "start_revision: compacted")
	}
	if f.flood.Load() {
		for rev := int64(1); ; rev += 100 {
			msg := &registryv1.WatchChangesResponse{Revision: rev + 99}
			for i := range int64(100) {
				msg.Changes = append(msg.Changes, &registryv1.Change{Revision: rev + i, Name: "entities/" + strings.Repeat("x", 1000)})
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for rev := int64(1); ; rev++ {
		if err := stream.Send(&registryv1.WatchChangesResponse{Revision: rev}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}

// fakeMetrics answers GetSummary at its revision (1 unless set), with its
// replica number as the count of programmes.
type fakeMetrics struct {
	metricsv1.UnimplementedMetricsServiceServer
	replica  int64
	revision atomic.Int64
	calls    atomic.Int64
	// deadline is whether the last call came with a deadline.
	deadline atomic.Bool
	mu       sync.Mutex
	lastMD   metadata.MD
	byKind   map[string]int64 // the answer's entitiesByKind, when set
}

// setByKind sets the entitiesByKind of later answers.
func (f *fakeMetrics) setByKind(m map[string]int64) {
	f.mu.Lock()
	f.byKind = m
	f.mu.Unlock()
}

// metadata returns the metadata of the last GetSummary call.
func (f *fakeMetrics) metadata() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastMD
}

func (f *fakeMetrics) GetSummary(ctx context.Context, req *metricsv1.GetSummaryRequest) (*metricsv1.GetSummaryResponse, error) {
	f.calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.lastMD = md.Copy()
	byKind := f.byKind
	f.mu.Unlock()
	_, hasDeadline := ctx.Deadline()
	f.deadline.Store(hasDeadline)
	rev := f.revision.Load()
	if req.GetMinRevision() > rev {
		if v := metadata.ValueFromIncomingContext(ctx, "x-no-wait"); len(v) == 1 && v[0] == "true" {
			st, _ := status.New(codes.FailedPrecondition, "min_revision: not applied yet").WithDetails(&errdetails.ErrorInfo{
				Reason: "REPLICA_BEHIND", Domain: "talentreg", Metadata: map[string]string{"applied_revision": strconv.FormatInt(rev, 10)}})
			return nil, st.Err()
		}
		// Like the real service, wait for a revision it will never reach
		// until the deadline.
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-revision", strconv.FormatInt(rev, 10)))
	if byKind == nil {
		byKind = map[string]int64{}
	}
	return &metricsv1.GetSummaryResponse{Revision: rev, Programs: f.replica, EntitiesByKind: byKind}, nil
}

// WatchSummary sends the replica's Summary once and ends the stream, so
// that a test reading the whole answer returns.
func (f *fakeMetrics) WatchSummary(_ *metricsv1.WatchSummaryRequest, stream grpc.ServerStreamingServer[metricsv1.WatchSummaryResponse]) error {
	f.calls.Add(1)
	return stream.Send(&metricsv1.WatchSummaryResponse{Summary: &metricsv1.GetSummaryResponse{Revision: f.revision.Load(), Programs: f.replica}})
}

// backend is a running fake gRPC server.
type backend struct {
	addr   string
	srv    *grpc.Server
	health *health.Server
	done   chan struct{}
}

// startBackend serves register's services and grpc.health.v1 on addr
// ("127.0.0.1:0" for any port).
func startBackend(t testing.TB, addr string, register func(*grpc.Server)) *backend {
	t.Helper()
	var lis net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The port of a just-stopped backend may take a moment to free.
		if lis, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: lis.Addr().String(), srv: grpc.NewServer(), health: health.NewServer(), done: make(chan struct{})}
	healthpb.RegisterHealthServer(b.srv, b.health)
	register(b.srv)
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(lis)
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) stop() {
	b.srv.Stop()
	<-b.done
}

// stack is a gateway served on a loopback port in front of fakes.
type stack struct {
	url      string
	gw       *gateway.Gateway
	registry *fakeRegistry
	cancel   context.CancelFunc
	served   chan error
	// reg holds the gateway's Prometheus series (served on the admin
	// port, which these tests leave off).
	reg *prometheus.Registry
}

// startGateway serves a gateway for cfg (HTTPAddr is ignored: it listens on
// a free port) and stops it when the test ends.
func startGateway(t testing.TB, cfg gateway.Config) *stack {
	t.Helper()
	cfg.AdminAddr = ""
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{url: "http://" + lis.Addr().String(), gw: gw, cancel: cancel, served: make(chan error, 1), reg: reg}
	go func() { s.served <- gw.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-s.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		gw.Close()
	})
	return s
}

// startStack starts a fake registry, n fake metrics replicas and a gateway
// in front of them.
func startStack(t testing.TB, n int, mutate func(*gateway.Config)) (*stack, []*backend, []*fakeMetrics) {
	t.Helper()
	fr := &fakeRegistry{}
	rb := startBackend(t, "127.0.0.1:0", func(s *grpc.Server) { registryv1.RegisterRegistryServiceServer(s, fr) })
	var mbs []*backend
	var fms []*fakeMetrics
	cfg := gateway.DefaultConfig()
	cfg.Registry = rb.addr
	cfg.Metrics = nil
	for i := range n {
		fm := &fakeMetrics{replica: int64(i + 1)}
		fm.revision.Store(1)
		mb := startBackend(t, "127.0.0.1:0", func(s *grpc.Server) { metricsv1.RegisterMetricsServiceServer(s, fm) })
		cfg.Metrics = append(cfg.Metrics, mb.addr)
		mbs, fms = append(mbs, mb), append(fms, fm)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s := startGateway(t, cfg)
	s.registry = fr
	return s, append([]*backend{rb}, mbs...), fms
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func do(t *testing.T, method, url string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// errorBody checks that r is a JSON error {"code","message","details"}
// with the given HTTP status and gRPC code, and returns it.
func errorBody(t *testing.T, r response, httpStatus int, code codes.Code) map[string]any {
	t.Helper()
	if r.status != httpStatus {
		t.Fatalf("status = %v, want %d", r, httpStatus)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	m := r.json(t)
	if got, ok := m["code"].(float64); !ok || codes.Code(got) != code {
		t.Errorf("body code = %v, want %d (%v); body %s", m["code"], code, code, r.body)
	}
	if _, ok := m["message"].(string); !ok {
		t.Errorf("body has no message: %s", r.body)
	}
	if _, ok := m["details"].([]any); !ok {
		t.Errorf("body has no details array: %s", r.body)
	}
	if info := detail(m, "google.rpc.ErrorInfo"); info == nil || info["domain"] != gateway.ErrorDomain || !upperSnake(info["reason"]) {
		t.Errorf("no google.rpc.ErrorInfo of domain talentreg with an UPPER_SNAKE reason: %s", r.body)
	}
	return m
}

// detail returns the error body's detail of the given type, or nil.
func detail(m map[string]any, typ string) map[string]any {
	ds, _ := m["details"].([]any)
	for _, d := range ds {
		if d, ok := d.(map[string]any); ok && d["@type"] == "type.googleapis.com/"+typ {
			return d
		}
	}
	return nil
}

// violatedFields lists the fields of the body's google.rpc.BadRequest.
func violatedFields(m map[string]any) []string {
	var fields []string
	br := detail(m, "google.rpc.BadRequest")
	vs, _ := br["fieldViolations"].([]any)
	for _, v := range vs {
		if v, ok := v.(map[string]any); ok {
			fields = append(fields, fmt.Sprint(v["field"]))
		}
	}
	return fields
}

func upperSnake(v any) bool {
	s, _ := v.(string)
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
