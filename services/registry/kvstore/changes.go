package kvstore

import (
	"context"
	"errors"
	"strconv"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// ListChanges implements registry.Store. from 0 means the oldest retained
// change.
func (s *Store) ListChanges(ctx context.Context, from int64, limit int) (registry.ChangePage, error) {
	if s.tail != nil && registry.IsTailing(ctx) {
		if page, ok, err := s.tailPage(from, limit); ok {
			return page, err
		}
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
		c := r.Cursor(bucketChanges)
		actors := newActorCursor(r)
		for k, v := c.Seek(revKey(from)); k != nil && len(page.Changes) < limit; k, v = c.Next() {
			ch, err := decodeChange(r, revFromKey(k), v)
			if err != nil {
				return err
			}
			ch.Actor = actors.at(ch.Revision)
			page.Changes = append(page.Changes, ch)
		}
		if err := errors.Join(c.Err(), actors.err); err != nil {
			return err
		}
		if n := len(page.Changes); n > 0 {
			page.More = page.Changes[n-1].Revision < rev
		} else {
			page.More = from <= rev
		}
		return ctx.Err()
	})
	return page, err
}

// Snapshot implements registry.Store: one read transaction, so every
// resource is as of the same revision.
func (s *Store) Snapshot(ctx context.Context, begin func(int64) error, fn func(registry.Resource) error) error {
	return s.view(ctx, func(r kv.Reader) error {
		rev, _, err := metaRevisions(r)
		if err != nil {
			return err
		}
		if err := begin(rev); err != nil {
			return err
		}
		n := 0
		for _, coll := range registry.Collections {
			sc := schemas[coll]
			c := r.Cursor(sc.primary)
			for k, v := c.First(); k != nil; k, v = c.Next() {
				r, err := decodeRecord(coll, k, v)
				if err != nil {
					return err
				}
				if err := fn(r); err != nil {
					return err
				}
				if n++; n%256 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
			}
			if err := c.Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

// BatchCreateEntities implements registry.Store: all or nothing.
func (s *Store) BatchCreateEntities(ctx context.Context, es []*registry.Entity) ([]*registry.Entity, int64, error) {
	if len(es) == 0 || len(es) > registry.MaxBatch {
		return nil, 0, registry.InvalidField("requests", "must hold 1-%d entities, got %d", registry.MaxBatch, len(es))
	}
	var v registry.Violations
	ids := make(map[string]int, len(es))
	codes := make(map[string]int, len(es))
	for i, e := range es {
		prefix := "requests[" + strconv.Itoa(i) + "].entity."
		if err := v.Merge(e.Validate(prefix)); err != nil {
			return nil, 0, err
		}
		if j, dup := ids[e.ID]; dup {
			v.Add(prefix+"name", "duplicates requests[%d]", j)
		}
		ids[e.ID] = i
		if e.CreditCode != "" {
			if j, dup := codes[e.CreditCode]; dup {
				v.Add(prefix+"credit_code", "duplicates requests[%d]", j)
			}
			codes[e.CreditCode] = i
		}
	}
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	var rev int64
	err := s.mutate(ctx, func(t *tx) error {
		for i, e := range es { // every check before the first write
			if t.exists(entitySchema, []byte(e.ID)) {
				return registry.AlreadyExists(e.Name())
			}
			if err := t.checkRefs(nil, e); err != nil {
				return scopeField(err, "requests["+strconv.Itoa(i)+"].")
			}
		}
		for _, e := range es {
			settle(e, nil, t.now)
			if err := t.write(entitySchema, registry.ChangeCreated, nil, e); err != nil {
				return err
			}
		}
		rev = t.rev
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return es, rev, nil
}
