package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry/kv"
)

// op is one queued transaction. fn runs inside a shared bbolt write
// transaction; it must do all its checks before its first write, so that
// an error it returns leaves nothing behind. If it writes and then fails
// anyway, the whole batch is rolled back and each op is re-run in a
// transaction of its own, so a misbehaving op can never leave a partial
// write.
type op struct {
	ctx  context.Context
	fn   func(kv.Txn) error
	done chan error
}

// Update implements kv.Store: fn is queued and Update waits until its
// writes are durable (or have failed). Once queued, it waits for the
// outcome even if ctx ends: the caller must learn whether the write
// happened.
func (d *DB) Update(ctx context.Context, fn func(kv.Txn) error) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	// Queue under the read lock, which Close takes to close d.closing: an
	// op is either queued before the loop's final drain or refused.
	d.queueMu.RLock()
	select {
	case <-d.closing:
		d.queueMu.RUnlock()
		return kv.ErrClosed
	default:
	}
	select {
	case d.ops <- o:
	case <-ctx.Done():
		d.queueMu.RUnlock()
		return ctx.Err()
	}
	d.queueMu.RUnlock()
	return <-o.done
}

// commitLoop is the single writer. It takes every op queued while the
// previous commit was being fsynced, so one fsync serves many writers. A
// lone writer commits at once; when the last batch was bigger than what is
// queued now, the writers of that batch are most likely a network round
// trip away from sending their next writes, so the loop waits for them a
// little (at most GroupCommitWait) rather than spend a whole commit on a
// handful and make the rest wait for the next one. A commit's cost is
// dominated by syncing its dirty pages (measured here: ~27 µs per random
// page, ~170 pages for 38 creates), which grows with the batch, so waiting
// longer buys little.
func (d *DB) commitLoop() {
	defer close(d.loopEnd)
	batch := make([]*op, 0, d.opts.MaxBatch)
	expect := 1 // ops in the previous batch
	var wait *time.Timer
	// With the log: a checkpoint is started after a commit when the log
	// has grown enough, or by the tick when it has aged enough.
	var tick <-chan time.Time
	if d.log != nil {
		t := time.NewTicker(max(d.opts.CheckpointInterval/4, 10*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	// With the log, bbolt's transaction is committed lazily (lazy.go):
	// applyT ends one left open while no op comes.
	applyT := time.NewTimer(time.Hour)
	applyT.Stop()
	defer applyT.Stop()
	for {
		var busy chan struct{}
		var applyC <-chan time.Time
		if d.log != nil {
			busy = d.log.busy
			if d.checkpointDue(time.Now()) {
				if d.commitTx() == nil {
					d.checkpoint()
				}
				busy = d.log.busy
			}
			if d.txWrites > 0 {
				applyT.Reset(time.Until(d.txAt.Add(applyInterval)))
				applyC = applyT.C
			}
		}
		var first *op
		select {
		case first = <-d.ops:
		case <-tick:
			continue
		case <-busy:
			d.checkpointEnded()
			continue
		case <-applyC:
			_ = d.commitTx()
			continue
		case <-d.flush:
			_ = d.commitTx()
			continue
		case <-d.closing:
			// Commit whatever made it into the queue, then stop.
			for {
				select {
				case o := <-d.ops:
					d.run([]*op{o})
				default:
					d.endTx()
					return
				}
			}
		}
		applyT.Stop() // (Go ≥ 1.23: no stale tick is left in applyT.C)
		batch = append(batch[:0], first)
	fill:
		for len(batch) < d.opts.MaxBatch {
			select {
			case o := <-d.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		if want := min(expect, d.opts.MaxBatch); len(batch) < want && d.opts.GroupCommitWait > 0 {
			if wait == nil {
				wait = time.NewTimer(d.opts.GroupCommitWait)
			} else {
				wait.Reset(d.opts.GroupCommitWait)
			}
		gather:
			for len(batch) < want {
				select {
				case o := <-d.ops:
					batch = append(batch, o)
				case <-wait.C:
					break gather
				}
			}
			wait.Stop()
		}
		expect = len(batch)
		d.run(batch)
	}
}

// directBytes is the size of write set above which a transaction skips
// the log (see run).
const directBytes = 256 << 10

// errPartial aborts a batch in which an op failed after writing.
var errPartial = errors.New("op failed after writing")

// ErrLogFailed is returned by Update once the write-ahead log could not be
// written or checkpointed: the engine refuses writes until it is opened
// again (which replays the log).
var ErrLogFailed = errors.New("write-ahead log failed; restart to recover")

// run commits ops in one transaction and reports each op's outcome. With
// the log, runLogged does (lazy.go).
func (d *DB) run(ops []*op) {
	if d.log != nil {
		d.runLogged(ops)
		return
	}
	errs := make([]error, len(ops))
	var t *txn
	var fnErr error // an op's own error, returned to its caller as it is
	err := d.db.Update(func(btx *bbolt.Tx) error {
		t = &txn{reader: reader{d: d, btx: btx}, handles: map[kv.Bucket]*bbolt.Bucket{}}
		for i, o := range ops {
			if err := o.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			before := t.writes
			if err := t.call(o.fn); err != nil {
				if t.writes != before {
					if len(ops) == 1 {
						fnErr = err
						return err
					}
					return errPartial
				}
				errs[i] = err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errPartial):
		for _, o := range ops {
			d.run([]*op{o})
		}
		return
	case err != nil:
		if err != fnErr {
			err = fmt.Errorf("commit: %w", err) // bbolt's: the file could not be written
		}
		for _, o := range ops {
			o.done <- err
		}
		return
	}
	if t.writes > 0 {
		d.commits.Add(1)
		d.broadcast()
	}
	for i, o := range ops {
		o.done <- errs[i]
	}
}

// txn is the bbolt write transaction shared by a batch of ops, as a
// kv.Txn.
type txn struct {
	reader
	handles map[kv.Bucket]*bbolt.Bucket
	// cursors serve Get, one per bucket (see Get).
	cursors map[kv.Bucket]*bbolt.Cursor
	writes  int // Put/Delete calls, to detect ops that failed after writing
	// record, with the log: the write set is appended to rec, from
	// recStart on, as a log record, until it outgrows directBytes (the
	// transaction then skips the log: the rest of its writes are not
	// recorded). rec before recStart holds the records of the earlier
	// groups of the same bbolt transaction.
	record   bool
	rec      []byte
	recStart int
}

// recording reports whether t's writes still go to its log record.
func (t *txn) recording() bool { return t.record && len(t.rec)-t.recStart <= directBytes }

// call runs fn, turning a panic into an error so that no input can crash
// the single writer.
func (t *txn) call(fn func(kv.Txn) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
			t.writes++ // force a rollback: the op may have written
		}
	}()
	return fn(t)
}

// bucket returns b's handle for writing, creating the bucket at its first
// write and setting its fill percent.
func (t *txn) bucket(b kv.Bucket) (*bbolt.Bucket, error) {
	if h, ok := t.handles[b]; ok {
		return h, nil
	}
	h, err := t.btx.CreateBucketIfNotExists(t.d.name(b))
	if err != nil {
		return nil, err
	}
	if f, ok := t.d.fill[b]; ok {
		h.FillPercent = f
	}
	t.handles[b] = h
	return h, nil
}

// Get implements kv.Reader in the write transaction. bbolt's Bucket.Get
// allocates a cursor and grows its stack on every call; an import checks
// one or two keys per item. A cursor kept per bucket serves them all:
// Seek starts again from the bucket's root each time, so the writes in
// between do not mislead it.
func (t *txn) Get(b kv.Bucket, key []byte) ([]byte, error) {
	c := t.cursors[b]
	if c == nil {
		bk := t.btx.Bucket(t.d.name(b))
		if bk == nil {
			return nil, nil
		}
		if t.cursors == nil {
			t.cursors = map[kv.Bucket]*bbolt.Cursor{}
		}
		c = bk.Cursor()
		t.cursors[b] = c
	}
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) || k == nil {
		return nil, nil
	}
	return v, nil // nil for a nested bucket, as Bucket.Get
}

// Put implements kv.Txn. bbolt keeps value until the commit: callers must
// not reuse it.
func (t *txn) Put(b kv.Bucket, key, value []byte) error {
	h, err := t.bucket(b)
	if err != nil {
		return err
	}
	t.writes++
	if value == nil {
		value = []byte{}
	}
	if t.recording() {
		t.rec = appendWrite(t.rec, opPut, b, key, value)
	}
	return h.Put(key, value)
}

// Delete implements kv.Txn.
func (t *txn) Delete(b kv.Bucket, key []byte) error {
	h := t.btx.Bucket(t.d.name(b))
	if h == nil {
		return nil
	}
	t.writes++
	if t.recording() {
		t.rec = appendWrite(t.rec, opDelete, b, key, nil)
	}
	return h.Delete(key)
}
