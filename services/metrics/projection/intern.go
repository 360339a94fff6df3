package projection

import (
	"slices"
	"strings"
)

// pool interns strings (regions, industries, group fields) as dense ids so
// per-entity state holds an int32 and breakdown rows live in slices. Id 0 is
// always the empty string, "not set". Ids are never freed: the number of
// distinct values is small, and a row whose figures fall to zero is simply
// not reported.
type pool struct {
	ids   map[string]int32
	names []string
}

func newPool() pool {
	return pool{ids: map[string]int32{"": 0}, names: []string{""}}
}

func (p *pool) id(s string) int32 {
	if id, ok := p.ids[s]; ok {
		return id
	}
	id := int32(len(p.names))
	s = strings.Clone(s) // the caller's string may pin a whole message
	p.ids[s] = id
	p.names = append(p.names, s)
	return id
}

// setPool interns sets of industry ids: most entities share one of a few
// industry sets, so an entity holds one int32 instead of a slice. Set 0 is
// the empty set.
type setPool struct {
	ids     map[string]int32
	sets    [][]int32
	scratch []string
	key     []byte
}

func newSetPool() setPool {
	return setPool{ids: map[string]int32{"": 0}, sets: [][]int32{nil}}
}

// id returns the id of the set of industries, interning each industry in
// names.
func (p *setPool) id(industries []string, names *pool) int32 {
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
		return id
	}
	set := make([]int32, len(p.scratch))
	for i, s := range p.scratch {
		set[i] = names.id(s)
	}
	id := int32(len(p.sets))
	p.ids[string(p.key)] = id
	p.sets = append(p.sets, set)
	return id
}

// names returns the industry names of set id.
func (p *setPool) names(id int32, names *pool) []string {
	set := p.sets[id]
	out := make([]string, len(set))
	for i, n := range set {
		out[i] = names.names[n]
	}
	return out
}
