package search

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxUnion is how many indexed words may contain a query word for its
// documents to be counted as the union of those words' lists; a query
// with a word inside more (a common syllable) is counted by reading
// names, as before the dictionary.
const MaxUnion = 16

// maxUnion is MaxUnion, lowered by tests.
var maxUnion = MaxUnion

// wordDict is every distinct word of the indexed names, with the grams
// of each: a query word longer than a trigram (or than a Chinese pair)
// occurs in a name exactly when one of the name's words contains it, so
// the documents holding it are the union of the whole-word lists of the
// dictionary words that contain it. That set is exact, where the
// intersection of the word's gram lists is only a superset to be checked
// against each name: counting a query's first TotalExactUpTo matches
// reads no name.
//
// Words are never removed: a word whose documents are all deleted keeps
// an empty (or dead) whole-word list until a rebuild.
type wordDict struct {
	ids   map[string]int32
	words []string
	grams map[uint64][]int32 // gram → ascending word ids
	gs    []uint64           // add's scratch space
}

func newWordDict() wordDict {
	return wordDict{ids: map[string]int32{}, grams: map[uint64][]int32{}}
}

// add adds the words of the normalised name norm that are new.
func (d *wordDict) add(norm string) {
	gs := d.gs
	defer func() { d.gs = gs }()
	for norm != "" {
		w, rest, _ := strings.Cut(norm, " ")
		norm = rest
		if _, ok := d.ids[w]; ok {
			continue
		}
		w = strings.Clone(w) // not the name's: a deleted name is freed
		id := int32(len(d.words))
		d.ids[w] = id
		d.words = append(d.words, w)
		gs = appendGrams(gs[:0], w, true)
		slices.Sort(gs)
		for _, g := range slices.Compact(gs) {
			d.grams[g] = append(d.grams[g], id)
		}
	}
}

// containing appends the dictionary words that contain w (a word of
// four letters or more, or three Chinese characters or more) to out;
// false when there are more than maxUnion.
func (d *wordDict) containing(out []string, w string) ([]string, bool) {
	var shortest []int32
	for i, g := range appendGrams(nil, w, false) {
		l := d.grams[g]
		if len(l) == 0 {
			return out, true // no word holds this gram
		}
		if i == 0 || len(l) < len(shortest) {
			shortest = l
		}
	}
	n := 0
	for _, id := range shortest {
		if strings.Contains(d.words[id], w) {
			if n++; n > maxUnion {
				return nil, false
			}
			out = append(out, d.words[id])
		}
	}
	return out, true
}

// docSet is the exact set of documents matching one query word (dead
// ones included): the union of parts, ascending id lists.
type docSet struct {
	parts []cursor
	size  int
}

// contains reports whether id is in s; ids asked must ascend.
func (s *docSet) contains(id int32) bool {
	for i := range s.parts {
		if s.parts[i].seek(id) {
			return true
		}
	}
	return false
}

// next returns the least id of s not yet returned, and how many list
// entries s has consumed in all; false when s is done.
func (s *docSet) next() (int32, int, bool) {
	if len(s.parts) == 1 { // the common case: one list
		c := &s.parts[0]
		if c.i == len(c.l) {
			return 0, c.i, false
		}
		c.i++
		return c.l[c.i-1], c.i, true
	}
	least, consumed := int32(math.MaxInt32), 0
	for i := range s.parts {
		if c := &s.parts[i]; c.i < len(c.l) {
			least = min(least, c.l[c.i])
		}
	}
	if least == math.MaxInt32 {
		return 0, 0, false
	}
	for i := range s.parts {
		c := &s.parts[i]
		if c.i < len(c.l) && c.l[c.i] == least {
			c.i++
		}
		consumed += c.i
	}
	return least, consumed, true
}

// wordSets returns the exact document set of each query word: a word of
// one or two letters is its word-prefix list, a word of three its
// trigram's, one or two Chinese characters their gram's, a longer word
// the union of the whole-word lists of the dictionary words containing
// it. False when a longer word is inside more than maxUnion words: it is
// then counted by reading names. A word that occurs nowhere has an empty
// set.
func (x *Index) wordSets(words []string) ([]docSet, bool) {
	sets := make([]docSet, len(words))
	var in []string
	for i, w := range words {
		s := &sets[i]
		r, _ := utf8.DecodeRuneInString(w)
		runes := utf8.RuneCountInString(w)
		if isHan(r) && runes <= 2 || !isHan(r) && runes <= 3 {
			if l := x.grams[appendGrams(nil, w, false)[0]]; len(l) > 0 {
				s.parts = []cursor{{l: l}}
			}
		} else {
			var ok bool
			if in, ok = x.dict.containing(in[:0], w); !ok {
				return nil, false
			}
			for _, d := range in {
				if l := x.grams[wordGram(d)]; len(l) > 0 {
					s.parts = append(s.parts, cursor{l: l})
				}
			}
		}
		for _, c := range s.parts {
			s.size += len(c.l)
		}
	}
	return sets, true
}

// count counts the live documents in every set, less those dup reports,
// in id order along the smallest set, up to exactUpTo+1 of them; the
// ids counted are recorded when q.record. It returns the count, and
// whether it is exact; if not, the count is an estimate from the share
// of the smallest set walked. When exact, it also returns every match
// (dups included), ascending: all the walk has to rank; if not, the
// matches up to upTo (dups included), which the walk need not find again.
func (q *querier) count(sets []docSet, dups []cursor) (n int, exact bool, hits []int32, upTo int32) {
	slices.SortFunc(sets, func(a, b docSet) int { return a.size - b.size })
	drive, rest := &sets[0], sets[1:]
	found := 0
walk:
	for {
		id, consumed, ok := drive.next()
		if !ok {
			return found, true, hits, upTo
		}
		upTo = id
		if q.x.normLen[id] == 0 {
			continue // deleted
		}
		for i := range rest {
			if !rest[i].contains(id) {
				continue walk
			}
		}
		hits = append(hits, id)
		if q.dup(dups, id) {
			continue
		}
		found++
		if q.record {
			q.matched = append(q.matched, id)
		}
		if found > exactUpTo {
			return int(int64(found) * int64(drive.size) / int64(consumed)), false, hits, upTo
		}
	}
}
