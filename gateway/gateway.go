package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"talentreg/gateway/dashboard"
	"talentreg/gateway/openapi"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/clip"
	"talentreg/platform/limiter"
)

// Gateway is the HTTP/JSON front of the registry and metrics services. It
// is an http.Handler; Serve runs it on a listener with the configured
// timeouts.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	mux      *runtime.ServeMux
	marsh    *marshaler
	registry *grpc.ClientConn
	metrics  *replicaSet

	registryClient registryv1.RegistryServiceClient
	watchConn      *grpc.ClientConn // the registry, for watch streams only
	watchSlots     *limiter.Limiter
	watchStats     *watchStats
	clientKey      func(*http.Request) string
	stats          *httpMetrics
	ids            *idGen
	dashboard      *dashboard.Handler // nil when --dashboard=false

	// shutdown ends server-streaming requests, which would otherwise hold
	// a graceful shutdown until its timeout.
	shutdown       context.Context
	cancelShutdown context.CancelFunc

	lastErrLog   atomic.Int64 // unix second of the last 5xx log line
	errsUnlogged atomic.Int64
}

// New builds a gateway for cfg, registering its Prometheus series on reg
// (served on the admin port, not here). The backend connections are made
// lazily and in the background: New does not wait for the backends, and
// Close releases them.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:   cfg,
		log:   log,
		marsh: newMarshaler(),
		stats: newHTTPMetrics(reg),
		ids:   newIDGen(),
	}
	var err error
	if cfg.Dashboard {
		if g.dashboard, err = dashboard.New(); err != nil {
			return nil, err
		}
	}
	g.shutdown, g.cancelShutdown = context.WithCancel(context.Background())
	registries := staticAddresses(splitList(cfg.Registry))
	registryConfig := registryServiceConfig
	if len(registries) > 1 {
		registryConfig = registryReplicasConfig
	}
	if g.registry, err = dialBackend(g.shutdown, "registry", registries, registryConfig, cfg.ReconnectMaxDelay, cfg.RegistryTLS); err != nil {
		return nil, err
	}
	if g.watchConn, err = dialBackend(g.shutdown, "registry-watch", registries, registryConfig, cfg.ReconnectMaxDelay, cfg.RegistryTLS,
		grpc.WithInitialWindowSize(watchWindow), grpc.WithInitialConnWindowSize(16*watchWindow)); err != nil {
		_ = g.registry.Close()
		return nil, err
	}
	// --metrics may name hosts standing for several replicas (a headless
	// Service): each address they resolve to is a replica, followed as
	// the name's addresses change.
	metricsAddrs := staticAddresses(cfg.Metrics)
	if cfg.MetricsResolve > 0 {
		metricsAddrs = initialAddresses(g.shutdown, cfg.Metrics, log)
	}
	if g.metrics, err = dialReplicas(g.shutdown, metricsAddrs, cfg.ReconnectMaxDelay, cfg.MetricsTLS); err != nil {
		_ = g.registry.Close()
		_ = g.watchConn.Close()
		return nil, err
	}
	if cfg.MetricsResolve > 0 {
		go keepResolved(g.shutdown, "metrics", cfg.Metrics, metricsAddrs, cfg.MetricsResolve, log, g.metrics.setAddresses)
	}
	g.watchSlots = limiter.New(cfg.MaxWatchStreams, cfg.MaxWatchStreamsPerClient)
	g.watchStats = newWatchStats(reg, g.watchSlots)
	g.clientKey = cfg.ClientKey
	if g.clientKey == nil {
		g.clientKey = RemoteHost
	}
	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, g.marsh),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithOutgoingTrailerMatcher(noTrailers),
		runtime.WithErrorHandler(g.errorHandler),
		runtime.WithRoutingErrorHandler(g.routingErrorHandler),
		runtime.WithStreamErrorHandler(streamErrorHandler),
		runtime.WithForwardResponseOption(recordRoute),
		runtime.WithForwardResponseOption(raiseConnFloor),
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithMiddlewares(g.refuseQueryWhereUnused),
		runtime.SetQueryParameterParser(&strictQueryParser{}), // process-wide: grpc-gateway keeps one parser
	)
	// The whole route table: every generated handler of both services (and
	// the fast paths of GET /v1/entities/{id} and GET /v1/summary in ServeHTTP).
	g.registryClient = registryv1.NewRegistryServiceClient(g.registry)
	ctx := context.Background()
	for _, register := range []func() error{
		func() error {
			return registryv1.RegisterRegistryServiceHandlerClient(ctx, g.mux,
				watchSplit{RegistryServiceClient: g.registryClient, watch: registryv1.NewRegistryServiceClient(g.watchConn)})
		},
		func() error {
			return metricsv1.RegisterMetricsServiceHandlerClient(ctx, g.mux, g.metrics)
		},
	} {
		if err := register(); err != nil {
			g.Close()
			return nil, err
		}
	}
	return g, nil
}

// nosniff is the value of X-Content-Type-Options on every answer.
var nosniff = []string{"nosniff"}

// Close cancels open streams and closes the backend connections.
func (g *Gateway) Close() {
	g.cancelShutdown()
	_ = g.registry.Close()
	_ = g.watchConn.Close()
	g.metrics.Close()
}

// watchSplit sends WatchChanges over the watch connection, every other
// call over the main one.
type watchSplit struct {
	registryv1.RegistryServiceClient
	watch registryv1.RegistryServiceClient
}

func (c watchSplit) WatchChanges(ctx context.Context, in *registryv1.WatchChangesRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[registryv1.WatchChangesResponse], error) {
	return c.watch.WatchChanges(ctx, in, opts...)
}

// ServeHTTP implements http.Handler: the operational routes, then every
// API route through the grpc-gateway mux.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer is what its Content-Type says: a browser must not sniff
	// an error body or a JSON answer into something it would run.
	w.Header()["X-Content-Type-Options"] = nosniff
	if g.dashboard != nil && (r.URL.Path == "/dashboard" || strings.HasPrefix(r.URL.Path, dashboard.Prefix)) {
		g.dashboard.ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		g.serveFixed(w, r, g.healthz)
		return
	case "/readyz":
		g.serveFixed(w, r, g.readyz)
		return
	case "/openapi.json":
		g.serveFixed(w, r, serveOpenAPI)
		return
	}

	start := time.Now()
	g.stats.inFlight.Inc()
	st := statePool.Get().(*reqState)
	st.rec = recorder{ResponseWriter: w}
	defer func() {
		code := st.rec.status
		if code == 0 {
			code = http.StatusOK
		}
		g.stats.observe(st.rec.route, code, start)
		g.stats.inFlight.Dec()
		if code >= 500 {
			g.logServerError(r, st.rec.route, code)
		}
		st.rec = recorder{}
		st.body = limitedBody{}
		statePool.Put(st)
	}()
	rw := &st.rec

	// The client's address is the gateway's to state: grpc-gateway sends
	// the connection's peer as x-forwarded-for, and services trust it
	// from the gateway only. A client's own header would be appended to.
	delete(r.Header, "X-Forwarded-For")
	if ids := r.Header[HeaderRequestID]; len(ids) != 1 || !validRequestID(ids[0]) {
		r.Header[HeaderRequestID] = []string{g.ids.next()}
	}
	rw.Header()[HeaderRequestID] = r.Header[HeaderRequestID]

	for _, v := range r.Header["Authorization"] {
		if !validMetadataValue(v) {
			// gRPC metadata cannot carry it: forwarded as nothing, the
			// call would be refused for sending no credential at all.
			writeError(rw, g.marsh, malformedAuthorization(rw), nil)
			return
		}
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		writeError(rw, g.marsh, bodyTooLarge(g.cfg.MaxBodyBytes), nil)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		if ct := r.Header.Get("Content-Type"); bodyMethod(r.Method) && !jsonMediaType(ct) {
			writeError(rw, g.marsh, unsupportedMediaType(ct), nil)
			return
		}
		if ce, ok := encodedBody(r); ok && bodyMethod(r.Method) {
			writeError(rw, g.marsh, unsupportedContentEncoding(rw, ce), nil)
			return
		}
		st.body = limitedBody{rc: r.Body, n: g.cfg.MaxBodyBytes}
		r.Body = &st.body
	}
	if !utf8.ValidString(r.URL.Path) || !validQueryUTF8(r.URL.RawQuery) {
		sp := status.New(codes.InvalidArgument, "request path or query is not valid UTF-8").Proto()
		sp.Details = []*anypb.Any{errorInfo(ReasonInvalidEncoding)}
		writeError(rw, g.marsh, httpError{httpStatus: http.StatusBadRequest, st: status.FromProto(sp)}, nil)
		return
	}
	ctx := r.Context()
	if !streamingPath(r.URL.Path) && g.cfg.WriteTimeout > 0 {
		// A call must end while its answer can still be written: a client's
		// Grpc-Timeout (or a stuck backend) longer than the write timeout
		// would otherwise get no response at all. Past this limit the call
		// is cancelled and the client gets a 504. It is a cancellation, not
		// a deadline: a deadline would reach the backends as the client's
		// own, and a metrics read without one waits at most its --max-wait.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		limit := time.AfterFunc(g.cfg.WriteTimeout-min(2*time.Second, g.cfg.WriteTimeout/5), func() { cancel(errGatewayDeadline) })
		defer limit.Stop()
		defer cancel(nil)
	}
	var w2 http.ResponseWriter = rw
	if r.Method == http.MethodHead && slices.Contains(allowedMethods(r.URL.Path), http.MethodHead) {
		// HEAD is the GET without its body (RFC 9110 §9.3.2).
		r = r.WithContext(ctx)
		r.Method, w2 = http.MethodGet, headWriter{rw}
	} else if g.serveFast(rw, r, ctx) { // with ctx: no copy of r
		return
	} else if ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	if streamingPath(r.URL.Path) {
		// Streams live as long as the client wants them and takes what
		// they send: lift the server's read and write deadlines, bound
		// each write by the stall timeout instead, and end them when the
		// server shuts down.
		release := g.openWatch(rw, r)
		if release == nil {
			return
		}
		defer release()
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(g.shutdown, cancel)
		defer stop()
		defer cancel()
		r = r.WithContext(ctx)
		if w2 == rw {
			w2 = &stallWriter{recorder: rw, rc: rc, timeout: g.cfg.StreamStallTimeout, stalled: func() {
				g.watchStats.stalled.Inc()
				g.log.Info("watch stream ended: the client took nothing for the stall timeout", "remote", r.RemoteAddr,
					"stall_timeout", g.cfg.StreamStallTimeout, "request_id", r.Header.Get(HeaderRequestID))
				cancel()
			}}
		}
	}
	g.mux.ServeHTTP(w2, r)
}

// logServerError logs a 5xx answer, at most one line a second (a backend
// that is down would otherwise log every request), with the number of
// 5xx answers not logged since the previous line.
func (g *Gateway) logServerError(r *http.Request, route string, code int) {
	now := time.Now().Unix()
	last := g.lastErrLog.Load()
	if now == last || !g.lastErrLog.CompareAndSwap(last, now) {
		g.errsUnlogged.Add(1)
		return
	}
	g.log.Warn("request failed", "status", code, "method", clip.String(r.Method, 0), "path", clip.String(r.URL.Path, 0), "rpc", route,
		"request_id", r.Header.Get(HeaderRequestID), "unlogged_since_last", g.errsUnlogged.Swap(0))
}

// serveFixed runs an operational route, which answers GET and HEAD only.
func (g *Gateway) serveFixed(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		g.routingErrorHandler(r.Context(), g.mux, g.marsh, w, r, http.StatusMethodNotAllowed)
		return
	}
	h(w, r)
}

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// Readiness is the answer of /readyz.
type Readiness struct {
	// Ready is true when every backend is SERVING.
	Ready bool `json:"ready"`
	// Registry and Metrics are the backends' grpc.health.v1 statuses
	// (UNREACHABLE when the check itself failed).
	Registry string `json:"registry"`
	Metrics  string `json:"metrics"`
	// Errors explains each backend that is not SERVING.
	Errors []string `json:"errors,omitempty"`
}

// Ready checks both backends with grpc.health.v1: the registry (replicas
// of it: ready when one serves), and every metrics replica (ready when at
// least one serves; Errors names each one that does not).
func (g *Gateway) Ready(ctx context.Context) Readiness {
	var rd Readiness
	type result struct {
		state string
		err   error
	}
	regc := make(chan result, 1)
	go func() {
		s, err := checkServing(ctx, g.registry, g.cfg.ReadyTimeout)
		regc <- result{s, err}
	}()
	ms, merrs := g.metrics.ready(ctx, g.cfg.ReadyTimeout)
	reg := <-regc
	rd.Registry, rd.Metrics = reg.state, ms
	if reg.err != nil {
		rd.Errors = append(rd.Errors, "registry "+g.cfg.Registry+": "+reg.err.Error())
	}
	rd.Errors = append(rd.Errors, merrs...)
	rd.Ready = reg.err == nil && ms == "SERVING"
	return rd
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	rd := g.Ready(r.Context())
	w.Header()["Content-Type"] = jsonContentType
	w.Header().Set("Cache-Control", "no-store")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rd)
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(openapi.Document)
}

// Serve serves the gateway on lis until ctx ends, then shuts down
// gracefully: it stops accepting connections, ends open streams, waits up
// to the shutdown timeout for in-flight requests and returns nil.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		ReadTimeout:       g.cfg.ReadTimeout,
		WriteTimeout:      g.cfg.WriteTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		ConnContext:       withConnState,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(g.cancelShutdown)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err != nil {
		g.log.Warn("shutdown: requests still in flight at the timeout were cut", "err", err)
		_ = srv.Close()
	}
	return nil
}
