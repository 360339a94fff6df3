package kvstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// smallBucketChunk is the transaction size of an import into a collection
// whose bucket still fits one page. bbolt splits nodes only at commit, so a
// big first transaction into an empty bucket inserts into one ever-growing
// node and shifts it on every insert: measured at 10,000 entities, the
// first chunk took ten times as long as any later one.
const smallBucketChunk = 1000

// Import implements registry.Store: one transaction for the chunk (several
// of smallBucketChunk items while a collection it writes is nearly empty;
// on an engine with transaction limits, sub-chunks of at most
// registry.MaxBatch items, halved while the engine refuses one as too
// large), group-committed with other writers. Each item is validated and
// checked before anything of it is written, so a bad item is skipped
// whole; an item equal to the stored one writes nothing and takes no
// revision, so a sub-chunk committed again (a client retrying the import)
// changes nothing. A partial item (ImportItem.Merge) is merged with the
// stored resource and validated in the transaction.
func (s *Store) Import(ctx context.Context, items []registry.ImportItem, base int64) (registry.ImportResult, error) {
	limited := kv.LimitsOf(s.kv).Ops > 0
	if !limited && (len(items) <= smallBucketChunk || !s.anySmallBucket(items)) {
		res, err := s.importTx(ctx, items, base)
		if err != nil {
			return newImportResult(), err // nothing of it committed
		}
		res.Processed = len(items)
		return res, nil
	}
	chunk := s.importChunk()
	res := newImportResult()
	for lo := 0; lo < len(items); {
		hi := min(len(items), lo+chunk)
		part, err := s.importTx(ctx, items[lo:hi], base+int64(lo))
		if limited && hi-lo > 1 && tooLarge(err) {
			chunk = (hi - lo) / 2 // nothing of it was committed
			continue
		}
		if err != nil {
			return res, err
		}
		lo, res.Processed = hi, hi
		for c, n := range part.Counts {
			res.Counts[c].Created += n.Created
			res.Counts[c].Updated += n.Updated
			res.Counts[c].Unchanged += n.Unchanged
			res.Counts[c].Failed += n.Failed
		}
		res.Errors = append(res.Errors, part.Errors...)
		res.Revision = max(res.Revision, part.Revision)
	}
	return res, nil
}

// importChunk is the most items an import commits in one transaction
// when it splits a chunk. On an engine with limits it is registry.MaxBatch:
// so many created entities fit the limits etcd is asked for
// (etcdkv.WorstCase); updates write up to twice as much (old and new index
// keys, both images in the change), so the engine may refuse a sub-chunk
// of large updates, and Import then halves it, down to one item, which
// always fits.
func (s *Store) importChunk() int {
	if kv.LimitsOf(s.kv).Ops > 0 {
		return registry.MaxBatch
	}
	return smallBucketChunk
}

// tooLarge reports the engine refusing a transaction for its size.
func tooLarge(err error) bool {
	var e *registry.Error
	return errors.As(err, &e) && e.Reason == registry.ReasonTransactionTooLarge
}

// anySmallBucket reports whether a collection among items has a nearly
// empty primary bucket, on an engine where that makes a big transaction
// slow (kv.BucketSizer).
func (s *Store) anySmallBucket(items []registry.ImportItem) bool {
	bs, ok := s.kv.(kv.BucketSizer)
	if !ok {
		return false
	}
	var seen [registry.NumCollections]bool
	for _, it := range items {
		c := it.Resource.Collection()
		if seen[c] {
			continue
		}
		seen[c] = true
		if bs.SmallBucket(schemas[c].primary) {
			return true
		}
	}
	return false
}

func newImportResult() registry.ImportResult {
	res := registry.ImportResult{Counts: map[registry.Collection]*registry.ImportCounts{}}
	for _, c := range registry.Collections {
		res.Counts[c] = &registry.ImportCounts{}
	}
	return res
}

// importTx imports items in one transaction.
func (s *Store) importTx(ctx context.Context, items []registry.ImportItem, base int64) (registry.ImportResult, error) {
	res := newImportResult()
	valid := make([]bool, len(items))
	for i, it := range items {
		r := it.Resource
		if it.Merge != nil {
			valid[i] = true // validated once merged, in the transaction
			continue
		}
		if err := r.Validate(prefixes[r.Collection()]); err != nil {
			res.Counts[r.Collection()].Failed++
			res.Errors = append(res.Errors, itemError(base+int64(i), r, err))
			continue
		}
		valid[i] = true
	}
	// The op may run twice (see op); it rebuilds its outcome each time.
	type outcome struct {
		created, updated, unchanged, failed [registry.NumCollections]int64
		errs                                []registry.ImportItemError
	}
	var out outcome
	err := s.mutate(ctx, func(t *tx) error {
		out = outcome{}
		for i, it := range items {
			if !valid[i] {
				continue
			}
			c := it.Resource.Collection()
			switch created, changed, err := t.upsert(it); {
			case err != nil && registry.ErrorCode(err) != 0:
				out.failed[c]++
				out.errs = append(out.errs, itemError(base+int64(i), it.Resource, err))
			case err != nil:
				return err
			case created:
				out.created[c]++
			case changed:
				out.updated[c]++
			default:
				out.unchanged[c]++
			}
		}
		res.Revision = t.rev
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, c := range registry.Collections {
		n := res.Counts[c]
		n.Created, n.Updated, n.Unchanged = out.created[c], out.updated[c], out.unchanged[c]
		n.Failed += out.failed[c]
	}
	res.Errors = append(res.Errors, out.errs...)
	return res, nil
}

// upsert creates the item's resource or brings the stored one in line
// with it.
func (t *tx) upsert(it registry.ImportItem) (created, changed bool, err error) {
	r := it.Resource
	sc := schemas[r.Collection()]
	key := sc.key(r)
	old, err := t.get(sc, key)
	if err != nil {
		return false, false, err
	}
	if it.Merge != nil {
		merged := it.Merge(old)
		if merged == nil || merged.Collection() != r.Collection() || !bytes.Equal(sc.key(merged), key) {
			return false, false, fmt.Errorf("import: the merge of %s changed its identity", r.Name())
		}
		settle(merged, old, t.now) // before validating: reactivating drops the stored end time
		if err := merged.Validate(prefixes[r.Collection()]); err != nil {
			return false, false, err
		}
		r = merged
	}
	settle(r, old, t.now)
	if old == nil {
		if m, ok := r.(*registry.Membership); ok && m.JoinTime.IsZero() {
			m.JoinTime = t.now
		}
		if err := t.checkRefs(nil, r); err != nil {
			return false, false, err
		}
		return true, true, t.write(sc, registry.ChangeCreated, nil, r)
	}
	if m, ok := r.(*registry.Membership); ok && m.JoinTime.IsZero() {
		m.JoinTime = old.(*registry.Membership).JoinTime
	}
	*r.Metadata() = *old.Metadata()
	if bytes.Equal(encodeResource(nil, r), encodeResource(nil, old)) {
		return false, false, nil
	}
	if err := t.checkRefs(old, r); err != nil {
		return false, false, err
	}
	return false, true, t.write(sc, registry.ChangeUpdated, old, r)
}

func itemError(index int64, r registry.Resource, err error) registry.ImportItemError {
	ie := registry.ImportItemError{Index: index, Name: r.Name(), Err: err}
	var e *registry.Error
	if errors.As(err, &e) && len(e.Violations) > 0 {
		ie.Field = e.Violations[0].Field
	} else if errors.As(err, &e) && e.Metadata["field"] != "" {
		ie.Field = e.Metadata["field"]
	}
	return ie
}
