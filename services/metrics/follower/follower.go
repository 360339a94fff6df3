// Package follower keeps a Live projection up to date from the registry:
// list, then watch, as Kubernetes informers do. It resumes from the
// checkpoint when there is one (WatchChanges from its revision + 1), and
// otherwise — or when the registry has compacted past it — loads a
// StreamSnapshot and watches from the snapshot's revision + 1. When the
// registry goes away it reconnects with capped, jittered backoff and
// resumes from the revision applied. It checkpoints every N changes or T
// seconds and at shutdown.
//
// Revisions are only comparable within one registry database, which the
// registry identifies by an id on every feed answer. The projection and
// its checkpoint carry the id of the database they reflect; when the
// registry answers with another (its database was replaced), the follower
// is not ready until it has reloaded from a snapshot.
//
// A change that does not fit the projection (a projection anomaly) makes
// the follower log why, drop the projection and reload it from a snapshot.
// Cut off from the registry for longer than Config.StaleAfter, the
// follower reports itself not ready until it has caught up again.
//
// It also verifies: Verifier recounts a fresh snapshot and compares it with
// the live projection at the same revision.
package follower

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Config tunes a Follower. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// CheckpointInterval is the longest time between checkpoints while
	// changes arrive.
	CheckpointInterval time.Duration
	// CheckpointEvery checkpoints after that many changes.
	CheckpointEvery int64
	// BackoffMin and BackoffMax bound the wait before reconnecting; it
	// doubles after each failed attempt, with jitter, and resets once a
	// stream delivers.
	BackoffMin, BackoffMax time.Duration
	// StaleAfter is how long the follower may be cut off from the
	// registry (the feed broken, reconnecting) and still report itself
	// ready; 0 means forever. Past it the follower is not ready until it
	// has caught up again.
	StaleAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FullSnapshot bootstraps from a snapshot view with display names and
	// credit codes (what the search index shows): the registry's named
	// view, or the full one from a registry that has no named view;
	// otherwise from the smaller aggregate view.
	FullSnapshot bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		// A checkpoint takes the changes since the last one (Live.Delta
		// holds the applier meanwhile) and writes them, a burst of CPU
		// and I/O beside the applier. Small and frequent, both stay
		// short: at 1,000 writes/s, write → visible p99 went
		// from 16-26 ms to 8-16 ms (10 s/10,000 → 1 s/1,000, six
		// interleaved rounds of bench's lag case), for the same CPU. A
		// restart replays at most a second of changes.
		CheckpointInterval: time.Second,
		CheckpointEvery:    1000,
		BackoffMin:         100 * time.Millisecond,
		BackoffMax:         5 * time.Second,
		Now:                time.Now,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = d.CheckpointInterval
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = d.CheckpointEvery
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = d.BackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(d.BackoffMax, c.BackoffMin)
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Store is where checkpoints go; *checkpoint.Store implements it.
type Store interface {
	// Load returns the projection saved last; ok is false when none was.
	Load() (p *projection.Projection, ok bool, err error)
	// Save writes a Delta atomically.
	Save(projection.Delta) error
}

// Follower feeds a Live projection from the registry.
type Follower struct {
	cfg    Config
	client registryv1.RegistryServiceClient
	live   *projection.Live
	store  Store
	log    *slog.Logger
	stats  *stats

	ready     chan struct{}
	readyOnce sync.Once

	// Readiness: whether the projection is caught up, and a channel
	// closed at its next change.
	readyMu      sync.Mutex
	isReady      bool
	readyChanged chan struct{}
	// staleTimer runs while the feed is broken (see StaleAfter); nil
	// while connected and caught up. Guarded by readyMu.
	staleTimer *time.Timer

	needBootstrap bool

	// head is the highest registry revision the feed has reported, 0
	// when unknown (see CheckCommitted).
	head atomic.Int64

	// Checkpointing: the follower goroutine takes Deltas, a writer
	// goroutine saves them, one at a time. savedRev is the revision of the
	// last checkpoint written, set by the writer on success only; lastSave
	// is when the follower last handed one over (or tried to).
	saves          chan projection.Delta
	saving         atomic.Bool
	saveFailed     atomic.Bool
	savedRev       atomic.Int64
	lastSave       time.Time
	changesUnsaved int64
	// fullDue is a checkpoint forced (after a bootstrap) but put off
	// while the search index is built.
	fullDue bool
}

// New returns a Follower feeding live from client, checkpointing to store
// (nil disables checkpoints), logging to log and registering its metrics
// on reg (nil skips them).
func New(cfg Config, client registryv1.RegistryServiceClient, live *projection.Live, store Store, log *slog.Logger, reg prometheus.Registerer) *Follower {
	f := &Follower{
		cfg:    cfg.withDefaults(),
		client: client,
		live:   live,
		store:  store,
		log:    log,
		ready:  make(chan struct{}),
		saves:  make(chan projection.Delta, 1),

		readyChanged: make(chan struct{}),
	}
	f.stats = newStats(reg, live)
	return f
}

// Ready is closed once the projection first caught up with the registry:
// after a snapshot load, or once the watch has applied the revision the
// registry was at when it started.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Readiness reports whether the projection is caught up with the registry
// — false until it first is, and again from the moment the registry is
// found replaced (or behind the projection) until the projection has been
// reloaded from it — and returns a channel closed at the next change.
func (f *Follower) Readiness() (ready bool, changed <-chan struct{}) {
	f.readyMu.Lock()
	defer f.readyMu.Unlock()
	return f.isReady, f.readyChanged
}

func (f *Follower) setReady(ready bool) {
	f.readyMu.Lock()
	defer f.readyMu.Unlock()
	f.setReadyLocked(ready)
}

func (f *Follower) setReadyLocked(ready bool) {
	if f.isReady == ready {
		return
	}
	f.isReady = ready
	close(f.readyChanged)
	f.readyChanged = make(chan struct{})
}

func (f *Follower) markReady() {
	if ready, _ := f.Readiness(); !ready {
		f.log.Info("caught up with the registry", "revision", f.live.Revision(), "registry_id", f.live.RegistryID())
	}
	f.readyMu.Lock()
	if f.staleTimer != nil {
		f.staleTimer.Stop()
		f.staleTimer = nil
	}
	f.setReadyLocked(true)
	f.readyMu.Unlock()
	f.readyOnce.Do(func() { close(f.ready) })
}

// cutOff starts the staleness clock when the feed breaks, unless it runs
// already: once it has run for StaleAfter without the follower catching up
// again (markReady), the follower is not ready.
func (f *Follower) cutOff() {
	if f.cfg.StaleAfter <= 0 {
		return
	}
	f.readyMu.Lock()
	defer f.readyMu.Unlock()
	if f.staleTimer != nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(f.cfg.StaleAfter, func() {
		f.readyMu.Lock()
		defer f.readyMu.Unlock()
		if f.staleTimer != t || !f.isReady {
			return // caught up again meanwhile, or not ready anyway
		}
		f.log.Warn("cut off from the registry for longer than the staleness bound; not serving until caught up again",
			"stale_after", f.cfg.StaleAfter, "applied", f.live.Revision())
		f.setReadyLocked(false)
	})
	f.staleTimer = t
}

// rebuild marks the projection for a reload from a snapshot because it
// does not reflect what the registry holds: not ready until then.
func (f *Follower) rebuild() {
	f.needBootstrap = true
	f.setReady(false)
}

// Run follows the registry until ctx ends, then saves a last checkpoint.
// It returns nil after a clean stop; registry failures are retried, never
// returned.
func (f *Follower) Run(ctx context.Context) error {
	if f.store != nil {
		p, ok, err := f.store.Load()
		switch {
		case err != nil:
			// The checkpoint is a cache of what the registry holds: rebuild
			// it rather than refuse to start. The next save replaces it.
			f.log.Error("checkpoint unreadable; rebuilding from a registry snapshot", "err", err)
		case ok:
			if err := f.live.Replace(ctx, p); err != nil {
				return err
			}
			f.savedRev.Store(p.Revision())
			f.lastSave = f.cfg.Now()
			f.log.Info("resumed from checkpoint", "revision", p.Revision(), "registry_id", p.RegistryID())
		}
	}
	writerDone := make(chan struct{})
	go f.writer(writerDone)

	backoff := f.cfg.BackoffMin
	for ctx.Err() == nil {
		progressed, err := f.session(ctx)
		if ctx.Err() != nil {
			break
		}
		f.cutOff()
		// A snapshot that runs into an anomaly again is no progress: back
		// off rather than reload in a loop.
		if progressed && !errors.Is(err, projection.ErrAnomaly) {
			backoff = f.cfg.BackoffMin
		}
		rev, isCompacted := compacted(err)
		if isCompacted {
			f.log.Warn("registry compacted past the applied revision; loading a snapshot",
				"applied", f.live.Revision(), "compacted", rev)
			f.needBootstrap = true
		}
		if isCompacted || errors.Is(err, errRegistryReplaced) {
			if progressed {
				continue
			}
			// Again without progress: back off like any failure rather
			// than loop on snapshots.
		}
		f.stats.reconnects.Inc()
		wait := backoff/2 + rand.N(backoff/2+1) // jitter spreads replicas' retries
		f.log.Warn("registry feed interrupted; reconnecting", "err", err, "applied", f.live.Revision(), "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, f.cfg.BackoffMax)
	}

	f.readyMu.Lock()
	if f.staleTimer != nil {
		f.staleTimer.Stop()
		f.staleTimer = nil
	}
	f.readyMu.Unlock()
	close(f.saves)
	<-writerDone
	if f.store != nil && f.live.Loaded() {
		if f.saveFailed.Load() {
			f.live.MarkFull()
		}
		if d, ok := f.live.Delta(); ok {
			if err := f.save(d); err != nil {
				return fmt.Errorf("final checkpoint: %w", err)
			}
			f.log.Info("checkpoint saved at shutdown", "revision", d.Revision)
		}
	}
	return nil
}

// errRegistryBehind is returned when the registry reports a revision below
// the one applied: it was restored from an older copy.
var errRegistryBehind = errors.New("the registry is behind the applied revision")

// errRegistryReplaced is returned when the registry's id differs from the
// projection's: its database was replaced, and revisions of the two are
// unrelated.
var errRegistryReplaced = errors.New("the registry's database was replaced")

// sameRegistry reports whether id, the registry's id on a feed answer, is
// the projection's; if not it logs, marks the projection for a rebuild and
// returns false.
func (f *Follower) sameRegistry(id string) bool {
	applied := f.live.RegistryID()
	if id == applied {
		return true
	}
	f.head.Store(0) // another database's head
	if applied == "" {
		f.log.Warn("the checkpoint does not say which registry database it reflects; loading a snapshot",
			"registry_id", id, "applied", f.live.Revision())
	} else {
		f.log.Error("the registry's database was replaced (its id changed); loading a snapshot",
			"registry_id", id, "applied_registry_id", applied, "applied", f.live.Revision())
	}
	f.rebuild()
	return false
}

// session loads a snapshot if needed, then watches from the applied
// revision + 1 until the stream fails. progressed reports whether anything
// was applied.
func (f *Follower) session(ctx context.Context) (progressed bool, err error) {
	if !f.live.Loaded() || f.needBootstrap {
		if err := f.bootstrap(ctx); err != nil {
			return false, err
		}
		f.needBootstrap, progressed = false, true
	}
	from := f.live.Revision() + 1
	// The registry's current revision tells when the replay has caught up;
	// the same call reports a compacted start before the watch begins.
	head, err := f.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: from, PageSize: 1})
	if err != nil {
		return progressed, err
	}
	if !f.sameRegistry(head.GetRegistryId()) {
		return progressed, errRegistryReplaced
	}
	f.noteHead(head.GetRevision())
	if head.GetRevision() < from-1 {
		f.log.Error("registry revision is below the applied revision; loading a snapshot",
			"registry", head.GetRevision(), "applied", from-1)
		f.rebuild()
		return progressed, errRegistryBehind
	}
	if from-1 >= head.GetRevision() {
		f.markReady()
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.client.WatchChanges(wctx, &registryv1.WatchChangesRequest{StartRevision: from})
	if err != nil {
		return progressed, err
	}
	f.log.Info("watching the registry", "from", from, "registry", head.GetRevision())
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("watch stream ended")
			}
			return progressed, err
		}
		if !f.sameRegistry(resp.GetRegistryId()) {
			return progressed, errRegistryReplaced
		}
		f.noteHead(resp.GetRevision())
		if err := f.live.Apply(ctx, resp.GetChanges(), resp.GetRevision()); err != nil {
			if errors.Is(err, projection.ErrAnomaly) {
				f.stats.anomalies.Inc()
				f.log.Error("the change feed does not fit the projection; reloading from a registry snapshot",
					"err", err, "registry_id", f.live.RegistryID())
				f.rebuild()
			}
			return progressed, err
		}
		progressed = true
		f.stats.observe(resp.GetChanges(), f.cfg.Now())
		f.changesUnsaved += int64(len(resp.GetChanges()))
		if f.live.Revision() >= head.GetRevision() || len(resp.GetChanges()) == 0 {
			f.markReady()
		}
		f.maybeCheckpoint(false)
	}
}

// noteHead records rev as reached by the registry.
func (f *Follower) noteHead(rev int64) {
	for {
		cur := f.head.Load()
		if rev <= cur || f.head.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// headCheckTimeout bounds CheckCommitted's call to the registry.
const headCheckTimeout = time.Second

// CheckCommitted is the projection's head check (Live.SetHeadCheck): it
// returns a metrics.RevisionNotCommitted error when revision is past the
// registry's last committed revision, asking the registry when the feed
// has not reported that revision yet. It returns nil when revision is
// committed, and when the registry cannot tell in time (unreachable, slow):
// the read then waits as usual.
func (f *Follower) CheckCommitted(ctx context.Context, revision int64) error {
	if revision <= f.head.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, headCheckTimeout)
	defer cancel()
	resp, err := f.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: revision, PageSize: 1})
	if err != nil {
		return nil // OUT_OF_RANGE (compacted: committed long ago) included
	}
	head := resp.GetRevision()
	if resp.GetRegistryId() == f.live.RegistryID() {
		f.noteHead(head)
	}
	if revision > head {
		return metrics.RevisionNotCommitted(revision, head)
	}
	return nil
}

// bootstrap replaces the projection with one loaded from a snapshot.
func (f *Follower) bootstrap(ctx context.Context) error {
	start := f.cfg.Now()
	p, err := Snapshot(ctx, f.client, f.cfg.FullSnapshot, nil)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	// Counted before the projection is published: whoever sees its
	// figures (a test, a dashboard) sees the load counted too.
	f.stats.bootstraps.Inc()
	if err := f.live.Replace(ctx, p); err != nil {
		return err
	}
	f.log.Info("loaded registry snapshot", "revision", p.Revision(), "registry_id", p.RegistryID(),
		"entities", p.Summary().Entities, "took", f.cfg.Now().Sub(start))
	f.markReady()
	f.changesUnsaved = 0
	f.maybeCheckpoint(true)
	return nil
}

// Snapshot reads a registry snapshot into a fresh projection, which takes
// the registry's id. atRevision, if not nil, is called with the snapshot's
// revision and registry id as soon as the first message arrives; an error
// from it ends the read. full asks for names (for search): the named view,
// or the full one from a registry older than it; else the aggregate view.
func Snapshot(ctx context.Context, client registryv1.RegistryServiceClient, full bool, atRevision func(revision int64, registryID string) error) (*projection.Projection, error) {
	view := registryv1.SnapshotView_SNAPSHOT_VIEW_AGGREGATE
	if full {
		view = registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED
	}
	p, err := snapshot(ctx, client, view, atRevision)
	if full && status.Code(err) == codes.InvalidArgument {
		// A registry older than the named view refuses it before sending
		// anything: the full view carries the names too.
		p, err = snapshot(ctx, client, registryv1.SnapshotView_SNAPSHOT_VIEW_FULL, atRevision)
	}
	return p, err
}

func snapshot(ctx context.Context, client registryv1.RegistryServiceClient, view registryv1.SnapshotView, atRevision func(revision int64, registryID string) error) (*projection.Projection, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{View: view})
	if err != nil {
		return nil, err
	}
	msgs, received := receive(ctx, stream)
	defer func() {
		cancel()
		<-received // nothing of the stream goes on once the snapshot returns
	}()
	l := projection.NewLoader()
	var registryID string
	for first := true; ; first = false {
		r := <-msgs
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				r.err = errors.New("snapshot stream ended before its last message")
			}
			return nil, r.err
		}
		msg := r.msg
		if first {
			registryID = msg.GetRegistryId()
			if atRevision != nil {
				if err := atRevision(msg.GetRevision(), registryID); err != nil {
					return nil, err
				}
			}
		} else if msg.GetRegistryId() != registryID {
			return nil, fmt.Errorf("snapshot: the registry id changed from %q to %q within one snapshot", registryID, msg.GetRegistryId())
		}
		for _, r := range msg.GetResources() {
			l.Add(r)
		}
		if msg.GetComplete() {
			p := l.Finish(msg.GetRevision())
			p.SetRegistryID(registryID)
			return p, nil
		}
	}
}

// snapshotAhead is how many snapshot messages may be decoded ahead of the
// one being loaded.
const snapshotAhead = 4

type received struct {
	msg *registryv1.StreamSnapshotResponse
	err error
}

// receive decodes stream's messages in a goroutine of its own, up to
// snapshotAhead ahead: unmarshalling a message and loading the one before
// take about as long, and a bootstrap would do them one after the other on
// a machine with a core to spare. The last value holds an error (io.EOF
// at the stream's end); the goroutine ends with it, or with ctx, and then
// closes done.
func receive(ctx context.Context, stream grpc.ServerStreamingClient[registryv1.StreamSnapshotResponse]) (msgs <-chan received, done <-chan struct{}) {
	out := make(chan received, snapshotAhead)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			msg, err := stream.Recv() // a fresh message each time: handed over, not reused
			select {
			case out <- received{msg, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out, ended
}

// maybeCheckpoint hands a Delta to the writer when one is due (force: now)
// and the previous one is written. A failed checkpoint is due again once
// the interval has passed since it was handed over, changes or not.
func (f *Follower) maybeCheckpoint(force bool) {
	if f.store == nil || f.saving.Load() {
		return
	}
	if (force || f.fullDue) && f.live.SearchBuilding() {
		// The first checkpoint after a bootstrap writes everything; the
		// search index of the same bootstrap is being built meanwhile.
		// One after the other, their memory peaks do not add up: it is
		// taken once the index is built (the feed's progress messages
		// call here while no changes come).
		f.fullDue = true
		return
	}
	if f.fullDue { // and the index is built now
		force, f.fullDue = true, false
	}
	now := f.cfg.Now()
	unsaved := f.live.Revision() != f.savedRev.Load() || f.saveFailed.Load()
	due := force || f.changesUnsaved >= f.cfg.CheckpointEvery ||
		(unsaved && now.Sub(f.lastSave) >= f.cfg.CheckpointInterval)
	if !due {
		return
	}
	if f.saveFailed.Swap(false) {
		f.live.MarkFull() // the failed Delta's changes were never written
	}
	d, ok := f.live.Delta()
	if !ok {
		return
	}
	f.saving.Store(true)
	f.saves <- d
	f.lastSave, f.changesUnsaved = now, 0
}

// writer saves Deltas in the background so that applying goes on meanwhile.
func (f *Follower) writer(done chan<- struct{}) {
	defer close(done)
	for d := range f.saves {
		if err := f.save(d); err != nil {
			f.log.Error("checkpoint failed; the next one rewrites everything", "err", err)
			f.saveFailed.Store(true)
		} else {
			f.savedRev.Store(d.Revision)
		}
		f.saving.Store(false)
	}
}

func (f *Follower) save(d projection.Delta) error {
	start := f.cfg.Now()
	d.Encode() // here, off the applier: Live.Delta leaves it for later
	err := f.store.Save(d)
	if err != nil {
		f.stats.checkpointFailures.Inc()
		return err
	}
	took := f.cfg.Now().Sub(start)
	f.stats.checkpointSeconds.Observe(took.Seconds())
	f.log.Debug("checkpoint saved", "revision", d.Revision, "full", d.Full, "puts", len(d.Put),
		"deletes", len(d.Delete), "took", took)
	return nil
}

// compacted reports whether err is the registry's OUT_OF_RANGE for a
// compacted start revision, and the compacted revision when it says.
func compacted(err error) (int64, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.OutOfRange {
		return 0, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			var rev int64
			_, _ = fmt.Sscan(info.GetMetadata()["compacted_revision"], &rev)
			return rev, true
		}
	}
	return 0, true
}
