package gateway

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// trackedStatuses are the HTTP statuses with a cached counter per RPC;
// any other status shares the last slot's label "other".
var trackedStatuses = [...]int{200, 400, 401, 403, 404, 405, 409, 413, 429, 499, 500, 501, 503, 504}

func statusSlot(code int) int {
	for i, c := range trackedStatuses {
		if c == code {
			return i
		}
	}
	return len(trackedStatuses)
}

// rpcMetrics holds one RPC's series, resolved once so that recording a
// request is a few atomic operations, with no label hashing or allocation.
type rpcMetrics struct {
	label    string
	duration prometheus.Observer
	vec      *prometheus.CounterVec
	counters [len(trackedStatuses) + 1]atomic.Pointer[prometheus.Counter]
}

func (m *rpcMetrics) counter(code int) prometheus.Counter {
	slot := statusSlot(code)
	if c := m.counters[slot].Load(); c != nil {
		return *c
	}
	label := "other"
	if slot < len(trackedStatuses) {
		label = strconv.Itoa(trackedStatuses[slot])
	}
	c := m.vec.WithLabelValues(m.label, label)
	m.counters[slot].Store(&c)
	return c
}

// httpMetrics are the gateway's Prometheus series.
type httpMetrics struct {
	inFlight prometheus.Gauge
	byRPC    map[string]*rpcMetrics // full gRPC method name → series; read-only
	none     *rpcMetrics            // requests no RPC served (routing errors, rejects)
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "talentreg", Subsystem: "gateway", Name: "http_requests_total",
		Help: "HTTP API requests by the RPC that served them (none: rejected before any RPC) and HTTP status.",
	}, []string{"rpc", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "talentreg", Subsystem: "gateway", Name: "http_request_duration_seconds",
		Help:    "HTTP API request latency by RPC, including streams for their whole life.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 5},
	}, []string{"rpc"})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "talentreg", Subsystem: "gateway", Name: "http_requests_in_flight",
		Help: "HTTP API requests being served.",
	})
	reg.MustRegister(requests, duration, inFlight)
	m := &httpMetrics{inFlight: inFlight, byRPC: map[string]*rpcMetrics{}}
	newRPC := func(label string) *rpcMetrics {
		return &rpcMetrics{label: label, duration: duration.WithLabelValues(label), vec: requests}
	}
	for _, fd := range []protoreflect.FileDescriptor{
		registryv1.File_talentreg_registry_v1_registry_service_proto,
		metricsv1.File_talentreg_metrics_v1_metrics_service_proto,
	} {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				full := "/" + string(sd.FullName()) + "/" + string(md.Name())
				m.byRPC[full] = newRPC(string(md.Name()))
			}
		}
	}
	m.none = newRPC("none")
	return m
}

func (m *httpMetrics) observe(route string, code int, start time.Time) {
	rm := m.byRPC[route]
	if rm == nil {
		rm = m.none
	}
	rm.counter(code).Inc()
	rm.duration.Observe(time.Since(start).Seconds())
}
