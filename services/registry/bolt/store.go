// Package bolt is the registry's embedded storage engine: kv.Store on one
// bbolt file, every bucket a bbolt bucket, concurrent transactions
// group-committed behind one fsync. It knows nothing of the registry's
// rules (package kvstore holds them); what it adds is what only a file
// can do: refusing a damaged file before mapping it, consistent copies
// for backups, page checks and space accounting.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/platform/boltfile"
	"talentreg/services/registry/kv"
)

// Options tune a DB. The zero value of each field means its default.
type Options struct {
	// Buckets are the buckets the engine serves; Append buckets are packed
	// full (their keys only grow at the end).
	Buckets []kv.BucketSpec
	// Timeout bounds the wait for the file lock (default 1 s): a second
	// process opening the same file fails fast instead of hanging.
	Timeout time.Duration
	// InitialMmapSize is mapped up front (default 4 GiB of address space,
	// not memory) so that long read transactions such as snapshots never
	// block a writer that needs to grow the map.
	InitialMmapSize int
	// MaxBatch caps how many queued transactions share one commit (default
	// 1024).
	MaxBatch int
	// GroupCommitWait is the longest the writer waits for more
	// transactions when fewer are queued than the previous commit carried
	// (default 300µs, negative: never). See commitLoop.
	GroupCommitWait time.Duration
	// NoSync skips fsync: only for explicit bulk loads that are redone
	// from scratch on failure. Never for serving.
	NoSync bool
	// MustExist refuses a missing or empty file instead of creating one
	// (the offline tools).
	MustExist bool
	// ReadOnly opens the file without writing to it.
	ReadOnly bool
	// PageSize of a new file (default: the OS page size).
	PageSize int
	// NoFreelistSync leaves the free list out of commits (bbolt rebuilds
	// it by scanning at open).
	NoFreelistSync bool
	// NoGrowSync skips the fsync after the file grows.
	NoGrowSync bool
	// ArrayFreelist uses bbolt's array free list instead of the hashmap.
	ArrayFreelist bool

	// WAL puts a write-ahead log in front of the file (see wal.go): a
	// commit is durable once its write set is appended to the log and
	// fdatasynced; bbolt commits without fsync and is checkpointed in the
	// background. Without WAL, a log left in WALDir is still applied at
	// Open (and then removed), so the file is never read stale.
	WAL bool
	// WALDir is the log's folder (default DefaultWALDir: beside the file).
	WALDir string
	// CheckpointInterval is the longest a log record waits for its
	// checkpoint (default 30 s); CheckpointBytes the log's size that
	// starts one sooner (default 64 MiB), as do 4 × as many bytes (at
	// least 16 MiB) of pages held back from reuse by the checkpoint's pin:
	// the file grows by about that much between checkpoints. Recovery
	// replays at most about CheckpointBytes of log.
	CheckpointInterval time.Duration
	CheckpointBytes    int64
	// Copy opens a copy of a database file (a backup): its binding to the
	// log of the file it was copied from is dropped, that log is not
	// looked for.
	Copy bool
	// Crash, if set, is called at the log's fault points (crash tests
	// only): "torn" and "synced" in an append, "committed" after bbolt's
	// commit, "checkpoint-pinned", "-synced", "-written", "-done".
	Crash func(point string)
}

func (o *Options) defaults() {
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.InitialMmapSize == 0 {
		o.InitialMmapSize = 4 << 30
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 1024
	}
	if o.GroupCommitWait == 0 {
		o.GroupCommitWait = 300 * time.Microsecond
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 30 * time.Second
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = 64 << 20
	}
}

// Errors returned by Open.
var (
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("database file is locked by another process")
	// ErrCorrupt is returned by Open for a damaged or truncated file; the
	// message says what is wrong.
	ErrCorrupt = boltfile.ErrCorrupt
	// ErrEmpty is returned by Open with MustExist for an empty file.
	ErrEmpty = boltfile.ErrEmpty
)

// DB is kv.Store on a bbolt file.
type DB struct {
	db    *bbolt.DB
	opts  Options
	names map[kv.Bucket][]byte
	fill  map[kv.Bucket]float64

	ops     chan *op
	closing chan struct{}
	loopEnd chan struct{}
	closeMu sync.Once
	// queueMu is held shared while an op is queued and exclusively while
	// closing is closed, so that no op lands after the loop has drained.
	queueMu sync.RWMutex

	commits atomic.Int64 // write transactions that committed changes

	commitMu sync.Mutex
	commitCh chan struct{}

	log       *logState  // nil without Options.WAL
	mapped    int64      // the address space mapped at open (mapSize)
	recovered *Recovered // what Open replayed, nil if nothing

	lazy // with the log: bbolt's transaction left open across groups
}

var (
	_ kv.Store          = (*DB)(nil)
	_ kv.BucketSizer    = (*DB)(nil)
	_ kv.SnapshotWriter = (*DB)(nil)
	_ kv.SoleWriter     = (*DB)(nil)
)

// SoleWriter implements kv.SoleWriter: the file is locked, no other
// process writes it while d is open.
func (d *DB) SoleWriter() bool { return !d.opts.ReadOnly }

// Open opens or creates the database file at path (with MustExist, only
// opens). Before bbolt reads the file, its size is checked against the
// pages its meta page counts and every page of its B+tree is walked
// (boltfile.Verify): a truncated or damaged file is refused with an error
// wrapping ErrCorrupt, a locked one with ErrLocked, and is left untouched.
// Errors of opening the file itself (permission, missing with MustExist)
// are the os errors, not "corrupt".
func Open(path string, opts Options) (*DB, error) {
	opts.defaults()
	switch fi, serr := os.Stat(path); {
	case errors.Is(serr, os.ErrNotExist) && !opts.MustExist && !opts.ReadOnly:
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
	case serr != nil:
		return nil, serr
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory", path)
	}
	opts.InitialMmapSize = mapSize(path, opts)
	var db *bbolt.DB
	var rec *Recovered
	var err error
	if opts.Copy {
		db, err = openBolt(path, opts, nil)
	} else {
		db, rec, err = recoverLog(path, opts)
	}
	if err != nil {
		return nil, err
	}
	d := &DB{
		db: db, opts: opts, names: map[kv.Bucket][]byte{}, fill: map[kv.Bucket]float64{},
		ops:       make(chan *op, 4*opts.MaxBatch),
		closing:   make(chan struct{}),
		loopEnd:   make(chan struct{}),
		commitCh:  make(chan struct{}),
		lazy:      lazy{flush: make(chan struct{}, 1), visCh: make(chan struct{})},
		recovered: rec,
		mapped:    int64(opts.InitialMmapSize),
	}
	d.setBuckets(opts.Buckets)
	switch {
	case opts.ReadOnly:
	case opts.WAL:
		err = d.startLog()
	default:
		err = d.detachLog(opts.Copy)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: write-ahead log: %w", path, err)
	}
	go d.commitLoop()
	return d, nil
}

// setBuckets declares the buckets and their fill percent.
func (d *DB) setBuckets(specs []kv.BucketSpec) {
	for _, b := range specs {
		d.names[b.Name] = []byte(b.Name)
		// bbolt splits pages at half full by default, which leaves pages
		// that only ever grow at their end (ids, revisions, index runs)
		// half empty: twice the file. Packed full, keys arriving in order
		// fill whole pages; keys arriving at random leave pages 44% full
		// at 1.0 and at 0.9 alike (a node split at either leaves a full
		// page and a nearly empty one; measured, bench/TUNING.md "Format
		// 4"), so full packing costs them nothing.
		d.fill[b.Name] = 1.0
		switch {
		case b.Runs:
			// Each run grows in the middle of a page, before the next
			// run's first keys; a split at f leaves those in a page of
			// 1-f. Measured on the harness's import (1M entities, 3M
			// memberships in 2,000 groups): 277 MiB at 0.7, 227 at 0.9.
			d.fill[b.Name] = 0.9
		case b.Scattered:
			// Keys landing all over a page packed at 90% split it into a
			// full page and a nearly empty one, again and again: measured
			// on an import of 100k entities (changes.by_name, and
			// memberships before they were Runs), pages were half full at
			// 0.9 and two thirds at 0.7, and the file 6% smaller.
			d.fill[b.Name] = 0.7
		}
	}
}

// Recovered returns what Open replayed from the write-ahead log after a
// crash, or nil.
func (d *DB) Recovered() *Recovered { return d.recovered }

// openBolt opens the file with the settings DESIGN.md asks for, through
// boltfile.Opener (lock, then verify, then map), turning bbolt's errors
// into clear ones.
func openBolt(path string, opts Options, prepare func(*os.File) error) (db *bbolt.DB, err error) {
	defer func() {
		// Verify should leave bbolt nothing to panic on; if it ever does,
		// the file is still refused, not the process ended.
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, p)
		}
	}()
	freelist := bbolt.FreelistMapType
	if opts.ArrayFreelist {
		freelist = bbolt.FreelistArrayType
	}
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.Timeout,
		FreelistType: freelist,
		PageSize:     opts.PageSize,
		// With the log, the free list is left out of commits: while a
		// checkpoint pins its state, every page freed stays pending, and
		// writing that growing list at each commit cost more than the
		// commit (bench/TUNING.md). bbolt rebuilds it at open.
		NoFreelistSync: opts.NoFreelistSync || opts.WAL,
		// With the log, bbolt does not extend the file ahead of use
		// (truncate to the high-water mark + AllocSize, 16 MiB, and fsync,
		// at each growth): the file grows by the pages its commits write,
		// and is exactly its high-water mark. bbolt writes every page it
		// allocates in the commit that allocates it, so no page it maps
		// lies past the end. What the truncate+fsync gave — the new size
		// durable before a meta page counts the new pages — the log's own
		// syncs give: bbolt's state is only trusted after a crash as of a
		// checkpoint, and a checkpoint fsyncs the file (size included)
		// before it is written (syncFile). Without the log, nothing but
		// bbolt's own commits syncs the file, so bbolt keeps its default.
		NoGrowSync:      opts.NoGrowSync || opts.WAL,
		InitialMmapSize: opts.InitialMmapSize,
		NoSync:          opts.NoSync || opts.WAL, // with the log, checkpoints sync
		ReadOnly:        opts.ReadOnly,
		OpenFile:        boltfile.Opener{Timeout: opts.Timeout, MustExist: opts.MustExist || opts.ReadOnly, Prepare: prepare}.OpenFile,
	})
	switch {
	case errors.Is(err, boltfile.ErrLocked), errors.Is(err, bbolt.ErrTimeout):
		return nil, fmt.Errorf("%s: %w (is another registry running?)", path, ErrLocked)
	case errors.Is(err, boltfile.ErrEmpty):
		return nil, fmt.Errorf("%s: %w", path, err)
	case errors.Is(err, boltfile.ErrCorrupt):
		return nil, fmt.Errorf("%s: %w", path, err)
	case errors.Is(err, bbolt.ErrInvalid), errors.Is(err, bbolt.ErrChecksum), errors.Is(err, bbolt.ErrVersionMismatch):
		return nil, fmt.Errorf("%s: %w: %w", path, ErrCorrupt, err)
	case err != nil:
		return nil, err // the os error names the file and says why: permission, missing, …
	}
	return db, nil
}

// mapSize is the address space bbolt maps at open. With the log, a read
// transaction pins each checkpoint's state, and bbolt cannot grow its map
// while a read transaction is open: the map is made twice the file (at
// least InitialMmapSize), and a commit that would outgrow it is refused
// (see mapHeadroom) instead of waiting for ever.
func mapSize(path string, opts Options) int {
	if !opts.WAL {
		return opts.InitialMmapSize
	}
	size := opts.InitialMmapSize
	if fi, err := os.Stat(path); err == nil && 2*fi.Size() > int64(size) {
		size = int(2 * fi.Size())
	}
	return size
}

// mapHeadroom is how close to the map a file served with the log may grow
// before writes are refused.
const mapHeadroom = 512 << 20

// name returns b's bbolt name.
func (d *DB) name(b kv.Bucket) []byte {
	if n, ok := d.names[b]; ok {
		return n
	}
	return []byte(b)
}

// Close stops accepting transactions, commits those already queued, and
// closes the file.
func (d *DB) Close() error {
	first := false
	d.closeMu.Do(func() {
		first = true
		d.queueMu.Lock()
		close(d.closing)
		d.queueMu.Unlock()
	})
	<-d.loopEnd
	if !first {
		return nil
	}
	var err error
	if d.log != nil {
		err = d.closeLog()
	}
	if cerr := d.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Empty implements kv.Store: a file without any bucket is fresh (just
// created, or left by a crash before its first commit).
func (d *DB) Empty(ctx context.Context) (bool, error) {
	if err := d.awaitVisible(ctx); err != nil {
		return false, err
	}
	empty := true
	err := d.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if bytes.Equal(name, walBucket) {
				return nil // the engine's own
			}
			empty = false
			return errStop
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return empty, err
}

var errStop = errors.New("stop")

// Committed implements kv.Store.
func (d *DB) Committed() <-chan struct{} {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	return d.commitCh
}

func (d *DB) broadcast() {
	d.commitMu.Lock()
	close(d.commitCh)
	d.commitCh = make(chan struct{})
	d.commitMu.Unlock()
}

// View implements kv.Store.
func (d *DB) View(ctx context.Context, fn func(kv.Reader) error) error {
	select {
	case <-d.closing:
		return kv.ErrClosed
	default:
	}
	if err := d.awaitVisible(ctx); err != nil {
		return err
	}
	for {
		var c *uncheckpointed
		err := d.db.View(func(btx *bbolt.Tx) error {
			var err error
			if c, err = d.checkpointed(btx.ID()); err != nil {
				return err
			}
			return fn(&reader{d: d, btx: btx})
		})
		if !errors.Is(err, errUncheckpointed) {
			return err
		}
		select { // then read again: that state, or a later one
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reader is a bbolt transaction as a kv.Reader.
type reader struct {
	d   *DB
	btx *bbolt.Tx
}

// Get implements kv.Reader.
func (r *reader) Get(b kv.Bucket, key []byte) ([]byte, error) {
	bk := r.btx.Bucket(r.d.name(b))
	if bk == nil {
		return nil, nil
	}
	return bk.Get(key), nil
}

// Cursor implements kv.Reader.
func (r *reader) Cursor(b kv.Bucket) kv.Cursor {
	bk := r.btx.Bucket(r.d.name(b))
	if bk == nil {
		return emptyCursor{}
	}
	return cursor{bk.Cursor()}
}

// cursor is a bbolt cursor; bbolt cursors never fail.
type cursor struct{ *bbolt.Cursor }

func (cursor) Err() error { return nil }

// emptyCursor walks a bucket not yet created.
type emptyCursor struct{}

func (emptyCursor) First() ([]byte, []byte)      { return nil, nil }
func (emptyCursor) Last() ([]byte, []byte)       { return nil, nil }
func (emptyCursor) Seek([]byte) ([]byte, []byte) { return nil, nil }
func (emptyCursor) Next() ([]byte, []byte)       { return nil, nil }
func (emptyCursor) Prev() ([]byte, []byte)       { return nil, nil }
func (emptyCursor) Err() error                   { return nil }

// Bolt returns the bbolt database, for tools and tests that need bbolt's
// own API (compaction, page statistics), once bbolt has committed every
// write acknowledged before the call. Writing through it bypasses the
// group commit: only while nothing else writes.
func (d *DB) Bolt() *bbolt.DB {
	_ = d.awaitVisible(context.Background())
	return d.db
}

// Commits returns how many group commits have made changes durable since
// Open (with the log: records appended, however many share one lazy bbolt
// commit); with the revision it shows how many writes each fsync served.
func (d *DB) Commits() int64 { return d.commits.Load() }

// OpenReadTxs returns how many read transactions are open (snapshots
// among them).
func (d *DB) OpenReadTxs() int { return d.db.Stats().OpenTxN }

// Durable reports whether commits are durable when acknowledged: fsynced,
// or appended to the write-ahead log (Options.NoSync unset).
func (d *DB) Durable() bool { return d.log != nil || !d.db.NoSync }

// WAL reports whether the write-ahead log is on.
func (d *DB) WAL() bool { return d.log != nil }

// Path returns the database file's path.
func (d *DB) Path() string { return d.db.Path() }

// SmallBucket implements kv.BucketSizer: b holds at most one page of
// keys, so its root is not yet a branch page. bbolt splits nodes only at
// commit, so a big transaction into such a bucket inserts into one
// ever-growing node and shifts it on every insert. It reads at most a
// page's worth of keys: bbolt's Tx.Page, which tells the root page's
// type, reads the freelist, which a commit running meanwhile writes (a
// fatal concurrent map access), so it is only safe in the writer.
func (d *DB) SmallBucket(b kv.Bucket) bool {
	_ = d.awaitVisible(context.Background())
	small := false
	_ = d.db.View(func(btx *bbolt.Tx) error {
		bk := btx.Bucket(d.name(b))
		if bk == nil {
			small = true
			return nil
		}
		room := d.db.Info().PageSize - 16 // a page's header
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if room -= 16 + len(k) + len(v); room < 0 { // an element's header and bytes
				return nil
			}
		}
		small = true
		return nil
	})
	return small
}
