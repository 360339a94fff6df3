package projection

import (
	"fmt"
	"testing"
	"time"
)

// SetBeforeRead makes fn run in every read of l between its wait for the
// minimum revision and the read itself.
func SetBeforeRead(l *Live, fn func()) { l.beforeRead = fn }

// SetHeadCheckGrace sets how long l's reads wait before their head check.
// Call it while no read is waiting.
func SetHeadCheckGrace(l *Live, d time.Duration) { l.checkGrace = d }

// SetCompactMinFree sets how many ids of a pool must be free before it is
// compacted, until the test ends.
func SetCompactMinFree(t testing.TB, n int) {
	old := compactMinFree
	compactMinFree = n
	t.Cleanup(func() { compactMinFree = old })
}

// PoolSizes returns how many ids each pool of interned values has, free
// ones included: regions, industries, industry sets, group fields.
func PoolSizes(p *Projection) [4]int {
	return [4]int{len(p.regions.names), len(p.industries.names), len(p.industrySets.sets), len(p.fields.names)}
}

// CheckPools recounts the references to every interned value from the
// entity and group slots and compares them with the pools' own counts: a
// value is interned exactly while an existing entity or group holds it.
func CheckPools(p *Projection) error {
	regions := make([]int32, len(p.regions.names))
	sets := make([]int32, len(p.industrySets.sets))
	for i := range p.entities.len() {
		e := p.entities.at(i)
		if e.flags&flagExists == 0 {
			if e.region != 0 || e.industries != 0 {
				return fmt.Errorf("entity slot %d (%q) does not exist but holds region %d, industries %d", i, e.name, e.region, e.industries)
			}
			continue
		}
		regions[e.region]++
		sets[e.industries]++
	}
	fields := make([]int32, len(p.fields.names))
	for i := range p.groups {
		g := &p.groups[i]
		if !g.exists {
			if g.field != 0 {
				return fmt.Errorf("group slot %d (%q) does not exist but holds field %d", i, g.name, g.field)
			}
			continue
		}
		fields[g.field]++
	}
	industries := make([]int32, len(p.industries.names))
	for id, set := range p.industrySets.sets {
		if id != 0 && p.industrySets.refs[id] > 0 {
			for _, ind := range set {
				industries[ind]++
			}
		}
	}
	if err := checkPool("region", &p.regions, regions); err != nil {
		return err
	}
	if err := checkPool("industry", &p.industries, industries); err != nil {
		return err
	}
	if err := checkPool("field", &p.fields, fields); err != nil {
		return err
	}
	sp := &p.industrySets
	live := 1
	for id := 1; id < len(sp.sets); id++ {
		if sp.refs[id] != sets[id] {
			return fmt.Errorf("industry set %d: %d references counted, %d held", id, sp.refs[id], sets[id])
		}
		if sp.refs[id] > 0 {
			live++
			if sp.ids[sp.keys[id]] != int32(id) {
				return fmt.Errorf("industry set %d (%q) is not interned under its key", id, sp.keys[id])
			}
		}
	}
	if live != len(sp.ids) || live+len(sp.free) != len(sp.sets) {
		return fmt.Errorf("industry sets: %d in use, %d interned, %d free of %d", live, len(sp.ids), len(sp.free), len(sp.sets))
	}
	return nil
}

func checkPool(what string, p *pool, held []int32) error {
	live := 1
	for id := 1; id < len(p.names); id++ {
		if p.refs[id] != held[id] {
			return fmt.Errorf("%s %d (%q): %d references counted, %d held", what, id, p.names[id], p.refs[id], held[id])
		}
		if p.refs[id] > 0 {
			live++
			if p.ids[p.names[id]] != int32(id) {
				return fmt.Errorf("%s %d (%q) is not interned under its name", what, id, p.names[id])
			}
		}
	}
	if live != len(p.ids) || live+len(p.free) != len(p.names) {
		return fmt.Errorf("%ss: %d in use, %d interned, %d free of %d", what, live, len(p.ids), len(p.free), len(p.names))
	}
	return nil
}

// SetHistoryExactFor bounds p's history (Live.SetHistoryExactFor does it
// for the projections a Live is given).
func SetHistoryExactFor(p *Projection, d time.Duration) { p.hist.exactFor = int64(d) }

// HistoryLen returns how many transactions and Summary versions p's
// history holds, and the bytes of their encoding and the series'.
func HistoryLen(p *Projection) (tx, summaries, bytes int) {
	h := p.hist
	bytes = h.tx.bytes() + h.summary.bytes()
	for _, m := range h.rows {
		for _, rs := range m {
			bytes += rs.bytes()
		}
	}
	for _, gs := range h.groups {
		bytes += gs.bytes()
	}
	return h.tx.len(), h.summary.len(), bytes
}

// CoarsenVisits returns how many versions p's coarsenings have gone
// through.
func CoarsenVisits(p *Projection) int { return p.hist.coarsenVisits }

// DeltaLater returns p's Delta as Live.Delta does: its history records
// are encoded by Encode, which the caller may call after more changes.
func DeltaLater(p *Projection) Delta { return p.encode(p.takeChanges()) }
