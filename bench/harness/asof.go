package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"talentreg/bench/rawgrpc"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

const methodGetBreakdown = metricsv1.MetricsService_GetBreakdown_FullMethodName

// breakdownDims are the dimensions the breakdown cases ask for in turn:
// those of entities (5 kinds, 4 regions, 12 industries in the data set).
var breakdownDims = []string{"entityKind", "region", "industry"}

// As-of times: asOfOld spread over the read stack's import (the history's
// transactions, each answered from a different version), asOfRecent from
// its end to the time the case runs (the latest version).
const (
	asOfOld    = 48
	asOfRecent = 16
)

// asOfTimes returns the as_of times of the as-of cases, in a fixed
// shuffled order: asOfOld spread evenly over [from, to] (the read data
// set's import, whose every transaction the read stack's metrics applied
// from the change feed), then asOfRecent spread over (to, now]. The
// history there lies within one UTC day, so within the default exact
// window of --history-exact-for: an as_of before the window answers from
// the same logs (a version per UTC day), which can hold only fewer
// versions.
func asOfTimes(from, to, now time.Time) []time.Time {
	out := make([]time.Time, 0, asOfOld+asOfRecent)
	for j := range asOfOld {
		out = append(out, from.Add(to.Sub(from)*time.Duration(j)/(asOfOld-1)))
	}
	for j := 1; j <= asOfRecent; j++ {
		out = append(out, to.Add(now.Sub(to)*time.Duration(j)/asOfRecent))
	}
	r := rand.New(rand.NewPCG(14, 14))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// summaryAsOfRequests encodes a GetSummary request as of each time,
// after checking what the service at ep answers: every time answered,
// the figures growing with time (the import only adds), the oldest below
// the newest, and the newest equal to the current Summary.
func summaryAsOfRequests(ctx context.Context, ep endpoint, times []time.Time) ([][]byte, error) {
	cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	get := func(req *metricsv1.GetSummaryRequest) ([]byte, *metricsv1.GetSummaryResponse, error) {
		return callRaw[metricsv1.GetSummaryResponse](ctx, cc, methodGetSummary, req)
	}
	_, now, err := get(&metricsv1.GetSummaryRequest{})
	if err != nil {
		return nil, err
	}
	reqs := make([][]byte, len(times))
	byTime := map[time.Time]*metricsv1.GetSummaryResponse{}
	var oldest, newest time.Time
	for j, t := range times {
		b, r, err := get(&metricsv1.GetSummaryRequest{AsOf: timestamppb.New(t)})
		if err != nil {
			return nil, fmt.Errorf("as of %s: %w", t.Format(time.RFC3339Nano), err)
		}
		reqs[j], byTime[t] = b, r
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
		if t.After(newest) {
			newest = t
		}
	}
	for t, r := range byTime {
		for u, s := range byTime {
			if t.Before(u) && (r.GetRevision() > s.GetRevision() || r.GetEntities() > s.GetEntities()) {
				return nil, fmt.Errorf("as of %s: revision %d, %d entities; later, as of %s: revision %d, %d entities",
					t.Format(time.RFC3339Nano), r.GetRevision(), r.GetEntities(), u.Format(time.RFC3339Nano), s.GetRevision(), s.GetEntities())
			}
		}
	}
	if o, n := byTime[oldest], byTime[newest]; o.GetEntities() >= n.GetEntities() || n.GetEntities() != now.GetEntities() || n.GetRevision() != now.GetRevision() {
		return nil, fmt.Errorf("oldest as_of: %d entities, newest %d (revision %d), now %d (revision %d): the times do not span the history",
			o.GetEntities(), n.GetEntities(), n.GetRevision(), now.GetEntities(), now.GetRevision())
	}
	return reqs, nil
}

// breakdownRequests encodes GetBreakdown requests: each of breakdownDims
// now (times empty), or as of each time in turn with the dimensions in
// rotation. It checks the answers: every one answered, and as of the
// newest time equal to the current rows.
func breakdownRequests(ctx context.Context, ep endpoint, times []time.Time) ([][]byte, error) {
	cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	get := func(req *metricsv1.GetBreakdownRequest) ([]byte, *metricsv1.GetBreakdownResponse, error) {
		b, r, err := callRaw[metricsv1.GetBreakdownResponse](ctx, cc, methodGetBreakdown, req)
		if err != nil {
			return nil, nil, fmt.Errorf("GetBreakdown %s: %w", req.GetDimension(), err)
		}
		return b, r, nil
	}
	current := map[string]*metricsv1.GetBreakdownResponse{}
	var reqs [][]byte
	for _, d := range breakdownDims {
		b, r, err := get(&metricsv1.GetBreakdownRequest{Dimension: d})
		if err != nil {
			return nil, err
		}
		if len(r.GetRows()) == 0 {
			return nil, fmt.Errorf("GetBreakdown %s: no rows", d)
		}
		current[d] = r
		if len(times) == 0 {
			reqs = append(reqs, b)
		}
	}
	var newest time.Time
	for _, t := range times {
		if t.After(newest) {
			newest = t
		}
	}
	for j, t := range times {
		for k := range breakdownDims {
			d := breakdownDims[(j+k)%len(breakdownDims)]
			b, r, err := get(&metricsv1.GetBreakdownRequest{Dimension: d, AsOf: timestamppb.New(t)})
			if err != nil {
				return nil, fmt.Errorf("as of %s: %w", t.Format(time.RFC3339Nano), err)
			}
			if t.Equal(newest) && !rowsEqual(r.GetRows(), current[d].GetRows()) {
				return nil, fmt.Errorf("GetBreakdown %s as of %s differs from now", d, t.Format(time.RFC3339Nano))
			}
			reqs = append(reqs, b)
		}
	}
	return reqs, nil
}

func rowsEqual(a, b []*metricsv1.BreakdownRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// anyResponse accepts every response that decodes: the requests were
// checked as they were built.
func anyResponse(m proto.Message) func([]byte) error {
	return func(b []byte) error { return proto.Unmarshal(b, m) }
}

// callRaw sends req to method on cc and decodes the answer into a new
// Resp; it also returns req encoded, for the load case to replay.
func callRaw[Resp any, P interface {
	*Resp
	proto.Message
}](ctx context.Context, cc *grpc.ClientConn, method string, req proto.Message) ([]byte, P, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	var frame rawgrpc.Frame
	if err := rawgrpc.Invoke(ctx, cc, method, b, &frame); err != nil {
		return nil, nil, err
	}
	r := P(new(Resp))
	return b, r, proto.Unmarshal(frame.B, r)
}
