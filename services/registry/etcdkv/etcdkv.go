// Package etcdkv implements kv.Store on an etcd cluster, so that several
// registry replicas can serve one registry with no single point of failure.
//
// Every bucket is a key range under a prefix: prefix + bucket + "\x00" +
// key. A transaction reads one snapshot (the etcd revision of its first
// read), buffers its writes, and commits them in one etcd transaction
// guarded by compares: every key it read must still have the mod revision
// it had (create revision 0 for keys read as absent), and no key of a range
// it scanned may have been modified after the snapshot. When another writer
// got there first the compares fail and the transaction runs again on a new
// snapshot. kvstore's writers all read and bump one revision counter, so
// their transactions are serializable.
package etcdkv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"talentreg/services/registry/kv"
)

// Options configure a Store.
type Options struct {
	// Endpoints are the etcd client URLs.
	Endpoints []string
	// Prefix is put before every key (default "/talentreg/").
	Prefix string
	// TLS, when set, is used to reach etcd.
	TLS *tls.Config
	// Username and Password authenticate to etcd when set.
	Username, Password string
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
	// RequestTimeout bounds each etcd request (default 10 s, above etcd's
	// own 7 s commit timeout): the client waits for a member to be
	// reachable, and without a bound a call would hang for as long as the
	// cluster is gone. A request that runs out fails kv.ErrUnavailable.
	RequestTimeout time.Duration
	// Limits are the etcd server's --max-txn-ops and --max-request-bytes
	// as the registry may use them; Open checks the server accepts them.
	Limits kv.Limits
	// LimitsChecked skips Open's check of Limits: the caller has checked
	// them on this cluster already, with another Store of the same
	// Limits. The check sends a request of Limits.Bytes through the
	// cluster's log; a test suite that opens a store per test checks once.
	LimitsChecked bool
	// CompactEvery compacts etcd's MVCC history this often, to the
	// revision the previous round saw: one interval of history is kept for
	// the snapshots and watches in flight (0: never, leave it to etcd's
	// own --auto-compaction-*).
	CompactEvery time.Duration
	// AutoSyncInterval is how often the client re-reads the member list
	// and dials the members' advertised URLs instead of Endpoints, to
	// follow membership changes (default 1 minute; negative: never, for
	// Endpoints that are proxies or load balancers the advertised URLs
	// would bypass).
	AutoSyncInterval time.Duration
}

// ReconnectMaxDelay caps the wait between attempts to reach an etcd
// member that went away.
const ReconnectMaxDelay = 2 * time.Second

// Store is a kv.Store on etcd.
type Store struct {
	c       *clientv3.Client
	prefix  string
	limits  kv.Limits
	timeout time.Duration // of one request

	// watched is the highest etcd revision the commit watch has reported:
	// a relaxed read from a member behind it is read again linearizably.
	watched atomic.Int64

	mu       sync.Mutex
	commitCh chan struct{}
	closed   chan struct{}
	watchEnd chan struct{}

	// Group commit (group.go): Updates waiting for the runner.
	groupMu  sync.Mutex
	pending  []*call
	grouping bool
}

var (
	_ kv.Store   = (*Store)(nil)
	_ kv.Limiter = (*Store)(nil)
)

// Open connects to etcd, checks that the server accepts transactions of
// opts.Limits (a clear error names the etcd flags otherwise), and starts
// watching for commits.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, nil)
}

func open(ctx context.Context, opts Options, dial []grpc.DialOption) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if opts.Prefix == "" {
		opts.Prefix = "/talentreg/"
	}
	if len(opts.Prefix) > MaxPrefix {
		return nil, fmt.Errorf("etcd prefix %q is %d bytes, at most %d: the transaction limits allow for no longer one", opts.Prefix, len(opts.Prefix), MaxPrefix)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	switch {
	case opts.AutoSyncInterval == 0:
		opts.AutoSyncInterval = time.Minute
	case opts.AutoSyncInterval < 0:
		opts.AutoSyncInterval = 0 // clientv3: never
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.Limits == (kv.Limits{}) {
		opts.Limits = DefaultLimits
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: opts.Endpoints, TLS: opts.TLS, Username: opts.Username, Password: opts.Password,
		DialTimeout: opts.DialTimeout, DialKeepAliveTime: 30 * time.Second, DialKeepAliveTimeout: 10 * time.Second,
		MaxCallSendMsgSize: opts.Limits.Bytes + 1<<20, MaxCallRecvMsgSize: 64 << 20,
		AutoSyncInterval: opts.AutoSyncInterval, // follow membership changes
		Logger:           zap.NewNop(),          // errors reach callers; retries are not news
		// Reconnect to a member that comes back within seconds: gRPC's
		// default backoff grows to two minutes, which would keep a replica
		// NOT_SERVING that long after an etcd outage ends.
		DialOptions: append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
			MinConnectTimeout: 5 * time.Second,
		})}, dial...),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	s := &Store{c: c, prefix: opts.Prefix, limits: opts.Limits, timeout: opts.RequestTimeout, commitCh: make(chan struct{}), closed: make(chan struct{}), watchEnd: make(chan struct{})}
	if !opts.LimitsChecked {
		if err := s.checkLimits(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	go s.watchCommits()
	if opts.CompactEvery > 0 {
		go s.compactHistory(opts.CompactEvery)
	}
	return s, nil
}

// compactHistory compacts etcd's MVCC history every interval to the
// revision seen an interval before, until Close. Every registry replica
// may do it: compacting to a revision already compacted is refused
// harmlessly.
func (s *Store) compactHistory(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev int64
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := s.c.Get(ctx, s.prefix+"\x00compaction-probe", clientv3.WithCountOnly())
		if err == nil {
			if prev > 0 {
				_, _ = s.c.Compact(ctx, prev)
			}
			prev = resp.Header.Revision
		}
		cancel()
	}
}

// Client returns the etcd client, for maintenance calls (compaction,
// status).
func (s *Store) Client() *clientv3.Client { return s.c }

// Limits implements kv.Limiter.
func (s *Store) Limits() kv.Limits { return s.limits }

// checkLimits sends a transaction of Limits.Ops compares (that never
// hold, so nothing is written) and one of Limits.Bytes: a server with
// lower limits refuses them.
//
// A cluster that is still electing its leader, or too busy to commit the
// large probe within etcd's request timeout, is asked again until
// startLimitsTimeout: only a refusal for the limits themselves is final.
func (s *Store) checkLimits(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startLimitsTimeout)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		err := s.probeLimits(ctx)
		if err == nil || errors.Is(err, errLimits) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// startLimitsTimeout bounds checkLimits' retries at start.
const startLimitsTimeout = time.Minute

// errLimits marks a server whose limits are below the registry's.
var errLimits = errors.New("etcd limits too low")

// probeLimits makes one attempt of checkLimits.
func (s *Store) probeLimits(ctx context.Context) error {
	probe := s.prefix + "\x00limits-probe"
	cmps := make([]clientv3.Cmp, s.limits.Ops)
	for i := range cmps {
		cmps[i] = clientv3.Compare(clientv3.CreateRevision(probe), "=", -1)
	}
	ops, reqBytes := ServerFlags(s.limits)
	if _, err := s.c.Txn(ctx).If(cmps...).Commit(); err != nil {
		if errors.Is(err, rpctypes.ErrTooManyOps) {
			return fmt.Errorf("%w: etcd accepts fewer than %d operations in one transaction: start its members with --max-txn-ops=%d --max-request-bytes=%d or more (see the README, \"The registry on etcd\")", errLimits, s.limits.Ops, ops, reqBytes)
		}
		return fmt.Errorf("etcd %s: %w", strings.Join(s.c.Endpoints(), ","), err)
	}
	// One put whose request is Limits.Bytes as commit counts it.
	big := string(make([]byte, max(0, s.limits.Bytes-2*len(probe)-opOverhead-cmpOverhead)))
	_, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(probe), "=", -1)).Then(clientv3.OpPut(probe, big)).Commit()
	if err != nil {
		if tooLarge(err) {
			return fmt.Errorf("%w: etcd refuses requests of %d bytes: start its members with --max-txn-ops=%d --max-request-bytes=%d or more (see the README, \"The registry on etcd\")", errLimits, s.limits.Bytes, ops, reqBytes)
		}
		return fmt.Errorf("etcd: %w", err)
	}
	return nil
}

// tooLarge reports etcd refusing a request for its size: its own check,
// or gRPC's message limit, which etcd sets a little above it.
func tooLarge(err error) bool {
	if errors.Is(err, rpctypes.ErrRequestTooLarge) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// watchCommits closes the commit channel on every change under the
// prefix, until Close. The watch asks for progress notifications: every
// few seconds it requests one, and a watch that answers nothing (not even
// its creation, no event, no progress) for three rounds is taken as stuck
// on a member cut off from the cluster and started again on a new stream,
// which the balancer may place on another member. A member that loses its
// leader ends the watch at once (WithRequireLeader).
func (s *Store) watchCommits() {
	defer close(s.watchEnd)
	base, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	defer cancel()
	go func() { <-s.closed; cancel() }()
	for attempt := 0; base.Err() == nil; attempt++ {
		s.watchOnce(base, attempt)
		// The watch ended (a member lost, compaction, silence): wake
		// waiters so they re-read, then watch again.
		s.broadcast()
		select {
		case <-base.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watchProgressEvery is how often a quiet watch asks for progress.
const watchProgressEvery = 2 * time.Second

func (s *Store) watchOnce(base context.Context, attempt int) {
	// clientv3 shares one gRPC stream among the watches whose outgoing
	// metadata is the same, and keeps it after they end: without a key of
	// its own, a new attempt would join the stream stuck on the frozen
	// member it replaces.
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(base, "talentreg-watch-attempt", strconv.Itoa(attempt)))
	defer cancel()
	var heard atomic.Int64
	heard.Store(time.Now().UnixNano())
	// The detector starts before Watch: Watch returns only once the
	// member has answered the creation, which a frozen member never does.
	go func() {
		t := time.NewTicker(watchProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, heard.Load())) > 3*watchProgressEvery {
				// Wake waiters now: closing a watch on a frozen member
				// can take until gRPC's keepalive gives up on it.
				s.broadcast()
				cancel()
				return
			}
			rctx, rcancel := context.WithTimeout(ctx, watchProgressEvery)
			_ = s.c.RequestProgress(rctx)
			rcancel()
		}
	}()
	wc := s.c.Watch(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithCreatedNotify(), clientv3.WithProgressNotify())
	for resp := range wc {
		if resp.Err() != nil {
			return
		}
		heard.Store(time.Now().UnixNano())
		raiseTo(&s.watched, resp.Header.Revision)
		if len(resp.Events) > 0 || resp.Created {
			s.broadcast()
		}
	}
}

// raiseTo raises a to v if v is larger.
func raiseTo(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (s *Store) broadcast() {
	s.mu.Lock()
	close(s.commitCh)
	s.commitCh = make(chan struct{})
	s.mu.Unlock()
}

// Committed implements kv.Store.
func (s *Store) Committed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitCh
}

// Empty implements kv.Store: no key under the prefix.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	resp, err := s.c.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithLimit(1))
	if err != nil {
		return false, err
	}
	// The limits probe key lives under the prefix but holds no data.
	return resp.Count == 0 || (resp.Count == 1 && s.onlyProbe(ctx)), nil
}

func (s *Store) onlyProbe(ctx context.Context) bool {
	resp, err := s.c.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(2))
	return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Key) == s.prefix+"\x00limits-probe"
}

// Close implements kv.Store.
func (s *Store) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	<-s.watchEnd
	return s.c.Close()
}

func (s *Store) key(b kv.Bucket, k []byte) string {
	var sb strings.Builder
	sb.Grow(len(s.prefix) + len(b) + 1 + len(k))
	sb.WriteString(s.prefix)
	sb.WriteString(string(b))
	sb.WriteByte(0)
	sb.Write(k)
	return sb.String()
}

// bucketRange returns the first key of b and the key after its last.
func (s *Store) bucketRange(b kv.Bucket) (string, string) {
	base := s.prefix + string(b)
	return base + "\x00", base + "\x01"
}

// View implements kv.Store: reads at one etcd revision.
func (s *Store) View(ctx context.Context, fn func(kv.Reader) error) error {
	if err := s.open(); err != nil {
		return err
	}
	t := &txn{s: s, ctx: ctx, readOnly: true, relaxed: kv.IsRelaxed(ctx)}
	err := fn(t)
	if err == nil {
		err = t.err
	}
	return err
}

func (s *Store) open() error {
	select {
	case <-s.closed:
		return kv.ErrClosed
	default:
		return nil
	}
}

// Update implements kv.Store: fn runs in a group with the Updates waiting
// beside it (group.go), committed with compares, and runs again (after a
// short jittered pause) when another writer committed first.
func (s *Store) Update(ctx context.Context, fn func(kv.Txn) error) error {
	if err := s.open(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.enqueue(c)
	return <-c.done
}

// update runs fn alone: commit with compares, and run it again when
// another writer committed first.
func (s *Store) update(ctx context.Context, fn func(kv.Txn) error) error {
	for attempt := 0; ; attempt++ {
		if err := s.open(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t := &txn{s: s, ctx: ctx, writes: map[string]*write{}}
		if err := fn(t); err != nil {
			return err
		}
		if t.err != nil {
			return t.err
		}
		ok, err := t.commit()
		if err != nil || ok {
			return err
		}
		// Lost a race: back off a little, more with each attempt, so
		// contending replicas spread out.
		pause := time.Duration(rand.Int64N(int64(min(attempt+1, 20)) * int64(time.Millisecond)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// write is one buffered put (value set) or delete.
type write struct {
	value []byte
	del   bool
}

// txn is one snapshot with buffered writes.
type txn struct {
	s        *Store
	ctx      context.Context
	readOnly bool
	relaxed  bool  // the first read may be serializable (kv.Relaxed)
	rev      int64 // the snapshot's etcd revision; 0 before the first read
	err      error

	reads  map[string]int64 // key → mod revision seen (0: absent)
	ranges [][2]string      // scanned key ranges [from, to)
	writes map[string]*write
	order  []string // keys of writes in first-write order

	// In a group (group.go): the writes' previous states, to undo one
	// call's writes.
	journaling bool
	journal    []undo
}

func (t *txn) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// get reads at the snapshot's revision, fixing it at the first read. The
// first read is linearizable (it sees every commit acknowledged before it
// started) unless the transaction is relaxed; later reads name the
// snapshot's revision, so any member that has applied it may serve them
// (serializable), and one that has not yet is asked again linearizably.
func (t *txn) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.s.timeout)
	defer cancel()
	var resp *clientv3.GetResponse
	var err error
	switch {
	case t.rev != 0:
		at := append(opts, clientv3.WithRev(t.rev))
		resp, err = t.s.c.Get(ctx, key, append(at, clientv3.WithSerializable())...)
		if errors.Is(err, rpctypes.ErrFutureRev) {
			resp, err = t.s.c.Get(ctx, key, at...)
		}
	case t.relaxed:
		resp, err = t.s.c.Get(ctx, key, append(opts, clientv3.WithSerializable())...)
		if err == nil && resp.Header.Revision < t.s.watched.Load() {
			resp, err = t.s.c.Get(ctx, key, opts...)
		}
	default:
		resp, err = t.s.c.Get(ctx, key, opts...)
	}
	if err != nil {
		err = unavailable(t.ctx, err)
		t.fail(err)
		return nil, err
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// Get implements kv.Reader.
func (t *txn) Get(b kv.Bucket, key []byte) ([]byte, error) {
	k := t.s.key(b, key)
	if w, ok := t.writes[k]; ok {
		if w.del {
			return nil, nil
		}
		return w.value, nil
	}
	resp, err := t.get(k)
	if err != nil {
		return nil, err
	}
	var mod int64
	var v []byte
	if len(resp.Kvs) == 1 {
		mod, v = resp.Kvs[0].ModRevision, present(resp.Kvs[0].Value)
	}
	if !t.readOnly {
		if t.reads == nil {
			t.reads = map[string]int64{}
		}
		if _, seen := t.reads[k]; !seen {
			t.reads[k] = mod
		}
	}
	return v, nil
}

// Put implements kv.Txn.
func (t *txn) Put(b kv.Bucket, key, value []byte) error {
	t.record(t.s.key(b, key), &write{value: present(value)})
	return nil
}

// present makes an empty value non-nil: nil means absent.
func present(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// Delete implements kv.Txn.
func (t *txn) Delete(b kv.Bucket, key []byte) error {
	t.record(t.s.key(b, key), &write{del: true})
	return nil
}

func (t *txn) record(k string, w *write) {
	prev, ok := t.writes[k]
	if !ok {
		t.order = append(t.order, k)
	}
	if t.journaling {
		t.journal = append(t.journal, undo{key: k, prev: prev})
	}
	t.writes[k] = w
}

// commit sends the writes guarded by the compares; false means the
// compares failed (another writer committed first).
func (t *txn) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil
	}
	var cmps []clientv3.Cmp
	for k, mod := range t.reads {
		if mod == 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", mod))
		}
	}
	for _, r := range t.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r[0]), "<", t.rev+1).WithRange(r[1]))
	}
	ops := make([]clientv3.Op, 0, len(t.order))
	for _, k := range t.order {
		w := t.writes[k]
		if w.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.value)))
		}
	}
	size := t.requestBytes()
	if l := t.s.limits; (l.Ops > 0 && (len(ops) > l.Ops || len(cmps) > l.Ops)) || (l.Bytes > 0 && size > l.Bytes) {
		return false, fmt.Errorf("%w: %d writes, %d compares, %d bytes (limits %d operations, %d bytes)", kv.ErrTooLarge, len(ops), len(cmps), size, l.Ops, l.Bytes)
	}
	// A large request takes a while to send and to apply: a second more
	// per MiB, so that the largest (WorstCase, 15 MiB) is not cut off on a
	// busy cluster while etcd still applies it.
	ctx, cancel := context.WithTimeout(t.ctx, t.s.timeout+time.Duration(size>>20)*time.Second)
	defer cancel()
	resp, err := t.s.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
	switch {
	case errors.Is(err, rpctypes.ErrTooManyOps), tooLarge(err):
		return false, fmt.Errorf("%w: %v", kv.ErrTooLarge, err)
	case err != nil:
		return false, unavailable(t.ctx, err)
	}
	return resp.Succeeded, nil
}

// unavailable wraps an etcd failure in kv.ErrUnavailable, except when the
// caller's own context ended, which stays what it is.
func unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %w", kv.ErrUnavailable, err)
}

// Cursor implements kv.Reader: pages of keys read at the snapshot's
// revision, merged with the transaction's own writes.
func (t *txn) Cursor(b kv.Bucket) kv.Cursor {
	from, to := t.s.bucketRange(b)
	c := &cursor{t: t, from: from, to: to, strip: len(from)}
	if len(t.writes) > 0 {
		for _, k := range t.order {
			if k >= from && k < to {
				c.local = append(c.local, k)
			}
		}
		sort.Strings(c.local)
	}
	return c
}

// cursorPage is how many keys a cursor fetches at a time.
const cursorPage = 256

// cursor walks the merge of the bucket's keys at the snapshot and the
// transaction's own writes. It keeps one page of remote keys, fetched in
// the direction of travel; a step inside the page costs no round trip.
type cursor struct {
	t        *txn
	from, to string // the bucket's key range [from, to)
	strip    int    // len(from): the bucket part of every key
	local    []string

	// page holds remote keys in ascending order, covering exactly
	// [lo, hi): every remote key in that interval is in it.
	page   []kvPair
	lo, hi string
	cur    string // the current key ("" before the first move or past an end)
	curVal []byte
	// off is where the cursor went off the keys: +1 past the last (Prev
	// then moves to the last), -1 before the first (Next to the first).
	off int
}

type kvPair struct {
	key   string
	value []byte
}

// load fetches a page of remote keys starting at start (ascending) or
// ending before end (descending).
func (c *cursor) load(bound string, desc bool) {
	opts := []clientv3.OpOption{clientv3.WithLimit(cursorPage)}
	key, end := bound, c.to
	if desc {
		key, end = c.from, bound
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	opts = append(opts, clientv3.WithRange(end))
	resp, err := c.t.get(key, opts...)
	c.page = c.page[:0]
	if err != nil {
		c.lo, c.hi = "", ""
		return
	}
	for _, x := range resp.Kvs {
		c.page = append(c.page, kvPair{string(x.Key), present(x.Value)})
	}
	c.lo, c.hi = key, end
	if resp.More && len(c.page) > 0 {
		last := c.page[len(c.page)-1].key
		if desc {
			c.lo = last
		} else {
			c.hi = last + "\x00"
		}
	}
	if desc {
		for i, j := 0, len(c.page)-1; i < j; i, j = i+1, j-1 {
			c.page[i], c.page[j] = c.page[j], c.page[i]
		}
	}
	if !c.t.readOnly {
		c.t.ranges = append(c.t.ranges, [2]string{c.lo, c.hi})
	}
}

// remoteAtOrAfter returns the smallest remote key ≥ k.
func (c *cursor) remoteAtOrAfter(k string) (kvPair, bool) {
	for {
		if c.page == nil || k < c.lo || k >= c.hi {
			c.load(k, false)
			if c.t.err != nil {
				return kvPair{}, false
			}
		}
		i := sort.Search(len(c.page), func(i int) bool { return c.page[i].key >= k })
		if i < len(c.page) {
			return c.page[i], true
		}
		if c.hi >= c.to {
			return kvPair{}, false
		}
		k = c.hi // the page ends before the range does: go on from there
	}
}

// remoteBefore returns the largest remote key < k.
func (c *cursor) remoteBefore(k string) (kvPair, bool) {
	for {
		if c.page == nil || k <= c.lo || k > c.hi {
			c.load(k, true)
			if c.t.err != nil {
				return kvPair{}, false
			}
		}
		i := sort.Search(len(c.page), func(i int) bool { return c.page[i].key >= k })
		if i > 0 {
			return c.page[i-1], true
		}
		if c.lo <= c.from {
			return kvPair{}, false
		}
		k = c.lo
	}
}

// at moves to key k (from remote value rv if it came from the page) and
// reports it, or skips it when the transaction deleted it.
func (c *cursor) at(k string, rv []byte) (deleted bool) {
	if w, mine := c.t.writes[k]; mine {
		if w.del {
			c.cur = k // step from here
			return true
		}
		rv = w.value
	}
	c.cur, c.curVal = k, rv
	return false
}

func (c *cursor) out() ([]byte, []byte) {
	if c.cur == "" {
		return nil, nil
	}
	c.off = 0
	return []byte(c.cur[c.strip:]), c.curVal
}

// forward moves to the smallest key ≥ k (strictly > k when excl).
func (c *cursor) forward(k string, excl bool) ([]byte, []byte) {
	for {
		if excl {
			k += "\x00"
		}
		r, rok := c.remoteAtOrAfter(k)
		li := sort.SearchStrings(c.local, k)
		lok := li < len(c.local)
		switch {
		case !rok && !lok:
			c.cur, c.curVal, c.off = "", nil, +1
			return nil, nil
		case rok && (!lok || r.key <= c.local[li]):
			if c.at(r.key, r.value) {
				k, excl = r.key, true
				continue
			}
		default:
			if c.at(c.local[li], nil) {
				k, excl = c.local[li], true
				continue
			}
		}
		return c.out()
	}
}

// backward moves to the largest key < k.
func (c *cursor) backward(k string) ([]byte, []byte) {
	for {
		r, rok := c.remoteBefore(k)
		li := sort.SearchStrings(c.local, k) - 1
		lok := li >= 0
		switch {
		case !rok && !lok:
			c.cur, c.curVal, c.off = "", nil, -1
			return nil, nil
		case rok && (!lok || r.key >= c.local[li]):
			if c.at(r.key, r.value) {
				k = r.key
				continue
			}
		default:
			if c.at(c.local[li], nil) {
				k = c.local[li]
				continue
			}
		}
		return c.out()
	}
}

func (c *cursor) First() ([]byte, []byte)          { return c.forward(c.from, false) }
func (c *cursor) Last() ([]byte, []byte)           { return c.backward(c.to) }
func (c *cursor) Seek(key []byte) ([]byte, []byte) { return c.forward(c.from+string(key), false) }

// Next and Prev step from the current key; off the keys, they come back
// to the nearest end as bbolt's cursors do (Seek past the last key, then
// Prev, is the last key).
func (c *cursor) Next() ([]byte, []byte) {
	switch {
	case c.cur != "":
		return c.forward(c.cur, true)
	case c.off < 0:
		return c.First()
	}
	return nil, nil
}

func (c *cursor) Prev() ([]byte, []byte) {
	switch {
	case c.cur != "":
		return c.backward(c.cur)
	case c.off > 0:
		return c.Last()
	}
	return nil, nil
}

func (c *cursor) Err() error { return c.t.err }
