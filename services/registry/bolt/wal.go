package bolt

// The write-ahead log (Options.WAL), as etcd puts one in front of bbolt: the
// write set of each group commit is appended to the log and fdatasynced —
// one sequential write — and the group is acknowledged then; bbolt commits
// it without fsync, lazily, several groups at a time (lazy.go). In the background a checkpoint makes bbolt durable
// (one fsync of the file) and drops the log records it covers.
//
// bbolt committing without fsync is only safe because of two things:
//
//   - A read transaction opened at each checkpoint's state (the pin) stays
//     open until the next checkpoint is durable, so bbolt never reuses a
//     page reachable from the checkpointed state: those pages stay intact
//     on disk whatever happens to later, unsynced commits.
//   - The checkpoint keeps a copy of bbolt's two meta pages as of that
//     state. After a crash, before bbolt reads the file, both are written
//     back: the file is then exactly the checkpointed state (whatever
//     later commits reached the disk, even torn by a power cut, is
//     unreachable), and the log records after the checkpoint are applied
//     again. Each record carries its sequence and bbolt keeps the sequence
//     applied (bucket _wal), so replay is idempotent.
//
// A file last served with a log and not closed cleanly says so (_wal
// state "open"): opened without its log it is refused, never read stale.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry/kv"
	"talentreg/services/registry/wal"
)

// walBucket holds the engine's own keys, outside the registry's buckets.
var (
	walBucket = []byte("_wal")
	keyID     = []byte("id")    // the id binding the file to its log
	keySeq    = []byte("seq")   // the last log record applied (uint64, big endian)
	keyState  = []byte("state") // "open" while served with a log, "closed" after a clean close
)

var (
	stateOpen   = []byte("open")
	stateClosed = []byte("closed")
)

// Errors of Open with a write-ahead log.
var (
	// ErrLogMismatch is returned by Open when the log folder belongs to
	// another database file, or the file was served with a log that is not
	// where Options.WALDir says.
	ErrLogMismatch = errors.New("write-ahead log does not belong to this database file")
	// ErrLogPending is returned by Open with ReadOnly when the file has
	// log records not yet applied.
	ErrLogPending = errors.New("write-ahead log not yet applied")
	// ErrLogCorrupt is returned by Open for a log damaged before its
	// tail (a torn tail is cut, not refused).
	ErrLogCorrupt = wal.ErrCorrupt
)

// DefaultWALDir is the log folder of the database file at path when
// Options.WALDir is empty: beside it.
func DefaultWALDir(path string) string { return path + ".wal" }

// logState is the write-ahead log of an open DB.
type logState struct {
	dir string
	id  []byte
	w   *wal.Writer
	// pin is the read transaction at the last checkpoint's state; nil
	// after a direct commit until a commit without fsync needs it.
	pin *bbolt.Tx
	// cpSeq, cpAt: the last checkpoint started.
	cpSeq uint64
	cpAt  time.Time
	// busy is closed when the checkpoint in flight ends (nil: none).
	busy chan struct{}
	// failed is the error that stopped the log: writes are refused after
	// it (a failed fdatasync leaves the file's state unknown).
	failed error
	// cpErr is set by a checkpoint goroutine on failure, with the pin it
	// could not release (the previous checkpoint's, still the one).
	cpErr chan cpFailure
	// held are such pins, released at Close.
	held []*bbolt.Tx
	// synced is the file's size at its last fsync (syncFile).
	synced int64
}

type cpFailure struct {
	err error
	old *bbolt.Tx
}

func (o *Options) walDir(path string) string {
	if o.WALDir != "" {
		return o.WALDir
	}
	return DefaultWALDir(path)
}

// crash calls the crash hook at point.
func (d *DB) crash(point string) {
	if d.opts.Crash != nil {
		d.opts.Crash(point)
	}
}

// recoverLog is Open's part for the log: it reads the log folder, and if
// it holds records not yet durable in the file, puts the file back at the
// log's checkpoint and replays them. It returns the bbolt database open.
func recoverLog(path string, opts Options) (*bbolt.DB, *Recovered, error) {
	dir := opts.walDir(path)
	cp, err := wal.ReadCheckpoint(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	pendingSegs, err := wal.Pending(dir)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case cp == nil && pendingSegs:
		return nil, nil, fmt.Errorf("%s: %w: %s holds log segments but no checkpoint", path, ErrLogCorrupt, dir)
	case cp == nil || cp.Clean:
		db, err := openBolt(path, opts, nil)
		if err != nil {
			return nil, nil, err
		}
		if err := checkClosed(db, path, dir, cp); err != nil {
			db.Close()
			return nil, nil, err
		}
		if cp != nil && pendingSegs && !opts.ReadOnly {
			// A clean close that crashed before removing its segments:
			// they hold nothing after the checkpoint.
			if rec, err := wal.Recover(dir, cp.ID, cp.Seq); err != nil || len(rec.Records) > 0 {
				db.Close()
				if err == nil {
					err = fmt.Errorf("%w: records after a clean close", ErrLogCorrupt)
				}
				return nil, nil, fmt.Errorf("%s: %w", path, err)
			}
			if err := wal.RemoveAll(dir); err != nil {
				db.Close()
				return nil, nil, err
			}
		}
		return db, nil, nil
	case opts.ReadOnly:
		return nil, nil, fmt.Errorf("%s: %w: %s holds a log after its checkpoint (record %d); open the file read-write once "+
			"(start the registry, or run `registry check`) to apply it", path, ErrLogPending, dir, cp.Seq)
	}

	// Put the file back at the checkpoint: its meta pages as they were.
	var orig []byte
	restore := func(f *os.File) error {
		orig = make([]byte, len(cp.State))
		if _, err := f.ReadAt(orig, 0); err != nil {
			return fmt.Errorf("reading the meta pages: %w", err)
		}
		if _, err := f.WriteAt(cp.State, 0); err != nil {
			return fmt.Errorf("restoring the checkpoint's meta pages: %w", err)
		}
		return f.Sync()
	}
	undo := func(cause error) error {
		if orig != nil {
			if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
				_, _ = f.WriteAt(orig, 0)
				_ = f.Sync()
				f.Close()
			}
		}
		return fmt.Errorf("%s: %w: the log in %s (checkpoint at record %d) does not fit this file: %w; "+
			"if the file was replaced (a restored backup), move the old log folder away", path, ErrLogMismatch, dir, cp.Seq, cause)
	}
	db, err := openBolt(path, opts, restore)
	if err != nil {
		if orig == nil {
			return nil, nil, err
		}
		return nil, nil, undo(err)
	}
	id, seq, _ := walKeys(db)
	switch {
	case !bytes.Equal(id, cp.ID):
		db.Close()
		return nil, nil, undo(fmt.Errorf("the file's id %x, the log's %x", id, cp.ID))
	case seq != cp.Seq:
		db.Close()
		return nil, nil, undo(fmt.Errorf("at the checkpoint the file had applied record %d, the log says %d", seq, cp.Seq))
	}
	rec, err := wal.Recover(dir, cp.ID, cp.Seq)
	if err != nil {
		db.Close() // the file stays at the checkpoint: a consistent state
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := replay(db, opts, rec.Records); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("%s: replaying the log of %s: %w", path, dir, err)
	}
	return db, &Recovered{From: cp.Seq, To: rec.Last, Records: len(rec.Records), Cut: rec.Cut}, nil
}

// Recovered says what Open replayed from the log after a crash.
type Recovered struct {
	From, To uint64 // the checkpoint's record and the last one applied
	Records  int
	Cut      string // a torn tail cut, if any
}

// checkClosed refuses a file that was served with a log and not closed
// cleanly when the log folder holds nothing pending for it.
func checkClosed(db *bbolt.DB, path, dir string, cp *wal.Checkpoint) error {
	id, _, state := walKeys(db)
	if !bytes.Equal(state, stateOpen) {
		return nil
	}
	if cp == nil {
		return fmt.Errorf("%s: %w: the file was served with a write-ahead log and not closed cleanly, and %s holds no log: "+
			"the writes acknowledged since its last checkpoint are in that log; point --wal-dir at it", path, ErrLogMismatch, dir)
	}
	return fmt.Errorf("%s: %w: the file was served with a write-ahead log (id %x) and not closed cleanly, and %s holds the closed log of id %x",
		path, ErrLogMismatch, id, dir, cp.ID)
}

// walKeys reads the engine's own keys.
func walKeys(db *bbolt.DB) (id []byte, seq uint64, state []byte) {
	_ = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(walBucket)
		if b == nil {
			return nil
		}
		id = bytes.Clone(b.Get(keyID))
		if v := b.Get(keySeq); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		state = bytes.Clone(b.Get(keyState))
		return nil
	})
	return id, seq, state
}

// replay applies recs in one transaction, with the sequence of the last.
func replay(db *bbolt.DB, opts Options, recs []wal.Record) error {
	if len(recs) == 0 {
		return nil
	}
	d := &DB{db: db, names: map[kv.Bucket][]byte{}, fill: map[kv.Bucket]float64{}}
	d.setBuckets(opts.Buckets)
	return db.Update(func(btx *bbolt.Tx) error {
		t := &txn{reader: reader{d: d, btx: btx}, handles: map[kv.Bucket]*bbolt.Bucket{}}
		for _, r := range recs {
			if err := decodeWrites(r.Payload, t); err != nil {
				return fmt.Errorf("record %d: %w", r.Seq, err)
			}
		}
		return putSeq(btx, recs[len(recs)-1].Seq)
	})
}

func putSeq(btx *bbolt.Tx, seq uint64) error {
	b, err := btx.CreateBucketIfNotExists(walBucket)
	if err != nil {
		return err
	}
	return b.Put(keySeq, binary.BigEndian.AppendUint64(nil, seq))
}

// Record payload: the write set of one commit, one entry per Put or
// Delete in order: op (1 put, 2 delete), then bucket, key and (put) value,
// each prefixed by its uvarint length.
const (
	opPut    = 1
	opDelete = 2
)

func appendWrite(buf []byte, op byte, b kv.Bucket, key, value []byte) []byte {
	buf = append(buf, op)
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	buf = append(buf, b...)
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	if op == opPut {
		buf = binary.AppendUvarint(buf, uint64(len(value)))
		buf = append(buf, value...)
	}
	return buf
}

// decodeWrites applies a record's writes to t.
func decodeWrites(p []byte, t *txn) error {
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, errors.New("malformed write set")
		}
		v := p[k : k+int(n)]
		p = p[k+int(n):]
		return v, nil
	}
	for len(p) > 0 {
		op := p[0]
		p = p[1:]
		b, err := field()
		if err != nil {
			return err
		}
		key, err := field()
		if err != nil {
			return err
		}
		switch op {
		case opPut:
			v, err := field()
			if err != nil {
				return err
			}
			err = t.Put(kv.Bucket(b), bytes.Clone(key), bytes.Clone(v))
			if err != nil {
				return err
			}
		case opDelete:
			if err := t.Delete(kv.Bucket(b), key); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown write %d", op)
		}
	}
	return nil
}

// syncedUpdate runs fn in a bbolt transaction that is fsynced even when
// the engine runs without (the log's own state changes). Only the commit
// loop, or Open and Close when it is not running, may call it.
func (d *DB) syncedUpdate(fn func(*bbolt.Tx) error) error {
	prev := d.db.NoSync
	d.db.NoSync = false
	defer func() { d.db.NoSync = prev }()
	return d.db.Update(fn)
}

// startLog binds the file to its log (a new id the first time), marks it
// served with a log, takes the first checkpoint and opens a segment.
func (d *DB) startLog() error {
	dir := d.opts.walDir(d.db.Path())
	id, seq, _ := walKeys(d.db)
	if len(id) != wal.IDSize {
		id = make([]byte, wal.IDSize)
		if _, err := rand.Read(id); err != nil {
			return err
		}
	}
	err := d.syncedUpdate(func(btx *bbolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(walBucket)
		if err != nil {
			return err
		}
		if err := b.Put(keyID, id); err != nil {
			return err
		}
		if err := b.Put(keyState, stateOpen); err != nil {
			return err
		}
		return putSeq(btx, seq)
	})
	if err != nil {
		return err
	}
	d.log = &logState{dir: dir, id: id, cpErr: make(chan cpFailure, 1)}
	if err := d.syncFile(false); err != nil {
		return err
	}
	pin, state, err := d.pinState()
	if err != nil {
		return err
	}
	if err := wal.WriteCheckpoint(dir, wal.Checkpoint{ID: id, Seq: seq, State: state}); err != nil {
		pin.Rollback()
		return err
	}
	if err := wal.RemoveBefore(dir, seq+1); err != nil {
		pin.Rollback()
		return err
	}
	w, err := wal.Create(dir, id, seq+1)
	if err != nil {
		pin.Rollback()
		return err
	}
	w.Crash = d.opts.Crash
	d.log.w, d.log.pin, d.log.cpSeq, d.log.cpAt = w, pin, seq, time.Now()
	return nil
}

// pinState opens a read transaction at the last commit, which pins every
// page of that state, and reads the file's meta pages as they are now.
// No commit may run meanwhile.
func (d *DB) pinState() (*bbolt.Tx, []byte, error) {
	pin, err := d.db.Begin(false)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(d.db.Path())
	if err != nil {
		pin.Rollback()
		return nil, nil, err
	}
	defer f.Close()
	state := make([]byte, 2*d.db.Info().PageSize)
	if _, err := f.ReadAt(state, 0); err != nil {
		pin.Rollback()
		return nil, nil, fmt.Errorf("reading the meta pages: %w", err)
	}
	return pin, state, nil
}

// pinnedBytes is how many bytes of pages held back from reuse start a
// checkpoint: 4 × CheckpointBytes, at least 16 MiB.
func pinnedBytes(checkpointBytes int64) int64 { return max(4*checkpointBytes, 16<<20) }

// checkpointDue reports whether the log has grown or aged enough since
// the last checkpoint.
func (d *DB) checkpointDue(now time.Time) bool {
	l := d.log
	if l == nil || l.busy != nil || l.failed != nil || l.w.Next()-1 == l.cpSeq {
		return false
	}
	if l.w.Size() >= d.opts.CheckpointBytes || now.Sub(l.cpAt) >= d.opts.CheckpointInterval {
		return true
	}
	// Pages freed since the pin cannot be reused until the next
	// checkpoint: the file grows by them. A commit frees some 10-40 times
	// the bytes it logs, so they get their own, larger bound.
	return int64(d.db.Stats().PendingPageN)*int64(d.db.Info().PageSize) >= pinnedBytes(d.opts.CheckpointBytes)
}

// checkpoint starts a checkpoint of the state of the last commit: pinned
// and its meta pages read here, between commits; a new segment started
// for the records after it; the rest — fsync of the file, the
// checkpoint written, the older segments and the previous pin dropped — in
// the background while commits go on.
func (d *DB) checkpoint() {
	l := d.log
	seq := l.w.Next() - 1
	pin, state, err := d.pinState()
	if err != nil {
		l.failed = fmt.Errorf("checkpoint: %w", err)
		return
	}
	if err := l.w.Rotate(); err != nil {
		pin.Rollback()
		l.failed = fmt.Errorf("checkpoint: %w", err)
		return
	}
	old := l.pin
	l.pin, l.cpSeq, l.cpAt = pin, seq, time.Now()
	busy := make(chan struct{})
	l.busy = busy
	d.crash("checkpoint-pinned")
	go func() {
		defer close(busy)
		err := d.syncFile(true)
		if err == nil {
			d.crash("checkpoint-synced")
			err = wal.WriteCheckpoint(l.dir, wal.Checkpoint{ID: l.id, Seq: seq, State: state})
		}
		if err == nil {
			d.crash("checkpoint-written")
			err = wal.RemoveBefore(l.dir, seq+1)
		}
		if err != nil {
			l.cpErr <- cpFailure{fmt.Errorf("checkpoint at record %d: %w", seq, err), old}
			return // the old pin stays: the old checkpoint is still the one
		}
		if old != nil {
			_ = old.Rollback()
		}
		d.crash("checkpoint-done")
	}()
}

// awaitCheckpoint waits for the checkpoint in flight, if any, and takes
// its outcome (checkpointEnded).
func (d *DB) awaitCheckpoint() {
	if d.log.busy != nil {
		<-d.log.busy
		d.checkpointEnded()
	}
}

// checkpointNow checkpoints the state of the last commit, which bbolt
// has just fsynced, in the commit loop: after a direct commit (see run).
// A failure stops the log (the direct commit is then not acknowledged,
// and recovery does not have it: the file goes back to the previous
// checkpoint).
func (d *DB) checkpointNow() error {
	l := d.log
	d.awaitCheckpoint()
	if l.failed != nil {
		return l.failed
	}
	seq := l.w.Next() - 1
	err := d.syncFile(false) // bbolt fdatasynced the commit; its size too?
	var pin *bbolt.Tx
	var state []byte
	if err == nil {
		pin, state, err = d.pinState()
	}
	if err == nil {
		pin.Rollback()
		err = wal.WriteCheckpoint(l.dir, wal.Checkpoint{ID: l.id, Seq: seq, State: state})
	}
	if err != nil {
		l.failed = fmt.Errorf("checkpoint after a direct commit: %w", err)
		return l.failed
	}
	// No pin until a commit that skips fsync needs one (run pins the
	// state then, before that commit ends). Meanwhile the file's state is
	// the checkpoint's and every commit is fsynced, so bbolt may reuse at
	// once the pages this commit freed, as it does without the log: a
	// pin held here kept a whole import chunk's freed pages from the
	// next chunk, and the file grew by them.
	l.unpin()
	l.cpSeq, l.cpAt = seq, time.Now()
	d.crash("direct-checkpointed")
	// The segments hold only records the checkpoint covers: start a new
	// one when the current has any.
	if l.w.Size() > 0 {
		if err := l.w.Rotate(); err != nil {
			l.failed = fmt.Errorf("checkpoint after a direct commit: %w", err)
			return nil // the commit is durable and covered
		}
		if err := wal.RemoveBefore(l.dir, seq+1); err != nil {
			l.failed = fmt.Errorf("checkpoint after a direct commit: %w", err)
		}
	}
	return nil
}

// syncFile fsyncs the database file — its data and its size, which grows
// without a sync of its own with the log (NoGrowSync, see openBolt) — as
// every checkpoint must before it is written: the checkpoint's meta pages
// count the pages up to the high-water mark, and after a power cut they
// must all be there. fsync, not fdatasync: Linux documents that
// fdatasync flushes a size change, but file systems have shipped without
// it (ext3's ordered mode, f2fs before a fix; boltdb/bolt#284), and one
// fsync per checkpoint costs nothing measurable. Unless always, it skips
// the fsync when the size has not changed since the last one: after a
// commit that bbolt fdatasynced, only a new size is left to make
// durable. It runs in the commit loop, or in the checkpoint goroutine
// while the loop waits for no other syncFile (checkpointNow and closeLog
// wait for busy first).
func (d *DB) syncFile(always bool) error {
	f, err := os.Open(d.db.Path())
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !always && fi.Size() == d.log.synced {
		return nil
	}
	if always {
		// The checkpoint's flush runs while the log appends: paced.
		if err := wal.WriteOutPaced(f, 0, fi.Size()); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	d.log.synced = fi.Size()
	return nil
}

// unpin releases the pin, if any.
func (l *logState) unpin() {
	if l.pin != nil {
		_ = l.pin.Rollback()
		l.pin = nil
	}
}

// checkpointEnded is called by the commit loop when busy is closed.
func (d *DB) checkpointEnded() {
	l := d.log
	l.busy = nil
	select {
	case f := <-l.cpErr:
		l.failed = f.err
		if f.old != nil {
			l.held = append(l.held, f.old)
		}
	default:
	}
}

// closeLog ends the log cleanly after the last commit: the file synced
// and marked closed, a clean checkpoint, the segments removed.
func (d *DB) closeLog() error {
	l := d.log
	d.awaitCheckpoint()
	if l.failed != nil {
		// Leave the log as it is: the next Open replays it.
		_ = l.w.Close()
		l.unpin()
		for _, p := range l.held {
			_ = p.Rollback()
		}
		return l.failed
	}
	seq := l.w.Next() - 1
	err := d.syncedUpdate(func(btx *bbolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(walBucket)
		if err != nil {
			return err
		}
		return b.Put(keyState, stateClosed)
	})
	if err == nil {
		err = d.syncFile(false)
	}
	if err == nil {
		err = wal.WriteCheckpoint(l.dir, wal.Checkpoint{ID: l.id, Seq: seq, Clean: true})
	}
	_ = l.w.Close()
	if err == nil {
		err = wal.RemoveAll(l.dir)
	}
	l.unpin()
	return err
}

// detachLog ends the binding of a file that does not run with a log: it
// is marked closed (the log, if any, was applied at Open) and the log
// folder's files are removed.
func (d *DB) detachLog(newID bool) error {
	id, _, state := walKeys(d.db)
	dir := d.opts.walDir(d.db.Path())
	if id == nil && state == nil {
		return nil
	}
	if bytes.Equal(state, stateOpen) || newID {
		err := d.syncedUpdate(func(btx *bbolt.Tx) error {
			b, err := btx.CreateBucketIfNotExists(walBucket)
			if err != nil {
				return err
			}
			if newID {
				if err := b.Delete(keyID); err != nil {
					return err
				}
			}
			return b.Put(keyState, stateClosed)
		})
		if err != nil {
			return err
		}
	}
	if newID {
		return nil // the log folder beside a copy is not its own
	}
	if err := wal.RemoveAll(dir); err != nil {
		return err
	}
	for _, name := range []string{"checkpoint", "checkpoint.tmp"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	_ = os.Remove(dir) // only if empty
	return nil
}
