// Package search is the metrics service's name search: an in-memory index
// of the display names of entities, groups and programmes, kept from the
// change feed like every other figure.
//
// Names are normalised (lower case; words of letters and digits; a run of
// Chinese characters is one word) and indexed by n-grams: every trigram of
// a word, its one- and two-letter prefixes, and for Chinese every
// character and every pair of characters. A query is normalised the same
// way; each of its words selects the documents holding all of its grams
// (posting lists intersected, shortest first), and the candidates are
// verified — every query word must occur in the name — and ranked: whole
// words above word prefixes above infixes, an exact or leading match
// first, shorter names before longer. Nothing is scanned but the
// candidates of the query's grams.
//
// Chinese queries against English names go through a small glossary of
// place names and organisation words (天津 → tianjin, 大学 → university):
// a run of Chinese characters the glossary covers whole is also searched
// as its English words, and the results merged. A query that is a credit
// code matches it exactly.
//
// An Index is not safe for concurrent use: the projection guards it.
package search

import (
	"cmp"
	"container/heap"
	"hash/fnv"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Doc is one searchable resource.
type Doc struct {
	// Name is the resource name (entities/x, groups/x, programs/x).
	Name string
	// DisplayName is what is searched and shown.
	DisplayName string
	// Kind is an EntityKind or GroupKind name, or "program".
	Kind string
	// CreditCode is an entity's credit code, matched exactly.
	CreditCode string
}

// Result is one document found, with its score.
type Result struct {
	Doc
	Score float64
}

type doc struct {
	Doc
	live bool
}

// Index is the search index. A document's data is split by how hot it is
// in a query: the length of its normalised name (0 when deleted) is read
// for every match, the normalised name for every match verified, the rest
// only for the page returned.
type Index struct {
	docs    []doc
	norms   []string         // normalised display names: words joined by one space
	normLen []uint16         // len(norm) capped, 0 for a deleted document
	ids     map[string]int32 // resource name → live doc id
	credit  map[string]int32
	grams   map[uint64][]int32 // gram → ascending doc ids (dead ones included)
	dead    int
}

// New returns an empty Index.
func New() *Index {
	return &Index{ids: map[string]int32{}, credit: map[string]int32{}, grams: map[uint64][]int32{}}
}

// Len returns the number of documents.
func (x *Index) Len() int { return len(x.ids) }

// Get returns the document named name.
func (x *Index) Get(name string) (Doc, bool) {
	id, ok := x.ids[name]
	if !ok {
		return Doc{}, false
	}
	return x.docs[id].Doc, true
}

// Each calls fn for every document.
func (x *Index) Each(fn func(Doc)) {
	for _, id := range x.ids {
		fn(x.docs[id].Doc)
	}
}

// Put adds d, replacing the document of the same name.
func (x *Index) Put(d Doc) {
	if id, ok := x.ids[d.Name]; ok {
		old := &x.docs[id]
		if old.DisplayName == d.DisplayName && old.Kind == d.Kind && old.CreditCode == d.CreditCode {
			return
		}
		x.Delete(d.Name)
	}
	d.Name, d.DisplayName, d.Kind, d.CreditCode = strings.Clone(d.Name), strings.Clone(d.DisplayName), strings.Clone(d.Kind), strings.Clone(d.CreditCode)
	id := int32(len(x.docs))
	words := normalise(d.DisplayName)
	norm := strings.Join(words, " ")
	x.docs = append(x.docs, doc{Doc: d, live: true})
	x.norms = append(x.norms, norm)
	x.normLen = append(x.normLen, uint16(min(len(norm)+1, 1<<16-1)))
	x.ids[d.Name] = id
	if d.CreditCode != "" {
		x.credit[strings.ToUpper(d.CreditCode)] = id
	}
	for _, g := range docGrams(nil, words) {
		x.grams[g] = append(x.grams[g], id) // ids only grow: the list stays sorted
	}
}

// Delete removes the document named name, if any.
func (x *Index) Delete(name string) {
	id, ok := x.ids[name]
	if !ok {
		return
	}
	d := &x.docs[id]
	delete(x.ids, name)
	if d.CreditCode != "" && x.credit[strings.ToUpper(d.CreditCode)] == id {
		delete(x.credit, strings.ToUpper(d.CreditCode))
	}
	d.live = false
	d.Doc = Doc{}
	x.norms[id], x.normLen[id] = "", 0
	x.dead++
	if x.dead > 1024 && x.dead > len(x.ids) {
		x.rebuild()
	}
}

// rebuild drops the dead documents and renumbers the live ones.
func (x *Index) rebuild() {
	docs := make([]Doc, 0, len(x.ids))
	for _, d := range x.docs {
		if d.live {
			docs = append(docs, d.Doc)
		}
	}
	*x = *New()
	for _, d := range docs {
		x.Put(d)
	}
}

// Gram encoding: three runes of 21 bits. A real trigram has no zero rune;
// the other grams put a marker in the first place.
const (
	prefixMark = 0x1FFFFF // not a rune: a word prefix of one or two letters
)

func gram(a, b, c rune) uint64 { return uint64(a)<<42 | uint64(b)<<21 | uint64(c) }

// wordGram is the gram of a whole word: a 62-bit hash under the top bits
// 10, which no n-gram has; firstWordGram the same for the first word of a
// name, under 11.
func wordGram(w string) uint64 { return 2<<62 | hash62(w) }

func firstWordGram(w string) uint64 { return 3<<62 | hash62(w) }

func hash62(w string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(w))
	return h.Sum64() >> 2
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

// appendGrams appends the grams of one normalised word. For a document
// (all true) a Latin word gives its trigrams and prefixes; for a query word
// only the grams that select it: its prefix when it is short, else its
// trigrams.
func appendGrams(out []uint64, w string, all bool) []uint64 {
	rs := []rune(w)
	if len(rs) > 0 && isHan(rs[0]) {
		if all || len(rs) == 1 {
			for _, r := range rs {
				out = append(out, gram(0, 0, r))
			}
		}
		for i := 0; i+1 < len(rs); i++ {
			out = append(out, gram(0, rs[i], rs[i+1]))
		}
		return out
	}
	switch {
	case all || len(rs) < 3:
		if len(rs) >= 1 && (all || len(rs) == 1) {
			out = append(out, gram(prefixMark, 0, rs[0]))
		}
		if len(rs) >= 2 && (all || len(rs) == 2) {
			out = append(out, gram(prefixMark, rs[0], rs[1]))
		}
	}
	if all || len(rs) >= 3 {
		for i := 0; i+2 < len(rs); i++ {
			out = append(out, gram(rs[i], rs[i+1], rs[i+2]))
		}
	}
	return out
}

// normalise splits s into lower-case words: runs of letters and digits,
// and runs of Chinese characters.
func normalise(s string) []string {
	var words []string
	var b strings.Builder
	han := false
	flush := func() {
		if b.Len() > 0 {
			words = append(words, b.String())
			b.Reset()
		}
	}
	for _, r := range s {
		switch {
		case isHan(r):
			if !han {
				flush()
			}
			han = true
			b.WriteRune(r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if han {
				flush()
			}
			han = false
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
			han = false
		}
	}
	flush()
	return words
}

// Search returns the results ranked offset to offset+limit of query, and
// how many there are in all.
func (x *Index) Search(query string, offset, limit int) ([]Result, int) {
	top := &topK{k: offset + limit}
	total := 0
	// A document found twice (by its credit code and its name, or by two
	// alternatives of a Chinese query) counts once: what an earlier source
	// emitted is remembered while a later one may emit it again.
	alts := alternatives(normalise(query))
	var seen map[int32]struct{}
	if id, ok := x.credit[strings.ToUpper(strings.TrimSpace(query))]; ok {
		top.offer(id, 1000)
		total++
		seen = map[int32]struct{}{id: {}}
	} else if len(alts) > 1 {
		seen = map[int32]struct{}{}
	}
	for i, alt := range alts {
		last := i == len(alts)-1
		x.match(alt, offset+limit, func(id int32, s float64) {
			if seen != nil {
				if _, dup := seen[id]; dup {
					return
				}
				if !last {
					seen[id] = struct{}{}
				}
			}
			top.offer(id, s)
			total++
		})
	}
	ranked := top.sorted()
	if offset >= len(ranked) {
		return []Result{}, total
	}
	page := ranked[offset:min(len(ranked), offset+limit)]
	out := make([]Result, len(page))
	for i, c := range page {
		out[i] = Result{Doc: x.docs[c.id].Doc, Score: c.score}
	}
	return out, total
}

// verifyAll is how many candidates are verified one by one before the
// whole-word shortcut is worth taking.
const verifyAll = 4096

// match emits every live document holding every word of words, with its
// score. The candidates are the intersection of the words' gram lists,
// each verified by its name. When there are many and at least k of them
// hold every word as a whole word (the best-scoring tier), those are
// scored from the whole-word lists alone, without looking at their names
// beyond a prefix test: a query of a common word costs a merge of lists,
// not a string search per match.
func (x *Index) match(words []string, k int, emit func(int32, float64)) {
	if len(words) == 0 {
		return
	}
	cands := x.intersectGrams(words, false)
	if len(cands) == 0 {
		return
	}
	whole := strings.Join(words, " ")
	verify := func(id int32) {
		if x.normLen[id] == 0 {
			return
		}
		if s, ok := score(x.norms[id], words, whole); ok {
			emit(id, s)
		}
	}
	var tier []int32
	if len(cands) > verifyAll {
		tier = x.intersectGrams(words, true)
	}
	if len(tier) < k {
		for _, id := range cands {
			verify(id)
		}
		return
	}
	// The leading-match bonus: only documents whose first word is the
	// query's first word can have it; they alone are looked at.
	lead := x.grams[firstWordGram(words[0])]
	base := 3 * float64(len(words))
	j, l := 0, 0
	for _, id := range cands {
		for j < len(tier) && tier[j] < id {
			j++
		}
		if j == len(tier) || tier[j] != id {
			verify(id)
			continue
		}
		n := x.normLen[id]
		if n == 0 {
			continue
		}
		s := base + float64(len(whole))/float64(n)
		for l < len(lead) && lead[l] < id {
			l++
		}
		if l < len(lead) && lead[l] == id {
			// One word that leads the name: a prefix, and the whole name
			// when no longer; more words need a look at the name.
			switch {
			case len(words) == 1 && int(n) == len(whole)+1:
				s += 10
			case len(words) == 1:
				s += 5
			case x.norms[id] == whole:
				s += 10
			case strings.HasPrefix(x.norms[id], whole):
				s += 5
			}
		}
		emit(id, s)
	}
}

// intersectGrams returns the ids in every gram list of words (their n-grams,
// or with wholeWords their whole-word grams); nil when some list is
// missing.
func (x *Index) intersectGrams(words []string, wholeWords bool) []int32 {
	var lists [][]int32
	var gs []uint64
	for _, w := range words {
		if wholeWords {
			gs = append(gs[:0], wordGram(w))
		} else {
			gs = appendGrams(gs[:0], w, false)
		}
		for _, g := range gs {
			l, ok := x.grams[g]
			if !ok {
				return nil
			}
			lists = append(lists, l)
		}
	}
	slices.SortFunc(lists, func(a, b []int32) int { return cmp.Compare(len(a), len(b)) })
	cands := lists[0]
	for _, l := range lists[1:] {
		cands = intersect(cands, l)
		if len(cands) == 0 {
			return nil
		}
	}
	return cands
}

// score ranks name (normalised) for the query's words; false when a word
// does not occur in it.
func score(name string, words []string, whole string) (float64, bool) {
	var s float64
	for _, w := range words {
		best := -1.0
		for from := 0; from < len(name); {
			i := strings.Index(name[from:], w)
			if i < 0 {
				break
			}
			i += from
			start := i == 0 || name[i-1] == ' '
			end := i+len(w) == len(name) || name[i+len(w)] == ' '
			v := 1.0
			if start {
				v = 2
				if end {
					v = 3
				}
			}
			best = max(best, v)
			if best == 3 {
				break
			}
			from = i + 1
		}
		if best < 0 {
			return 0, false
		}
		s += best
	}
	switch {
	case name == whole:
		s += 10
	case strings.HasPrefix(name, whole):
		s += 5
	}
	// Shorter names first among equals: the match covers more of them.
	s += float64(len(whole)) / float64(len(name)+1)
	return s, true
}

// intersect returns the ids in both ascending lists: a merge when they
// are of like size, else a binary search of the longer for each of the
// shorter (a is the shorter).
func intersect(a, b []int32) []int32 {
	out := make([]int32, 0, min(len(a), len(b)))
	if len(b) < 8*len(a) {
		for i, j := 0, 0; i < len(a) && j < len(b); {
			switch {
			case a[i] < b[j]:
				i++
			case a[i] > b[j]:
				j++
			default:
				out = append(out, a[i])
				i++
				j++
			}
		}
		return out
	}
	for _, v := range a {
		i, ok := slices.BinarySearch(b, v)
		if ok {
			out = append(out, v)
		}
		b = b[i:]
		if len(b) == 0 {
			break
		}
	}
	return out
}

// alternatives returns the ways to search words: as given, and with each
// run of Chinese characters the glossary covers replaced by its English
// words.
func alternatives(words []string) [][]string {
	out := [][]string{words}
	var en []string
	translated := false
	for _, w := range words {
		if r, _ := utf8.DecodeRuneInString(w); !isHan(r) {
			en = append(en, w)
			continue
		}
		t, ok := translate(w)
		if !ok {
			return out
		}
		en = append(en, t...)
		translated = true
	}
	if translated && len(en) > 0 {
		out = append(out, en)
	}
	return out
}

// translate segments a run of Chinese characters into glossary entries,
// longest first; false when some part is not in the glossary.
func translate(w string) ([]string, bool) {
	rs := []rune(w)
	var out []string
	for i := 0; i < len(rs); {
		n := min(len(rs)-i, maxGlossaryRunes)
		for ; n > 0; n-- {
			if en, ok := glossary[string(rs[i:i+n])]; ok {
				out = append(out, strings.Fields(en)...)
				break
			}
		}
		if n == 0 {
			return nil, false
		}
		i += n
	}
	return out, true
}

type candidate struct {
	id    int32
	score float64
}

// topK keeps the k best candidates: higher score first, then name.
type topK struct {
	k int
	h []candidate
	x *Index
}

func (t *topK) better(a, b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.id < b.id // among equals, the earlier indexed
}

func (t *topK) Len() int           { return len(t.h) }
func (t *topK) Less(i, j int) bool { return t.better(t.h[j], t.h[i]) } // worst on top
func (t *topK) Swap(i, j int)      { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topK) Push(v any)         { t.h = append(t.h, v.(candidate)) }
func (t *topK) Pop() any {
	v := t.h[len(t.h)-1]
	t.h = t.h[:len(t.h)-1]
	return v
}

func (t *topK) offer(id int32, s float64) {
	c := candidate{id, s}
	if len(t.h) < t.k {
		heap.Push(t, c)
		return
	}
	if t.k > 0 && t.better(c, t.h[0]) {
		t.h[0] = c
		heap.Fix(t, 0)
	}
}

func (t *topK) sorted() []candidate {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b candidate) int {
		if t.better(a, b) {
			return -1
		}
		if t.better(b, a) {
			return 1
		}
		return 0
	})
	return out
}
