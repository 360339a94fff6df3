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

// coarsen keeps, of the transactions committed before `before` (a day
// boundary), the first one and the one in force at each day boundary up to
// `before`, restamped with the boundary; of each series, the versions in
// force at those transactions and every later one.
func (h *history) coarsen(before int64) {
	h.coarseBefore = before
	h.pendingPut = append(h.pendingPut, Record{SectionHistory, "b", binary.AppendVarint(nil, before)})
	// The transactions after the first committed before `before`: at most
	// a day of exact ones and a boundary per day before that.
	var coarse [][txWidth]int64
	var base [txWidth]int64
	i := 0
	h.tx.each(0, func(v []int64) {
		if i == 0 {
			base = [txWidth]int64(v)
		} else if v[0] < before {
			coarse = append(coarse, [txWidth]int64(v))
		}
		i++
	})
	if len(coarse) == 0 {
		return
	}
	tx := newVlog(txWidth)
	tx.add(base[:])
	newSaved := min(1, h.savedTx)
	kept := []int64{base[1]}
	emitted := make([]bool, len(coarse))
	cur, src := base, -1 // the last transaction at or before the boundary
	j := 0
	for d := floorDay(coarse[0][0]); d <= before; d += day {
		for j < len(coarse) && coarse[j][0] <= d {
			cur, src = coarse[j], j
			j++
		}
		if cur[1] == kept[len(kept)-1] {
			continue
		}
		tx.add([]int64{d, cur[1]})
		kept = append(kept, cur[1])
		emitted[src] = true
		if src+1 < h.savedTx {
			newSaved = tx.n
			if cur[0] != d {
				h.pendingPut = append(h.pendingPut, Record{SectionHistory, histKey('t', -1, cur[1], ""), binary.AppendVarint(nil, d)})
			}
		}
	}
	for j, e := range coarse {
		if !emitted[j] && j+1 < h.savedTx {
			h.pendingDel = append(h.pendingDel, histKey('t', -1, e[1], ""))
		}
	}
	i = 0
	h.tx.each(0, func(v []int64) {
		if i > len(coarse) {
			tx.add(v)
			if i < h.savedTx {
				newSaved = tx.n
			}
		}
		i++
	})
	h.tx, h.savedTx = tx, newSaved

	lastCoarse := coarse[len(coarse)-1][1]
	h.summary, h.savedSummary = h.coarsenSeries(h.summary, h.savedSummary, kept, lastCoarse, func(rev int64) string { return histKey('s', -1, rev, "") })
	for d := range h.rows {
		for _, rs := range h.rows[d] {
			dim, key := int(rs.key.dim), rs.key.key
			rs.vs, rs.saved = h.coarsenSeries(rs.vs, rs.saved, kept, lastCoarse, func(rev int64) string { return histKey('r', dim, rev, key) })
		}
	}
	for _, gs := range h.groups {
		id := gs.id
		gs.vs, gs.saved = h.coarsenSeries(gs.vs, gs.saved, kept, lastCoarse, func(rev int64) string { return histKey('g', -1, rev, id) })
	}
}

// coarsenSeries returns vs without the versions at or before lastCoarse
// that no revision of kept needs (a version is needed by the revisions from
// its own to the next version's), and how many of those left were saved;
// it queues a Delete for each saved version it drops.
func (h *history) coarsenSeries(vs vlog, saved int, kept []int64, lastCoarse int64, key func(rev int64) string) (vlog, int) {
	out := newVlog(vs.width)
	newSaved := 0
	var prev [maxWidth]int64
	prevIdx := -1
	k := 0 // kept[k] is the first kept revision not below prev's
	decide := func(nextRev int64) {
		if prevIdx < 0 {
			return
		}
		p := prev[:vs.width]
		for k < len(kept) && kept[k] < p[0] {
			k++
		}
		if p[0] > lastCoarse || (k < len(kept) && kept[k] < nextRev) {
			out.add(p)
			if prevIdx < saved {
				newSaved = out.n
			}
		} else if prevIdx < saved {
			h.pendingDel = append(h.pendingDel, key(p[0]))
		}
	}
	i := 0
	vs.each(0, func(v []int64) {
		decide(v[0])
		copy(prev[:], v)
		prevIdx = i
		i++
	})
	decide(math.MaxInt64)
	return out, newSaved
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
