package kvstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// The audit trail: who made each change is stored once per client
// transaction (an import chunk of 10,000 changes has one actor), keyed by
// the transaction's first revision, and two indexes answer "what did this
// principal change" and "who changed this resource" without a scan:
//
//	changes.actors      first revision (8) → last revision (8) + actor
//	changes.by_actor    principal \x00 first revision (8) → ""
//	changes.by_name     collection byte, primary key \x00 revision (8) → ""
//	                    (format 3: not the change a stored record's
//	                    revision names, the latest of that resource)
//
// All three are pruned with the change log.

// encodeActor appends a's record: the method byte, then its strings.
func encodeActor(dst []byte, a *registry.Actor) []byte {
	e := encoder{b: dst}
	e.byte(byte(a.Method))
	e.str(a.Principal)
	e.str(a.RequestID)
	e.str(a.UserAgent)
	e.str(a.Peer)
	e.str(a.Via)
	return e.b
}

func decodeActor(b []byte) (*registry.Actor, error) {
	d := decoder{b: b, s: string(b)}
	a := &registry.Actor{Method: registry.AuthMethod(d.byte())}
	a.Principal = d.str()
	a.RequestID = d.str()
	a.UserAgent = d.str()
	a.Peer = d.str()
	a.Via = d.str()
	return a, d.done()
}

// actorEntry is one transaction's actor with its revision range.
type actorEntry struct {
	first, last int64
	actor       *registry.Actor
}

func decodeActorEntry(k, v []byte) (actorEntry, error) {
	if len(k) != 8 || len(v) < 8 {
		return actorEntry{}, errCorrupt
	}
	a, err := decodeActor(v[8:])
	return actorEntry{first: revFromKey(k), last: revFromKey(v[:8]), actor: a}, err
}

// nameKey is the changes.by_name key of one change.
func nameKey(c registry.Collection, pk []byte, rev int64) []byte {
	k := make([]byte, 0, 1+len(pk)+1+8)
	k = append(k, byte(c))
	k = append(k, pk...)
	k = append(k, sep)
	return append(k, revKey(rev)...)
}

func actorKey(principal string, first int64) []byte {
	k := make([]byte, 0, len(principal)+1+8)
	k = append(k, principal...)
	k = append(k, sep)
	return append(k, revKey(first)...)
}

// recordActor records the actor of the changes the op made, if any, and
// returns it as a read of the record gives it back.
func (t *tx) recordActor() (*registry.Actor, error) {
	if t.rev < t.opFirst {
		return nil, nil
	}
	a := t.actor
	if a == nil {
		a = &registry.Actor{}
	}
	if err := t.put(bucketActors, revKey(t.opFirst), encodeActor(revKey(t.rev), a)); err != nil {
		return nil, err
	}
	if a.Principal != "" {
		return a, t.put(bucketByActor, actorKey(a.Principal, t.opFirst), nil)
	}
	return a, nil
}

// pruneAudit removes the audit entries of changes up to upto, given the
// change-log entries being compacted.
func (t *tx) pruneAudit(deadChanges []deadChange, upto int64) error {
	for _, d := range deadChanges {
		if d.coll == 0 {
			continue
		}
		if err := t.del(bucketByName, nameKey(d.coll, d.pk, d.rev)); err != nil {
			return err
		}
	}
	var dead []actorEntry
	c := t.kv.Cursor(bucketActors)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		e, err := decodeActorEntry(k, v)
		if err != nil {
			return err
		}
		if e.last > upto {
			break
		}
		dead = append(dead, e)
	}
	if err := c.Err(); err != nil {
		t.fail(err)
		return err
	}
	for _, e := range dead {
		if err := t.del(bucketActors, revKey(e.first)); err != nil {
			return err
		}
		if e.actor.Principal != "" {
			if err := t.del(bucketByActor, actorKey(e.actor.Principal, e.first)); err != nil {
				return err
			}
		}
	}
	return nil
}

// deadChange is a compacted change's resource.
type deadChange struct {
	rev  int64
	coll registry.Collection
	pk   []byte
}

// changeKey returns the collection and primary key of the resource the
// change-log entry of revision rev changed, reading only the front of its
// image.
func changeKey(rev int64, v []byte) (registry.Collection, []byte, error) {
	rc, err := splitChange(rev, v)
	if err != nil {
		return 0, nil, err
	}
	switch rc.version {
	case changeV3, changeV5:
		return rc.afterColl, bytes.Clone(rc.pk), nil
	case changeV4:
		return max(rc.beforeColl, rc.afterColl), bytes.Clone(rc.pk), nil
	}
	c, img := rc.beforeColl, rc.before
	if c == 0 {
		c, img = rc.afterColl, rc.after
	}
	if c == 0 {
		return 0, nil, errCorrupt
	}
	rec := decoder{b: img}
	if v := rec.byte(); v != recordV1 && v != recordV2 {
		return 0, nil, errCorrupt
	}
	id := rec.raw()
	if c == registry.Memberships {
		ent := rec.raw()
		if rec.err != nil {
			return 0, nil, errCorrupt
		}
		return c, membershipKey(string(id), string(ent)), nil
	}
	if rec.err != nil {
		return 0, nil, errCorrupt
	}
	return c, bytes.Clone(id), nil
}

// actorCursor finds the actor of ascending revisions in one pass.
type actorCursor struct {
	c   kv.Cursor
	cur actorEntry
	ok  bool
	err error
}

func newActorCursor(r kv.Reader) *actorCursor {
	return &actorCursor{c: r.Cursor(bucketActors)}
}

// at returns the actor of revision rev; calls must ascend.
func (ac *actorCursor) at(rev int64) *registry.Actor {
	if ac.ok && rev >= ac.cur.first && rev <= ac.cur.last {
		return ac.cur.actor
	}
	var k, v []byte
	if !ac.ok || rev > ac.cur.last+1 {
		// Seek to the entry starting at or before rev.
		k, v = ac.c.Seek(revKey(rev))
		if k == nil || revFromKey(k) > rev {
			k, v = ac.c.Prev()
		}
	} else {
		k, v = ac.c.Next()
	}
	ac.ok = false
	if k == nil {
		if err := ac.c.Err(); err != nil {
			ac.err = err
		}
		return nil
	}
	e, err := decodeActorEntry(k, v)
	if err != nil {
		ac.err = err
		return nil
	}
	if rev < e.first || rev > e.last {
		// The previous entry may still cover rev; otherwise no actor was
		// recorded (a change from before actors were).
		return nil
	}
	ac.cur, ac.ok = e, true
	return e.actor
}

// ListChangesBy implements registry.Store.
func (s *Store) ListChangesBy(ctx context.Context, q registry.ChangeQuery, from int64, limit int) (registry.ChangePage, error) {
	if q.Principal == "" && q.Resource == "" {
		return s.ListChanges(ctx, from, limit)
	}
	var page registry.ChangePage
	err := s.view(ctx, func(r kv.Reader) error {
		rev, compacted, err := metaRevisions(r)
		if err != nil {
			return err
		}
		page.Revision = rev
		if from == 0 {
			from = compacted + 1
		}
		if from <= compacted {
			return registry.RevisionCompacted(from, compacted)
		}
		if limit <= 0 {
			limit = registry.DefaultPageSize
		}
		actors := newActorCursor(r)
		emit := func(rv int64) (bool, error) {
			v, err := r.Get(bucketChanges, revKey(rv))
			if err != nil {
				return false, err
			}
			if v == nil {
				return true, nil // compacted while indexed: skip
			}
			ch, err := decodeChange(r, rv, v)
			if err != nil {
				return false, err
			}
			ch.Actor = actors.at(rv)
			if q.Principal != "" && (ch.Actor == nil || ch.Actor.Principal != q.Principal) {
				return true, nil
			}
			if len(page.Changes) == limit {
				page.More = true
				return false, nil
			}
			page.Changes = append(page.Changes, ch)
			return true, nil
		}
		if q.Resource != "" {
			coll, pk, ok := resourceKey(q.Resource)
			if !ok {
				return nil // a name that cannot exist has no history
			}
			// The by-name index holds the resource's superseded changes;
			// the stored record names its latest (format 2 indexed that
			// one too: it is emitted once).
			cur, err := recordRevision(r, coll, pk)
			if err != nil {
				return err
			}
			prefix := append(append([]byte{byte(coll)}, pk...), sep)
			c := r.Cursor(bucketByName)
			for k, _ := c.Seek(append(prefix, revKey(from)...)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
				rv := revFromKey(k[len(prefix):])
				if rv == cur {
					continue
				}
				more, err := emit(rv)
				if err != nil || !more {
					return err
				}
			}
			if err := c.Err(); err != nil {
				return err
			}
			if cur >= from {
				if _, err := emit(cur); err != nil {
					return err
				}
			}
			return actors.err
		}
		prefix := append([]byte(q.Principal), sep)
		c := r.Cursor(bucketByActor)
		// The transaction holding from may start before it.
		start := from
		if e := floorActor(r, from); e != nil && e.actor.Principal == q.Principal && e.last >= from {
			start = e.first
		}
		for k, _ := c.Seek(append(prefix, revKey(start)...)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
			first := revFromKey(k[len(prefix):])
			v, err := r.Get(bucketActors, revKey(first))
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			e, err := decodeActorEntry(revKey(first), v)
			if err != nil {
				return err
			}
			for rv := max(first, from); rv <= e.last; rv++ {
				more, err := emit(rv)
				if err != nil || !more {
					return err
				}
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return errors.Join(c.Err(), actors.err)
	})
	return page, err
}

// recordRevision returns the revision of the record stored under pk, 0
// if there is none.
func recordRevision(r kv.Reader, c registry.Collection, pk []byte) (int64, error) {
	v, err := r.Get(schemas[c].primary, pk)
	if err != nil || v == nil {
		return 0, err
	}
	rec, err := decodeRecord(c, pk, v)
	if err != nil {
		return 0, err
	}
	return rec.Metadata().Revision, nil
}

// floorActor returns the actor entry starting at or before rev.
func floorActor(r kv.Reader, rev int64) *actorEntry {
	c := r.Cursor(bucketActors)
	k, v := c.Seek(revKey(rev))
	if k == nil || revFromKey(k) > rev {
		k, v = c.Prev()
	}
	if k == nil {
		return nil
	}
	e, err := decodeActorEntry(k, v)
	if err != nil {
		return nil
	}
	return &e
}

// resourceKey parses a resource name into its collection and primary key.
func resourceKey(name string) (registry.Collection, []byte, bool) {
	for _, c := range registry.Collections {
		if c == registry.Memberships {
			g, e, err := registry.ParseMembershipName("name", name)
			if err == nil {
				return c, membershipKey(g, e), true
			}
			continue
		}
		if id, err := registry.ParseName("name", c, name); err == nil {
			return c, []byte(id), true
		}
	}
	return 0, nil, false
}

// migrateV2 indexes a format-1 change log by resource (its changes have
// no recorded actor) and marks the format 2.
func migrateV2(t kv.Txn) error {
	c := t.Cursor(bucketChanges)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		coll, pk, err := changeKey(revFromKey(k), v)
		if err != nil {
			return err
		}
		if err := t.Put(bucketByName, nameKey(coll, pk, revFromKey(k)), nil); err != nil {
			return err
		}
	}
	if err := c.Err(); err != nil {
		return err
	}
	return t.Put(bucketMeta, keyFormat, []byte(formatV2))
}

// metaRevisions reads the revision and compacted revision of a snapshot.
func metaRevisions(r kv.Reader) (rev, compacted int64, err error) {
	v, err := headRevision(r)
	if err != nil {
		return 0, 0, err
	}
	c, err := r.Get(bucketMeta, keyCompacted)
	if err != nil {
		return 0, 0, err
	}
	if len(v) != 8 || len(c) != 8 {
		return 0, 0, fmt.Errorf("%w: damaged meta bucket", ErrForeign)
	}
	return revFromKey(v), revFromKey(c), nil
}

// headRevision reads the revision counter: under keyHead in format 4 (and
// from the first step of the migration to it), keyHeadV3 in format 3,
// keyRevision before.
func headRevision(r kv.Reader) ([]byte, error) {
	for _, k := range [][]byte{keyHead, keyHeadV3} {
		if v, err := r.Get(bucketMeta, k); v != nil || err != nil {
			return v, err
		}
	}
	return r.Get(bucketMeta, keyRevision)
}
