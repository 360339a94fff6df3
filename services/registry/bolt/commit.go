package bolt

import (
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
	for {
		var busy chan struct{}
		if d.log != nil {
			busy = d.log.busy
			if d.checkpointDue(time.Now()) {
				d.checkpoint()
				busy = d.log.busy
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
		case <-d.closing:
			// Commit whatever made it into the queue, then stop.
			for {
				select {
				case o := <-d.ops:
					d.run([]*op{o})
				default:
					return
				}
			}
		}
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
// the log, the write set is appended to it and fdatasynced inside the
// transaction, before bbolt commits without fsync.
func (d *DB) run(ops []*op) {
	if d.log != nil && d.log.failed != nil {
		for _, o := range ops {
			o.done <- fmt.Errorf("%w: %w", ErrLogFailed, d.log.failed)
		}
		return
	}
	errs := make([]error, len(ops))
	var t *txn
	var fnErr error // an op's own error, returned to its caller as it is
	var logged, direct bool
	err := d.db.Update(func(btx *bbolt.Tx) error {
		t = &txn{reader: reader{d: d, btx: btx}, handles: map[kv.Bucket]*bbolt.Bucket{}}
		if d.log != nil {
			t.rec = d.recBuf[:0]
		}
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
		if d.log == nil || t.writes == 0 {
			return nil
		}
		if btx.Size() > d.mapped-mapHeadroom {
			d.log.failed = fmt.Errorf("%w: the database file (%d MiB) nears the %d MiB bbolt maps, which it cannot grow while a checkpoint is pinned: "+
				"restart the registry (it maps twice the file) or raise --mmap-size", ErrLogFailed, btx.Size()>>20, d.mapped>>20)
			return d.log.failed
		}
		d.recBuf = t.rec
		if len(t.rec) > directBytes {
			// Big (a chunk of an import): committing it to bbolt with
			// fsync, followed at once by a checkpoint, writes it once
			// instead of twice (log, then bbolt), and moves the pin so
			// the pages it frees are reused.
			direct = true
			d.db.NoSync = false
			return nil
		}
		if d.log.pin == nil {
			// Unpinned since a direct commit (see checkpointNow): this
			// transaction has not committed, so a read transaction opened
			// now is at the checkpoint's state, and it is pinned before
			// the first commit that frees pages of it. (The check above
			// keeps bbolt from having to grow its map under the pin.)
			pin, err := d.db.Begin(false)
			if err != nil {
				d.log.failed = fmt.Errorf("pinning the checkpoint: %w", err)
				return d.log.failed
			}
			d.log.pin = pin
		}
		if err := putSeq(btx, d.log.w.Next()); err != nil {
			return err
		}
		if _, err := d.log.w.Append(t.rec); err != nil {
			d.log.failed = fmt.Errorf("appending to the log: %w", err)
			return d.log.failed
		}
		logged = true
		return nil
	})
	if logged && err != nil {
		// The record is durable but bbolt did not commit it: only a replay
		// can apply it now.
		d.log.failed = fmt.Errorf("bbolt commit after the log append: %w", err)
	}
	if logged && err == nil {
		d.crash("committed")
	}
	if direct {
		d.db.NoSync = true
		if err == nil {
			// Acknowledged only once the checkpoint covers it: until then,
			// recovery would put the file back before it.
			if cerr := d.checkpointNow(); cerr != nil {
				err = fmt.Errorf("commit: %w", cerr)
			}
		}
	}
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
	writes  int // Put/Delete calls, to detect ops that failed after writing
	// rec, with the log: the write set, as a log record, until it
	// outgrows directBytes (the transaction then skips the log: the rest
	// of its writes are not recorded).
	rec []byte
}

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
	if t.d.log != nil && len(t.rec) <= directBytes {
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
	if t.d.log != nil && len(t.rec) <= directBytes {
		t.rec = appendWrite(t.rec, opDelete, b, key, nil)
	}
	return h.Delete(key)
}
