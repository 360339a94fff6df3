// Package kvstore is the registry's storage rules over any kv.Store engine:
// records and their secondary indexes, reference checks and cascades,
// credit-code uniqueness, request-id replay, the revision counter and the
// change log with its audit trail. Each mutation is one kv transaction
// that reads and bumps the revision counter, so mutations are serializable
// whatever the engine: bbolt (one writer, group commit) or etcd (any
// number of registry replicas, optimistic transactions).
package kvstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// Options tune a Store. The zero value of each field means its default.
type Options struct {
	// RetainChanges is how many change events the log keeps (default
	// 1,000,000); older ones are compacted.
	RetainChanges int64
	// Clock returns the commit time (default time.Now).
	Clock func() time.Time
	// RestoreBackup serves a backup (see BackupMark): Open gives it a new
	// id before anything reads it. Without it a backup opens as it is, for
	// checking or compacting.
	RestoreBackup bool
	// ReadOnly opens the store without initialising or migrating it (a
	// format-2 store, even half migrated, is then read as it is).
	ReadOnly bool

	// migrateBatch is how many change-log entries (format 3) or
	// records (format 4) one migration transaction converts (default:
	// migrateBatchSize); tests make it small.
	migrateBatch int
}

func (o *Options) defaults() {
	if o.RetainChanges == 0 {
		o.RetainChanges = 1_000_000
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Errors returned by Open and by calls on a closed store.
var (
	// ErrForeign is returned by Open for an engine holding data that is not
	// a talentreg registry.
	ErrForeign = errors.New("not a talentreg registry database")
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = registry.ErrStoreClosed
)

// Store implements registry.Store over a kv engine.
type Store struct {
	kv   kv.Store
	opts Options

	revision  atomic.Int64 // the last revision known committed
	compacted atomic.Int64
	tokenKey  []byte
	id        string
	format    string
	// refs: change entries name the stored record instead of copying it
	// (see nameRecords).
	refs bool

	// backup and restoredFrom are the database's marks (backup.go).
	backup, restoredFrom *BackupMark
	restoredAtOpen       bool

	// commitCh is closed (and replaced) whenever revision rises, so that
	// a reader woken by it finds Revision already there.
	commitMu sync.Mutex
	commitCh chan struct{}
	// tail keeps the latest changes for the feed (tail.go); nil unless
	// every commit is this Store's.
	tail *tail

	closeOnce sync.Once
	closed    chan struct{}
	followEnd chan struct{}
}

var _ registry.Store = (*Store)(nil)

// Open opens the registry held by engine, initialising an empty one and
// migrating an older format. The Store owns the engine: Close closes it.
// An engine holding anything else is refused with ErrForeign.
func Open(ctx context.Context, engine kv.Store, opts Options) (*Store, error) {
	opts.defaults()
	s := &Store{kv: engine, opts: opts, refs: nameRecords(engine), commitCh: make(chan struct{}), closed: make(chan struct{}), followEnd: make(chan struct{})}
	format, err := s.readFormat(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case format == "" && opts.ReadOnly:
		return nil, ErrForeign
	case format == "":
		empty, err := engine.Empty(ctx)
		if err != nil {
			return nil, err
		}
		if !empty {
			return nil, ErrForeign
		}
		if err := engine.Update(ctx, initialize); err != nil {
			return nil, err
		}
	case (format == formatV1 || format == formatV2 || format == formatV3) && !opts.ReadOnly:
		if format == formatV1 {
			if err := engine.Update(ctx, migrateV2); err != nil {
				return nil, err
			}
		}
		if format != formatV3 {
			if err := migrateV3(ctx, engine, opts.migrateBatch, s.refs); err != nil {
				return nil, fmt.Errorf("migrating to %s: %w", formatV3, err)
			}
		}
		if err := migrateV4(ctx, engine, opts.migrateBatch); err != nil {
			return nil, fmt.Errorf("migrating to %s: %w", formatV4, err)
		}
	}
	if err := engine.View(ctx, s.load); err != nil {
		return nil, err
	}
	if opts.RestoreBackup && s.backup != nil {
		if err := engine.Update(ctx, s.restore); err != nil {
			return nil, err
		}
	}
	if sw, ok := engine.(kv.SoleWriter); ok && sw.SoleWriter() {
		if !opts.ReadOnly {
			s.tail = newTail(s.revision.Load())
		}
		close(s.followEnd) // every commit is ours: noted as it returns
	} else {
		go s.follow()
	}
	return s, nil
}

// Format returns the store's file format, e.g. "talentreg-registry/4"
// (always 4 unless opened ReadOnly).
func (s *Store) Format() string { return s.format }

// nameRecords reports whether change entries on engine may name the
// stored record (v3) instead of copying it: reading one back costs a
// point read per change, cheap in bbolt's memory map but a round trip on
// an engine with transaction limits (etcd), where a page of the feed
// would make one per change. Either way the latest change of a record is
// left out of changes.by_name; both kinds of entry are read everywhere.
func nameRecords(engine kv.Store) bool { return kv.LimitsOf(engine).Ops == 0 }

// format reads the meta format key ("" when absent).
func (s *Store) readFormat(ctx context.Context) (string, error) {
	var format string
	err := s.kv.View(ctx, func(r kv.Reader) error {
		v, err := r.Get(bucketMeta, keyFormat)
		format = string(v)
		return err
	})
	return format, err
}

// initialize writes the meta keys of a new registry. Two replicas may race
// to do it on an empty etcd prefix: the transaction reads the format key
// first, so the loser re-runs, finds it and leaves it.
func initialize(t kv.Txn) error {
	if v, err := t.Get(bucketMeta, keyFormat); err != nil || v != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	for k, v := range map[string][]byte{
		string(keyFormat): []byte(formatV4), string(keyID): []byte(newDatabaseID()), string(keyHead): revKey(0),
		string(keyCompacted): revKey(0), string(keyTokenKey): key,
	} {
		if err := t.Put(bucketMeta, []byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// load checks the format and reads the counters.
func (s *Store) load(r kv.Reader) error {
	get := func(k []byte) []byte {
		v, err := r.Get(bucketMeta, k)
		if err != nil {
			return nil
		}
		return append([]byte(nil), v...)
	}
	s.format = string(get(keyFormat))
	if s.format != formatV4 && (s.format != formatV3 && s.format != formatV2 || !s.opts.ReadOnly) {
		return ErrForeign
	}
	rev, err := headRevision(r)
	if err != nil {
		return err
	}
	rev = append([]byte(nil), rev...)
	comp, key, id := get(keyCompacted), get(keyTokenKey), get(keyID)
	if len(rev) != 8 || len(comp) != 8 || len(key) != 32 || len(id) == 0 {
		return fmt.Errorf("%w: damaged meta bucket", ErrForeign)
	}
	if err := s.loadMarks(get); err != nil {
		return err
	}
	s.id = string(id)
	s.noteCommitted(revFromKey(rev), revFromKey(comp), false)
	s.tokenKey = key
	return nil
}

// follow keeps Revision and CompactedRevision up to date with commits of
// other writers (other registry replicas on a shared engine) until Close.
func (s *Store) follow() {
	defer close(s.followEnd)
	for {
		select {
		case <-s.closed:
			return
		case <-s.kv.Committed():
		}
		// Woken by a commit, the refresh needs only what woke it. An
		// engine that cannot answer now is asked again shortly: the commit
		// that woke us must not go unnoticed.
		for s.refresh() != nil {
			select {
			case <-s.closed:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// refresh reads the committed and compacted revisions from the engine.
func (s *Store) refresh() error {
	ctx, cancel := context.WithTimeout(kv.Relaxed(context.Background()), 10*time.Second)
	defer cancel()
	return s.kv.View(ctx, func(r kv.Reader) error {
		rev, err := headRevision(r)
		if err != nil || len(rev) != 8 {
			return err
		}
		comp, err := r.Get(bucketMeta, keyCompacted)
		if err != nil || len(comp) != 8 {
			return err
		}
		s.noteCommitted(revFromKey(rev), revFromKey(comp), false)
		return nil
	})
}

// noteCommitted raises the known revision and compacted revision, and
// wakes the Committed waiters when the revision rose or the tail's run of
// changes grew (tailGrew).
func (s *Store) noteCommitted(rev, compacted int64, tailGrew bool) {
	raise(&s.compacted, compacted)
	if raise(&s.revision, rev) || tailGrew {
		s.commitMu.Lock()
		close(s.commitCh)
		s.commitCh = make(chan struct{})
		s.commitMu.Unlock()
	}
}

// raise raises a to v and reports whether it did.
func raise(a *atomic.Int64, v int64) bool {
	for {
		cur := a.Load()
		if v <= cur {
			return false
		}
		if a.CompareAndSwap(cur, v) {
			return true
		}
	}
}

// Close stops accepting mutations, waits for those already queued, and
// closes the engine.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.kv.Close()
		<-s.followEnd
	})
	return err
}

// Engine returns the engine the Store runs on.
func (s *Store) Engine() kv.Store { return s.kv }

// ID returns the database's identity, made at creation and made anew when
// a backup of it is restored (Options.RestoreBackup): revisions of two
// databases with different ids are unrelated, so a consumer that sees the
// id change must start over from a snapshot.
func (s *Store) ID() string { return s.id }

// newDatabaseID returns 128 random bits in hex.
func newDatabaseID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux (crypto/rand contract)
	return hex.EncodeToString(b)
}

// TokenKey returns a secret kept in the database, for signing page tokens
// so they survive restarts (and work on every replica) and cannot be
// forged.
func (s *Store) TokenKey() []byte { return s.tokenKey }

// Revision returns the last committed revision this Store knows of: its
// own commits at once, other writers' once the engine has signalled them.
func (s *Store) Revision() int64 { return s.revision.Load() }

// CompactedRevision returns the highest revision removed from the log.
func (s *Store) CompactedRevision() int64 { return s.compacted.Load() }

// Committed returns a channel that is closed at the next commit, once
// Revision includes it.
func (s *Store) Committed() <-chan struct{} {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.commitCh
}

// view runs fn on one snapshot.
func (s *Store) view(ctx context.Context, fn func(kv.Reader) error) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if registry.IsTailing(ctx) {
		ctx = kv.Relaxed(ctx)
	}
	return engineError(s.kv.View(ctx, fn))
}

// engineError maps the engine's sentinel errors to the registry's.
func engineError(err error) error {
	switch {
	case errors.Is(err, kv.ErrClosed):
		return ErrClosed
	case errors.Is(err, kv.ErrUnavailable):
		return fmt.Errorf("%w: %w", registry.ErrStorageUnavailable, err)
	case errors.Is(err, kv.ErrTooLarge):
		return &registry.Error{Code: registry.CodeFailedPrecondition, Reason: registry.ReasonTransactionTooLarge,
			Message: "the change is too large for one transaction of the storage engine (etcd's --max-txn-ops or --max-request-bytes): make it in smaller steps (e.g. delete a group's memberships in batches before the group)"}
	}
	return err
}
