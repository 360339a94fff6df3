// Package search is the metrics service's name search: an in-memory index
// of the display names of entities, groups and programmes, kept from the
// change feed like every other figure.
//
// Names are normalised (lower case; words of letters and digits; a run of
// Chinese characters is one word) and indexed by n-grams: every trigram of
// a word, its one- and two-letter prefixes, and for Chinese every
// character and every pair of characters. A query is normalised the same
// way; a document matches when it holds every gram of every query word
// and every word occurs in its name. Matches are ranked: whole words
// above word prefixes above infixes, an exact or leading match first,
// shorter names before longer (see Index.Query).
//
// A query first counts its matches, up to TotalExactUpTo, from each
// word's exact document set, reading no name: a word of up to three
// letters (two Chinese characters) is its gram's list, a longer one the
// union of the whole-word lists of the indexed words containing it,
// found in a dictionary of words (see wordDict). It then ranks the
// matches it counted, and past the bound walks on as follows.
//
// A query walks the candidates along the rarest gram list, skipping
// through the others, and keeps the best offset+limit+1. Once those are
// held and TotalExactUpTo matches counted, a candidate is dropped on a
// bound of its score read from small per-document arrays (name length,
// first bytes, a bit set of word starts) and the whole-word lists, before
// its name is read; the total above that count is an estimate. Only a
// name on the list of its first word and the first letters of its
// second (see leadGram) can start with a query of two words or more:
// when that list is short, its names are ranked first and the walk
// bounds every other without the bonus of a leading match. Past
// that count, a posting list of OrderedMin ids or more is walked in rank
// order instead (see orderedList), from its best candidates, and the
// walk stops once the page is settled. Nothing is scanned but the
// candidates of the query's grams, and a common word reads few names.
//
// Chinese queries against English names go through a small glossary of
// place names and organisation words (天津 → tianjin, 大学 → university):
// a run of Chinese characters the glossary covers whole is also searched
// as its English words, and the results merged. A query that is a credit
// code matches it exactly.
//
// An Index is not safe for concurrent use with Put or Delete: the
// projection guards it. Searches only read it.
package search

import (
	"hash/fnv"
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
	normLen []uint16         // len(norm)+1 capped, 0 for a deleted document
	hot     []docHot         // what bounds a query's score before norm is read
	ids     map[string]int32 // resource name → live doc id
	credit  map[string]int32
	grams   map[uint64][]int32      // gram → ascending doc ids (dead ones included)
	ordered map[uint64]*orderedList // the lists of orderedMin ids or more, in rank order
	dict    wordDict                // every word of the names: what counts a long query word
	dead    int

	// Scratch space of Put, reused: for a name's normalised string and
	// words, and its grams.
	norm    normaliser
	gramBuf []uint64
}

// New returns an empty Index.
func New() *Index {
	return &Index{ids: map[string]int32{}, credit: map[string]int32{}, grams: map[uint64][]int32{}, ordered: map[uint64]*orderedList{}, dict: newWordDict()}
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
	words := x.appendDoc(d)
	x.gramBuf = docGrams(x.gramBuf[:0], words)
	for _, g := range x.gramBuf {
		l := append(x.grams[g], id) // ids only grow: the list stays sorted
		x.grams[g] = l
		if len(l) >= orderedMin {
			x.addOrdered(g, l, x.norms[id])
		}
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

// leadRunes is how many characters of a name's second word its leadGram
// holds.
const leadRunes = 3

// leadGram is the gram of the names whose first word is w0 and whose
// second word starts with w1's first leadRunes characters (all of w1 when
// shorter): a name starts with a query of two words or more only if it
// has the leadGram of the query's first two words, when the second has
// leadRunes characters or more. It is firstWordGram of w0, a space and
// that prefix, which no word holds.
func leadGram(w0, w1 string) uint64 {
	n := 0
	for i := range w1 {
		if n == leadRunes {
			w1 = w1[:i]
			break
		}
		n++
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(w0))
	_, _ = h.Write([]byte{' '})
	_, _ = h.Write([]byte(w1))
	return 3<<62 | h.Sum64()>>2
}

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
	var n normaliser
	_, words := n.normalise(s)
	return words
}

// normaliser is normalise with its scratch space, reused from one name to
// the next.
type normaliser struct {
	buf   []byte
	words []string
}

// normalise returns the words of s as normalise does, and norm, the words
// joined by single spaces: one string, of which every word is a slice.
// The words are valid until the next call.
func (n *normaliser) normalise(s string) (norm string, words []string) {
	buf, words := n.buf[:0], n.words[:0]
	defer func() { n.buf, n.words = buf, words }()
	han, inWord := false, false
	for _, r := range s {
		var isH bool
		switch {
		case isHan(r):
			isH = true
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
		default:
			inWord = false
			continue
		}
		if inWord && isH != han { // a run of Chinese characters is a word of its own
			inWord = false
		}
		if !inWord && len(buf) > 0 {
			buf = append(buf, ' ')
		}
		inWord, han = true, isH
		buf = utf8.AppendRune(buf, r)
	}
	norm = string(buf)
	for rest := norm; rest != ""; {
		w, after, _ := strings.Cut(rest, " ")
		words = append(words, w)
		rest = after
	}
	return norm, words
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

// appendDoc adds d as the next document id with everything a query reads
// of it (Put and Build both use it, so the two indexes cannot differ), and
// returns its normalised words for the gram lists.
func (x *Index) appendDoc(d Doc) []string {
	id := int32(len(x.docs))
	norm, words := x.norm.normalise(d.DisplayName)
	x.docs = append(x.docs, doc{Doc: d, live: true})
	x.norms = append(x.norms, norm)
	x.dict.add(norm)
	x.normLen = append(x.normLen, uint16(min(len(norm)+1, 1<<16-1)))
	h := docHot{head: head(norm)}
	for _, w := range words {
		h.starts |= startBit(w)
	}
	x.hot = append(x.hot, h)
	x.ids[d.Name] = id
	if d.CreditCode != "" {
		x.credit[strings.ToUpper(d.CreditCode)] = id
	}
	return words
}
