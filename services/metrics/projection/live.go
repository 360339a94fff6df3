package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"talentreg/services/metrics"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// DefaultMaxWait bounds a min_revision wait when the request has no
// deadline.
const DefaultMaxWait = 5 * time.Second

// ErrHoldPassed is returned by Hold when the projection has already applied
// past the revision asked for.
var ErrHoldPassed = errors.New("projection: already past the revision to hold at")

// Live is a Projection shared by one writer (the follower: Apply, Replace,
// Delta) and any number of readers (the metrics.Reader methods, Figures).
// Writers must not call concurrently with each other.
//
// Readers see the projection only at the end of a registry transaction,
// never inside one, even when the feed splits a transaction across
// messages. Summary reads are lock-free: each Apply that completes a
// transaction publishes a new Summary.
type Live struct {
	maxWait time.Duration

	mu     sync.RWMutex
	p      *Projection // nil until loaded
	hold   int64       // when > 0, apply nothing past this revision
	held   chan struct{}
	holdMu sync.Mutex // serialises holders

	// pending holds the changes of a transaction whose last change has
	// not arrived yet (writer only).
	pending []*registryv1.Change

	applied    atomic.Int64
	registryID atomic.Pointer[string]
	summary    atomic.Pointer[metrics.Summary]
	changed    atomic.Pointer[chan struct{}] // closed and replaced on each publish

	// headCheck, when set, is asked about a revision a read still waits
	// for after checkGrace (see SetHeadCheck).
	headCheck func(ctx context.Context, revision int64) error
	// checkGrace is how long a read waits before its head check
	// (headCheckGrace; tests change it).
	checkGrace time.Duration

	// noSearch drops the search index of every projection installed;
	// noHistory its history.
	noSearch, noHistory bool
	// historyExactFor bounds the history (SetHistoryExactFor).
	historyExactFor time.Duration
	// searchReady is closed when the search index of the projection
	// installed last is built (see buildSearch).
	searchReady atomic.Pointer[chan struct{}]

	// beforeRead, when set (by tests), runs between a read's wait for its
	// minimum revision and the read itself.
	beforeRead func()
}

// SetHeadCheck installs check, which a read asks about a revision still
// not applied after headCheckGrace: an error from it (a metrics.Error such
// as RevisionNotCommitted) is the read's answer; nil lets the read wait.
// Call it before serving reads.
func (l *Live) SetHeadCheck(check func(ctx context.Context, revision int64) error) {
	l.headCheck = check
}

// answerMargin is how long before its deadline a wait gives up, so that
// its answer (which says what was not applied) reaches the caller before
// the caller's own deadline ends the call without one.
func answerMargin(remaining time.Duration) time.Duration {
	return min(50*time.Millisecond, remaining/10)
}

// NewLive returns an unloaded Live; reads return metrics.ErrNotLoaded until
// Replace. maxWait bounds min_revision waits without a deadline (0 means
// DefaultMaxWait).
func NewLive(maxWait time.Duration) *Live {
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	l := &Live{maxWait: maxWait, checkGrace: headCheckGrace}
	ch := make(chan struct{})
	l.changed.Store(&ch)
	return l
}

var (
	_ metrics.Reader         = (*Live)(nil)
	_ metrics.SummaryWatcher = (*Live)(nil)
)

// Loaded reports whether a projection has been loaded.
func (l *Live) Loaded() bool { return l.summary.Load() != nil }

// Revision returns the revision applied, 0 before loading.
func (l *Live) Revision() int64 { return l.applied.Load() }

// RegistryID returns the id of the registry database the projection
// reflects ("" before loading, or when unknown). It changes only with
// Replace, and is read without a lock: read under the read lock (in
// WithFigures' fn) it is the id of the figures read.
func (l *Live) RegistryID() string {
	if id := l.registryID.Load(); id != nil {
		return *id
	}
	return ""
}

// Replace installs p (loaded from a checkpoint or a snapshot), waiting
// first while a hold is below p's revision. Changes kept for an
// incomplete transaction are dropped.
func (l *Live) Replace(ctx context.Context, p *Projection) error {
	l.mu.Lock()
	l.pending = nil
	for l.hold > 0 && p.revision > l.hold {
		if err := l.waitRelease(ctx); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	if l.noSearch {
		p.DropSearch()
	}
	if l.noHistory {
		p.hist = nil
	}
	if p.hist != nil {
		p.hist.exactFor = int64(l.historyExactFor)
	}
	if p.SearchPending() {
		l.buildSearch(p)
	}
	l.p = p
	l.publish()
	l.mu.Unlock()
	return nil
}

// Apply takes the next changes of the feed, in revision order, and the
// feed's caught-up revision (a progress message has no changes). It applies
// every transaction whose last change has arrived, keeps the changes of an
// incomplete one for a later Apply, advances to revision when no
// transaction is incomplete, and then publishes: readers see whole
// transactions or none of them. A hold makes Apply wait (until release or
// ctx's end) before anything past the held revision.
//
// Errors: ErrRevisionGap when the changes do not follow the projection's
// revision (nothing is applied; feed it again from Revision() + 1); an
// *AnomalyError (errors.Is ErrAnomaly) when a change did not fit the
// projection's state: the projection is then dropped — reads answer
// metrics.ErrNotLoaded and Loaded is false — until Replace installs one
// rebuilt from a snapshot.
func (l *Live) Apply(ctx context.Context, changes []*registryv1.Change, revision int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.p
	if p == nil {
		return errors.New("projection: apply before load")
	}
	all := changes
	if len(l.pending) > 0 {
		all = append(l.pending, changes...)
	}
	// The complete transactions: up to the last change that ends one.
	end := len(all)
	for end > 0 && !endsTransaction(all[end-1]) {
		end--
	}
	next := p.revision + 1
	for _, c := range all {
		switch r := c.GetRevision(); {
		case r < next:
		case r == next:
			next++
		default:
			l.pending = nil
			return fmt.Errorf("%w: have %d, got %d", ErrRevisionGap, next-1, r)
		}
	}
	for _, c := range all[:end] {
		for l.hold > 0 && c.GetRevision() > l.hold && c.GetRevision() > p.revision {
			if err := l.waitRelease(ctx); err != nil {
				l.pending = nil
				return err
			}
		}
		if err := p.Apply(c); err != nil {
			l.drop()
			return err
		}
	}
	l.pending = append([]*registryv1.Change(nil), all[end:]...)
	if len(l.pending) == 0 {
		for l.hold > 0 && revision > l.hold {
			// Every change up to revision has been applied and none came
			// past the hold, so the state at the hold is this state.
			p.Advance(l.hold)
			if err := l.waitRelease(ctx); err != nil {
				return err
			}
		}
		p.Advance(revision)
	} else {
		l.pending = l.pending[:len(l.pending):len(l.pending)]
	}
	if p.revision != l.applied.Load() || end > 0 {
		l.publish()
	}
	return nil
}

// Pending returns how many changes of an incomplete transaction Apply is
// keeping (writer only).
func (l *Live) Pending() int { return len(l.pending) }

// endsTransaction reports whether c is the last change of its transaction;
// a change that does not say (an older registry) is its own transaction.
func endsTransaction(c *registryv1.Change) bool {
	return c.GetTransactionLastRevision() <= c.GetRevision()
}

// drop discards a projection that cannot be trusted any more: readers get
// metrics.ErrNotLoaded until Replace. Called with mu held.
func (l *Live) drop() {
	l.p = nil
	l.pending = nil
	l.summary.Store(nil)
	ch := make(chan struct{})
	old := l.changed.Swap(&ch)
	close(*old)
}

// waitRelease publishes, releases mu until the hold is released or ctx
// ends, and takes mu again. Called with mu held.
func (l *Live) waitRelease(ctx context.Context) error {
	l.publish()
	held := l.held
	l.mu.Unlock()
	var err error
	select {
	case <-held:
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	return err
}

// publish makes the projection's current state visible: the Summary, the
// applied revision, and a wake-up of every waiting reader. Called with mu
// held.
func (l *Live) publish() {
	s := l.p.Summary()
	l.summary.Store(&s)
	if id := l.p.registryID; l.RegistryID() != id {
		l.registryID.Store(&id)
	}
	l.applied.Store(l.p.revision)
	ch := make(chan struct{})
	old := l.changed.Swap(&ch)
	close(*old)
}

// Hold stops applying past revision until release is called, and returns
// ErrHoldPassed when the projection is already past it. A holder sees the
// projection reach exactly revision (WaitExactly) and compares it in peace;
// readers go on being served meanwhile. One hold at a time: Hold waits for
// the previous holder to release.
func (l *Live) Hold(revision int64) (release func(), err error) {
	l.holdMu.Lock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil && l.p.revision > revision {
		l.holdMu.Unlock()
		return nil, fmt.Errorf("%w: at %d, asked %d", ErrHoldPassed, l.p.revision, revision)
	}
	l.hold = revision
	l.held = make(chan struct{})
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.hold = 0
			close(l.held)
			l.mu.Unlock()
			l.holdMu.Unlock()
		})
	}, nil
}

// MoveHold moves the current hold forward to revision; the caller must hold
// it. Moving it backwards returns ErrHoldPassed.
func (l *Live) MoveHold(revision int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if revision < l.hold || (l.p != nil && l.p.revision > revision) {
		return fmt.Errorf("%w: hold %d, asked %d", ErrHoldPassed, l.hold, revision)
	}
	l.hold = revision
	old := l.held
	l.held = make(chan struct{})
	close(old) // wake a blocked Apply to look at the new hold
	return nil
}

// WaitFor waits until revision is applied, bounded by ctx's deadline
// (less a small margin, so the answer beats the caller's deadline) or, if
// it has none, by the maximum wait; else it returns a
// metrics.CodeRevisionNotApplied error. Under metrics.WithoutWait it does
// not wait (metrics.CodeReplicaBehind); a revision the head check refuses
// is refused once headCheckGrace (or half the time left) has passed.
func (l *Live) WaitFor(ctx context.Context, revision int64) error {
	if revision <= 0 || l.applied.Load() >= revision {
		return nil
	}
	if metrics.NoWait(ctx) {
		return metrics.ReplicaBehind(revision, l.applied.Load())
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-answerMargin(time.Until(dl))))
		defer cancel()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.maxWait)
		defer cancel()
	}
	if l.headCheck != nil {
		// A read of a write just acknowledged mostly arrives a moment
		// before the feed delivers that write. The head check asks the
		// registry — a round trip, and a read that makes its storage
		// commit at once instead of lazily — so it is asked only for a
		// revision still missing after that moment.
		// (Half the time left, when less: a short deadline still gets
		// the check's answer.)
		dl, _ := ctx.Deadline()
		grace := time.NewTimer(min(l.checkGrace, time.Until(dl)/2))
		applied, err := l.waitApplied(ctx, revision, grace.C)
		grace.Stop()
		if applied || err != nil {
			return err
		}
		if err := l.headCheck(ctx, revision); err != nil {
			return err
		}
	}
	_, err := l.waitApplied(ctx, revision, nil)
	return err
}

// headCheckGrace is how long a read waits for its revision before the
// head check: past the feed's delivery lag behind an acknowledgement at
// its p99 (bench's lag case, 1,000 writes/s), short beside the wait a
// revision never committed would otherwise get.
const headCheckGrace = 10 * time.Millisecond

// waitApplied waits until revision is applied (true), stop fires (false,
// nil) or ctx ends (its error, as WaitFor returns it).
func (l *Live) waitApplied(ctx context.Context, revision int64, stop <-chan time.Time) (bool, error) {
	for {
		ch := *l.changed.Load()
		if l.applied.Load() >= revision {
			return true, nil
		}
		select {
		case <-ch:
		case <-stop:
			return false, nil
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return false, ctx.Err()
			}
			return false, metrics.RevisionNotApplied(revision, l.applied.Load(), ctx.Err())
		}
	}
}

// WithFigures waits until the projection is at revision exactly (a hold at
// revision keeps it from passing), then calls fn with its figures under the
// read lock.
func (l *Live) WithFigures(ctx context.Context, revision int64, fn func(metrics.Figures)) error {
	if err := l.WaitFor(ctx, revision); err != nil {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.p == nil {
		return metrics.ErrNotLoaded
	}
	if l.p.revision != revision {
		return fmt.Errorf("projection at %d, not %d: %w", l.p.revision, revision, ErrHoldPassed)
	}
	fn(l.p.Figures())
	return nil
}

// Summary implements metrics.Reader in O(1) without taking a lock.
func (l *Live) Summary(ctx context.Context, minRevision int64) (metrics.Summary, error) {
	var s *metrics.Summary
	err := l.read(ctx, minRevision, func() (int64, bool) {
		if s = l.summary.Load(); s == nil {
			return 0, false
		}
		return s.Revision, true
	})
	if err != nil {
		return metrics.Summary{}, err
	}
	out := *s
	out.EntitiesByKind = copyMap(s.EntitiesByKind)
	return out, nil
}

// SummaryNow implements metrics.SummaryWatcher without taking a lock.
func (l *Live) SummaryNow() (sum metrics.Summary, loaded bool, changed <-chan struct{}) {
	// The channel first: a publish after it is loaded closes it, so the
	// caller never misses one that the Summary read below does not show.
	ch := *l.changed.Load()
	s := l.summary.Load()
	if s == nil {
		return metrics.Summary{}, false, ch
	}
	out := *s
	out.EntitiesByKind = copyMap(s.EntitiesByKind)
	return out, true, ch
}

// GroupStats implements metrics.Reader.
func (l *Live) GroupStats(ctx context.Context, name string, minRevision int64) (metrics.GroupStats, error) {
	var st metrics.GroupStats
	var found bool
	err := l.read(ctx, minRevision, l.locked(func(p *Projection) {
		st, found = p.GroupStats(name)
	}))
	if err != nil {
		return metrics.GroupStats{}, err
	}
	if !found {
		return metrics.GroupStats{}, metrics.NotFound(name)
	}
	return st, nil
}

// Breakdown implements metrics.Reader.
func (l *Live) Breakdown(ctx context.Context, d metrics.Dimension, minRevision int64) (metrics.Breakdown, error) {
	var b metrics.Breakdown
	err := l.read(ctx, minRevision, l.locked(func(p *Projection) {
		b = metrics.Breakdown{Revision: p.revision, Dimension: d, Rows: p.Breakdown(d)}
	}))
	if err != nil {
		return metrics.Breakdown{}, err
	}
	return b, nil
}

// read is every metrics.Reader read: it waits until minRevision is applied,
// then calls try, which reads and reports the revision it read at (loaded
// false before any projection is). The applied revision goes down when
// Replace installs an older projection (a registry rebuilt from scratch or
// replaced): if that happened between the wait and the read, the read is
// discarded and the wait starts again, so that no read answers below
// minRevision.
func (l *Live) read(ctx context.Context, minRevision int64, try func() (revision int64, loaded bool)) error {
	for {
		if err := l.WaitFor(ctx, minRevision); err != nil {
			return err
		}
		if l.beforeRead != nil {
			l.beforeRead()
		}
		revision, loaded := try()
		if !loaded {
			return metrics.ErrNotLoaded
		}
		if revision >= minRevision {
			return nil
		}
	}
}

// locked returns a read's try that calls fn with the projection under the
// read lock.
func (l *Live) locked(fn func(*Projection)) func() (int64, bool) {
	return func() (int64, bool) {
		l.mu.RLock()
		defer l.mu.RUnlock()
		if l.p == nil {
			return 0, false
		}
		fn(l.p)
		return l.p.revision, true
	}
}

// Figures returns every figure of the current projection.
func (l *Live) Figures() (metrics.Figures, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.p == nil {
		return metrics.Figures{}, metrics.ErrNotLoaded
	}
	return l.p.Figures(), nil
}

// Delta returns the projection's checkpoint Delta (see Projection.Delta).
// Only the writer may call it. Taking the change tracking changes the
// projection, so it is done under the write lock (O(changes)); encoding
// only reads, so readers go on meanwhile — a full Delta encodes every
// slot. Nothing can change the projection between the two: only the
// writer does, and it is here.
func (l *Live) Delta() (Delta, bool) {
	l.mu.Lock()
	p := l.p
	if p == nil {
		l.mu.Unlock()
		return Delta{}, false
	}
	c := p.takeChanges()
	l.mu.Unlock()

	l.mu.RLock()
	defer l.mu.RUnlock()
	return p.encode(c), true
}

// MarkFull makes the next Delta hold everything. Only the writer may call
// it.
func (l *Live) MarkFull() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil {
		l.p.MarkFull()
	}
}

// Anomalies returns the projection's anomaly count.
func (l *Live) Anomalies() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.p == nil {
		return 0
	}
	return l.p.Anomalies()
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
