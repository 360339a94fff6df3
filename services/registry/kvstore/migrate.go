package kvstore

import (
	"bytes"
	"context"
	"fmt"

	"talentreg/services/registry/kv"
)

// migrateBatchSize is how many change-log entries one transaction of the
// format-3 migration converts on an engine without transaction limits.
const migrateBatchSize = 10000

// migrateV3 converts a format-2 store to format 3 in bounded transactions,
// each atomic and each recording in meta/migrating the revision the next
// one starts at, so a migration interrupted at any point (a crash, a kill)
// resumes at the next Open, and several replicas opening one etcd prefix
// at once share the work (their transactions conflict and re-run). The
// first step moves the revision counter to keyHead: from then on a replica
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
	case formatV3:
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
		if err := t.Put(bucketMeta, keyHead, bytes.Clone(rev)); err != nil {
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
	if rc.version == changeV3 || rc.afterColl == 0 {
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
		if err := t.Put(bucketChanges, revKey(rev), currentChange(rc.h, rc.afterColl, rc.before, pk)); err != nil {
			return err
		}
	}
	return t.Delete(bucketByName, nameKey(rc.afterColl, pk, rev))
}
