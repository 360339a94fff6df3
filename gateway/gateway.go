package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"talentreg/gateway/openapi"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/clip"
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
	metrics  *grpc.ClientConn

	registryClient registryv1.RegistryServiceClient
	stats          *httpMetrics
	ids            *idGen
	promH          http.Handler

	// shutdown ends server-streaming requests, which would otherwise hold
	// a graceful shutdown until its timeout.
	shutdown       context.Context
	cancelShutdown context.CancelFunc

	lastErrLog   atomic.Int64 // unix second of the last 5xx log line
	errsUnlogged atomic.Int64
}

// New builds a gateway for cfg, registering its Prometheus series on reg
// and serving /metrics from gather. The backend connections are made
// lazily and in the background: New does not wait for the backends, and
// Close releases them.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer, gather prometheus.Gatherer) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:   cfg,
		log:   log,
		marsh: newMarshaler(),
		stats: newHTTPMetrics(reg),
		ids:   newIDGen(),
		promH: promhttp.HandlerFor(gather, promhttp.HandlerOpts{}),
	}
	g.shutdown, g.cancelShutdown = context.WithCancel(context.Background())
	var err error
	if g.registry, err = dialBackend("registry", []string{cfg.Registry}, registryServiceConfig, cfg.ReconnectMaxDelay); err != nil {
		return nil, err
	}
	if g.metrics, err = dialBackend("metrics", cfg.Metrics, metricsServiceConfig, cfg.ReconnectMaxDelay); err != nil {
		_ = g.registry.Close()
		return nil, err
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
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithMiddlewares(g.refuseQueryWhereUnused),
		runtime.SetQueryParameterParser(&strictQueryParser{}), // process-wide: grpc-gateway keeps one parser
	)
	// The whole route table: every generated handler of both services (and
	// the fast path of GET /v1/entities/{id} in ServeHTTP).
	g.registryClient = registryv1.NewRegistryServiceClient(g.registry)
	ctx := context.Background()
	for _, register := range []func() error{
		func() error {
			return registryv1.RegisterRegistryServiceHandlerClient(ctx, g.mux, g.registryClient)
		},
		func() error {
			return metricsv1.RegisterMetricsServiceHandlerClient(ctx, g.mux, metricsv1.NewMetricsServiceClient(g.metrics))
		},
	} {
		if err := register(); err != nil {
			g.Close()
			return nil, err
		}
	}
	return g, nil
}

// Close cancels open streams and closes the backend connections.
func (g *Gateway) Close() {
	g.cancelShutdown()
	_ = g.registry.Close()
	_ = g.metrics.Close()
}

// ServeHTTP implements http.Handler: the operational routes, then every
// API route through the grpc-gateway mux.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		g.serveFixed(w, r, g.healthz)
		return
	case "/readyz":
		g.serveFixed(w, r, g.readyz)
		return
	case "/metrics":
		g.serveFixed(w, r, g.promH.ServeHTTP)
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

	if ids := r.Header[HeaderRequestID]; len(ids) != 1 || !validRequestID(ids[0]) {
		r.Header[HeaderRequestID] = []string{g.ids.next()}
	}
	rw.Header()[HeaderRequestID] = r.Header[HeaderRequestID]

	if r.ContentLength > g.cfg.MaxBodyBytes {
		writeError(rw, g.marsh, bodyTooLarge(g.cfg.MaxBodyBytes), nil)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		if ct := r.Header.Get("Content-Type"); bodyMethod(r.Method) && !jsonMediaType(ct) {
			writeError(rw, g.marsh, unsupportedMediaType(ct), nil)
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
	if !streamingPath(r.URL.Path) && g.cfg.WriteTimeout > 0 {
		// A call must end while its answer can still be written: a client's
		// Grpc-Timeout (or a stuck backend) longer than the write timeout
		// would otherwise get no response at all. Past this deadline the
		// call ends DEADLINE_EXCEEDED and the client gets a 504.
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.WriteTimeout-min(2*time.Second, g.cfg.WriteTimeout/5))
		defer cancel()
		r = r.WithContext(ctx)
	}
	var w2 http.ResponseWriter = rw
	if r.Method == http.MethodHead && slices.Contains(allowedMethods(r.URL.Path), http.MethodHead) {
		// HEAD is the GET without its body (RFC 9110 §9.3.2).
		r.Method, w2 = http.MethodGet, headWriter{rw}
	} else if g.serveGetEntity(rw, r) {
		return
	}
	if streamingPath(r.URL.Path) {
		// Streams live as long as the client wants them: lift the server's
		// read and write deadlines, and end them when the server shuts down.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(g.shutdown, cancel)
		defer stop()
		defer cancel()
		r = r.WithContext(ctx)
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

// Ready checks both backends with grpc.health.v1: the registry, and the
// metrics replicas through the balancer (ready when at least one replica
// serves).
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
	ms, merr := checkServing(ctx, g.metrics, g.cfg.ReadyTimeout)
	reg := <-regc
	rd.Registry, rd.Metrics = reg.state, ms
	if reg.err != nil {
		rd.Errors = append(rd.Errors, "registry "+g.cfg.Registry+": "+reg.err.Error())
	}
	if merr != nil {
		rd.Errors = append(rd.Errors, fmt.Sprintf("metrics %v: %v", g.cfg.Metrics, merr))
	}
	rd.Ready = reg.err == nil && merr == nil
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
