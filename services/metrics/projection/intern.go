package projection

import (
	"slices"
	"strings"
)

// pool interns strings (regions, industries, group fields) as dense ids so
// per-entity state holds an int32 and breakdown rows live in slices. Id 0 is
// always the empty string, "not set", and is never freed.
//
// Values come and go (a region is free text), so every other id counts its
// references — the existing entities or groups holding the value, or the
// interned industry sets holding an industry — and the value is forgotten
// when they fall to zero, its id reused by the next new value. When values
// fall out of use faster than new ones come, ids become sparse; compact then
// renumbers them densely (the projection does at checkpoints and at
// bootstrap). Memory and breakdown rows thus stay bounded by the values in
// use, not by every value ever seen.
type pool struct {
	ids   map[string]int32
	names []string // "" for a free id
	refs  []int32
	free  []int32
}

func newPool() pool {
	return pool{ids: map[string]int32{"": 0}, names: []string{""}, refs: []int32{0}}
}

// acquire returns the id of s and counts one more reference to it.
func (p *pool) acquire(s string) int32 {
	if s == "" {
		return 0
	}
	id, ok := p.ids[s]
	if !ok {
		s = strings.Clone(s) // the caller's string may pin a whole message
		if n := len(p.free); n > 0 {
			id = p.free[n-1]
			p.free = p.free[:n-1]
			p.names[id] = s
		} else {
			id = int32(len(p.names))
			p.names = append(p.names, s)
			p.refs = append(p.refs, 0)
		}
		p.ids[s] = id
	}
	p.refs[id]++
	return id
}

// release drops one reference to id, forgetting the value at the last.
func (p *pool) release(id int32) {
	if id == 0 {
		return
	}
	if p.refs[id]--; p.refs[id] > 0 {
		return
	}
	delete(p.ids, p.names[id])
	p.names[id] = ""
	p.free = append(p.free, id)
}

// inUse reports whether id holds a value: 0 or a referenced id.
func (p *pool) inUse(id int) bool { return id == 0 || p.refs[id] > 0 }

// compactMinFree is how many ids must be free, besides half of them, before
// compact is worth a pass over the state. A variable for tests.
var compactMinFree = 1024

// sparse reports whether enough ids are free to compact.
func (p *pool) sparse() bool {
	return len(p.free) >= compactMinFree && 2*len(p.free) >= len(p.names)
}

// compact renumbers the values in use densely, in id order, and returns
// the new id of each old one (-1 for a free id): every holder of an id must
// be renumbered with it.
func (p *pool) compact() []int32 {
	remap := make([]int32, len(p.names))
	names := make([]string, 0, len(p.names)-len(p.free))
	refs := make([]int32, 0, cap(names))
	for id, name := range p.names {
		if !p.inUse(id) {
			remap[id] = -1
			continue
		}
		remap[id] = int32(len(names))
		p.ids[name] = remap[id]
		names = append(names, name)
		refs = append(refs, p.refs[id])
	}
	p.names, p.refs, p.free = names, refs, nil
	return remap
}

// setPool interns sets of industry ids: most entities share one of a few
// industry sets, so an entity holds one int32 instead of a slice. Set 0 is
// the empty set. Sets count their references (the existing entities with
// the set) and hold one reference to each of their industries, like pool.
type setPool struct {
	ids     map[string]int32
	sets    [][]int32 // nil for a free id
	keys    []string
	refs    []int32
	free    []int32
	scratch []string
	key     []byte
}

func newSetPool() setPool {
	return setPool{ids: map[string]int32{"": 0}, sets: [][]int32{nil}, keys: []string{""}, refs: []int32{0}}
}

// acquire returns the id of the set of industries and counts one more
// reference to it, interning each industry of a new set in names.
func (p *setPool) acquire(industries []string, names *pool) int32 {
	if len(industries) == 0 {
		return 0
	}
	p.scratch = append(p.scratch[:0], industries...)
	slices.Sort(p.scratch)
	p.scratch = slices.Compact(p.scratch)
	p.key = p.key[:0]
	for i, s := range p.scratch {
		if i > 0 {
			p.key = append(p.key, 0)
		}
		p.key = append(p.key, s...)
	}
	if id, ok := p.ids[string(p.key)]; ok {
		p.refs[id]++
		return id
	}
	set := make([]int32, len(p.scratch))
	for i, s := range p.scratch {
		set[i] = names.acquire(s)
	}
	key := string(p.key)
	var id int32
	if n := len(p.free); n > 0 {
		id = p.free[n-1]
		p.free = p.free[:n-1]
		p.sets[id], p.keys[id] = set, key
	} else {
		id = int32(len(p.sets))
		p.sets, p.keys, p.refs = append(p.sets, set), append(p.keys, key), append(p.refs, 0)
	}
	p.ids[key] = id
	p.refs[id] = 1
	return id
}

// release drops one reference to set id; the last releases its industries
// in names.
func (p *setPool) release(id int32, names *pool) {
	if id == 0 {
		return
	}
	if p.refs[id]--; p.refs[id] > 0 {
		return
	}
	for _, ind := range p.sets[id] {
		names.release(ind)
	}
	delete(p.ids, p.keys[id])
	p.sets[id], p.keys[id] = nil, ""
	p.free = append(p.free, id)
}

func (p *setPool) inUse(id int) bool { return id == 0 || p.refs[id] > 0 }

func (p *setPool) sparse() bool {
	return len(p.free) >= compactMinFree && 2*len(p.free) >= len(p.sets)
}

// compact renumbers the sets in use densely; see pool.compact.
func (p *setPool) compact() []int32 {
	remap := make([]int32, len(p.sets))
	n := len(p.sets) - len(p.free)
	sets, keys, refs := make([][]int32, 0, n), make([]string, 0, n), make([]int32, 0, n)
	for id := range p.sets {
		if !p.inUse(id) {
			remap[id] = -1
			continue
		}
		remap[id] = int32(len(sets))
		p.ids[p.keys[id]] = remap[id]
		sets, keys, refs = append(sets, p.sets[id]), append(keys, p.keys[id]), append(refs, p.refs[id])
	}
	p.sets, p.keys, p.refs, p.free = sets, keys, refs, nil
	return remap
}

// remapIndustries renumbers the industries of every set after the
// industries' pool was compacted.
func (p *setPool) remapIndustries(remap []int32) {
	for _, set := range p.sets {
		for i, ind := range set {
			set[i] = remap[ind]
		}
	}
}
