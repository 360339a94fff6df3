package search

import (
	"container/heap"
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// TotalExactUpTo is how far a query's total is counted exactly: a query
// with more matches than this stops counting there and reports an
// estimate (at least this), so that a common word costs no more than a
// rare one.
const TotalExactUpTo = 10_000

// exactUpTo is TotalExactUpTo, lowered by tests.
var exactUpTo = TotalExactUpTo

// Page is one page of the results of a query.
type Page struct {
	// Results holds the page, best first.
	Results []Result
	// Total is how many results the query has: exact when TotalExact,
	// else an estimate of at least TotalExactUpTo.
	Total      int
	TotalExact bool
	// More reports whether results follow this page.
	More bool
}

// Search returns the results ranked offset to offset+limit of query, and
// how many there are in all (see Query for when that is an estimate).
func (x *Index) Search(query string, offset, limit int) ([]Result, int) {
	p := x.Query(query, offset, limit)
	return p.Results, p.Total
}

// Query returns the results ranked offset to offset+limit of query.
//
// Ranking: for each query word, 3 when it is a whole word of the name, 2
// a word prefix, 1 an infix; 10 more when the name is the query, 5 when
// it starts with it; then len(query)/(len(name)+1), shorter names first;
// then the earlier indexed. A credit code scores 1000. A document found
// by two alternatives of a Chinese query keeps its better score.
//
// The matches of each alternative are first counted from each word's
// exact document set (see wordSets), up to TotalExactUpTo, reading no
// name; the walk ranks those it counted, then the rest. The candidates
// of each alternative are walked in id order along the
// rarest gram list, the others skipped through by galloping. Once the
// top offset+limit+1 are held and TotalExactUpTo matches counted, a
// candidate is dropped on a bound of its score taken from its length and
// first bytes (hot arrays) and from which whole-word and word-start lists
// hold it, before its name is read: a common word costs a walk of one
// list and a name read per contender, not per match. With two words or
// more, the names that may start with the query are those of the list
// of its first word and its second's first letters (leadGram); up to
// preRankMax of them are ranked first, and every other name is bounded
// without the lead bonus. Past the exact
// count, the ordered list of a word's first gram, if it has one, is
// walked instead from its best class and shortest names, and stops at
// the first candidate that cannot enter the page.
func (x *Index) Query(query string, offset, limit int) Page {
	q := querier{x: x, top: topK{k: offset + limit + 1}, exact: true, credit: -1}
	alts := alternatives(normalise(query))
	credit, isCredit := x.credit[strings.ToUpper(strings.TrimSpace(query))]
	if len(alts) > 1 || isCredit {
		// A document may be found twice: count it once, rank it once.
		q.top.in = map[int32]struct{}{}
	}
	if isCredit {
		q.top.offer(credit, 1000)
		q.credit = credit
		q.total++
	}
	for i, alt := range alts {
		q.record = i < len(alts)-1
		q.match(alt)
	}
	ranked := q.top.sorted()
	p := Page{Total: q.total, TotalExact: q.exact, More: len(ranked) > offset+limit, Results: []Result{}}
	if offset < len(ranked) {
		page := ranked[offset:min(len(ranked), offset+limit)]
		p.Results = make([]Result, len(page))
		for i, c := range page {
			p.Results[i] = Result{Doc: x.docs[c.id].Doc, Score: c.score}
		}
	}
	return p
}

// querier is the state of one query.
type querier struct {
	x      *Index
	top    topK
	total  int
	exact  bool
	credit int32 // the document of a credit code query, else -1
	// With several alternatives, what each counted (ascending ids), so
	// that a later one does not count it again.
	record  bool
	matched []int32
	done    [][]int32
}

// match ranks and counts the live documents holding every word of words.
func (q *querier) match(words []string) {
	x := q.x
	n := len(words)
	if n == 0 {
		return
	}
	// Per word: its gram lists (the candidates hold them all), the rarest
	// first; the documents holding it whole (they hold its grams too);
	// those where a word starts with its first two letters; the bit of
	// its first three letters in a document's starts; the best tier
	// it can score anywhere.
	ws := make([]queryWord, n)
	var gs []uint64
	maxSum := 0
	for i, w := range words {
		qw := &ws[i]
		gs = appendGrams(gs[:0], w, false)
		qw.lead, qw.first = gs[0], i == 0
		for _, g := range gs {
			l, ok := x.grams[g]
			if !ok {
				return
			}
			qw.grams = append(qw.grams, cursor{l: l})
		}
		slices.SortFunc(qw.grams, func(a, b cursor) int { return len(a.l) - len(b.l) })
		qw.whole.l = x.grams[wordGram(w)]
		r0, n0 := utf8.DecodeRuneInString(w)
		r1, _ := utf8.DecodeRuneInString(w[n0:])
		runes := utf8.RuneCountInString(w)
		switch {
		case isHan(r0) && runes <= 2:
			qw.kind = hanShort
		case isHan(r0):
			qw.kind, qw.startBit = hanWord, startBit(w)
		case runes < 3:
			qw.kind = shortWord
		default:
			qw.kind, qw.startBit = longWord, startBit(w)
			qw.starts.l = x.grams[gram(prefixMark, r0, r1)]
			if runes == 3 {
				qw.kind = triWord
			}
		}
		switch {
		case qw.whole.l != nil:
			qw.max = 3
		case qw.kind == shortWord || qw.kind == hanShort || qw.kind == hanWord || qw.starts.l != nil:
			qw.max = 2
		default:
			qw.max = 1
		}
		maxSum += qw.max
	}
	// The walk follows the rarest list; the other words' rarest lists are
	// checked next, rarest first; a word's other grams only when it is
	// not there whole.
	slices.SortFunc(ws, func(a, b queryWord) int { return len(a.grams[0].l) - len(b.grams[0].l) })
	driver := ws[0].grams[0].l
	ws[0].grams[0].l = nil // the walk itself

	whole := strings.Join(words, " ")
	// lead holds the names that may start with the query: with one word,
	// those whose first word it is; with more, those whose first word is
	// the first and whose second starts as the second does (its
	// leadGram; when the second word is shorter than that, only the first
	// word is told). A common first word is not enough: "tianjin
	// aerospace" starts no name of a million that all start "tianjin
	// binhai".
	lead := cursor{l: x.grams[firstWordGram(words[0])]}
	if n > 1 && utf8.RuneCountInString(words[1]) >= leadRunes {
		lead.l = x.grams[leadGram(words[0], words[1])]
	}
	qHead, qMask := head(whole), headMask(len(whole))
	headCovers := len(whole) <= 8 // a matching head proves the prefix
	exactLen := uint16(min(len(whole)+1, 1<<16-1))
	fw := float64(len(whole))
	dups := q.dupCursors()

	// The bound before any list is read: a word that starts no word of
	// the name is an infix at best; no lead bonus unless the first bytes
	// match. cuts[s] is the longest name a bound of s+len/(len(name)+1)
	// lets in, against the worst held (worst).
	var drops []startDrop
	for _, qw := range ws {
		if qw.startBit != 0 && qw.max > 1 {
			drops = append(drops, startDrop{qw.startBit, qw.max - 1})
		}
	}
	cuts := make([]int, maxSum+11)
	// With two words or more, only a name in lead can start with the
	// query.
	leadBonus := 5
	if n > 1 && lead.l == nil {
		leadBonus = 0
	}
	worst := candidate{id: -1}
	// When few names may start with the query, they are ranked first, from
	// their names (pre); the walks skip them and bound every other name
	// without the lead bonus. A query whose first words every name has
	// ("tianjin binhai aerospace") still has a long lead, and its lead
	// bonus is told per name.
	var pre []int32
	if n > 1 && len(lead.l) > 0 && len(lead.l) <= preRankMax {
		pre = lead.l
		for _, id := range pre {
			nl := x.normLen[id]
			if nl == 0 {
				continue
			}
			if score, ok := scoreMatch(x.norms[id], words, whole); ok {
				q.top.offer(id, float64(score)+fw/float64(nl))
			}
		}
		lead.l, leadBonus = nil, 0
	}
	preCur := cursor{l: pre}

	// Once counting is done, the ordered list of a word's first gram, if
	// it has one (the shortest), walks the best candidates first.
	var ord *orderedList
	ordGram, ordMax, ordFirst := uint64(0), 0, false
	for _, qw := range ws {
		if o := x.ordered[qw.lead]; o != nil && (ord == nil || len(o.ids) < len(ord.ids)) {
			ord, ordGram, ordMax, ordFirst = o, qw.lead, qw.max, qw.first
		}
	}
	// A name that starts with ord's gram can start with the query only
	// if the query starts with that gram.
	ordLeads := ord != nil && strings.HasPrefix(whole, gramText(ordGram))
	// ordWalk offers the matches of ids after `after` in ord, class by
	// class, from the shortest names, until one cannot enter the page.
	// The word of ord is an infix where its gram is, and the name cannot
	// start with the query then; if it is the first word, the name can
	// start with the query only where the gram starts it.
	// A match holds every word (present, which proves the grams of all
	// but a word of one or two letters) and such a word at a word start.
	ordWalk := func(after int32) {
		start := int32(0)
		for c, end := range ord.ends {
			base := maxSum
			if c == classInfix { // the word starts no word: an infix
				base = maxSum - ordMax + 1
			}
			for _, id := range ord.ids[start:end] {
				nl := x.normLen[id]
				if nl == 0 {
					continue
				}
				b := base
				if leadBonus > 0 && (c == classLead && ordLeads || c == classStart && !ordFirst) {
					b += 5
					if nl <= exactLen {
						b += 5
					}
				}
				frac := fw / float64(nl)
				if q.top.beaten(id, float64(b)+frac) {
					break // and so is the rest of the class
				}
				if id <= after {
					continue // walked in id order
				}
				h := x.hot[id]
				s := maxSum
				for _, d := range drops {
					if h.starts&d.bit == 0 {
						s -= d.by
					}
				}
				if leadBonus > 0 && h.head&qMask == qHead {
					s += 5
					if nl == exactLen {
						s += 5
					}
				}
				if q.top.beaten(id, float64(s)+frac) {
					continue
				}
				if _, ranked := slices.BinarySearch(pre, id); ranked {
					continue
				}
				if score, ok := scoreMatch(x.norms[id], words, whole); ok {
					q.top.offer(id, float64(score)+frac)
				}
			}
			start = end
		}
	}

	// The count first, from the words' exact sets, reading no name: it
	// also returns the matches it walked, all of them under the exact
	// bound. The walk ranks those, then (past the bound) the rest of the
	// driver in id order, or the ordered list once the top holds the best
	// of the first matches. When a word is inside too many indexed words,
	// the walk counts its first matches itself, reading names.
	counting, found := true, 0
	estimate, over := 0, false
	segs := [2][]int32{driver} // walked in turn
	ordFrom := 0               // the first segment the ordered walk may start in
	last := int32(-1)          // the last id walked in id order
	countedTo := int32(-1)     // the count walked every id up to it
	if sets, ok := x.wordSets(words); ok {
		counting = false
		c, exact, hits, upTo := q.count(sets, dups)
		countedTo = upTo
		switch {
		case exact && len(hits) == 0:
			return
		case exact:
			found, ord = c, nil
			segs = [2][]int32{hits}
		default:
			estimate, over = c, true
			k := sort.Search(len(driver), func(i int) bool { return driver[i] > upTo })
			segs = [2][]int32{hits, driver[k:]}
			ordFrom = 1
		}
	}
	for si, seg := range segs {
		if si == ordFrom && si > 0 {
			last = max(last, countedTo) // every match up to it is in hits
		}
	walk:
		for pos := 0; pos < len(seg); pos++ {
			if si >= ordFrom && !counting && ord != nil && n > 1 && leadBonus > 0 && q.top.full() && q.top.h[0].score < float64(maxSum+5) {
				// The worst held does not start with the query: the bound
				// of every class that may would not stop the ordered walk
				// short of the whole class (each read costs more than a
				// step of the walk in id order).
				ord = nil
			}
			if si >= ordFrom && !counting && ord != nil && q.top.full() {
				// The ids up to last are walked; the ordered list covers
				// those up to upTo, its tail and the ids after are walked
				// on in id order.
				ordWalk(last)
				next := max(last, ord.upTo)
				ord = nil
				pos += sort.Search(len(seg)-pos, func(i int) bool { return seg[pos+i] > next })
				if pos == len(seg) {
					break
				}
			}
			id := seg[pos]
			last = id
			// Each read here may miss the cache: the cheapest test first.
			pruning := !counting && q.top.full()
			var nl uint16
			var h docHot
			hotCut := false
			if pruning {
				if q.top.h[0] != worst {
					worst = q.top.h[0]
					for s := range cuts {
						cuts[s] = 1<<31 - 1
						if t := worst.score - float64(s); t > 0 {
							cuts[s] = int(fw/t) + 1
						}
					}
				}
				nl = x.normLen[id]
				if nl == 0 || int(nl) > cuts[maxSum+leadBonus] && (nl != exactLen || leadBonus == 0) {
					continue
				}
				// With two words or more, the lead bonus needs the name in
				// lead: its list is read in order, hot is not.
				// Without it, the lists bound the score (below) and hot
				// is read only for a word not whole.
				hotCut = n == 1 || leadBonus > 0 && lead.seek(id)
				if !hotCut && int(nl) > cuts[maxSum] {
					continue
				}
			}
			// The other words' lists are read in order (cheap), hot is not.
			for i := 1; i < n; i++ {
				if !ws[i].grams[0].seek(id) {
					continue walk
				}
			}
			hotRead := false
			if pruning && hotCut {
				h, hotRead = x.hot[id], true
				s := maxSum
				for _, d := range drops {
					if h.starts&d.bit == 0 {
						s -= d.by
					}
				}
				if h.head&qMask == qHead {
					s += 5
					if nl == exactLen {
						s += 5
					}
				}
				if int(nl) > cuts[s] {
					continue
				}
			}
			if !pruning {
				if nl = x.normLen[id]; nl == 0 {
					continue // deleted
				}
			}
			// hot (16 bytes a document, a likely cache miss) is read only
			// when needed: a word not whole, or a name that may start with
			// the query.
			frac := fw / float64(nl)
			// The bound of the score from the lists, and whether it is the
			// score (known) and the words surely occur (present): a gram of
			// three letters or fewer, or two Chinese characters, is the word.
			sum, allWhole, tiersKnown, present := 0, true, true, true
			for i := range ws {
				qw := &ws[i]
				if qw.whole.seek(id) {
					sum += 3
					continue
				}
				for j := 1; j < len(qw.grams); j++ {
					if !qw.grams[j].seek(id) {
						continue walk
					}
				}
				allWhole = false
				if !hotRead {
					h, hotRead = x.hot[id], true
				}
				startsWord := qw.startBit == 0 || h.starts&qw.startBit != 0
				switch qw.kind {
				case shortWord: // found by a word-prefix gram
					sum += 2
				case hanShort:
					sum += 2
					tiersKnown = false
				case hanWord:
					present = false
					if startsWord {
						sum += 2
						tiersKnown = false
					} else {
						sum++
					}
				case triWord, longWord:
					if startsWord && qw.starts.seek(id) {
						sum += 2
						tiersKnown = false
					} else {
						sum++
					}
					present = present && qw.kind == triWord
				}
			}
			bonus, bonusKnown := 0, true
			// With two words or more, a name starting with the query is in
			// lead (or pre, ranked already).
			mayLead := n == 1 || lead.seek(id)
			if !hotRead && mayLead {
				h, hotRead = x.hot[id], true
			}
			if mayLead && hotRead && h.head&qMask == qHead {
				bonus = 5
				if nl == exactLen && (allWhole || headCovers) {
					bonus = 10
				}
				bonusKnown = headCovers || n == 1 && allWhole && lead.seek(id)
			}
			score, known := sum+bonus, tiersKnown && present && bonusKnown
			if counting {
				if !present {
					var ok bool
					if score, ok = scoreWords(x.norms[id], words, whole); !ok {
						continue
					}
					known = true
				}
				if !q.dup(dups, id) {
					found++
					if q.record {
						q.matched = append(q.matched, id)
					}
					if found > exactUpTo {
						counting, over = false, true
						estimate = int(int64(found) * int64(len(seg)) / int64(pos+1))
					}
				}
			}
			if preCur.seek(id) {
				continue // ranked first
			}
			if q.top.beaten(id, float64(sum+bonus)+frac) {
				continue
			}
			if !known {
				var ok bool
				if score, ok = scoreWords(x.norms[id], words, whole); !ok {
					continue
				}
			}
			q.top.offer(id, float64(score)+frac)
		}
	}
	if !over {
		q.total += found
	} else {
		q.total += estimate
		q.exact = false
	}
	if q.record {
		q.done = append(q.done, q.matched)
		q.matched = nil
	}
}

// preRankMax is the most names that may start with a query of two
// words or more (its lead) that are ranked first, from their names, so
// that the walks need not allow every other name the lead bonus.
const preRankMax = 4096

// docHot is what a query reads of a document before its name: its first
// bytes (head) and the startBit of each of its words.
type docHot struct {
	head, starts uint64
}

type startDrop struct {
	bit uint64
	by  int
}

// queryWord is what a query walk knows of one word.
type queryWord struct {
	kind     wordKind
	grams    []cursor // its gram lists, rarest first
	lead     uint64   // its first gram: where it starts tells its tier
	first    bool     // the first word: where it starts tells the lead bonus too
	whole    cursor   // the documents holding it as a whole word
	starts   cursor   // those with a word starting with its first two letters
	startBit uint64   // its bit in starts; 0 when not told
	max      int      // the best tier it can have
}

type wordKind uint8

// How a query word is found: a word of one or two letters by its prefix
// gram, of three by its one trigram, a longer one by its trigrams; one
// or two Chinese characters by their gram, more by their pairs.
const (
	shortWord wordKind = iota
	triWord
	longWord
	hanShort
	hanWord
)

// dupCursors returns cursors over what earlier alternatives counted.
func (q *querier) dupCursors() []cursor {
	if !q.exact || len(q.done) == 0 {
		return nil
	}
	out := make([]cursor, len(q.done))
	for i, l := range q.done {
		out[i].l = l
	}
	return out
}

// dup reports whether an earlier source counted id.
func (q *querier) dup(dups []cursor, id int32) bool {
	if id == q.credit {
		return true
	}
	for i := range dups {
		if dups[i].seek(id) {
			return true
		}
	}
	return false
}

// startBit returns the bit of a word's first three characters (all of a
// shorter word) in a document's starts: a query word whose bit a
// document lacks starts none of its words.
func startBit(w string) uint64 {
	n := 0
	for i := range w {
		if n == 3 {
			w = w[:i]
			break
		}
		n++
	}
	return 1 << (hash62(w) & 63)
}

// head returns the first 8 bytes of s, big-endian, zero-padded: a
// document whose head differs from the query's under headMask cannot
// start with the query.
func head(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

func headMask(n int) uint64 {
	if n >= 8 {
		return ^uint64(0)
	}
	return ^(^uint64(0) >> (8 * n))
}

// scoreWords ranks name (normalised) for the query's words, without the
// length term; false when a word does not occur in it.
func scoreWords(name string, words []string, whole string) (int, bool) {
	s := 0
	for _, w := range words {
		best := wordTier(name, w)
		if best == 0 {
			return 0, false
		}
		s += best
	}
	return s + leadScore(name, whole), true
}

// scoreMatch is scoreWords of a document not known to hold the query's
// grams: false too when a word of one or two letters (found by its
// word-prefix gram) starts no word of name. A longer word, or a Chinese
// one, that occurs holds its grams.
func scoreMatch(name string, words []string, whole string) (int, bool) {
	s := 0
	for _, w := range words {
		best := wordTier(name, w)
		r, _ := utf8.DecodeRuneInString(w)
		if best == 0 || best == 1 && !isHan(r) && utf8.RuneCountInString(w) < 3 {
			return 0, false
		}
		s += best
	}
	return s + leadScore(name, whole), true
}

// wordTier returns 3 when w is a whole word of name, 2 when it starts
// one, 1 when it is inside one, 0 when it does not occur.
func wordTier(name, w string) int {
	best := 0
	for from := 0; from < len(name); {
		i := strings.Index(name[from:], w)
		if i < 0 {
			break
		}
		i += from
		start := i == 0 || name[i-1] == ' '
		end := i+len(w) == len(name) || name[i+len(w)] == ' '
		v := 1
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
	return best
}

// leadScore returns 10 when name is the query, 5 when it starts with it.
func leadScore(name, whole string) int {
	switch {
	case name == whole:
		return 10
	case strings.HasPrefix(name, whole):
		return 5
	}
	return 0
}

// cursor walks an ascending id list forward.
type cursor struct {
	l []int32
	i int
}

// seek moves c to the first id at or after id, galloping, and reports
// whether it is id.
func (c *cursor) seek(id int32) bool {
	l, lo := c.l, c.i
	if lo >= len(l) {
		return false
	}
	if l[lo] >= id {
		return l[lo] == id
	}
	step := 1 // l[lo] < id
	for lo+step < len(l) && l[lo+step] < id {
		lo += step
		step <<= 1
	}
	hi := min(lo+step+1, len(l))
	j, ok := slices.BinarySearch(l[lo+1:hi], id)
	c.i = lo + 1 + j
	return ok
}

type candidate struct {
	id    int32
	score float64
}

// topK keeps the k best candidates: higher score first, then the earlier
// indexed. With in set, a candidate offered twice is held once, with its
// better score.
type topK struct {
	k  int
	h  []candidate
	in map[int32]struct{}
}

func better(a, b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.id < b.id
}

func (t *topK) Len() int           { return len(t.h) }
func (t *topK) Less(i, j int) bool { return better(t.h[j], t.h[i]) } // worst on top
func (t *topK) Swap(i, j int)      { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topK) Push(v any)         { t.h = append(t.h, v.(candidate)) }
func (t *topK) Pop() any {
	v := t.h[len(t.h)-1]
	t.h = t.h[:len(t.h)-1]
	return v
}

func (t *topK) full() bool { return len(t.h) >= t.k }

// beaten reports whether a candidate id scoring at most s cannot enter.
func (t *topK) beaten(id int32, s float64) bool {
	return t.full() && !better(candidate{id, s}, t.h[0])
}

func (t *topK) offer(id int32, s float64) {
	c := candidate{id, s}
	if t.in != nil {
		if _, ok := t.in[id]; ok {
			for i := range t.h {
				if t.h[i].id == id && better(c, t.h[i]) {
					t.h[i] = c
					heap.Fix(t, i)
				}
			}
			return
		}
	}
	switch {
	case len(t.h) < t.k:
		heap.Push(t, c)
	case better(c, t.h[0]):
		if t.in != nil {
			delete(t.in, t.h[0].id)
		}
		t.h[0] = c
		heap.Fix(t, 0)
	default:
		return
	}
	if t.in != nil {
		t.in[id] = struct{}{}
	}
}

func (t *topK) sorted() []candidate {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b candidate) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	return out
}
