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
// holds a sixteenth of the list, so Put pays a few element moves per
// entry on average.
type orderedList struct {
	ids     []int32
	ends    [classes]int32 // ids[ends[c-1]:ends[c]] is class c
	covered int
	upTo    int32
}

// reorder merges the tail of gram g's posting list into its ordered list
// when it has grown enough (or orders the list when it first reaches
// orderedMin).
func (x *Index) reorder(g uint64) {
	l := x.grams[g]
	if len(l) < orderedMin || g>>63 != 0 { // word grams are not walked
		return
	}
	o := x.ordered[g]
	if o == nil {
		o = &orderedList{upTo: -1}
		x.ordered[g] = o
	} else if (len(l)-o.covered)*16 < len(l) {
		return
	}
	x.merge(g, o, l)
}

// merge orders the tail l[o.covered:] and merges it into o.
func (x *Index) merge(g uint64, o *orderedList, l []int32) {
	text := gramText(g)
	var add [classes][]int32
	for _, id := range l[o.covered:] {
		if x.normLen[id] == 0 {
			continue
		}
		c := gramClass(x.norms[id], text)
		add[c] = append(add[c], id)
	}
	byLen := func(a, b int32) int { return int(x.normLen[a]) - int(x.normLen[b]) }
	out := make([]int32, 0, len(o.ids)+len(l)-o.covered)
	start := int32(0)
	for c := range add {
		slices.SortStableFunc(add[c], byLen) // ids ascend: stable keeps them so
		old := o.ids[start:o.ends[c]]
		start = o.ends[c]
		a := add[c]
		for len(old) > 0 || len(a) > 0 {
			// Every id in a is above every id in old: on equal lengths
			// old goes first.
			if len(a) == 0 || len(old) > 0 && x.normLen[old[0]] <= x.normLen[a[0]] {
				if x.normLen[old[0]] != 0 { // deleted since
					out = append(out, old[0])
				}
				old = old[1:]
			} else {
				out = append(out, a[0])
				a = a[1:]
			}
		}
		o.ends[c] = int32(len(out))
	}
	o.ids, o.covered, o.upTo = out, len(l), l[len(l)-1]
}

// gramText returns the characters of an n-gram.
func gramText(g uint64) string {
	a, b, c := rune(g>>42&0x1FFFFF), rune(g>>21&0x1FFFFF), rune(g&0x1FFFFF)
	var buf [3 * utf8.UTFMax]byte
	out := buf[:0]
	if a != 0 && a != prefixMark {
		out = utf8.AppendRune(out, a)
	}
	if b != 0 {
		out = utf8.AppendRune(out, b)
	}
	return string(utf8.AppendRune(out, c))
}

// gramClass returns where text occurs in the normalised name norm at
// best.
func gramClass(norm, text string) int {
	best := classInfix
	for from := 0; ; {
		i := strings.Index(norm[from:], text)
		if i < 0 {
			return best
		}
		i += from
		if i == 0 {
			return classLead
		}
		if norm[i-1] == ' ' {
			best = classStart
		}
		from = i + 1
	}
}
