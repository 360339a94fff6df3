package projection

import (
	"encoding/binary"
	"math"
	"time"
)

// The history is bounded by coarsening: with an exact window W (Live's
// SetHistoryExactFor, the service's --history-exact-for), the history
// keeps every transaction committed in the last W before its latest
// commit, and before that only the state at each UTC day boundary
// (00:00 UTC). A read as of a time in the coarse part answers the figures
// as they stood at the start of that time's UTC day: exact at every day
// boundary, and a daily ListSummaryHistory aligned on them is exact all
// the way back. Coarsening happens when the window's start crosses a day
// boundary (at most once per day of commits) and drops the versions no day
// boundary needs, in memory and, by Delete records, in the checkpoint.
//
// What stays is one transaction and one version of each figure that
// changed per day: bounded by days × figures, not by transactions.

const day = int64(24 * time.Hour)

// floorDay returns the UTC day boundary at or before ns.
func floorDay(ns int64) int64 {
	d := ns / day * day
	if d > ns {
		d -= day // ns before 1970
	}
	return d
}

// maybeCoarsen coarsens the history when the exact window's start, after
// a transaction committed at t, has crossed a day boundary.
func (h *history) maybeCoarsen(t int64) {
	if h.exactFor <= 0 || t < math.MinInt64+h.exactFor+day {
		return
	}
	cut := floorDay(t - h.exactFor)
	if cut > h.coarseBefore {
		h.coarsen(cut)
	}
}

// ceilDay returns the UTC day boundary at or after ns.
func ceilDay(ns int64) int64 {
	if d := floorDay(ns); d != ns {
		return d + day
	}
	return ns
}

// coarsen makes the history coarse before `before` (a day boundary, past
// coarseBefore). Of the transactions committed before it, the history
// keeps the first one and the one in force at each day boundary up to
// `before`, restamped with the boundary; of each series, the versions in
// force at those and every later one.
//
// It works on the exact logs' oldest versions only: those of transactions
// committed from the previous coarseBefore to `before`, moved into the
// coarse logs (the one in force at a boundary) or dropped, then freed.
// The versions already coarse stay as they are: they are in force at the
// boundaries before coarseBefore, and no version of the exact logs is
// (they are all later than the last coarse transaction). So the cost is
// that of the days crossed, not of the window.
func (h *history) coarsen(before int64) {
	h.coarseBefore = before
	h.pendingPut = append(h.pendingPut, Record{SectionHistory, "b", binary.AppendVarint(nil, before)})
	tx := &h.tx
	var kept []int64 // revisions newly kept, ascending
	var lastKept int64
	if v, ok := tx.coarse.lastEntry(); ok {
		lastKept = v[1]
	} else {
		// The first coarsening: the first transaction stays as it is,
		// unless nothing is to be coarsened after it.
		var first, second [txWidth]int64
		n := 0
		tx.exact.scan(tx.from, func(_ int, v []int64) bool {
			if n == 0 {
				first = [txWidth]int64(v)
			} else {
				second = [txWidth]int64(v)
			}
			n++
			return n < 2
		})
		if n < 2 || second[0] >= before {
			return
		}
		tx.move(tx.from, first[:])
		tx.advance(tx.from+1, second[0])
		kept, lastKept = append(kept, first[1]), first[1]
	}
	// The transactions committed before `before`, grouped by the day
	// boundary at or after their commit time: the last of each group is
	// in force at its boundary.
	var pend [txWidth]int64
	pendIdx, pendDay := -1, int64(0)
	drop := func(i int, rev int64) {
		if tx.wasSaved(i) {
			h.pendingDel = append(h.pendingDel, histKey('t', -1, rev, ""))
		}
	}
	flush := func() {
		if pendIdx < 0 {
			return
		}
		if pend[1] == lastKept {
			return // (one revision, one record: the kept one)
		}
		if tx.move(pendIdx, []int64{pendDay, pend[1]}) && pend[0] != pendDay {
			h.pendingPut = append(h.pendingPut, Record{SectionHistory, histKey('t', -1, pend[1], ""), binary.AppendVarint(nil, pendDay)})
		}
		kept, lastKept = append(kept, pend[1]), pend[1]
	}
	from, head := tx.exact.n, int64(0)
	var lastCoarse int64 // the revision of the last transaction before `before`
	walked := false
	tx.exact.scan(tx.from, func(i int, v []int64) bool {
		h.coarsenVisits++
		if v[0] >= before {
			from, head = i, v[0]
			return false
		}
		if d := ceilDay(v[0]); pendIdx >= 0 && d == pendDay {
			drop(pendIdx, pend[1])
		} else {
			flush()
			pendDay = d
		}
		pend, pendIdx = [txWidth]int64(v), i
		lastCoarse, walked = v[1], true
		return true
	})
	flush()
	if !walked {
		return
	}
	tx.advance(from, head)

	h.coarsenSeries(&h.summary, kept, lastCoarse, func(rev int64) string { return histKey('s', -1, rev, "") })
	for d := range h.rows {
		for _, rs := range h.rows[d] {
			dim, key := int(rs.key.dim), rs.key.key
			h.coarsenSeries(&rs.series, kept, lastCoarse, func(rev int64) string { return histKey('r', dim, rev, key) })
		}
	}
	for _, gs := range h.groups {
		id := gs.id
		h.coarsenSeries(&gs.series, kept, lastCoarse, func(rev int64) string { return histKey('g', -1, rev, id) })
	}
}

// coarsenSeries moves the exact versions of s at or before lastCoarse that
// a revision of kept needs (a version is needed by the revisions from its
// own to the next version's) into its coarse log, and drops the others,
// queueing a Delete for each saved one.
func (h *history) coarsenSeries(s *series, kept []int64, lastCoarse int64, key func(rev int64) string) {
	if s.from == s.exact.n || s.head > lastCoarse {
		return
	}
	width := s.exact.width
	var prev [maxWidth]int64
	prevIdx := -1
	k := 0 // kept[k] is the first kept revision not below prev's
	decide := func(nextRev int64) {
		p := prev[:width]
		for k < len(kept) && kept[k] < p[0] {
			k++
		}
		if k < len(kept) && kept[k] < nextRev {
			s.move(prevIdx, p)
		} else if s.wasSaved(prevIdx) {
			h.pendingDel = append(h.pendingDel, key(p[0]))
		}
	}
	from, head := s.exact.n, int64(0)
	s.exact.scan(s.from, func(i int, v []int64) bool {
		h.coarsenVisits++
		if prevIdx >= 0 {
			decide(v[0])
		}
		if v[0] > lastCoarse {
			from, head, prevIdx = i, v[0], -1
			return false
		}
		copy(prev[:], v)
		prevIdx = i
		return true
	})
	if prevIdx >= 0 {
		decide(math.MaxInt64)
	}
	s.advance(from, head)
}

// histKey is the checkpoint key of a history record (see appendVarints).
func histKey(tag byte, dim int, rev int64, name string) string {
	b := make([]byte, 0, 10+len(name))
	b = append(b, tag)
	if dim >= 0 {
		b = append(b, byte(dim))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(rev))
	return string(append(b, name...))
}

// deletes returns the Delete records of what a coarsening dropped.
func (t *histTake) deletes() []Record {
	if t == nil {
		return nil
	}
	out := make([]Record, 0, len(t.dels))
	for _, k := range t.dels {
		out = append(out, Record{Section: SectionHistory, Key: k})
	}
	return out
}
