package etcdkv

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"talentreg/services/registry/kv"
)

// Group commit. Every registry write reads the revision counter and writes
// it, so concurrent Updates of one replica, each committed on its own,
// conflict with one another on that key: with 50 writers, most attempts
// lost the race and ran again (30 creates/s, p99 4.7 s on a 1-member
// cluster, against 219/s for one writer). Instead the Updates waiting in a
// replica run one after another in one etcd transaction — each sees the
// writes of those before it, as in bbolt's batches — committed once, with
// the compares of them all. Conflicts remain only between replicas.

// Bounds of one group: calls, and request bytes (well under etcd's request
// limit, so one slow group does not hold every writer for long).
const (
	maxGroupCalls = 128
	maxGroupBytes = 1 << 20
)

// call is one Update waiting for its group.
type call struct {
	ctx  context.Context
	fn   func(kv.Txn) error
	done chan error
}

// enqueue adds c to the pending calls, starting the group runner if none
// runs.
func (s *Store) enqueue(c *call) {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	s.pending = append(s.pending, c)
	if !s.grouping {
		s.grouping = true
		go s.runGroups()
	}
}

// runGroups commits the pending calls group by group until none is left.
func (s *Store) runGroups() {
	var carry []*call // calls that did not fit in the last group, first in the next
	for {
		s.groupMu.Lock()
		calls := append(carry, s.pending...)
		s.pending = nil
		if len(calls) == 0 {
			s.grouping = false
			s.groupMu.Unlock()
			return
		}
		s.groupMu.Unlock()
		n := min(len(calls), maxGroupCalls)
		carry = append(carry[:0:0], calls[n:]...)
		if rest := s.commitGroup(calls[:n]); len(rest) > 0 {
			carry = append(rest, carry...)
		}
	}
}

// commitGroup runs calls in one transaction and commits it, running it
// again when another writer committed first. It answers every call it ran
// and returns those that did not fit, in order, for the next group.
func (s *Store) commitGroup(calls []*call) (rest []*call) {
	if len(calls) == 1 {
		c := calls[0]
		c.done <- s.update(c.ctx, c.fn)
		return nil
	}
	results := make([]error, len(calls))
	for attempt := 0; ; attempt++ {
		if err := s.open(); err != nil {
			for _, c := range calls {
				c.done <- err
			}
			return nil
		}
		t := &txn{s: s, ctx: context.Background(), writes: map[string]*write{}, journaling: true}
		ran := len(calls)
		for i, c := range calls {
			if err := c.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			sp := t.mark()
			err := c.fn(t)
			if t.err != nil {
				// A read failed (etcd unavailable): the group cannot commit.
				// Each call goes on alone, and fails or succeeds on its own.
				for _, c := range calls {
					c.done <- s.update(c.ctx, c.fn)
				}
				return nil
			}
			if err != nil {
				t.rollback(sp) // fn promises no writes before an error; be sure
				results[i] = err
				continue
			}
			if i > 0 && !t.fits() {
				t.rollback(sp)
				ran, rest = i, calls[i:]
				break
			}
			results[i] = nil
		}
		ok, err := t.commit()
		switch {
		case errors.Is(err, kv.ErrTooLarge):
			// Compares beyond the limits: commit the calls one by one.
			for _, c := range calls[:ran] {
				c.done <- s.update(c.ctx, c.fn)
			}
			return rest
		case err != nil:
			// Unavailable: the writes may or may not have been applied, so
			// every call of the group gets the error and retries.
			for _, c := range calls[:ran] {
				c.done <- err
			}
			return rest
		case ok:
			for i, c := range calls[:ran] {
				c.done <- results[i]
			}
			return rest
		}
		rest = nil
		pause := time.Duration(rand.Int64N(int64(min(attempt+1, 20)) * int64(time.Millisecond)))
		time.Sleep(pause)
	}
}

// savepoint is where a transaction's writes stood before one call of a
// group.
type savepoint struct{ order, journal int }

// undo restores one key's buffered write (prev nil: none).
type undo struct {
	key  string
	prev *write
}

func (t *txn) mark() savepoint { return savepoint{len(t.order), len(t.journal)} }

// rollback undoes the writes recorded since sp. Reads since sp stay
// recorded: their compares can only make the commit more careful.
func (t *txn) rollback(sp savepoint) {
	for i := len(t.journal) - 1; i >= sp.journal; i-- {
		u := t.journal[i]
		if u.prev == nil {
			delete(t.writes, u.key)
		} else {
			t.writes[u.key] = u.prev
		}
	}
	t.journal = t.journal[:sp.journal]
	t.order = t.order[:sp.order] // keys first written since sp come last
}

// fits reports whether the transaction is within a group's bounds and the
// engine's limits.
func (t *txn) fits() bool {
	size := t.requestBytes()
	l := t.s.limits
	cmps := len(t.reads) + len(t.ranges)
	return size <= maxGroupBytes && (l.Bytes == 0 || size <= l.Bytes) &&
		(l.Ops == 0 || (len(t.order) <= l.Ops && cmps <= l.Ops))
}
