package kvstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unsafe"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// keyRange walks the primary keys of one sorted range: either a primary
// bucket (keys are primary keys, optionally under a prefix) or one
// field=value run of an index bucket (keys are prefix + primary key).
type keyRange struct {
	c      kv.Cursor
	prefix []byte
	index  bool
	// f and value, for a run of a tail field (field.tail), turn its
	// entries back into primary keys (field.primaryOf).
	f      *field
	value  string
	pk     []byte // primaryOf's buffer
	seekTo []byte
	at     []byte // the cursor's current key; nil before the first seek
	val    []byte // and its value
}

// indexRange returns the range of f's index entries with value.
func indexRange(r kv.Reader, sc *schema, f *field, value string) *keyRange {
	kr := &keyRange{c: r.Cursor(sc.index), prefix: indexPrefix(f, value), index: true}
	if f.tail {
		kr.f, kr.value = f, value
	}
	return kr
}

// gallop is how many Next steps seek tries before a Seek from the root:
// in an intersection the next candidate is usually a few keys on. An
// index leaf page holds a hundred or more small entries, so stepping over
// a few more of them stays cheaper than a search from the root (a
// field=value run that the join leaves for a few keys is re-entered by
// stepping); a primary leaf page holds a dozen records, and stepping on
// from one result to the next soon crosses pages.
const (
	gallop      = 3 // in a primary bucket
	indexGallop = 8 // in an index run
)

// seek returns the smallest primary key ≥ pk in the range, or nil.
func (r *keyRange) seek(pk []byte) []byte {
	if r.index {
		at := pk
		if r.f != nil {
			// Entries are keyed by the head of their primary key (or,
			// from format 3, by all of it): seek to the target's head,
			// a bound never past the first key ≥ pk, and step on below.
			if i := bytes.IndexByte(pk, sep); i >= 0 {
				at = pk[:i]
			}
		}
		r.seekTo = append(append(r.seekTo[:0], r.prefix...), at...)
	} else if bytes.Compare(pk, r.prefix) < 0 {
		r.seekTo = append(r.seekTo[:0], r.prefix...)
	} else {
		r.seekTo = append(r.seekTo[:0], pk...)
	}
	// Targets never go backwards (the join only moves forward), so a
	// cursor already at or past pk stands on the smallest key ≥ pk.
	k, v := r.at, r.val
	switch {
	case k == nil:
		k, v = r.c.Seek(r.seekTo)
	case bytes.Compare(k, r.seekTo) < 0:
		steps := gallop
		if r.index {
			steps = indexGallop
		}
		for i := 0; k != nil && bytes.Compare(k, r.seekTo) < 0; i++ {
			if i == steps {
				k, v = r.c.Seek(r.seekTo)
				break
			}
			k, v = r.c.Next()
		}
	}
	r.at, r.val = k, v
	if k == nil || !bytes.HasPrefix(k, r.prefix) {
		return nil
	}
	if !r.index {
		return k
	}
	if r.f == nil {
		return k[len(r.prefix):]
	}
	for {
		r.pk = r.f.primaryOf(r.pk, r.value, k[len(r.prefix):])
		if bytes.Compare(r.pk, pk) >= 0 {
			return r.pk
		}
		k, v = r.c.Next()
		r.at, r.val = k, v
		if k == nil || !bytes.HasPrefix(k, r.prefix) {
			return nil
		}
	}
}

// list returns one page of sc's collection: the resources under the
// primary-key prefix parent whose indexed fields meet every condition, in
// primary-key order, after q.After. Intersections are a leapfrog join of
// the sorted index ranges: each range seeks straight to the largest
// candidate so far, so a page costs O(page × conditions × log n) seeks
// however selective each condition is alone, and never a scan. A sparse
// bool's "= false" is an anti-join: candidates found in its true run are
// skipped, one seek each.
func list[T registry.Resource](s *Store, ctx context.Context, sc *schema, parent []byte, q registry.ListQuery) ([]T, string, error) {
	var out []T
	next, err := page(s, ctx, sc, parent, q, func(keys *pageKeys, vals [][]byte) error {
		// One string holds every key and record of the page, and the
		// decoded records' strings are substrings of it: one copy out of
		// the transaction, one allocation (see decodeIn).
		size := 0
		for i, v := range vals {
			size += len(keys.at(i)) + len(v)
		}
		var all strings.Builder
		all.Grow(size)
		for i, v := range vals {
			all.Write(keys.at(i))
			all.Write(v)
		}
		page := all.String()
		a := newArena(sc.coll, len(vals))
		out = make([]T, 0, len(vals))
		at := 0
		for i, v := range vals {
			k := keys.at(i)
			end := at + len(k) + len(v)
			r, err := decodeIn(sc.coll, page[at:at+len(k)], page[at+len(k):end], v, a)
			if err != nil {
				return err
			}
			out = append(out, r.(T))
			at = end
		}
		return nil
	})
	return out, next, err
}

// visit calls fn with each resource of the page list returns, decoded
// in place: the resource, its strings (which alias the transaction's
// memory) and its slices are reused or invalid once fn returns.
func visit(s *Store, ctx context.Context, sc *schema, parent []byte, q registry.ListQuery, fn func(registry.Resource)) (string, error) {
	return page(s, ctx, sc, parent, q, func(keys *pageKeys, vals [][]byte) error {
		a := &arena{reuse: true}
		for i, v := range vals {
			r, err := decodeIn(sc.coll, unsafeString(keys.at(i)), unsafeString(v), v, a)
			if err != nil {
				return err
			}
			fn(r)
		}
		return nil
	})
}

// unsafeString returns b as a string without copying: b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// page finds one page of sc's collection (see list) and calls read, in the
// transaction, with its primary keys and records, the records being the
// engine's memory, valid until the transaction ends.
func page(s *Store, ctx context.Context, sc *schema, parent []byte, q registry.ListQuery, read func(keys *pageKeys, vals [][]byte) error) (string, error) {
	for _, c := range q.Conditions {
		if sc.field(c.Field) == nil {
			return "", registry.Errorf(registry.CodeInvalidArgument, registry.ReasonInvalidFilter,
				"filter: %s cannot be filtered on %q", sc.coll, c.Field)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = registry.DefaultPageSize
	}
	limit = min(limit, registry.MaxPageSize)
	var next string
	err := s.view(ctx, func(r kv.Reader) error {
		// ranges must all hold a key; excluded ranges must not (the false
		// side of a sparse bool, the unindexed value of a sparse enum).
		var ranges, excluded []*keyRange
		for _, c := range q.Conditions {
			f := sc.field(c.Field)
			v := f.indexValue(c.Value)
			if others, ok := f.excludedValues(v); ok {
				for _, o := range others {
					excluded = append(excluded, indexRange(r, sc, f, o))
				}
				continue
			}
			ranges = append(ranges, indexRange(r, sc, f, v))
		}
		if parent != nil || len(ranges) == 0 {
			ranges = append(ranges, &keyRange{c: r.Cursor(sc.primary), prefix: parent})
		}
		var target []byte
		if q.After != "" {
			target = append([]byte(q.After), sep) // the smallest key after q.After
		}
		var keys pageKeys
		agree := 0
		for i := 0; keys.len() <= limit; i = (i + 1) % len(ranges) {
			pk := ranges[i].seek(target)
			if pk == nil {
				break
			}
			if bytes.Equal(pk, target) {
				agree++
			} else {
				target = append(target[:0], pk...)
				agree = 1
			}
			if agree == len(ranges) {
				if !excludedBy(excluded, target) {
					keys.add(target)
				}
				target = append(target, sep)
				agree = 0
			}
			if keys.len()%64 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		for _, kr := range append(ranges, excluded...) {
			if err := kr.c.Err(); err != nil {
				return err
			}
		}
		if keys.len() > limit {
			keys.ends = keys.ends[:limit]
			next = string(keys.at(limit - 1))
		}
		// The keys are sorted: walk one primary cursor over them rather
		// than searching from the root for each.
		records := &keyRange{c: r.Cursor(sc.primary)}
		vals := make([][]byte, keys.len())
		for i := range vals {
			k := keys.at(i)
			if !bytes.Equal(records.seek(k), k) {
				if err := records.c.Err(); err != nil {
					return err
				}
				return fmt.Errorf("%s index names missing %q: %w", sc.coll, k, errCorrupt)
			}
			vals[i] = records.val // valid until the transaction ends
		}
		return read(&keys, vals)
	})
	return next, err
}

// pageKeys is a list of primary keys in one buffer.
type pageKeys struct {
	b    []byte
	ends []int
}

func (p *pageKeys) len() int { return len(p.ends) }

func (p *pageKeys) add(k []byte) {
	p.b = append(p.b, k...)
	p.ends = append(p.ends, len(p.b))
}

// at returns key i, valid until the next add.
func (p *pageKeys) at(i int) []byte {
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	return p.b[start:p.ends[i]:p.ends[i]]
}

// excludedBy reports whether any excluded range holds pk.
func excludedBy(excluded []*keyRange, pk []byte) bool {
	for _, r := range excluded {
		if bytes.Equal(r.seek(pk), pk) {
			return true
		}
	}
	return false
}
