package search

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// OrderedMin is the length from which a gram's posting list is also kept
// in rank order (see orderedList): below it, a walk of the list in id
// order is cheap enough.
const OrderedMin = 32_768

// orderedMin is OrderedMin, lowered by tests so that small indexes have
// ordered lists.
var orderedMin = OrderedMin

// Where a gram occurs in a name, best first: at its start, at the start
// of a later word, only inside words.
const (
	classLead = iota
	classStart
	classInfix
	classes
)

// orderedList is a long posting list in the order a query on its gram
// would rank it: by class (a query word beginning with the gram can be a
// word prefix only where the gram starts a word, and the query a prefix
// of the name only where it starts the name), then by name length
// (shorter scores higher), then by id. A query on a common gram walks
// each class from its shortest names and stops at the first that cannot
// enter the page, instead of walking the whole list.
//
// It covers the posting list's first covered entries, all ids up to
// upTo, less the documents deleted before it was ordered; the newer ids
// (the tail) are walked in id order. The tail is merged in once it
// holds an eighth of the list, so Put pays a few element moves per
// entry on average.
type orderedList struct {
	ids  []int32
	ends [classes]int32 // ids[ends[c-1]:ends[c]] is class c
	// The tail's live documents as they were added, per class, as
	// length<<32 | id: classed when the name is at hand, not at merge.
	pending [classes][]uint64
	covered int
	upTo    int32
}

// addOrdered keeps the ordered list of gram g, whose posting list l has
// just had its last id added (the document of normalised name norm).
func (x *Index) addOrdered(g uint64, l []int32, norm string) {
	if g>>63 != 0 { // word grams are not walked
		return
	}
	o := x.ordered[g]
	if o == nil {
		// The list has just reached orderedMin: class it all.
		o = &orderedList{upTo: -1}
		x.ordered[g] = o
		for _, id := range l {
			o.add(g, id, x.normLen[id], x.norms[id])
		}
		x.merge(o, l)
		return
	}
	id := l[len(l)-1]
	o.add(g, id, x.normLen[id], norm)
	if (len(l)-o.covered)*8 >= len(l) {
		x.merge(o, l)
	}
}

// add puts the document id (of name norm and normLen nl) in the tail.
func (o *orderedList) add(g uint64, id int32, nl uint16, norm string) {
	if nl != 0 {
		c := gramClass(norm, g)
		o.pending[c] = append(o.pending[c], uint64(nl)<<32|uint64(id))
	}
}

// merge sorts the tail (o.pending) and merges it into o, in place from
// the back (the list grows like a slice, without a copy per merge). l is
// the posting list, all of it now covered. Documents deleted since
// stay where they are: queries skip them, and a rebuild drops them.
func (x *Index) merge(o *orderedList, l []int32) {
	n := 0
	for c := range o.pending {
		// Drop the deleted; sort by length (a counting sort: lengths
		// are few; ids ascend already, and stay so).
		p := slices.DeleteFunc(o.pending[c], func(k uint64) bool { return x.normLen[int32(k)] == 0 })
		o.pending[c] = sortByLength(p, &x.scratch)
		n += len(p)
	}
	old := len(o.ids)
	o.ids = slices.Grow(o.ids, n)[:old+n]
	// From the last class back: class c moves up by the documents added
	// to it and to the classes before, so what is written never
	// overwrites what is still to be read.
	w := old + n
	for c := classes - 1; c >= 0; c-- {
		lo := 0
		if c > 0 {
			lo = int(o.ends[c-1])
		}
		r, a := int(o.ends[c]), o.pending[c]
		o.ends[c] = int32(w)
		for len(a) > 0 {
			w--
			if r > lo {
				id := o.ids[r-1]
				nl := x.normLen[id]
				// Every added id is above every old one: on equal lengths
				// the old goes first.
				if nl == 0 || uint64(nl)<<32|uint64(id) > a[len(a)-1] {
					o.ids[w] = id
					r--
					continue
				}
			}
			o.ids[w] = int32(a[len(a)-1])
			a = a[:len(a)-1]
		}
		w -= r - lo
		copy(o.ids[w:], o.ids[lo:r])
		o.pending[c] = o.pending[c][:0]
	}
	o.covered, o.upTo = len(l), l[len(l)-1]
}

// sortByLength sorts keys (length<<32 | id, ids ascending) by length,
// keeping the ids' order, through *scratch; it returns the sorted slice
// and leaves the other in *scratch.
func sortByLength(keys []uint64, scratch *[]uint64) []uint64 {
	if len(keys) < 2 {
		return keys
	}
	top := uint64(0)
	for _, k := range keys {
		top = max(top, k>>32)
	}
	counts := make([]int, top+2)
	for _, k := range keys {
		counts[k>>32+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	out := slices.Grow((*scratch)[:0], len(keys))[:len(keys)]
	for _, k := range keys {
		out[counts[k>>32]] = k
		counts[k>>32]++
	}
	*scratch = keys
	return out
}

// gramText returns the characters of an n-gram.
func gramText(g uint64) string {
	var buf [3 * utf8.UTFMax]byte
	return string(appendGramText(buf[:0], g))
}

func appendGramText(out []byte, g uint64) []byte {
	a, b, c := rune(g>>42&0x1FFFFF), rune(g>>21&0x1FFFFF), rune(g&0x1FFFFF)
	if a != 0 && a != prefixMark {
		out = utf8.AppendRune(out, a)
	}
	if b != 0 {
		out = utf8.AppendRune(out, b)
	}
	return utf8.AppendRune(out, c)
}

// gramClass returns where n-gram g occurs in the normalised name norm at
// best (it occurs: the name holds the gram). Only the word starts are
// compared; a search for every occurrence costs more.
func gramClass(norm string, g uint64) int {
	var buf [3 * utf8.UTFMax]byte
	text := appendGramText(buf[:0], g)
	starts := func(s string) bool { // most differ at the first byte: no memequal call
		if len(s) < len(text) {
			return false
		}
		for i, b := range text {
			if s[i] != b {
				return false
			}
		}
		return true
	}
	if starts(norm) {
		return classLead
	}
	for i := strings.IndexByte(norm, ' '); i >= 0; {
		norm = norm[i+1:]
		if starts(norm) {
			return classStart
		}
		i = strings.IndexByte(norm, ' ')
	}
	return classInfix
}
