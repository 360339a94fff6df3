package gateway

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/platform/tlsfiles"
)

// Reads of the metrics service are monotonic per client connection: an
// answer never reflects a lower registry revision than one the same
// connection has already been given — a metrics answer's revision, or a
// mutation's X-Revision. An HTTP/1.1 keep-alive connection carries one
// client's requests in order (an HTTP/2 connection interleaves them, and
// the guarantee covers whatever completed before a request began); a
// client that opens a new connection per request gets no such guarantee
// across them and should pass minRevision itself.
//
// Each read goes to the replicas in round-robin order, each asked not to
// wait (metadata x-no-wait): one that has not applied the revision
// required — the larger of the request's minRevision and the connection's
// — answers REPLICA_BEHIND at once and the next is tried. When every
// replica is behind, the read waits on the most advanced one, bounded by
// the request's deadline or the replica's --max-wait. A replica that is
// down or NOT_SERVING fails fast and is skipped.

// connState is what the gateway keeps of one client connection.
type connState struct {
	// seen is the highest revision answered on the connection.
	seen atomic.Int64
}

type connStateKey struct{}

// withConnState is the http.Server's ConnContext: it gives every request
// of a connection the same connState.
func withConnState(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connStateKey{}, &connState{})
}

// connStateFrom returns the request's connState, nil when the gateway is
// not serving through Serve (an http.Handler in someone else's server).
func connStateFrom(ctx context.Context) *connState {
	c, _ := ctx.Value(connStateKey{}).(*connState)
	return c
}

// floor returns the revision the connection has seen (0 without state).
func (c *connState) floor() int64 {
	if c == nil {
		return 0
	}
	return c.seen.Load()
}

// raise records that the connection was given revision rev.
func (c *connState) raise(rev int64) {
	if c == nil {
		return
	}
	for {
		cur := c.seen.Load()
		if rev <= cur || c.seen.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// lower brings the connection's floor down to head: the registry says no
// revision past head exists (its database was replaced).
func (c *connState) lower(head int64) {
	if c == nil {
		return
	}
	for {
		cur := c.seen.Load()
		if cur <= head || c.seen.CompareAndSwap(cur, head) {
			return
		}
	}
}

// Metadata and reasons shared with the metrics service.
const (
	mdNoWait            = "x-no-wait"
	reasonReplicaBehind = "REPLICA_BEHIND"
	reasonNotCommitted  = "REVISION_NOT_COMMITTED"
	reasonNotApplied    = "REVISION_NOT_APPLIED"
)

// metricsReplicaConfig: one replica per connection, skipped (failing fast)
// while its grpc.health.v1 status is not SERVING.
const metricsReplicaConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""}
}`

// replica is one metrics replica.
type replica struct {
	addr   string
	conn   *grpc.ClientConn
	client metricsv1.MetricsServiceClient
	// applied is the highest revision the replica has answered with or
	// reported: a lower bound of what it has applied.
	applied atomic.Int64
}

func (r *replica) note(rev int64) {
	for {
		cur := r.applied.Load()
		if rev <= cur || r.applied.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// replicaSet is the metrics client of the gateway's handlers (see above).
// Its replicas change when --metrics names resolve to other addresses.
type replicaSet struct {
	ctx      context.Context
	maxDelay time.Duration
	tlsc     tlsfiles.Client

	mu       sync.RWMutex
	replicas []*replica
	next     atomic.Uint64
}

var _ metricsv1.MetricsServiceClient = (*replicaSet)(nil)

// dialReplicas connects to every replica (lazily, like dialBackend).
func dialReplicas(ctx context.Context, addrs []resolver.Address, maxDelay time.Duration, tlsc tlsfiles.Client) (*replicaSet, error) {
	s := &replicaSet{ctx: ctx, maxDelay: maxDelay, tlsc: tlsc}
	for _, a := range addrs {
		r, err := s.dial(a)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.replicas = append(s.replicas, r)
	}
	return s, nil
}

func (s *replicaSet) dial(a resolver.Address) (*replica, error) {
	conn, err := dialBackend(s.ctx, "metrics", []resolver.Address{a}, metricsReplicaConfig, s.maxDelay, s.tlsc)
	if err != nil {
		return nil, err
	}
	return &replica{addr: a.Addr, conn: conn, client: metricsv1.NewMetricsServiceClient(conn)}, nil
}

// setAddresses makes the set the replicas at addrs: new ones are dialled,
// gone ones closed (a read in flight on one ends UNAVAILABLE and moves on
// to another replica).
func (s *replicaSet) setAddresses(addrs []resolver.Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]*replica{}
	for _, r := range s.replicas {
		keep[r.addr] = r
	}
	var next []*replica
	for _, a := range addrs {
		if r, ok := keep[a.Addr]; ok {
			next = append(next, r)
			delete(keep, a.Addr)
			continue
		}
		r, err := s.dial(a)
		if err != nil {
			continue // dialBackend fails only on bad options, checked at start
		}
		next = append(next, r)
	}
	if len(next) == 0 {
		return
	}
	for _, r := range keep {
		_ = r.conn.Close()
	}
	s.replicas = next
}

// current returns the replicas now in the set.
func (s *replicaSet) current() []*replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.replicas
}

// Close closes every replica's connection.
func (s *replicaSet) Close() {
	for _, r := range s.current() {
		_ = r.conn.Close()
	}
}

// ready checks every replica's health at once: the status is SERVING when
// one is, and the errors name each replica that is not.
func (s *replicaSet) ready(ctx context.Context, timeout time.Duration) (string, []string) {
	replicas := s.current()
	states := make([]string, len(replicas))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i], errs[i] = checkServing(ctx, r.conn, timeout)
		}()
	}
	wg.Wait()
	state := states[0]
	var msgs []string
	for i, err := range errs {
		if err == nil {
			state = "SERVING"
			continue
		}
		msgs = append(msgs, fmt.Sprintf("metrics %s: %v", replicas[i].addr, err))
	}
	return state, msgs
}

// order returns the replicas in this call's round-robin order.
func (s *replicaSet) order() []*replica {
	replicas := s.current()
	n := len(replicas)
	start := int(s.next.Add(1)-1) % n
	out := make([]*replica, n)
	for i := range n {
		out[i] = replicas[(start+i)%n]
	}
	return out
}

// read runs one read (see above). call sends the request with minRevision
// set to its argument to one replica and returns the answer's revision.
// want is the request's own minRevision.
func (s *replicaSet) read(ctx context.Context, want int64, call func(ctx context.Context, r *replica, minRevision int64) (int64, error)) error {
	cs := connStateFrom(ctx)
	target := max(want, cs.floor())
	var behind *replica // the most advanced of the replicas behind target
	var lastErr error
	noWait := metadata.AppendToOutgoingContext(ctx, mdNoWait, "true")
	for _, r := range s.order() {
		rev, err := call(noWait, r, target)
		if err == nil {
			r.note(rev)
			cs.raise(rev)
			return nil
		}
		if ctx.Err() != nil {
			return s.explain(ctx, err, want, target, behind)
		}
		if info := reasonOf(err); info.GetReason() == reasonReplicaBehind {
			if applied, perr := strconv.ParseInt(info.GetMetadata()["applied_revision"], 10, 64); perr == nil {
				r.note(applied)
			}
			if behind == nil || r.applied.Load() > behind.applied.Load() {
				behind = r
			}
			continue
		}
		if status.Code(err) == codes.Unavailable {
			lastErr = err
			continue
		}
		return err // the answer itself: not found, invalid, …
	}
	if behind == nil {
		return lastErr
	}
	rev, err := call(ctx, behind, target)
	if err == nil {
		behind.note(rev)
		cs.raise(rev)
		return nil
	}
	info := reasonOf(err)
	if info.GetReason() == reasonNotCommitted && target > want {
		// The connection's floor is past the registry's head: the
		// registry's database was replaced. Start the floor again from
		// its head and read once more.
		if head, perr := strconv.ParseInt(info.GetMetadata()["registry_revision"], 10, 64); perr == nil && head < target {
			cs.lower(head)
			return s.read(ctx, want, call)
		}
	}
	return s.explain(ctx, err, want, target, behind)
}

// explain makes the error of a read that ended on a deadline say which
// revision was not applied: a deadline that ends the call on the
// gateway's side leaves no answer from the replica to say it.
func (s *replicaSet) explain(ctx context.Context, err error, want, target int64, behind *replica) error {
	if target <= 0 || reasonOf(err) != nil {
		return err
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Canceled:
	default:
		return err
	}
	if status.Code(err) == codes.Canceled && ctx.Err() == context.Canceled && context.Cause(ctx) != errGatewayDeadline {
		return err // the client went away
	}
	var applied int64
	if behind != nil {
		applied = behind.applied.Load()
	}
	msg := fmt.Sprintf("min_revision: revision %d not applied by any metrics replica before the deadline (most advanced at %d)", target, applied)
	if target > want {
		msg = fmt.Sprintf("revision %d, the latest this connection has been given, not applied by any metrics replica before the deadline (most advanced at %d): an answer from an older revision would go back in time", target, applied)
	}
	st, derr := status.New(codes.DeadlineExceeded, msg).WithDetails(&errdetails.ErrorInfo{
		Reason: reasonNotApplied, Domain: ErrorDomain,
		Metadata: map[string]string{"min_revision": strconv.FormatInt(target, 10), "applied_revision": strconv.FormatInt(applied, 10)},
	})
	if derr != nil {
		return err
	}
	return st.Err()
}

// reasonOf returns err's ErrorInfo, or nil.
func reasonOf(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// GetSummary implements metricsv1.MetricsServiceClient.
func (s *replicaSet) GetSummary(ctx context.Context, in *metricsv1.GetSummaryRequest, opts ...grpc.CallOption) (*metricsv1.GetSummaryResponse, error) {
	var out *metricsv1.GetSummaryResponse
	err := s.read(ctx, in.GetMinRevision(), func(ctx context.Context, r *replica, minRevision int64) (int64, error) {
		req := metricsv1.GetSummaryRequest{MinRevision: minRevision, AsOf: in.GetAsOf()}
		resp, err := r.client.GetSummary(ctx, &req, opts...)
		out = resp
		return resp.GetRevision(), err
	})
	return out, err
}

// GetGroupStats implements metricsv1.MetricsServiceClient.
func (s *replicaSet) GetGroupStats(ctx context.Context, in *metricsv1.GetGroupStatsRequest, opts ...grpc.CallOption) (*metricsv1.GetGroupStatsResponse, error) {
	var out *metricsv1.GetGroupStatsResponse
	err := s.read(ctx, in.GetMinRevision(), func(ctx context.Context, r *replica, minRevision int64) (int64, error) {
		req := metricsv1.GetGroupStatsRequest{Name: in.GetName(), MinRevision: minRevision, AsOf: in.GetAsOf()}
		resp, err := r.client.GetGroupStats(ctx, &req, opts...)
		out = resp
		return resp.GetRevision(), err
	})
	return out, err
}

// GetBreakdown implements metricsv1.MetricsServiceClient.
func (s *replicaSet) GetBreakdown(ctx context.Context, in *metricsv1.GetBreakdownRequest, opts ...grpc.CallOption) (*metricsv1.GetBreakdownResponse, error) {
	var out *metricsv1.GetBreakdownResponse
	err := s.read(ctx, in.GetMinRevision(), func(ctx context.Context, r *replica, minRevision int64) (int64, error) {
		req := metricsv1.GetBreakdownRequest{Dimension: in.GetDimension(), MinRevision: minRevision, AsOf: in.GetAsOf()}
		resp, err := r.client.GetBreakdown(ctx, &req, opts...)
		out = resp
		return resp.GetRevision(), err
	})
	return out, err
}

// SearchEntities implements metricsv1.MetricsServiceClient.
func (s *replicaSet) SearchEntities(ctx context.Context, in *metricsv1.SearchEntitiesRequest, opts ...grpc.CallOption) (*metricsv1.SearchEntitiesResponse, error) {
	var out *metricsv1.SearchEntitiesResponse
	err := s.read(ctx, in.GetMinRevision(), func(ctx context.Context, r *replica, minRevision int64) (int64, error) {
		req := metricsv1.SearchEntitiesRequest{Query: in.GetQuery(), PageSize: in.GetPageSize(), PageToken: in.GetPageToken(), MinRevision: minRevision}
		resp, err := r.client.SearchEntities(ctx, &req, opts...)
		out = resp
		return resp.GetRevision(), err
	})
	return out, err
}

// ListSummaryHistory implements metricsv1.MetricsServiceClient. The
// request has no minimum revision of its own; the connection's floor still
// applies.
func (s *replicaSet) ListSummaryHistory(ctx context.Context, in *metricsv1.ListSummaryHistoryRequest, opts ...grpc.CallOption) (*metricsv1.ListSummaryHistoryResponse, error) {
	var out *metricsv1.ListSummaryHistoryResponse
	err := s.read(ctx, 0, func(ctx context.Context, r *replica, _ int64) (int64, error) {
		resp, err := r.client.ListSummaryHistory(ctx, in, opts...)
		out = resp
		return resp.GetRevision(), err
	})
	return out, err
}

// ListTargetProgress implements metricsv1.MetricsServiceClient.
func (s *replicaSet) ListTargetProgress(ctx context.Context, in *metricsv1.ListTargetProgressRequest, opts ...grpc.CallOption) (*metricsv1.ListTargetProgressResponse, error) {
	var out *metricsv1.ListTargetProgressResponse
	err := s.read(ctx, in.GetMinRevision(), func(ctx context.Context, r *replica, minRevision int64) (int64, error) {
		req := metricsv1.ListTargetProgressRequest{MinRevision: minRevision}
		resp, err := r.client.ListTargetProgress(ctx, &req, opts...)
		out = resp
		return resp.GetRevision(), err
	})
	return out, err
}

// GetTargetProgress implements metricsv1.MetricsServiceClient. Its answer
// states no revision: the replica's is not noted.
func (s *replicaSet) GetTargetProgress(ctx context.Context, in *metricsv1.GetTargetProgressRequest, opts ...grpc.CallOption) (*metricsv1.TargetProgress, error) {
	var out *metricsv1.TargetProgress
	err := s.read(ctx, in.GetMinRevision(), func(ctx context.Context, r *replica, minRevision int64) (int64, error) {
		req := metricsv1.GetTargetProgressRequest{Name: in.GetName(), MinRevision: minRevision}
		resp, err := r.client.GetTargetProgress(ctx, &req, opts...)
		out = resp
		return 0, err
	})
	return out, err
}

// VerifyProjection implements metricsv1.MetricsServiceClient: the next
// replica in turn that is up.
func (s *replicaSet) VerifyProjection(ctx context.Context, in *metricsv1.VerifyProjectionRequest, opts ...grpc.CallOption) (*metricsv1.VerifyProjectionResponse, error) {
	var err error
	for _, r := range s.order() {
		var resp *metricsv1.VerifyProjectionResponse
		if resp, err = r.client.VerifyProjection(ctx, in, opts...); status.Code(err) != codes.Unavailable {
			return resp, err
		}
	}
	return nil, err
}

// WatchSummary implements metricsv1.MetricsServiceClient: the stream of
// the first replica in turn that sends its first message. One that is
// down, NOT_SERVING or not loaded answers UNAVAILABLE and the next is
// tried; any other error (unauthenticated, over its stream limit) is the
// answer. When the replica goes away the stream ends UNAVAILABLE: the
// client watches again and is served by another (or the same, restarted).
func (s *replicaSet) WatchSummary(ctx context.Context, in *metricsv1.WatchSummaryRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[metricsv1.WatchSummaryResponse], error) {
	err := status.Error(codes.Unavailable, "no metrics replica")
	for _, r := range s.order() {
		var stream grpc.ServerStreamingClient[metricsv1.WatchSummaryResponse]
		if stream, err = r.client.WatchSummary(ctx, in, opts...); err == nil {
			var first *metricsv1.WatchSummaryResponse
			if first, err = stream.Recv(); err == nil {
				r.note(first.GetSummary().GetRevision())
				return &primedStream[metricsv1.WatchSummaryResponse]{ServerStreamingClient: stream, first: first}, nil
			}
		}
		if ctx.Err() != nil || status.Code(err) != codes.Unavailable {
			return nil, err
		}
	}
	return nil, err
}

// primedStream is a stream whose first message was received already: its
// first Recv returns that message.
type primedStream[T any] struct {
	grpc.ServerStreamingClient[T]
	first *T
}

func (p *primedStream[T]) Recv() (*T, error) {
	if m := p.first; m != nil {
		p.first = nil
		return m, nil
	}
	return p.ServerStreamingClient.Recv()
}
