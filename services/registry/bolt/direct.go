package bolt

// A transaction too big for the log (a chunk of an import) is committed
// to bbolt directly: written once instead of twice (log, then bbolt), and
// checkpointed, so that recovery starts after it. Waiting for its fsync
// in the commit loop left the loop idle for a third of an import's wall
// time (bench/TUNING.md, "Stop 32: where a chunk's time goes"), so the
// fsync and the checkpoint run in the background while the loop applies
// the next chunk, as etcd applies the next batch while its log syncs:
//
//   - bbolt commits the chunk without fsync. Its checkpoint is written
//     after the file's fsync; the chunk's writers are acknowledged after
//     that.
//   - Until then the last checkpoint is the one before the chunk, and its
//     pages are the ones this commit freed. bbolt may hand them to the
//     next transaction (no pin holds them: a pin would hold back two
//     chunks' freed pages and grow the file by them), but that
//     transaction only writes pages when it commits, and every commit,
//     log append and acknowledgement first waits for the chunk's
//     checkpoint (finishDirect). So a crash before it finds the last
//     checkpoint's pages intact, and recovery puts the file back there,
//     as for any unsynced commit.
//   - Reads must not see the chunk before it is durable (recovery may
//     take it back): a read transaction opened at or after its bbolt
//     transaction waits for the checkpoint (View).

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"talentreg/services/registry/wal"
)

// directCommit is a direct commit whose checkpoint is in flight.
type directCommit struct {
	txid int    // bbolt's id of the committed transaction
	seq  uint64 // the last log record it follows, which its checkpoint covers
	done chan struct{}
	err  error // why the checkpoint failed; set before done is closed
	ops  []*op // acknowledged by finishDirect
	errs []error
}

// durable reports whether the commit's checkpoint is written, or the
// error that stopped it; false, nil while it is in flight.
func (c *directCommit) durable() (bool, error) {
	select {
	case <-c.done:
		return c.err == nil, c.err
	default:
		return false, nil
	}
}

// errNotDurable makes View retry once the direct commit it saw is durable.
var errNotDurable = errors.New("a direct commit is not yet durable")

// commitDirect commits the open transaction, which holds the group of ops
// whose record starts at pending[start] and is too big for the log, and
// starts its checkpoint in the background. The ops are acknowledged by
// finishDirect.
func (d *DB) commitDirect(ops []*op, errs []error, start int) {
	l := d.log
	// One syncFile at a time: the previous direct commit's and a lazy
	// checkpoint's end first. Either may fail and stop the log.
	d.finishDirect()
	if l.busy != nil {
		<-l.busy
		d.checkpointEnded()
	}
	if l.failed != nil {
		d.failGroup(ops, start, fmt.Errorf("%w: %w", ErrLogFailed, l.failed))
		return
	}
	// ops is the loop's batch, whose array the next batch reuses.
	c := &directCommit{txid: d.tx.ID(), seq: l.w.Next() - 1, done: make(chan struct{}), ops: slices.Clone(ops), errs: errs}
	d.unsynced.Store(c) // before the commit: no read sees it until it is durable
	if err := d.commitTx(); err != nil {
		c.err = err
		close(c.done)
		failAll(ops, fmt.Errorf("commit: %w", err))
		return
	}
	pin, state, err := d.pinState() // the meta pages of the state just committed
	if err != nil {
		l.failed = fmt.Errorf("checkpoint after a direct commit: %w", err)
		c.err = l.failed
		close(c.done)
		failAll(ops, fmt.Errorf("commit: %w", l.failed))
		return
	}
	_ = pin.Rollback()
	d.direct = c
	d.crash("direct-committed")
	go func() {
		defer close(c.done)
		err := d.syncFile(fsyncNow)
		if err == nil {
			d.crash("direct-synced")
			err = wal.WriteCheckpoint(l.dir, wal.Checkpoint{ID: l.id, Seq: c.seq, State: state})
		}
		c.err = err
	}()
}

// finishDirect waits for the checkpoint of the direct commit in flight, if
// any, and acknowledges its ops (or fails them, and stops the log, if it
// failed). Only the commit loop calls it.
func (d *DB) finishDirect() {
	c := d.direct
	if c == nil {
		return
	}
	d.direct = nil
	select {
	case <-c.done:
	default:
		d.crash("direct-awaited") // the loop waits for it
		<-c.done
	}
	l := d.log
	if c.err != nil {
		l.failed = fmt.Errorf("checkpoint after a direct commit: %w", c.err)
		failAll(c.ops, fmt.Errorf("commit: %w", l.failed))
		return
	}
	// No pin until a commit that skips fsync needs one (runLogged pins the
	// state then, before that commit ends). Meanwhile the file's state is
	// the checkpoint's, so bbolt may reuse at once the pages this commit
	// freed, as it does without the log.
	l.unpin()
	l.cpSeq, l.cpAt = c.seq, time.Now()
	d.crash("direct-checkpointed")
	// The segments hold only records the checkpoint covers (no record is
	// appended while it is in flight): start a new one when the current
	// has any.
	if l.w.Size() > 0 {
		if err := l.w.Rotate(); err != nil {
			l.failed = fmt.Errorf("checkpoint after a direct commit: %w", err)
		} else if err := wal.RemoveBefore(l.dir, c.seq+1); err != nil {
			l.failed = fmt.Errorf("checkpoint after a direct commit: %w", err)
		}
	}
	d.commits.Add(1)
	d.broadcast()
	ackAll(c.ops, c.errs) // the commit is durable and covered, whatever failed after
}

// directDone is closed when the direct commit in flight is durable (nil:
// none in flight), for the commit loop's select.
func (d *DB) directDone() <-chan struct{} {
	if d.direct == nil {
		return nil
	}
	return d.direct.done
}

// readDurable checks, in a read transaction at bbolt's transaction txid,
// that the state it reads is durable: not that of a direct commit whose
// checkpoint is in flight (errNotDurable, with the commit to wait for) or
// failed.
func (d *DB) readDurable(txid int) (*directCommit, error) {
	c := d.unsynced.Load()
	if c == nil || txid < c.txid {
		return nil, nil
	}
	switch ok, err := c.durable(); {
	case err != nil:
		return nil, fmt.Errorf("%w: checkpoint after a direct commit: %w", ErrLogFailed, err)
	case !ok:
		return c, errNotDurable
	}
	return nil, nil
}

