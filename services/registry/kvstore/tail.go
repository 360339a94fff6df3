package kvstore

import (
	"sync"

	"talentreg/services/registry"
)

// The change feed's live tail reads the latest changes again and again,
// one commit at a time. On an engine whose every commit goes through this
// Store (kv.SoleWriter: bbolt), the entries of the latest commits are kept
// here as they were written, and the tail is served from them without a
// read transaction. This matters behind bbolt's write-ahead log: a write
// is acknowledged once the log has it, before bbolt commits it, and a
// View must wait for that commit — a feed reading after every write would
// make bbolt commit every write on its own instead of sharing one commit
// among the writes of a few milliseconds.
//
// The entries are self-contained (v4) change entries, so they decode to
// exactly the changes a read of the engine gives (TestTail_* compare
// them). Only acknowledged commits are added, and only a run of
// consecutive revisions is served: a commit acknowledged before an earlier
// one's goroutine added it waits (the feed is woken again when the run
// grows).

// tailSize is how many of the latest changes are kept: the feed's lag
// behind the head stays far below it while it keeps up; a feed further
// behind (or an import's big transactions) reads from the engine.
const tailSize = 8192

// tailEntry is one change as written.
type tailEntry struct {
	rev   int64
	entry []byte          // a self-contained change entry (finishChange)
	actor *registry.Actor // its transaction's, shared by its changes as a read gives them
}

// tail is the ring of the latest changes.
type tail struct {
	mu   sync.Mutex
	ring []tailEntry // revision r at r % tailSize
	// Every revision in [start, head] is in ring; start is past the
	// compacted revisions.
	start, head int64
}

// newTail returns the tail of a log whose last revision is head.
func newTail(head int64) *tail {
	return &tail{ring: make([]tailEntry, tailSize), start: head + 1, head: head}
}

// add records a commit's changes (in revision order) and reports whether
// the run of consecutive revisions grew.
func (t *tail) add(entries []tailEntry, compacted int64) bool {
	if len(entries) == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	last := entries[len(entries)-1].rev
	if last-tailSize+1 > t.start {
		// The ring cannot hold the revisions from start to last: it
		// keeps the latest, and the gap before them is read from the
		// engine.
		t.start = last - tailSize + 1
	}
	for _, e := range entries {
		if e.rev >= t.start {
			t.ring[e.rev%tailSize] = e
		}
	}
	t.start = max(t.start, compacted+1)
	before := t.head
	t.head = max(t.head, t.start-1)
	for t.ring[(t.head+1)%tailSize].rev == t.head+1 {
		t.head++
	}
	return t.head > before
}

// page returns up to limit changes from revision from and the head of the
// run; ok is false when from is outside what the ring can answer (before
// its start, compacted, or beyond its head + 1).
func (t *tail) page(from int64, limit int) (entries []tailEntry, head int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if from < t.start || from > t.head+1 {
		return nil, 0, false
	}
	n := min(int64(limit), t.head-from+1)
	entries = make([]tailEntry, 0, n)
	for r := from; r < from+n; r++ {
		entries = append(entries, t.ring[r%tailSize])
	}
	return entries, t.head, true
}

// tailPage answers ListChanges from the tail when it can.
func (s *Store) tailPage(from int64, limit int) (registry.ChangePage, bool, error) {
	if limit <= 0 {
		limit = registry.DefaultPageSize
	}
	entries, head, ok := s.tail.page(from, limit)
	if !ok {
		return registry.ChangePage{}, false, nil
	}
	page := registry.ChangePage{Revision: head, Changes: make([]registry.Change, 0, len(entries))}
	for _, e := range entries {
		ch, err := decodeChange(nil, e.rev, e.entry)
		if err != nil {
			return registry.ChangePage{}, true, err
		}
		ch.Actor = e.actor
		page.Changes = append(page.Changes, ch)
	}
	if n := len(page.Changes); n > 0 {
		page.More = page.Changes[n-1].Revision < head
	}
	return page, true, nil
}
