package kvstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// PageChecker is implemented by engines with a check of their own
// structure (bbolt's page check).
type PageChecker interface {
	CheckPages() []error
}

// forEach calls fn for every key of bucket b in order.
func forEach(r kv.Reader, b kv.Bucket, fn func(k, v []byte) error) error {
	c := r.Cursor(b)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return c.Err()
}

// Check verifies the whole database in one snapshot: the engine's own
// structure (bbolt's page check), every index entry against its primary
// record and back, the
// credit-code table, and a change log that runs without gaps from the
// compacted revision to the current one. Tests run it after every
// scenario; operators can run it offline with `registry check`. It
// reports damage as an error, never a panic.
func (s *Store) Check() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: reading the database failed: %v", errCorrupt, p)
		}
	}()
	var errs []error
	if pc, ok := s.kv.(PageChecker); ok {
		errs = append(errs, pc.CheckPages()...)
	}
	return s.view(context.Background(), func(btx kv.Reader) error {
		rev, compacted, err := metaRevisions(btx)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		// The by-name index holds every retained change but, from format
		// 3 on, the latest of each stored record (the changes before the
		// migration marker, while a migration is under way).
		latestIndexed, err := latestIndexedFrom(btx)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		live := map[int64]bool{} // revisions of stored records, within the log
		codes := map[string]string{}
		for _, coll := range registry.Collections {
			sc := schemas[coll]
			want := map[string]bool{}
			err := forEach(btx, sc.primary, func(k, v []byte) error {
				r, err := decodeRecord(coll, k, v)
				if err != nil {
					return err
				}
				if string(sc.key(r)) != string(k) {
					return fmt.Errorf("%s: record under key %q is %s", coll, k, r.Name())
				}
				if r.Metadata().Revision > rev || r.Metadata().Revision <= 0 {
					return fmt.Errorf("%s: revision %d outside 1..%d", r.Name(), r.Metadata().Revision, rev)
				}
				if r.Metadata().Revision > compacted {
					live[r.Metadata().Revision] = true
				}
				for i := range sc.fields {
					f := &sc.fields[i]
					for _, val := range f.values(r) {
						want[string(indexKey(f, val, k))] = true
					}
				}
				if e, ok := r.(*registry.Entity); ok && e.CreditCode != "" {
					if other, dup := codes[e.CreditCode]; dup {
						return fmt.Errorf("credit code %s held by entities %s and %s", e.CreditCode, other, e.ID)
					}
					codes[e.CreditCode] = e.ID
				}
				return nil
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			n := 0
			ierr := forEach(btx, sc.index, func(k, _ []byte) error {
				n++
				if !want[string(sc.normalIndexKey(k))] {
					errs = append(errs, fmt.Errorf("%s index: stray entry %q", coll, k))
				}
				return nil
			})
			if ierr != nil {
				errs = append(errs, ierr)
			} else if n != len(want) {
				errs = append(errs, fmt.Errorf("%s index: %d entries, want %d", coll, n, len(want)))
			}
		}
		n := 0
		if err := forEach(btx, bucketCreditCodes, func(k, v []byte) error {
			n++
			if codes[string(k)] != string(v) {
				errs = append(errs, fmt.Errorf("credit code %s maps to %q, want %q", k, v, codes[string(k)]))
			}
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
		if n != len(codes) {
			errs = append(errs, fmt.Errorf("credit codes: %d entries, want %d", n, len(codes)))
		}
		next := compacted + 1
		byName := map[string]bool{}
		var prev registry.Change
		if err := forEach(btx, bucketChanges, func(k, v []byte) error {
			r := revFromKey(k)
			if r != next {
				errs = append(errs, fmt.Errorf("change log: revision %d follows %d", r, next-1))
			}
			ch, err := decodeChange(btx, r, v)
			if err != nil {
				errs = append(errs, err)
			} else if err := checkTxn(prev, ch, rev); err != nil {
				errs = append(errs, err)
			}
			if coll, pk, err := changeKey(r, v); err != nil {
				errs = append(errs, fmt.Errorf("change %d: %w", r, err))
			} else if !live[r] || r >= latestIndexed {
				byName[string(nameKey(coll, pk, r))] = true
			}
			prev, next = ch, r+1
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
		if next-1 != rev {
			errs = append(errs, fmt.Errorf("change log ends at %d, revision is %d", next-1, rev))
		}
		errs = append(errs, checkAudit(btx, byName, compacted, rev)...)
		return errors.Join(errs...)
	})
}

// latestIndexedFrom returns the revision from which the by-name index
// also holds the latest change of a stored record: all of them in format
// 2, those the migration to format 3 has not reached yet, none from format
// 3 on.
func latestIndexedFrom(r kv.Reader) (int64, error) {
	format, err := r.Get(bucketMeta, keyFormat)
	if err != nil {
		return 0, err
	}
	marker, err := r.Get(bucketMeta, keyMigrating)
	switch {
	case err != nil:
		return 0, err
	case string(format) == formatV3 || string(format) == formatV4:
		return math.MaxInt64, nil
	case len(marker) == 8:
		return revFromKey(marker), nil
	}
	return 0, nil
}

// checkAudit verifies the audit buckets: the by-name index holds exactly
// the retained changes, actor entries cover disjoint revision ranges within
// the log, and the by-actor index matches them.
func checkAudit(btx kv.Reader, byName map[string]bool, compacted, rev int64) []error {
	var errs []error
	n := 0
	if err := forEach(btx, bucketByName, func(k, _ []byte) error {
		n++
		if !byName[string(k)] {
			errs = append(errs, fmt.Errorf("changes.by_name: stray entry %q", k))
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	if n != len(byName) {
		errs = append(errs, fmt.Errorf("changes.by_name: %d entries, want %d", n, len(byName)))
	}
	wantByActor := map[string]bool{}
	prevLast := int64(-1)
	if err := forEach(btx, bucketActors, func(k, v []byte) error {
		e, err := decodeActorEntry(k, v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("changes.actors %x: %w", k, err))
			return nil
		case e.last < e.first || e.first <= prevLast || e.last > rev || e.last <= compacted:
			errs = append(errs, fmt.Errorf("changes.actors: range %d-%d after %d is outside the log (%d, %d]", e.first, e.last, prevLast, compacted, rev))
		}
		prevLast = e.last
		if e.actor.Principal != "" {
			wantByActor[string(actorKey(e.actor.Principal, e.first))] = true
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	n = 0
	if err := forEach(btx, bucketByActor, func(k, _ []byte) error {
		n++
		if !wantByActor[string(k)] {
			errs = append(errs, fmt.Errorf("changes.by_actor: stray entry %q", k))
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	if n != len(wantByActor) {
		errs = append(errs, fmt.Errorf("changes.by_actor: %d entries, want %d", n, len(wantByActor)))
	}
	return errs
}

// checkTxn checks the transaction bounds of ch, which follows prev in the
// log (prev is zero for the first change kept), against each other and
// the head revision: a transaction is a run of consecutive revisions that
// all carry its bounds, and ends by the head.
func checkTxn(prev, ch registry.Change, head int64) error {
	r := ch.Revision
	switch {
	case ch.TxnFirst > r || ch.TxnLast < r || ch.TxnLast > head:
		return fmt.Errorf("change %d: transaction %d-%d does not hold it within revision %d", r, ch.TxnFirst, ch.TxnLast, head)
	case prev.Revision == 0 || prev.Revision != r-1:
		return nil // the first change kept may be inside a transaction
	case prev.TxnLast >= r && (ch.TxnFirst != prev.TxnFirst || ch.TxnLast != prev.TxnLast):
		return fmt.Errorf("change %d: transaction %d-%d, but change %d is in transaction %d-%d", r, ch.TxnFirst, ch.TxnLast, prev.Revision, prev.TxnFirst, prev.TxnLast)
	case prev.TxnLast < r && ch.TxnFirst != r:
		return fmt.Errorf("change %d: transaction %d-%d starts before it, but change %d ended its transaction", r, ch.TxnFirst, ch.TxnLast, prev.Revision)
	}
	return nil
}

// normalIndexKey returns the format-4 form of index entry k of sc: a
// tail field's entry written by format 3 (or by a migration not yet
// there) names the whole primary key.
func (sc *schema) normalIndexKey(k []byte) []byte {
	if len(k) == 0 {
		return k
	}
	for i := range sc.fields {
		f := &sc.fields[i]
		if f.id != k[0] || !f.tail {
			continue
		}
		end := bytes.IndexByte(k[1:], sep)
		if end < 0 {
			return k
		}
		value := string(k[1 : 1+end])
		return indexKey(f, value, f.primaryOf(nil, value, k[2+end:]))
	}
	return k
}
