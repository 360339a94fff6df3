// Package bolt stores the registry in one bbolt file: resources, their
// secondary indexes and the change log, each mutation in one transaction,
// concurrent mutations group-committed behind one fsync.
package bolt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/platform/boltfile"
	"talentreg/services/registry"
)

// Options tune a Store. The zero value of each field means its default.
type Options struct {
	// Timeout bounds the wait for the file lock (default 1 s): a second
	// process opening the same file fails fast instead of hanging.
	Timeout time.Duration
	// InitialMmapSize is mapped up front (default 4 GiB of address space,
	// not memory) so that long read transactions such as snapshots never
	// block a writer that needs to grow the map.
	InitialMmapSize int
	// RetainChanges is how many change events the log keeps (default
	// 1,000,000); older ones are compacted.
	RetainChanges int64
	// MaxBatch caps how many queued mutations share one commit (default
	// 1024).
	MaxBatch int
	// GroupCommitWait is the longest the writer waits for more mutations
	// when fewer are queued than the previous commit carried (default
	// 300µs, negative: never). See commitLoop.
	GroupCommitWait time.Duration
	// NoSync skips fsync: only for explicit bulk loads that are redone
	// from scratch on failure. Never for serving.
	NoSync bool
	// Clock returns the commit time (default time.Now).
	Clock func() time.Time
	// RestoreBackup serves a backup file (see BackupMark): Open gives it a
	// new id before anything reads it. Without it a backup file opens as
	// it is, for checking or compacting.
	RestoreBackup bool
	// MustExist refuses a missing or empty file instead of creating one
	// (the offline tools).
	MustExist bool
}

func (o *Options) defaults() {
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.InitialMmapSize == 0 {
		o.InitialMmapSize = 4 << 30
	}
	if o.RetainChanges == 0 {
		o.RetainChanges = 1_000_000
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 1024
	}
	if o.GroupCommitWait == 0 {
		o.GroupCommitWait = 300 * time.Microsecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Errors returned by Open and by calls on a closed store.
var (
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("database file is locked by another process")
	// ErrForeign is returned by Open for a bbolt file that is not a
	// talentreg registry database.
	ErrForeign = errors.New("not a talentreg registry database")
	// ErrCorrupt is returned by Open for a damaged or truncated file; the
	// message says what is wrong.
	ErrCorrupt = boltfile.ErrCorrupt
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = registry.ErrStoreClosed
)

// Store is the bbolt implementation of registry.Store.
type Store struct {
	db   *bbolt.DB
	opts Options

	ops     chan *op
	closing chan struct{}
	loopEnd chan struct{}
	closeMu sync.Once
	// queueMu is held shared while an op is queued and exclusively while
	// closing is closed, so that no op lands after the loop has drained.
	queueMu sync.RWMutex

	revision  atomic.Int64
	compacted atomic.Int64
	commits   atomic.Int64 // write transactions that committed changes
	tokenKey  []byte
	id        string

	// backup and restoredFrom are the file's marks (backup.go).
	backup, restoredFrom *BackupMark
	restoredAtOpen       bool

	commitMu sync.Mutex
	commitCh chan struct{}
}

var _ registry.Store = (*Store)(nil)

// Open opens or creates the registry database at path (with
// Options.MustExist, only opens). Before bbolt reads the file, its size is
// checked against the pages its meta page counts and every page of its
// B+tree is walked (boltfile.Verify): a truncated or damaged file is
// refused with an error wrapping ErrCorrupt, a foreign one with
// ErrForeign, a locked one with ErrLocked, and is left untouched. Errors
// of opening the file itself (permission, missing with MustExist) are the
// os errors, not "corrupt". The values of records are not decoded here:
// Check does that.
func Open(path string, opts Options) (s *Store, err error) {
	opts.defaults()
	switch fi, serr := os.Stat(path); {
	case errors.Is(serr, os.ErrNotExist) && !opts.MustExist:
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
	case serr != nil:
		return nil, serr
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory", path)
	}
	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	s = &Store{
		db: db, opts: opts,
		ops:      make(chan *op, 4*opts.MaxBatch),
		closing:  make(chan struct{}),
		loopEnd:  make(chan struct{}),
		commitCh: make(chan struct{}),
	}
	// A file without any bucket is fresh: just created, or left by a
	// crash between creating it and committing the layout.
	var empty bool
	if err = db.View(func(tx *bbolt.Tx) error {
		empty = tx.ForEach(func([]byte, *bbolt.Bucket) error { return errStop }) == nil
		return nil
	}); err == nil && empty {
		err = db.Update(initialize)
	}
	var format string
	if err == nil {
		err = db.View(func(tx *bbolt.Tx) error {
			if meta := tx.Bucket(bucketMeta); meta != nil {
				format = string(meta.Get(keyFormat))
			}
			return nil
		})
	}
	if err == nil && format == formatV1 {
		err = db.Update(migrateV2)
	}
	if err == nil {
		err = db.View(s.load)
	}
	if err == nil && opts.RestoreBackup && s.backup != nil {
		err = db.Update(s.restore)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

var errStop = errors.New("stop")

// openBolt opens the file with the settings DESIGN.md asks for, through
// boltfile.Opener (lock, then verify, then map), turning bbolt's errors
// into clear ones.
func openBolt(path string, opts Options) (db *bbolt.DB, err error) {
	defer func() {
		// Verify should leave bbolt nothing to panic on; if it ever does,
		// the file is still refused, not the process ended.
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, p)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         opts.Timeout,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: opts.InitialMmapSize,
		NoSync:          opts.NoSync,
		OpenFile:        boltfile.Opener{Timeout: opts.Timeout, MustExist: opts.MustExist}.OpenFile,
	})
	switch {
	case errors.Is(err, boltfile.ErrLocked), errors.Is(err, bbolt.ErrTimeout):
		return nil, fmt.Errorf("%s: %w (is another registry running?)", path, ErrLocked)
	case errors.Is(err, boltfile.ErrEmpty):
		return nil, fmt.Errorf("%s: %w: the file is empty", path, ErrForeign)
	case errors.Is(err, boltfile.ErrCorrupt):
		return nil, fmt.Errorf("%s: %w", path, err)
	case errors.Is(err, bbolt.ErrInvalid), errors.Is(err, bbolt.ErrChecksum), errors.Is(err, bbolt.ErrVersionMismatch):
		return nil, fmt.Errorf("%s: %w: %w", path, ErrCorrupt, err)
	case err != nil:
		return nil, err // the os error names the file and says why: permission, missing, …
	}
	return db, nil
}

func initialize(tx *bbolt.Tx) error {
	for _, name := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	for k, v := range map[string][]byte{
		string(keyFormat): []byte(formatV2), string(keyID): []byte(newDatabaseID()), string(keyRevision): revKey(0),
		string(keyCompacted): revKey(0), string(keyTokenKey): key,
	} {
		if err := meta.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func allBuckets() [][]byte {
	names := [][]byte{bucketMeta, bucketChanges, bucketCreditCodes, bucketRequests, bucketRequestLog,
		bucketActors, bucketByActor, bucketByName}
	for _, c := range registry.Collections {
		names = append(names, schemas[c].primary, schemas[c].index)
	}
	return names
}

// load checks the format and reads the counters.
func (s *Store) load(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || string(meta.Get(keyFormat)) != formatV2 {
		return ErrForeign
	}
	for _, name := range allBuckets() {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: bucket %q is missing", ErrForeign, name)
		}
	}
	rev, comp, key, id := meta.Get(keyRevision), meta.Get(keyCompacted), meta.Get(keyTokenKey), meta.Get(keyID)
	if len(rev) != 8 || len(comp) != 8 || len(key) != 32 || len(id) == 0 {
		return fmt.Errorf("%w: damaged meta bucket", ErrForeign)
	}
	if err := s.loadMarks(meta); err != nil {
		return err
	}
	s.id = string(id)
	s.revision.Store(revFromKey(rev))
	s.compacted.Store(revFromKey(comp))
	s.tokenKey = append([]byte(nil), key...)
	return nil
}

// Close stops accepting mutations, commits those already queued, and
// closes the file.
func (s *Store) Close() error {
	s.closeMu.Do(func() {
		s.queueMu.Lock()
		close(s.closing)
		s.queueMu.Unlock()
	})
	<-s.loopEnd
	return s.db.Close()
}

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

// TokenKey returns a secret kept in the file, for signing page tokens so
// they survive restarts and cannot be forged.
func (s *Store) TokenKey() []byte { return s.tokenKey }

// Revision returns the last committed revision.
func (s *Store) Revision() int64 { return s.revision.Load() }

// Commits returns how many write transactions have committed changes
// since Open; with Revision it shows how many writes each fsync served.
func (s *Store) Commits() int64 { return s.commits.Load() }

// CompactedRevision returns the highest revision removed from the log.
func (s *Store) CompactedRevision() int64 { return s.compacted.Load() }

// Committed returns a channel that is closed at the next commit.
func (s *Store) Committed() <-chan struct{} {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.commitCh
}

func (s *Store) broadcast() {
	s.commitMu.Lock()
	close(s.commitCh)
	s.commitCh = make(chan struct{})
	s.commitMu.Unlock()
}

// OpenReadTxs returns how many read transactions are open (snapshots
// among them).
func (s *Store) OpenReadTxs() int { return s.db.Stats().OpenTxN }

// Durable reports whether commits are fsynced (Options.NoSync unset).
func (s *Store) Durable() bool { return !s.db.NoSync }

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bbolt.Tx) error) error {
	select {
	case <-s.closing:
		return ErrClosed
	default:
	}
	return s.db.View(fn)
}
