package kvstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// mutate runs fn as one client transaction — one registry mutation with
// its cascade, a batch, an import transaction — in one kv transaction: the
// revision counter is read, each change takes the next revision, the
// change events, the actor and the counter are written, and the log is
// compacted. fn must do all its checks before its first write, so that an
// error it returns leaves nothing behind, and may be run again (on a
// conflicting commit of another writer): it must rebuild its outcome each
// time. A read the engine failed (a remote engine unreachable) wins over
// whatever fn concluded from it.
func (s *Store) mutate(ctx context.Context, fn func(*tx) error) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	var t *tx
	err := s.kv.Update(ctx, func(kt kv.Txn) (err error) {
		if t, err = s.newTx(kt); err != nil {
			return err
		}
		// No input may crash the writer: a panic is this call's error.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error: %v", p)
			}
		}()
		t.beginOp(registry.ActorFrom(ctx))
		err = fn(t)
		if t.err != nil {
			return t.err
		}
		if err != nil {
			return err
		}
		if err := t.endOp(); err != nil {
			return err
		}
		if err := t.finish(); err != nil {
			return err
		}
		return t.err
	})
	if err != nil {
		return engineError(err)
	}
	if t.events > 0 {
		grew := s.tail != nil && s.tail.add(t.tailed, t.compacted)
		s.noteCommitted(t.rev, t.compacted, grew)
	}
	return nil
}

// tx is one client transaction in a kv transaction, with the revision
// counter.
type tx struct {
	s         *Store
	kv        kv.Txn
	now       time.Time
	rev       int64 // last revision allocated (starts at the committed one)
	compacted int64
	events    int64                 // change events appended
	err       error                 // the first failed read or write of the engine
	known     map[knownRef]struct{} // groups and programmes known to exist (see referenced)
	// lastEntity is the entity a membership last found to exist: an
	// import lists each entity's memberships together, so this spares
	// all but the first of them the B-tree read (see checkRefs).
	lastEntity string
	scratch    []byte // reused to encode a record before it is copied into its change event
	// The current op's change events, appended at its end (endOp), when
	// its last revision is known. opFirst is its first revision.
	opFirst int64
	opLog   []pendingChange
	actor   *registry.Actor // who makes the current op's changes
	// tailed are the change events made, for the Store's tail (when it
	// keeps one).
	tailed []tailEntry
}

// pendingChange is a change event whose header is not written yet.
type pendingChange struct {
	rev   int64
	typ   registry.ChangeType
	entry []byte // see changeImages
	// current is set while the change's after image is the record stored
	// under key: it is then logged as a v3 entry naming the record.
	current bool
	coll    registry.Collection
	key     []byte
	before  []byte // the before image (encoded), or nil
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
	tailFrom := len(t.tailed)
	for i := range t.opLog {
		c := &t.opLog[i]
		h := changeHeader{typ: c.typ, commit: t.now, first: t.opFirst, rev: c.rev, last: t.rev}
		entry := finishChange(c.entry, h)
		if t.s.tail != nil {
			t.tailed = append(t.tailed, tailEntry{rev: c.rev, entry: entry})
		}
		if c.current {
			entry = currentChange(changeV5, h, c.coll, c.before, c.key)
		}
		if err := t.put(bucketChanges, revKey(c.rev), entry); err != nil {
			return err
		}
		c.entry, c.before = nil, nil
	}
	t.opLog = t.opLog[:0]
	actor, err := t.recordActor()
	for i := tailFrom; i < len(t.tailed); i++ {
		t.tailed[i].actor = actor
	}
	return err
}

type knownRef struct {
	coll registry.Collection
	id   string
}

func (s *Store) newTx(kt kv.Txn) (*tx, error) {
	t := &tx{s: s, kv: kt, now: s.opts.Clock().UTC()}
	rev, err := kt.Get(bucketMeta, keyHead)
	if err != nil {
		return nil, err
	}
	comp, err := kt.Get(bucketMeta, keyCompacted)
	if err != nil {
		return nil, err
	}
	if len(rev) != 8 || len(comp) != 8 {
		return nil, fmt.Errorf("%w: damaged meta bucket", ErrForeign)
	}
	t.rev, t.compacted = revFromKey(rev), revFromKey(comp)
	return t, nil
}

func (t *tx) put(b kv.Bucket, k, v []byte) error {
	if err := t.kv.Put(b, k, v); err != nil {
		t.fail(err)
		return err
	}
	return nil
}

func (t *tx) del(b kv.Bucket, k []byte) error {
	if err := t.kv.Delete(b, k); err != nil {
		t.fail(err)
		return err
	}
	return nil
}

// fail records the engine's first error.
func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// read returns the value at k, recording a failed read.
func (t *tx) read(b kv.Bucket, k []byte) []byte {
	v, err := t.kv.Get(b, k)
	if err != nil {
		t.fail(err)
		return nil
	}
	return v
}

// finish writes the revision counter and compacts the log.
func (t *tx) finish() error {
	if t.events == 0 {
		return nil
	}
	if err := t.put(bucketMeta, keyHead, revKey(t.rev)); err != nil {
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
	if kv.LimitsOf(t.s.kv).Ops > 0 {
		// Each compacted change costs up to six deletes (its entry, its
		// by-name key, an actor entry and its by-actor key, a request id
		// and its log key), all in the transaction of this change.
		limit = min(limit, kv.CompactPerTxn)
	}
	upto := min(target, t.compacted+limit)
	// Keys are collected before deleting: deleting under a bbolt cursor
	// while iterating can skip entries.
	var dead [][]byte
	var deadChanges []deadChange
	c := t.kv.Cursor(bucketChanges)
	for k, v := c.Seek(revKey(t.compacted + 1)); k != nil && revFromKey(k) <= upto; k, v = c.Next() {
		dead = append(dead, append([]byte(nil), k...))
		coll, pk, err := changeKey(revFromKey(k), v)
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
	rc := t.kv.Cursor(bucketRequestLog)
	for k, _ := rc.First(); k != nil && revFromKey(k[:8]) <= upto; k, _ = rc.Next() {
		dead = append(dead, append([]byte(nil), k...))
	}
	if err := errors.Join(c.Err(), rc.Err()); err != nil {
		t.fail(err)
		return err
	}
	for _, k := range dead {
		if err := t.del(bucketRequests, k[8:]); err != nil {
			return err
		}
		if err := t.del(bucketRequestLog, k); err != nil {
			return err
		}
	}
	return t.put(bucketMeta, keyCompacted, revKey(t.compacted))
}

// get reads and decodes the record at key, or returns nil.
func (t *tx) get(sc *schema, key []byte) (registry.Resource, error) {
	v, err := t.kv.Get(sc.primary, key)
	if err != nil {
		t.fail(err)
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	return decodeRecord(sc.coll, key, v)
}

// exists reports whether key is in sc's collection; a failed read is
// recorded (and wins over the caller's conclusion, see update).
func (t *tx) exists(sc *schema, key []byte) bool {
	return t.read(sc.primary, key) != nil
}

// write stores after in place of before (either may be nil), keeps the
// indexes and the credit-code table in step, and makes the change event at
// a new revision, which it also stamps on after. The event goes into the
// log when the op ends (endOp).
func (t *tx) write(sc *schema, typ registry.ChangeType, before, after registry.Resource) error {
	if after == nil && (sc == groupSchema || sc == programSchema) { // referenced by others
		t.known = nil
	}
	if after == nil && sc == entitySchema {
		t.lastEntity = ""
	}
	var prev int64 // the revision of the change that made before
	if before != nil {
		prev = before.Metadata().Revision
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
	// both. Engines keep value slices until commit: never reuse them.
	var beforeBytes, afterBytes []byte
	if before != nil {
		beforeBytes = encodeRecord(nil, before)
	}
	if after != nil {
		t.scratch = encodeRecord(t.scratch[:0], after)
		afterBytes = t.scratch
	}
	event := changeImages(make([]byte, 0, changeSize(key, beforeBytes, afterBytes)), sc.coll, key, beforeBytes, afterBytes)
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
	// The by-name index holds every change but the latest of a stored
	// record (the record's revision names that one): superseding a record
	// indexes the change that made it, and a deletion indexes itself.
	if before != nil {
		if err := t.supersede(sc.coll, key, prev, beforeBytes, before.Metadata().UpdateTime); err != nil {
			return err
		}
	}
	if after == nil {
		if err := t.put(bucketByName, nameKey(sc.coll, key, t.rev), nil); err != nil {
			return err
		}
	}
	pc := pendingChange{rev: t.rev, typ: typ, entry: event, current: after != nil && t.s.refs, coll: sc.coll, key: key}
	if pc.current {
		pc.before = beforeBytes
	}
	t.opLog = append(t.opLog, pc)
	return nil
}

// supersede marks the change at revision prev, which made the record
// under key, as no longer its latest: if still retained, it goes into the
// by-name index, and a named entry of it gets its after image (img, the
// record's encoding, last updated at updated) back.
func (t *tx) supersede(c registry.Collection, key []byte, prev int64, img []byte, updated time.Time) error {
	if prev <= t.compacted {
		return nil // compacted: neither entry nor index key
	}
	if prev >= t.opFirst { // still pending in this op
		for i := len(t.opLog) - 1; i >= 0; i-- {
			if t.opLog[i].rev == prev {
				t.opLog[i].current = false
				break
			}
		}
	} else if err := t.materialize(prev, img, updated); err != nil {
		return err
	}
	return t.put(bucketByName, nameKey(c, key, prev), nil)
}

// materialize turns the logged named entry of revision rev, if it is one,
// into a v4 entry with after image img (the record as stored), last
// updated at updated.
func (t *tx) materialize(rev int64, img []byte, updated time.Time) error {
	v := t.read(bucketChanges, revKey(rev))
	if len(v) == 0 || !named(v[0]) {
		return t.err
	}
	rc, err := splitChange(rev, v)
	if err != nil {
		return err
	}
	return t.put(bucketChanges, revKey(rev), rc.withImage(img, updated))
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
