package kvstore

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// migrateBatchSize is how many change-log entries one transaction of the
// format-3 migration (records, of the format-4 migration) converts on an
// engine without transaction limits.
const migrateBatchSize = 10000

// migrateV3 converts a format-2 store to format 3 in bounded transactions,
// each atomic and each recording in meta/migrating the revision the next
// one starts at, so a migration interrupted at any point (a crash, a kill)
// resumes at the next Open, and several replicas opening one etcd prefix
// at once share the work (their transactions conflict and re-run). The
// first step moves the revision counter to keyHeadV3: from then on a replica
// of an earlier version fails every call rather than write format 2.
//
// The conversion: a change whose after image is still the stored record
// (the record's revision is the change's) leaves the by-name index and,
// where change entries name records (nameRecords), becomes a v3 entry. Nothing else changes; every
// record, change and audit entry reads the same before and after.
func migrateV3(ctx context.Context, engine kv.Store, batch int, refs bool) error {
	if batch <= 0 {
		batch = migrateBatchSize
	}
	if l := kv.LimitsOf(engine); l.Ops > 0 {
		// An entry costs a record read (a compare), a put and a delete.
		batch = min(batch, max(l.Ops/4, 1))
	}
	for {
		var done bool
		err := engine.Update(ctx, func(t kv.Txn) (err error) {
			done, err = migrateV3Step(t, batch, refs)
			return err
		})
		if err != nil || done {
			return err
		}
		if migrateStepped != nil {
			migrateStepped()
		}
	}
}

// migrateStepped, when set (by a test), is called after each committed
// step of the migration but the last.
var migrateStepped func()

// migrateV3Step converts the next batch entries and reports whether the
// migration is complete.
func migrateV3Step(t kv.Txn, batch int, refs bool) (done bool, err error) {
	format, err := t.Get(bucketMeta, keyFormat)
	if err != nil {
		return false, err
	}
	switch string(format) {
	case formatV3, formatV4:
		return true, nil // another replica finished it
	case formatV2:
	default:
		return false, fmt.Errorf("%w: format %q", ErrForeign, format)
	}
	next, err := t.Get(bucketMeta, keyMigrating)
	if err != nil {
		return false, err
	}
	var from int64
	switch {
	case next == nil:
		rev, err := t.Get(bucketMeta, keyRevision)
		if err != nil {
			return false, err
		}
		comp, err := t.Get(bucketMeta, keyCompacted)
		if err != nil {
			return false, err
		}
		if len(rev) != 8 || len(comp) != 8 {
			return false, fmt.Errorf("%w: damaged meta bucket", ErrForeign)
		}
		from = revFromKey(comp) + 1
		if err := t.Put(bucketMeta, keyHeadV3, bytes.Clone(rev)); err != nil {
			return false, err
		}
		if err := t.Delete(bucketMeta, keyRevision); err != nil {
			return false, err
		}
	case len(next) != 8:
		return false, fmt.Errorf("%w: damaged meta bucket (migrating %x)", ErrForeign, next)
	default:
		from = revFromKey(next)
	}
	// Entries are read before any is rewritten: writing under a bbolt
	// cursor can skip entries.
	type entry struct {
		rev int64
		v   []byte
	}
	var todo []entry
	c := t.Cursor(bucketChanges)
	k, v := c.Seek(revKey(from))
	for ; k != nil && len(todo) < batch; k, v = c.Next() {
		todo = append(todo, entry{revFromKey(k), bytes.Clone(v)})
	}
	if err := c.Err(); err != nil {
		return false, err
	}
	var resume int64
	if k != nil {
		resume = revFromKey(k)
	}
	for _, e := range todo {
		if err := changeToV3(t, e.rev, e.v, refs); err != nil {
			return false, err
		}
	}
	if resume != 0 {
		return false, t.Put(bucketMeta, keyMigrating, revKey(resume))
	}
	if err := t.Put(bucketMeta, keyFormat, []byte(formatV3)); err != nil {
		return false, err
	}
	return true, t.Delete(bucketMeta, keyMigrating)
}

// changeToV3 converts the change entry v of revision rev, if its after
// image is the stored record: out of the by-name index, and with refs
// (nameRecords) rewritten as a v3 entry naming the record.
func changeToV3(t kv.Txn, rev int64, v []byte, refs bool) error {
	rc, err := splitChange(rev, v)
	if err != nil {
		return err
	}
	if named(rc.version) || rc.afterColl == 0 {
		return nil
	}
	_, pk, err := changeKey(rev, v)
	if err != nil {
		return fmt.Errorf("change %d: %w", rev, err)
	}
	cur, err := recordRevision(t, rc.afterColl, pk)
	if err != nil || cur != rev {
		return err
	}
	if refs {
		if err := t.Put(bucketChanges, revKey(rev), currentChange(changeV3, rc.h, rc.afterColl, rc.before, pk)); err != nil {
			return err
		}
	}
	return t.Delete(bucketByName, nameKey(rc.afterColl, pk, rev))
}

// migrateV4 converts a format-3 store to format 4 in bounded transactions,
// each atomic and each recording in meta/migrating4 where the next one
// starts (a collection byte and a primary key), so that, as with
// migrateV3, an interrupted migration resumes at the next Open and
// replicas opening one etcd prefix at once share the work. The first step
// moves the revision counter from keyHeadV3 to keyHead: from then on a
// replica of format 3 fails every call rather than write format 3.
//
// The conversion rewrites every record, collection by collection in key
// order, as a version-3 record (without the fields its key holds) and a
// membership's entity index entry in its format-4 form, in the same
// transaction as its record. Change entries stay as they are: v1 and v2
// entries hold whole records and v3 entries name their record by key,
// all read in format 4 as before. Nothing else changes.
func migrateV4(ctx context.Context, engine kv.Store, batch int) error {
	if batch <= 0 {
		batch = migrateBatchSize
	}
	budget := math.MaxInt
	if l := kv.LimitsOf(engine); l.Ops > 0 || l.Bytes > 0 {
		// A membership costs a put, an index delete and an index put.
		if l.Ops > 0 {
			batch = min(batch, max(l.Ops/4, 1))
		}
		if l.Bytes > 0 {
			budget = l.Bytes / 4
		}
	}
	for {
		var done bool
		err := engine.Update(ctx, func(t kv.Txn) (err error) {
			done, err = migrateV4Step(t, batch, budget)
			return err
		})
		if err != nil || done {
			return err
		}
		if migrateStepped != nil {
			migrateStepped()
		}
	}
}

// migrateV4Step converts the next batch records (fewer if their keys and
// values exceed budget bytes, but at least one) and reports whether the
// migration is complete.
func migrateV4Step(t kv.Txn, batch, budget int) (done bool, err error) {
	format, err := t.Get(bucketMeta, keyFormat)
	if err != nil {
		return false, err
	}
	switch string(format) {
	case formatV4:
		return true, nil // another replica finished it
	case formatV3:
	default:
		return false, fmt.Errorf("%w: format %q", ErrForeign, format)
	}
	next, err := t.Get(bucketMeta, keyMigrating4)
	if err != nil {
		return false, err
	}
	ci := 0 // index in registry.Collections
	var from []byte
	switch {
	case next == nil:
		head, err := t.Get(bucketMeta, keyHeadV3)
		if err != nil {
			return false, err
		}
		if len(head) != 8 {
			return false, fmt.Errorf("%w: damaged meta bucket", ErrForeign)
		}
		if err := t.Put(bucketMeta, keyHead, bytes.Clone(head)); err != nil {
			return false, err
		}
		if err := t.Delete(bucketMeta, keyHeadV3); err != nil {
			return false, err
		}
	default:
		ci = slices.Index(registry.Collections, registry.Collection(next[0]))
		if ci < 0 {
			return false, fmt.Errorf("%w: damaged meta bucket (migrating4 %x)", ErrForeign, next)
		}
		from = bytes.Clone(next[1:])
	}
	n, size := 0, 0
	for ; ci < len(registry.Collections); ci++ {
		c := registry.Collections[ci]
		sc := schemas[c]
		// Records are read before any is rewritten: writing under a bbolt
		// cursor can skip entries.
		type record struct{ k, v []byte }
		var todo []record
		cur := t.Cursor(sc.primary)
		var k, v []byte
		if len(from) == 0 {
			k, v = cur.First()
		} else {
			k, v = cur.Seek(from)
		}
		for ; k != nil && n < batch && (n == 0 || size < budget); k, v = cur.Next() {
			todo = append(todo, record{bytes.Clone(k), bytes.Clone(v)})
			n++
			size += 2*len(k) + len(v)
		}
		if err := cur.Err(); err != nil {
			return false, err
		}
		resume := bytes.Clone(k)
		for _, r := range todo {
			if err := recordToV4(t, sc, r.k, r.v); err != nil {
				return false, err
			}
		}
		if resume != nil {
			return false, t.Put(bucketMeta, keyMigrating4, append([]byte{byte(c)}, resume...))
		}
		from = nil
	}
	if err := t.Put(bucketMeta, keyFormat, []byte(formatV4)); err != nil {
		return false, err
	}
	return true, t.Delete(bucketMeta, keyMigrating4)
}

// recordToV4 rewrites the record v stored under pk in sc's collection as a
// version-3 record, and its tail fields' index entries in their format-4
// form. A version-3 record is left as it is.
func recordToV4(t kv.Txn, sc *schema, pk, v []byte) error {
	if len(v) > 0 && v[0] == recordV3 {
		return nil
	}
	r, err := decodeRecord(sc.coll, pk, v)
	if err != nil {
		return fmt.Errorf("%s %q: %w", sc.coll, pk, err)
	}
	if err := t.Put(sc.primary, pk, encodeRecord(nil, r)); err != nil {
		return err
	}
	for i := range sc.fields {
		f := &sc.fields[i]
		if !f.tail {
			continue
		}
		for _, val := range f.values(r) {
			short := indexKey(f, val, pk)
			long := append(indexPrefix(f, val), pk...)
			if bytes.Equal(short, long) {
				continue
			}
			if err := t.Delete(sc.index, long); err != nil {
				return err
			}
			if err := t.Put(sc.index, short, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
