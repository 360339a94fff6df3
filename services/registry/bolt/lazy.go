package bolt

// With the write-ahead log, a group of transactions is durable — and
// acknowledged — once its record is fdatasynced; bbolt need not commit it
// then. So, as etcd applies to bbolt in batches behind its log, the commit
// loop leaves bbolt's write transaction open across groups and commits it
// (without fsync) lazily: every applyInterval or applyBytes of records,
// before each checkpoint (which pins the committed state and must cover
// every record before its sequence), at Close, and as soon as a reader
// needs it: View waits until bbolt has committed every record logged
// before the View began, so a read sees every write acknowledged before
// it. Every group is committed at once, before its ack, while readers
// follow the writes (one waited for a commit in the last followWindow):
// they would make the commit happen anyway, and wait for it. A bbolt
// commit costs a write per dirty page and the spill of every touched node
// (and re-reads those nodes' pages at the next write); committed lazily,
// the groups of those 10 ms share them — a lone writer's too: writes 1 ms
// apart, each alone in its group, share one commit instead of ten. The
// change feed does not read bbolt for the writes it follows (the
// registry's store keeps them: kvstore's tail), so it leaves the commits
// lazy.
//
// Crash safety is the log's, unchanged: a record is acknowledged only
// after its fdatasync, recovery replays every record after the
// checkpoint, and the pin keeps the checkpointed pages from reuse
// whatever bbolt committed since.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry/kv"
)

// The lazy commit's bounds: the longest a logged group waits for bbolt's
// commit, and the most record bytes one commit carries.
const (
	applyInterval = 10 * time.Millisecond
	applyBytes    = 1 << 20
)

// followWindow is how long after a reader had to wait for a lazy commit
// the loop commits every group before its ack (see runLogged): long
// enough that a follower reading after every write (the change feed) is
// not made to wait again and again as laziness comes back in between.
const followWindow = 100 * time.Millisecond

// lazy is the commit loop's open bbolt transaction and what readers wait
// on. The loop alone touches tx … pending.
type lazy struct {
	tx       *bbolt.Tx
	txAt     time.Time // when tx began
	txSeq    uint64    // the last record whose writes are in tx
	txWrites int       // writes in tx (0: nothing to commit)
	handles  map[kv.Bucket]*bbolt.Bucket
	// pending holds the records of the groups in tx, in order: after a
	// group has to be taken back out of tx, the others are applied
	// again from it. Each group's record is built in place at its end.
	pending []byte

	// logged is the last record appended to the log (its writes are in tx
	// or committed), visible the last one bbolt has committed.
	logged  atomic.Uint64
	visible atomic.Uint64
	// visCh is closed (and replaced) when visible rises or visErr is set:
	// bbolt failed to commit records already acknowledged.
	visMu  sync.Mutex
	visCh  chan struct{}
	visErr error
	// flush asks the loop to commit tx now (a reader waits); readWaited
	// is when a reader last had to (Unix ns).
	flush      chan struct{}
	readWaited atomic.Int64
	// abandon makes the loop roll tx back at its end instead of
	// committing it (CrashForTest: as a killed process would).
	abandon atomic.Bool

	// unchecked is the last direct commit: between its bbolt commit and
	// its checkpoint, recovery after a crash would put the file back
	// before it, so reads of its state wait (View).
	unchecked atomic.Pointer[uncheckpointed]
}

// uncheckpointed is a direct commit whose checkpoint may not be written
// yet.
type uncheckpointed struct {
	txid int // bbolt's id of its transaction
	done chan struct{}
	err  error // why the commit or checkpoint failed; set before done is closed
}

// errUncheckpointed makes View read again once the direct commit it saw
// is checkpointed.
var errUncheckpointed = errors.New("a direct commit is not yet checkpointed")

// checkpointed reports, for a read transaction at bbolt's transaction
// txid, whether the state it reads will survive a crash: false (and the
// commit to wait for) while it is a direct commit's not yet
// checkpointed; an error if that commit's checkpoint failed.
func (d *DB) checkpointed(txid int) (*uncheckpointed, error) {
	c := d.unchecked.Load()
	if c == nil || txid < c.txid {
		return nil, nil
	}
	select {
	case <-c.done:
		if c.err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLogFailed, c.err)
		}
		return nil, nil
	default:
		return c, errUncheckpointed
	}
}

// runLogged runs a group of ops in the open bbolt transaction, appends its
// write set to the log and acknowledges the ops once it is durable.
func (d *DB) runLogged(ops []*op) {
	l := d.log
	if l.failed != nil {
		failAll(ops, fmt.Errorf("%w: %w", ErrLogFailed, l.failed))
		return
	}
	btx, err := d.writeTx()
	if err != nil {
		failAll(ops, fmt.Errorf("commit: %w", err))
		return
	}
	start := len(d.pending)
	t := &txn{reader: reader{d: d, btx: btx}, handles: d.handles, record: true, rec: d.pending, recStart: start}
	errs := make([]error, len(ops))
	for i, o := range ops {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		before := t.writes
		if err := t.call(o.fn); err != nil {
			if t.writes == before {
				errs[i] = err
				continue
			}
			// It failed after writing: take the group back out, then
			// run each op alone (an op alone gets its own error).
			if rerr := d.dropGroup(start); rerr != nil {
				failAll(ops, rerr)
				return
			}
			if len(ops) == 1 {
				o.done <- err
				return
			}
			for _, o := range ops {
				d.runLogged([]*op{o})
			}
			return
		}
	}
	d.pending = t.rec
	if t.writes == 0 {
		ackAll(ops, errs)
		return
	}
	d.txWrites += t.writes
	if btx.Size() > d.mapped-mapHeadroom {
		l.failed = fmt.Errorf("%w: the database file (%d MiB) nears the %d MiB bbolt maps, which it cannot grow while a checkpoint is pinned: "+
			"restart the registry (it maps twice the file) or raise --mmap-size", ErrLogFailed, btx.Size()>>20, d.mapped>>20)
		d.failGroup(ops, start, l.failed)
		return
	}
	if !t.recording() {
		// Big (a chunk of an import): committing it to bbolt with fsync,
		// followed at once by a checkpoint, writes it once instead of
		// twice (log, then bbolt), and moves the pin so the pages it
		// frees are reused. Acknowledged only once the checkpoint covers
		// it: until then, recovery would put the file back before it.
		// No read may see it before that either (see unchecked).
		c := &uncheckpointed{txid: btx.ID(), done: make(chan struct{})}
		d.unchecked.Store(c)
		d.db.NoSync = false
		err := d.commitTx()
		d.db.NoSync = true
		if err == nil {
			d.crash("direct-committed")
			err = d.checkpointNow()
		}
		c.err = err
		close(c.done)
		if err == nil {
			// Durable: reads need not look at it any more (a failure
			// stays, for reads to report).
			d.unchecked.CompareAndSwap(c, nil)
		}
		if err != nil {
			failAll(ops, fmt.Errorf("commit: %w", err))
			return
		}
		d.commits.Add(1)
		d.broadcast()
		ackAll(ops, errs)
		return
	}
	if l.pin == nil {
		// Unpinned since a direct commit (see checkpointNow): bbolt has
		// not committed since, so a read transaction opened now is at the
		// checkpoint's state; it is pinned before the commit of tx, the
		// first that frees pages of it. (The check above keeps bbolt from
		// having to grow its map under the pin.)
		pin, err := d.db.Begin(false)
		if err != nil {
			l.failed = fmt.Errorf("pinning the checkpoint: %w", err)
			d.failGroup(ops, start, l.failed)
			return
		}
		l.pin = pin
	}
	seq := l.w.Next()
	if err := putSeq(btx, seq); err != nil {
		d.failGroup(ops, start, fmt.Errorf("commit: %w", err))
		return
	}
	if _, err := l.w.Append(d.pending[start:]); err != nil {
		l.failed = fmt.Errorf("appending to the log: %w", err)
		d.failGroup(ops, start, l.failed)
		return
	}
	d.txSeq = seq
	d.logged.Store(seq)
	d.commits.Add(1)
	if time.Now().UnixNano()-d.readWaited.Load() < int64(followWindow) {
		// Readers follow the writes (a writer reading back, a change feed
		// on an engine without a tail): each would wait for this loop to
		// come round to their commit, a group's fdatasync later.
		// Committed before the ack, as without laziness.
		_ = d.commitTx()
		d.broadcast()
		ackAll(ops, errs)
		return
	}
	d.broadcast()
	ackAll(ops, errs)
	if time.Since(d.txAt) >= applyInterval || len(d.pending) >= applyBytes {
		_ = d.commitTx()
	}
}

func failAll(ops []*op, err error) {
	for _, o := range ops {
		o.done <- err
	}
}

func ackAll(ops []*op, errs []error) {
	for i, o := range ops {
		o.done <- errs[i]
	}
}

// failGroup takes the group whose record starts at pending[start] back
// out of tx, commits the groups before it (acknowledged: readers must see
// them) and fails its ops with err.
func (d *DB) failGroup(ops []*op, start int, err error) {
	if rerr := d.dropGroup(start); rerr == nil {
		_ = d.commitTx()
	}
	failAll(ops, err)
}

// writeTx returns the open bbolt transaction, beginning one if none is.
func (d *DB) writeTx() (*bbolt.Tx, error) {
	if d.tx != nil {
		return d.tx, nil
	}
	tx, err := d.db.Begin(true)
	if err != nil {
		return nil, err
	}
	d.tx, d.txAt, d.txWrites, d.handles = tx, time.Now(), 0, map[kv.Bucket]*bbolt.Bucket{}
	return tx, nil
}

// dropGroup rolls tx back and applies again, in a new one, the groups
// recorded before pending[start]: bbolt has no savepoints.
func (d *DB) dropGroup(start int) error {
	earlier := d.pending[:start]
	d.rollbackTx()
	d.pending = earlier
	if start == 0 {
		return nil
	}
	btx, err := d.writeTx()
	if err == nil {
		t := &txn{reader: reader{d: d, btx: btx}, handles: d.handles}
		if err = decodeWrites(earlier, t); err == nil {
			err = putSeq(btx, d.txSeq)
		}
		d.txWrites = t.writes
	}
	if err != nil {
		// Acknowledged writes that bbolt cannot hold now: only a replay
		// of the log can apply them.
		d.log.failed = fmt.Errorf("applying the log again after a failed group: %w", err)
		d.rollbackTx()
		d.setVisible(0, d.log.failed)
		return d.log.failed
	}
	return nil
}

// commitTx commits the open bbolt transaction (without fsync unless
// d.db.NoSync was cleared), which makes its records visible to readers.
// A failure stops the log: the records are durable in it, and only a
// replay at the next Open can apply them.
func (d *DB) commitTx() error {
	if d.tx == nil {
		return nil
	}
	if d.txWrites == 0 {
		d.rollbackTx()
		return nil
	}
	tx, seq := d.tx, d.txSeq
	d.tx, d.handles = nil, nil
	err := tx.Commit()
	d.pending = d.pending[:0]
	d.txWrites = 0
	if err != nil {
		d.log.failed = fmt.Errorf("bbolt commit of records up to %d: %w", seq, err)
		d.setVisible(0, d.log.failed)
		return d.log.failed
	}
	d.crash("committed")
	d.setVisible(seq, nil)
	return nil
}

// endTx ends the open transaction at the loop's end: committed, or rolled
// back after CrashForTest. Its writes are durable in the log either way.
func (d *DB) endTx() {
	if d.tx == nil {
		return
	}
	if d.abandon.Load() || d.log.failed != nil {
		d.rollbackTx()
		return
	}
	_ = d.commitTx()
}

// rollbackTx rolls the open transaction back.
func (d *DB) rollbackTx() {
	if d.tx != nil {
		_ = d.tx.Rollback()
	}
	d.tx, d.handles, d.txWrites = nil, nil, 0
	d.pending = d.pending[:0]
}

// setVisible records that bbolt has committed every record up to seq, or
// that it failed to (err), and wakes the readers waiting for it.
func (d *DB) setVisible(seq uint64, err error) {
	d.visMu.Lock()
	if err != nil {
		d.visErr = err
	} else if seq > d.visible.Load() {
		d.visible.Store(seq)
	}
	close(d.visCh)
	d.visCh = make(chan struct{})
	d.visMu.Unlock()
}

// awaitVisible returns once bbolt has committed every record logged before
// the call, asking the commit loop to commit now if it has not.
func (d *DB) awaitVisible(ctx context.Context) error {
	if d.log == nil {
		return nil
	}
	want := d.logged.Load()
	for d.visible.Load() < want {
		d.visMu.Lock()
		ch, err := d.visCh, d.visErr
		d.visMu.Unlock()
		if d.visible.Load() >= want {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLogFailed, err)
		}
		d.readWaited.Store(time.Now().UnixNano())
		select {
		case d.flush <- struct{}{}:
		default: // already asked
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.loopEnd:
			// The loop committed (or abandoned) tx on its way out.
			if d.visible.Load() < want {
				return kv.ErrClosed
			}
		}
	}
	return nil
}
