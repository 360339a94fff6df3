package search

import (
	"slices"
	"strings"
)

// Build returns the index of docs, as Put of each in turn would (a later
// document replaces an earlier one of the same name), built in two passes
// that size everything once: the documents' arrays, the maps, and every
// posting list as an exact slice of one shared array. Putting a million
// documents one by one grew each list by appends, copying it every time it
// filled and keeping the old arrays as garbage: most of the cost of a
// bootstrap's index, in time and in peak memory.
//
// Unlike Put, Build keeps docs' strings as they are: they must be their
// own (a decoded message's or checkpoint's are), not slices of a larger
// buffer that would stay alive with them.
func Build(docs []Doc) *Index {
	return BuildFunc(len(docs), func(yield func(Doc)) {
		for _, d := range docs {
			yield(d)
		}
	})
}

// BuildFunc is Build of the n documents each yields (n bounds nothing; it
// sizes the arrays).
func BuildFunc(n int, each func(yield func(Doc))) *Index {
	x := &Index{
		docs:    make([]doc, 0, n),
		norms:   make([]string, 0, n),
		normLen: make([]uint16, 0, n),
		hot:     make([]docHot, 0, n),
		ids:     make(map[string]int32, n),
		credit:  map[string]int32{},
		ordered: map[uint64]*orderedList{},
		dict:    newWordDict(),
	}
	// Pass one: the documents, their normalised names, and how many
	// documents each gram has.
	counts := map[uint64]int32{}
	var gs []uint64
	each(func(d Doc) {
		if id, ok := x.ids[d.Name]; ok {
			// A replacement: the earlier document is deleted, as by Put.
			if old := x.docs[id].CreditCode; old != "" && x.credit[strings.ToUpper(old)] == id {
				delete(x.credit, strings.ToUpper(old))
			}
			x.docs[id].live, x.docs[id].Doc = false, Doc{}
			x.norms[id], x.normLen[id] = "", 0
			x.dead++
		}
		words := x.appendDoc(d)
		gs = docGrams(gs[:0], words)
		for _, g := range gs {
			counts[g]++
		}
	})
	// Pass two: every list cut from one array, then filled in id order
	// (ascending, as Put keeps them). The words are the normalised name's.
	total := 0
	for _, c := range counts {
		total += int(c)
	}
	backing := make([]int32, total)
	x.grams = make(map[uint64][]int32, len(counts))
	off := 0
	for g, c := range counts {
		x.grams[g] = backing[off : off : off+int(c)]
		off += int(c)
		if int(c) >= orderedMin && g>>63 == 0 {
			x.ordered[g] = &orderedList{upTo: -1}
		}
	}
	counts = nil
	var words []string
	for id, norm := range x.norms {
		words = appendWords(words[:0], norm)
		gs = docGrams(gs[:0], words)
		for _, g := range gs {
			l := append(x.grams[g], int32(id)) // within its capacity
			x.grams[g] = l
			if cap(l) >= orderedMin && g>>63 == 0 {
				x.ordered[g].add(g, int32(id), x.normLen[id], norm)
			}
		}
	}
	// The dead (replaced) documents' grams were counted and filled as
	// Put leaves them: listed until a rebuild drops them.
	if x.dead > 1024 && x.dead > len(x.ids) {
		x.rebuild()
		return x
	}
	for g, o := range x.ordered {
		x.merge(o, x.grams[g])
	}
	return x
}

// docGrams appends the distinct grams of a document whose normalised name
// has words, sorted.
func docGrams(out []uint64, words []string) []uint64 {
	for _, w := range words {
		out = appendGrams(out, w, true)
		out = append(out, wordGram(w))
	}
	if len(words) > 0 {
		out = append(out, firstWordGram(words[0]))
	}
	if len(words) > 1 {
		out = append(out, leadGram(words[0], words[1]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// appendWords appends the words of a normalised name (joined by single
// spaces).
func appendWords(out []string, norm string) []string {
	for norm != "" {
		w, rest, _ := strings.Cut(norm, " ")
		out = append(out, w)
		norm = rest
	}
	return out
}
