package gateway

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"talentreg/platform/limiter"
)

// ReasonStreamLimit: a watch stream was refused because the gateway, or
// the client, has as many open as --max-watch-streams or
// --max-watch-streams-per-client allow (429).
const ReasonStreamLimit = "STREAM_LIMIT"

// Watch streams (/v1/changes:watch) hold a registry stream, its buffers
// and the chunk being written for as long as the client keeps them open,
// so the gateway caps them in all and per client, and ends one whose
// client takes no chunk for --stream-stall-timeout. Registry streams of
// watches go over a connection of their own with small flow-control
// windows: a watcher that does not read holds at most one window of data
// in the gateway, and cannot slow the other calls.

// watchWindow is the per-stream flow-control window of the watch
// connection to the registry (and, set explicitly, it turns off gRPC's
// window growth).
const watchWindow = 64 << 10

// watchStats are the Prometheus series of watch streams.
type watchStats struct {
	open             prometheus.GaugeFunc
	refused, stalled prometheus.Counter
}

func newWatchStats(reg prometheus.Registerer, slots *limiter.Limiter) *watchStats {
	s := &watchStats{
		open: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "talentreg", Subsystem: "gateway", Name: "watch_streams_open",
			Help: "HTTP watch streams open.",
		}, func() float64 { return float64(slots.Open()) }),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "talentreg", Subsystem: "gateway", Name: "watch_streams_refused_total",
			Help: "HTTP watch streams refused at --max-watch-streams or --max-watch-streams-per-client.",
		}),
		stalled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "talentreg", Subsystem: "gateway", Name: "watch_streams_stalled_total",
			Help: "HTTP watch streams ended because their client took no chunk for --stream-stall-timeout.",
		}),
	}
	reg.MustRegister(s.open, s.refused, s.stalled)
	return s
}

// RemoteHost is the default Config.ClientKey: the host of the request's
// remote address. Once requests are authenticated, key by the principal.
func RemoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// openWatch takes a watch slot for r's client, or answers 429 and returns
// nil.
func (g *Gateway) openWatch(w http.ResponseWriter, r *http.Request) (release func()) {
	release, scope, limit, open := g.watchSlots.Acquire(g.clientKey(r))
	if release != nil {
		return release
	}
	g.watchStats.refused.Inc()
	msg := "the gateway has " + strconv.Itoa(open) + " watch streams open, its limit (--max-watch-streams): retry later"
	if scope == limiter.ScopeClient {
		msg = "this client has " + strconv.Itoa(open) + " watch streams open, its limit (--max-watch-streams-per-client): close one first"
	}
	sp := status.New(codes.ResourceExhausted, msg).Proto()
	sp.Details = []*anypb.Any{errorInfo(ReasonStreamLimit, "limit", strconv.Itoa(limit), "scope", string(scope))}
	w.Header().Set("Retry-After", "1")
	// A client over its limit may be opening watches in a loop: do not
	// keep its connection (and what it holds) as well.
	w.Header().Set("Connection", "close")
	writeError(w, g.marsh, httpError{httpStatus: http.StatusTooManyRequests, st: status.FromProto(sp)}, nil)
	return nil
}

// stallWriter bounds each write (and flush) of a stream's chunks by the
// stall timeout: a client that takes nothing for that long fails the
// write, which ends the stream — nothing more can reach a client that
// does not read, so the connection is closed; the client resumes from the
// last revision it received.
type stallWriter struct {
	*recorder
	rc      *http.ResponseController // of the connection's own ResponseWriter
	timeout time.Duration
	stalled func()
	failed  bool
}

func (s *stallWriter) Write(b []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	n, err := s.recorder.Write(b)
	s.check(err)
	return n, err
}

func (s *stallWriter) Flush() {
	if s.recorder.status == 0 {
		s.recorder.status = http.StatusOK
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	s.check(s.rc.Flush())
}

func (s *stallWriter) check(err error) {
	if err != nil && !s.failed && errors.Is(err, os.ErrDeadlineExceeded) {
		s.failed = true
		s.stalled()
	}
}
