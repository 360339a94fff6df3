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
	norm string // normalised display name: words joined by one space
	live bool
}

// Index is the search index.
type Index struct {
	docs   []doc
	ids    map[string]int32 // resource name → live doc id
	credit map[string]int32
	grams  map[uint64][]int32 // gram → ascending doc ids (dead ones included)
	dead   int
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
	x.docs = append(x.docs, doc{Doc: d, norm: strings.Join(words, " "), live: true})
	x.ids[d.Name] = id
	if d.CreditCode != "" {
		x.credit[strings.ToUpper(d.CreditCode)] = id
	}
	var seen []uint64
	for _, w := range words {
		seen = appendGrams(seen, w, true)
	}
	slices.Sort(seen)
	seen = slices.Compact(seen)
	for _, g := range seen {
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
	d.norm = ""
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
	scores := map[int32]float64{}
	if id, ok := x.credit[strings.ToUpper(strings.TrimSpace(query))]; ok {
		scores[id] = 1000
	}
	words := normalise(query)
	for _, alt := range alternatives(words) {
		x.match(alt, scores)
	}
	h := &topK{k: offset + limit}
	for id, s := range scores {
		h.offer(x, id, s)
	}
	ranked := h.sorted(x)
	if offset >= len(ranked) {
		return []Result{}, len(scores)
	}
	page := ranked[offset:min(len(ranked), offset+limit)]
	out := make([]Result, len(page))
	for i, c := range page {
		out[i] = Result{Doc: x.docs[c.id].Doc, Score: c.score}
	}
	return out, len(scores)
}

// match adds the documents holding every word of words to scores (keeping
// the better score of a document found twice).
func (x *Index) match(words []string, scores map[int32]float64) {
	if len(words) == 0 {
		return
	}
	var lists [][]int32
	var gs []uint64
	for _, w := range words {
		gs = appendGrams(gs[:0], w, false)
		for _, g := range gs {
			l, ok := x.grams[g]
			if !ok {
				return // no document holds this gram
			}
			lists = append(lists, l)
		}
	}
	slices.SortFunc(lists, func(a, b []int32) int { return cmp.Compare(len(a), len(b)) })
	cands := lists[0]
	for _, l := range lists[1:] {
		cands = intersect(cands, l)
		if len(cands) == 0 {
			return
		}
	}
	whole := strings.Join(words, " ")
	for _, id := range cands {
		d := &x.docs[id]
		if !d.live {
			continue
		}
		s, ok := score(d.norm, words, whole)
		if ok && s > scores[id] {
			scores[id] = s
		}
	}
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

// intersect returns the ids in both ascending lists; a may be reused.
func intersect(a, b []int32) []int32 {
	out := make([]int32, 0, min(len(a), len(b)))
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
	return t.x.docs[a.id].Name < t.x.docs[b.id].Name
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

func (t *topK) offer(x *Index, id int32, s float64) {
	t.x = x
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

func (t *topK) sorted(x *Index) []candidate {
	t.x = x
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
