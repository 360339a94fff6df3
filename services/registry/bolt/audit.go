package bolt

import (
	"bytes"
	"context"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry"
)

// The audit trail: who made each change is stored once per client
// transaction (an import chunk of 10,000 changes has one actor), keyed by
// the transaction's first revision, and two indexes answer "what did this
// principal change" and "who changed this resource" without a scan:
//
//	changes.actors      first revision (8) → last revision (8) + actor
//	changes.by_actor    principal \x00 first revision (8) → ""
//	changes.by_name     collection byte, primary key \x00 revision (8) → ""
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

// recordActor records the actor of the changes the op made, if any.
func (t *tx) recordActor() error {
	if t.rev < t.opFirst {
		return nil
	}
	a := t.actor
	if a == nil {
		a = &registry.Actor{}
	}
	v := encodeActor(revKey(t.rev), a)
	if err := t.put(bucketActors, revKey(t.opFirst), v); err != nil {
		return err
	}
	if a.Principal != "" {
		return t.put(bucketByActor, actorKey(a.Principal, t.opFirst), nil)
	}
	return nil
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
	c := t.btx.Bucket(bucketActors).Cursor()
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

// changeKey returns the collection and primary key of the resource a
// change-log entry changed, reading only the front of its image.
func changeKey(v []byte) (registry.Collection, []byte, error) {
	d := decoder{b: v}
	ver := d.byte()
	if ver != changeV1 && ver != changeV2 {
		return 0, nil, errCorrupt
	}
	d.byte()   // type
	d.varint() // commit time
	if ver == changeV2 {
		d.uvarint() // the transaction's bounds
		d.uvarint()
	}
	for range 2 {
		c := registry.Collection(d.byte())
		if c == 0 {
			continue
		}
		rec := decoder{b: d.raw()}
		if d.err != nil || rec.byte() != recordV1 {
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
		return c, append([]byte(nil), id...), nil
	}
	return 0, nil, errCorrupt
}

// actorCursor finds the actor of ascending revisions in one pass.
type actorCursor struct {
	c   *bbolt.Cursor
	cur actorEntry
	ok  bool
	err error
}

func newActorCursor(btx *bbolt.Tx) *actorCursor {
	return &actorCursor{c: btx.Bucket(bucketActors).Cursor()}
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
	err := s.view(func(btx *bbolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		rev, compacted := revFromKey(meta.Get(keyRevision)), revFromKey(meta.Get(keyCompacted))
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
		changes := btx.Bucket(bucketChanges)
		actors := newActorCursor(btx)
		emit := func(r int64) (bool, error) {
			v := changes.Get(revKey(r))
			if v == nil {
				return true, nil // compacted while indexed: skip
			}
			ch, err := decodeChange(r, v)
			if err != nil {
				return false, err
			}
			ch.Actor = actors.at(r)
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
			prefix := append(append([]byte{byte(coll)}, pk...), sep)
			c := btx.Bucket(bucketByName).Cursor()
			for k, _ := c.Seek(append(prefix, revKey(from)...)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
				more, err := emit(revFromKey(k[len(prefix):]))
				if err != nil || !more {
					return err
				}
			}
			return actors.err
		}
		prefix := append([]byte(q.Principal), sep)
		c := btx.Bucket(bucketByActor).Cursor()
		// The transaction holding from may start before it.
		start := from
		if e := floorActor(btx, from); e != nil && e.actor.Principal == q.Principal && e.last >= from {
			start = e.first
		}
		for k, _ := c.Seek(append(prefix, revKey(start)...)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
			first := revFromKey(k[len(prefix):])
			v := btx.Bucket(bucketActors).Get(revKey(first))
			if v == nil {
				continue
			}
			e, err := decodeActorEntry(revKey(first), v)
			if err != nil {
				return err
			}
			for r := max(first, from); r <= e.last; r++ {
				more, err := emit(r)
				if err != nil || !more {
					return err
				}
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return actors.err
	})
	return page, err
}

// floorActor returns the actor entry starting at or before rev.
func floorActor(btx *bbolt.Tx, rev int64) *actorEntry {
	c := btx.Bucket(bucketActors).Cursor()
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

// migrateV2 adds the audit buckets to a format-1 file and indexes its
// change log by resource (its changes have no recorded actor).
func migrateV2(btx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketActors, bucketByActor, bucketByName} {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	byName := btx.Bucket(bucketByName)
	c := btx.Bucket(bucketChanges).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		coll, pk, err := changeKey(v)
		if err != nil {
			return err
		}
		if err := byName.Put(nameKey(coll, pk, revFromKey(k)), nil); err != nil {
			return err
		}
	}
	return btx.Bucket(bucketMeta).Put(keyFormat, []byte(formatV2))
}
