package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry"
)

// op is one queued mutation. fn runs inside a shared write transaction; it
// must do all its checks before its first write, so that an error it
// returns leaves nothing behind. If it writes and then fails anyway, the
// whole batch is rolled back and each op is re-run in a transaction of its
// own, so a misbehaving op can never leave a partial write.
type op struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan error
}

// commit queues fn and waits until it is durable (or has failed). Once
// queued, it waits for the outcome even if ctx ends: the caller must learn
// whether the write happened.
func (s *Store) commit(ctx context.Context, fn func(*tx) error) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	// Queue under the read lock, which Close takes to close s.closing: an
	// op is either queued before the loop's final drain or refused.
	s.queueMu.RLock()
	select {
	case <-s.closing:
		s.queueMu.RUnlock()
		return ErrClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.queueMu.RUnlock()
		return ctx.Err()
	}
	s.queueMu.RUnlock()
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
func (s *Store) commitLoop() {
	defer close(s.loopEnd)
	batch := make([]*op, 0, s.opts.MaxBatch)
	expect := 1 // ops in the previous batch
	var wait *time.Timer
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.closing:
			// Commit whatever made it into the queue, then stop.
			for {
				select {
				case o := <-s.ops:
					s.run([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		if want := min(expect, s.opts.MaxBatch); len(batch) < want && s.opts.GroupCommitWait > 0 {
			if wait == nil {
				wait = time.NewTimer(s.opts.GroupCommitWait)
			} else {
				wait.Reset(s.opts.GroupCommitWait)
			}
		gather:
			for len(batch) < want {
				select {
				case o := <-s.ops:
					batch = append(batch, o)
				case <-wait.C:
					break gather
				}
			}
			wait.Stop()
		}
		expect = len(batch)
		s.run(batch)
	}
}

// errPartial aborts a batch in which an op failed after writing.
var errPartial = errors.New("op failed after writing")

// run commits ops in one transaction and reports each op's outcome.
func (s *Store) run(ops []*op) {
	errs := make([]error, len(ops))
	var t *tx
	err := s.db.Update(func(btx *bbolt.Tx) error {
		t = s.newTx(btx)
		for i, o := range ops {
			if err := o.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			before := t.writes
			t.beginOp(registry.ActorFrom(o.ctx))
			err := t.call(o.fn)
			if err == nil {
				err = t.endOp()
			}
			if err != nil {
				if t.writes != before {
					if len(ops) == 1 {
						return err
					}
					return errPartial
				}
				errs[i] = err
			}
		}
		return t.finish()
	})
	switch {
	case errors.Is(err, errPartial):
		for _, o := range ops {
			s.run([]*op{o})
		}
		return
	case err != nil:
		if registry.ErrorCode(err) == 0 && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("commit: %w", err)
		}
		for _, o := range ops {
			o.done <- err
		}
		return
	}
	if t.rev != s.revision.Load() {
		s.commits.Add(1)
		s.compacted.Store(t.compacted)
		s.revision.Store(t.rev)
		s.broadcast()
	}
	for i, o := range ops {
		o.done <- errs[i]
	}
}

// tx is one write transaction with its revision counter.
type tx struct {
	s         *Store
	btx       *bbolt.Tx
	now       time.Time
	rev       int64 // last revision allocated (starts at the committed one)
	compacted int64
	events    int64                 // change events appended
	writes    int                   // Put/Delete calls, to detect ops that failed after writing
	known     map[knownRef]struct{} // groups and programmes known to exist (see referenced)
	scratch   []byte                // reused to encode a record before it is copied into its change event
	// The current op's change events, appended at its end (endOp), when
	// its last revision is known. opFirst is its first revision.
	opFirst int64
	opLog   []pendingChange
	actor   *registry.Actor // who makes the current op's changes
}

// pendingChange is a change event whose header is not written yet.
type pendingChange struct {
	rev   int64
	typ   registry.ChangeType
	entry []byte // see changeImages
}

// beginOp starts an op: one client transaction, made by actor.
func (t *tx) beginOp(actor *registry.Actor) {
	t.opFirst = t.rev + 1
	t.opLog = t.opLog[:0]
	t.actor = actor
}

// endOp appends the op's change events to the log, each recording the
// op's first and last revisions: the op is one transaction for feed
// consumers, even when it shares the bbolt transaction with other ops.
func (t *tx) endOp() error {
	for i := range t.opLog {
		c := &t.opLog[i]
		if err := t.put(bucketChanges, revKey(c.rev), finishChange(c.entry, c.typ, t.now, t.opFirst, c.rev, t.rev)); err != nil {
			return err
		}
		c.entry = nil
	}
	t.opLog = t.opLog[:0]
	return t.recordActor()
}

type knownRef struct {
	coll registry.Collection
	id   string
}

func (s *Store) newTx(btx *bbolt.Tx) *tx {
	// bbolt splits pages at half full by default, which leaves pages that
	// only ever grow at their end (ids, revisions, index runs) half empty:
	// twice the file. The logs are append-only; the rest mostly appends.
	for _, name := range allBuckets() {
		btx.Bucket(name).FillPercent = 0.9
	}
	btx.Bucket(bucketChanges).FillPercent = 1.0
	btx.Bucket(bucketRequestLog).FillPercent = 1.0
	btx.Bucket(bucketActors).FillPercent = 1.0
	return &tx{
		s: s, btx: btx, now: s.opts.Clock().UTC(),
		rev: s.revision.Load(), compacted: s.compacted.Load(),
	}
}

// call runs fn, turning a panic into an error so that no input can crash
// the single writer.
func (t *tx) call(fn func(*tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
			t.writes++ // force a rollback: the op may have written
		}
	}()
	return fn(t)
}

func (t *tx) put(bucket, k, v []byte) error {
	t.writes++
	return t.btx.Bucket(bucket).Put(k, v)
}

func (t *tx) del(bucket, k []byte) error {
	t.writes++
	return t.btx.Bucket(bucket).Delete(k)
}

// finish writes the revision counter and compacts the log.
func (t *tx) finish() error {
	if t.events == 0 {
		return nil
	}
	meta := t.btx.Bucket(bucketMeta)
	if err := meta.Put(keyRevision, revKey(t.rev)); err != nil {
		return err
	}
	return t.compact()
}

// compact deletes the oldest events beyond the retention, at most twice as
// many as this transaction appended (and at least 1024) so that a commit's
// cost stays bounded while the log still converges to its limit.
func (t *tx) compact() error {
	target := t.rev - t.s.opts.RetainChanges
	if target <= t.compacted {
		return nil
	}
	limit := max(2*t.events, 1024)
	upto := min(target, t.compacted+limit)
	// Keys are collected before deleting: deleting under a bbolt cursor
	// while iterating can skip entries.
	var dead [][]byte
	var deadChanges []deadChange
	c := t.btx.Bucket(bucketChanges).Cursor()
	for k, v := c.Seek(revKey(t.compacted + 1)); k != nil && revFromKey(k) <= upto; k, v = c.Next() {
		dead = append(dead, append([]byte(nil), k...))
		coll, pk, err := changeKey(v)
		if err != nil {
			return fmt.Errorf("change %d: %w", revFromKey(k), err)
		}
		deadChanges = append(deadChanges, deadChange{rev: revFromKey(k), coll: coll, pk: pk})
	}
	for _, k := range dead {
		if err := t.del(bucketChanges, k); err != nil {
			return err
		}
	}
	if err := t.pruneAudit(deadChanges, upto); err != nil {
		return err
	}
	t.compacted = upto
	// Request ids are remembered as long as the changes they made.
	dead = dead[:0]
	rc := t.btx.Bucket(bucketRequestLog).Cursor()
	for k, _ := rc.First(); k != nil && revFromKey(k[:8]) <= upto; k, _ = rc.Next() {
		dead = append(dead, append([]byte(nil), k...))
	}
	for _, k := range dead {
		if err := t.del(bucketRequests, k[8:]); err != nil {
			return err
		}
		if err := t.del(bucketRequestLog, k); err != nil {
			return err
		}
	}
	return t.btx.Bucket(bucketMeta).Put(keyCompacted, revKey(t.compacted))
}

// get reads and decodes the record at key, or returns nil.
func (t *tx) get(sc *schema, key []byte) (registry.Resource, error) {
	v := t.btx.Bucket(sc.primary).Get(key)
	if v == nil {
		return nil, nil
	}
	return decodeResource(sc.coll, v)
}

func (t *tx) exists(sc *schema, key []byte) bool {
	return t.btx.Bucket(sc.primary).Get(key) != nil
}

// write stores after in place of before (either may be nil), keeps the
// indexes and the credit-code table in step, and makes the change event at
// a new revision, which it also stamps on after. The event goes into the
// log when the op ends (endOp).
func (t *tx) write(sc *schema, typ registry.ChangeType, before, after registry.Resource) error {
	if after == nil && (sc == groupSchema || sc == programSchema) {
		t.known = nil
	}
	t.rev++
	t.events++
	if after != nil {
		m := after.Metadata()
		m.Revision = t.rev
		if typ == registry.ChangeCreated {
			m.CreateTime = t.now
		}
		m.UpdateTime = t.now
	}
	var key []byte
	if after != nil {
		key = sc.key(after)
	} else {
		key = sc.key(before)
	}
	// The change event ends with the record's bytes, so the record is
	// stored as a slice of the event's value: one exact allocation for
	// both. bbolt keeps value slices until commit: never reuse them.
	var beforeBytes, afterBytes []byte
	if before != nil {
		beforeBytes = encodeResource(nil, before)
	}
	if after != nil {
		t.scratch = encodeResource(t.scratch[:0], after)
		afterBytes = t.scratch
	}
	event := changeImages(make([]byte, 0, changeSize(beforeBytes, afterBytes)), sc.coll, beforeBytes, afterBytes)
	if after != nil {
		afterBytes = event[len(event)-len(afterBytes):]
		if err := t.put(sc.primary, key, afterBytes); err != nil {
			return err
		}
	} else if err := t.del(sc.primary, key); err != nil {
		return err
	}
	if err := t.reindex(sc, key, before, after); err != nil {
		return err
	}
	if err := t.recode(before, after); err != nil {
		return err
	}
	if err := t.put(bucketByName, nameKey(sc.coll, key, t.rev), nil); err != nil {
		return err
	}
	t.opLog = append(t.opLog, pendingChange{rev: t.rev, typ: typ, entry: event})
	return nil
}

// reindex removes index entries before has and after lacks, and adds the
// reverse.
func (t *tx) reindex(sc *schema, pk []byte, before, after registry.Resource) error {
	for i := range sc.fields {
		f := &sc.fields[i]
		var old, cur []string
		if before != nil {
			old = f.values(before)
		}
		if after != nil {
			cur = f.values(after)
		}
		for _, v := range old {
			if !contains(cur, v) {
				if err := t.del(sc.index, indexKey(f, v, pk)); err != nil {
					return err
				}
			}
		}
		for _, v := range cur {
			if !contains(old, v) {
				if err := t.put(sc.index, indexKey(f, v, pk), nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// recode keeps the credit-code uniqueness table in step.
func (t *tx) recode(before, after registry.Resource) error {
	var old, cur string
	var id string
	if e, ok := before.(*registry.Entity); ok {
		old, id = e.CreditCode, e.ID
	}
	if e, ok := after.(*registry.Entity); ok {
		cur, id = e.CreditCode, e.ID
	}
	if old == cur {
		return nil
	}
	if old != "" {
		if err := t.del(bucketCreditCodes, []byte(old)); err != nil {
			return err
		}
	}
	if cur != "" {
		return t.put(bucketCreditCodes, []byte(cur), []byte(id))
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
