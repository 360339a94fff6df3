package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// reference ranks every live document of x against query the slow way:
// each one whose grams hold the query's is scored from its name.
func reference(x *Index, query string) []candidate {
	best := map[int32]float64{}
	if id, ok := x.credit[strings.ToUpper(strings.TrimSpace(query))]; ok {
		best[id] = 1000
	}
	for _, words := range alternatives(normalise(query)) {
		if len(words) == 0 {
			continue
		}
		var gs []uint64
		for _, w := range words {
			gs = appendGrams(gs, w, false)
		}
		whole := strings.Join(words, " ")
	docs:
		for id := range x.docs {
			if x.normLen[id] == 0 {
				continue
			}
			for _, g := range gs {
				if _, ok := slices.BinarySearch(x.grams[g], int32(id)); !ok {
					continue docs
				}
			}
			s, ok := scoreWords(x.norms[id], words, whole)
			if !ok {
				continue
			}
			v := float64(s) + float64(len(whole))/float64(x.normLen[id])
			if old, seen := best[int32(id)]; !seen || v > old {
				best[int32(id)] = v
			}
		}
	}
	out := make([]candidate, 0, len(best))
	for id, s := range best {
		out = append(out, candidate{id, s})
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return out
}

var (
	testPlaces = []string{"Tianjin", "Tianjin Binhai", "Binhai", "TEDA", "Beijing", "Hebei", "天津", "滨海"}
	testSyll   = []string{"hai", "xin", "rui", "tai", "jie", "bo", "an", "da", "tian", "jin"}
	testLines  = []string{"Cell Therapy", "New Materials", "Machine Vision", "Fuel Cell", "新材料", "University", "Aerospace"}
	testForms  = []string{"Co., Ltd.", "Technology Co., Ltd.", "Research Institute", "", "研究院"}
)

func testName(r *rand.Rand) string {
	return strings.TrimSpace(fmt.Sprintf("%s %s%s %s %s", testPlaces[r.IntN(len(testPlaces))],
		testSyll[r.IntN(len(testSyll))], testSyll[r.IntN(len(testSyll))], testLines[r.IntN(len(testLines))], testForms[r.IntN(len(testForms))]))
}

// testIndex indexes n generated names, with renames and deletions, and a
// few names that are a common word alone.
func testIndex(n int) *Index {
	x := New()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		x.Put(Doc{Name: fmt.Sprintf("entities/e%d", i), DisplayName: testName(r), CreditCode: fmt.Sprintf("91120116MA%07dX", i)})
	}
	for i := 0; i < n; i += 7 {
		x.Put(Doc{Name: fmt.Sprintf("entities/e%d", i), DisplayName: testName(r)})
	}
	for i := 3; i < n; i += 11 {
		x.Delete(fmt.Sprintf("entities/e%d", i))
	}
	for _, s := range []string{"Tianjin", "Binhai", "Tianjin Binhai", "Tian", "Co Ltd", "Tianjin Haixin Binhai", "Tianjinbinhai Tech", "Tianjin Bo Institute", "Tianjin Binhaixin"} {
		x.Put(Doc{Name: "entities/" + s, DisplayName: s})
	}
	return x
}

// queries are shapes of every kind: common and rare words, prefixes,
// infixes, several words, Chinese, a credit code, nothing.
var testQueries = []string{
	"tianjin", "binhai", "tian", "tia", "ti", "t", "jin", "hai", "co ltd", "tianjin binhai", "binhai tianjin",
	"haixin", "jiean cell", "cell", "machine vision", "new materials", "天津", "滨海 新材料", "新材料", "天津大学",
	"研究院", "津", "university", "universities", "91120116MA0000042X", "zzz", "tianjin binhai hai",
	"research institute", "co", "ltd", "teda", "an", "anjie", "tianjin bi", "tianjin b", "tianjinbin",
	"tianjin hai", "tianjin haixin", "tianjin haixin cell", "tianjin binhai cell", "binhai tianjin hai", "天津 滨海", "tianjin aerospace",
}

// TestQuery_MatchesReference proves the walk ranks, pages and counts as
// scoring every document would, with the exact count lowered so that
// common words go past it: without ordered lists, and with them (the
// threshold lowered so that common grams have them) on an index built by
// Put (ordered as lists grow, with renames and deletions), by Build, and
// by Build then changed by Put and Delete.
func TestQuery_MatchesReference(t *testing.T) {
	defer func(n, m int) { exactUpTo, orderedMin = n, m }(exactUpTo, orderedMin)
	exactUpTo = 150
	for _, min := range []int{OrderedMin, 300, 64} {
		orderedMin = min
		x := testIndex(2500)
		checkOrdered(t, x)
		if min < OrderedMin && len(x.ordered) == 0 {
			t.Fatalf("no ordered list at %d", min)
		}
		t.Run(fmt.Sprintf("put/ordered-from-%d", min), func(t *testing.T) { matchesReference(t, x, testQueries) })
	}
	orderedMin = 64
	x := testIndex(2500)
	docs := liveDocs(x)
	built := Build(docs)
	checkOrdered(t, built)
	t.Run("build", func(t *testing.T) { matchesReference(t, built, testQueries) })
	// Changes after the build: renames, deletions, new names enough to
	// merge tails into ordered lists, and others left in the tails.
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1500; i++ {
		d := docs[r.IntN(len(docs))]
		switch i % 3 {
		case 0:
			built.Delete(d.Name)
		case 1:
			d.DisplayName = testName(r)
			built.Put(d)
		default:
			built.Put(Doc{Name: fmt.Sprintf("entities/new%d", i), DisplayName: testName(r)})
		}
	}
	checkOrdered(t, built)
	t.Run("build-then-put", func(t *testing.T) { matchesReference(t, built, testQueries) })
	// Deleting most names rebuilds the index by Put: its lists are ordered
	// afresh.
	ids := len(built.docs)
	for _, d := range docs[:len(docs)*3/4] {
		built.Delete(d.Name)
	}
	if len(built.docs) >= ids {
		t.Fatalf("no rebuild: %d ids, %d before", len(built.docs), ids)
	}
	checkOrdered(t, built)
	if len(built.ordered) == 0 {
		t.Fatal("no ordered list after the rebuild")
	}
	t.Run("rebuilt", func(t *testing.T) { matchesReference(t, built, testQueries) })
	// Every long word counted by reading names, as when it is inside too
	// many indexed words; and unions of one or two words only.
	for _, u := range []int{0, 2} {
		maxUnion = u
		t.Run(fmt.Sprintf("union-%d", u), func(t *testing.T) { matchesReference(t, built, testQueries) })
	}
	maxUnion = MaxUnion
}

// sharedLeadIndex indexes n names shaped like the bulk data set's (every
// one starts "Tianjin Binhai New Area", then one of a few titles), and a
// few that start with the queries of sharedLeadQueries, or nearly (as
// the bulk set's groups do), with deletions.
func sharedLeadIndex(n int) *Index {
	titles := []string{"Aerospace", "New Materials", "Biomedicine", "Deep Sea", "Digital Economy", "Advanced Energy"}
	odd := []string{"Tianjin Aerospace", "Tianjin Aerospace Holding Co., Ltd.", "Tianjin Aerospaces Lab", "Tianjin Aer Lab",
		"Tianjin Ae", "Tianjin", "Tianjin Binhai", "Tianjin New Materials Research Institute", "Binhai New Materials",
		"Tianjin Deep Sea Research Institute", "天津 航天研究院", "天津 航天", "Tianjin Binhai New Area Aerospace",
		"Binhai new-materials talent group 7", "Binhai aerospace talent group 5", "Binhai Aerospace", "Binhai deep-sea talent group 4"}
	x := New()
	for i := range n {
		name := fmt.Sprintf("Tianjin Binhai New Area %s Technology Research Institute No. %05d", titles[i%len(titles)], i)
		if i%97 == 13 {
			name = odd[(i/97)%len(odd)]
		}
		x.Put(Doc{Name: fmt.Sprintf("entities/e%d", i), DisplayName: name})
	}
	for i := 5; i < n; i += 13 {
		x.Delete(fmt.Sprintf("entities/e%d", i))
	}
	return x
}

// sharedLeadQueries are the bulk harness's place-and-title queries and
// their neighbours: a first word every name has, with a rarer word.
var sharedLeadQueries = []string{
	"天津 航天", "天津 新材料", "天津 生物医药", "天津 深海", "天津 数字经济", "天津 能源",
	"滨海 航天", "滨海 新材料", "滨海 生物医药", "滨海 深海", "滨海 数字经济", "滨海 能源",
	"tianjin aerospace", "tianjin aer", "tianjin ae", "tianjin a", "tianjin aerospace holding", "tianjin binhai",
	"tianjin binhai new area aerospace", "tianjin new materials", "binhai new materials", "天津 航天研", "tianjin deep sea",
	"aerospace 00042", "tianjin", "binhai",
}

// TestQuery_MatchesReferenceSharedLead proves the walk ranks, pages and
// counts as scoring every document would when every name starts with
// the same words (as in the bulk data set), where the first words of a
// query tell little and its first two tell whether a name may start
// with it: with and without ordered lists, by Put (with deletions) and
// by Build.
func TestQuery_MatchesReferenceSharedLead(t *testing.T) {
	defer func(n, m int) { exactUpTo, orderedMin = n, m }(exactUpTo, orderedMin)
	exactUpTo = 150
	for _, min := range []int{OrderedMin, 300, 64} {
		orderedMin = min
		x := sharedLeadIndex(3000)
		checkOrdered(t, x)
		t.Run(fmt.Sprintf("put/ordered-from-%d", min), func(t *testing.T) { matchesReference(t, x, sharedLeadQueries) })
		built := Build(liveDocs(x))
		checkOrdered(t, built)
		t.Run(fmt.Sprintf("build/ordered-from-%d", min), func(t *testing.T) { matchesReference(t, built, sharedLeadQueries) })
	}
}

// liveDocs returns the documents x holds, deleted ones left out.
func liveDocs(x *Index) []Doc {
	var docs []Doc
	for _, d := range x.docs {
		if d.live {
			docs = append(docs, d.Doc)
		}
	}
	return docs
}

// TestWordSets_Exact proves each query word's set holds exactly the live
// documents the word matches (its grams held and the word in the name,
// a word of one or two letters at a word start), and that a word inside
// more than maxUnion indexed words has no set.
func TestWordSets_Exact(t *testing.T) {
	x := testIndex(2500)
	for i := 0; i < 2500; i += 5 {
		x.Delete(fmt.Sprintf("entities/e%d", i))
	}
	words := map[string]bool{"tianjinbinhai": true, "inha": true, "therap": true, "津大学": true, "xyzw": true}
	for _, q := range testQueries {
		for _, alt := range alternatives(normalise(q)) {
			for _, w := range alt {
				words[w] = true
			}
		}
	}
	counted := 0
	for w := range words {
		sets, ok := x.wordSets([]string{w})
		if !ok {
			continue // inside more than maxUnion words
		}
		counted++
		var got []int32
		for id, _, ok := sets[0].next(); ok; id, _, ok = sets[0].next() {
			if x.normLen[id] != 0 {
				got = append(got, id)
			}
		}
		var want []int32
	docs:
		for id := range x.docs {
			if x.normLen[id] == 0 {
				continue
			}
			for _, g := range appendGrams(nil, w, false) {
				if _, ok := slices.BinarySearch(x.grams[g], int32(id)); !ok {
					continue docs
				}
			}
			if _, ok := scoreMatch(x.norms[id], []string{w}, w); ok {
				want = append(want, int32(id))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q: set of %d live documents, %d match", w, len(got), len(want))
		}
	}
	if counted < len(words)*3/4 {
		t.Fatalf("%d of %d words have a set", counted, len(words))
	}
	// "inha" is inside binhai, binhaixin, tianjinbinhai: three words.
	defer func(u int) { maxUnion = u }(maxUnion)
	maxUnion = 2
	if _, ok := x.wordSets([]string{"inha"}); ok {
		t.Fatal(`"inha" inside three words: a set with maxUnion 2`)
	}
}

// checkOrdered proves each ordered list holds its posting list's live
// documents up to upTo, in class, length, id order, and that every list
// long enough has one.
func checkOrdered(t *testing.T, x *Index) {
	t.Helper()
	for g, l := range x.grams {
		o := x.ordered[g]
		if o == nil {
			if len(l) >= orderedMin && g>>63 == 0 {
				t.Fatalf("gram %q: %d ids, no ordered list", gramText(g), len(l))
			}
			continue
		}
		if len(l)-o.covered > len(l)/8+1 {
			t.Fatalf("gram %q: tail of %d in %d", gramText(g), len(l)-o.covered, len(l))
		}
		var want []int32
		for _, id := range l[:o.covered] {
			if x.normLen[id] != 0 {
				want = append(want, id)
			}
		}
		var got []int32
		var prev [3]int
		start := int32(0)
		for c, end := range o.ends {
			for _, id := range o.ids[start:end] {
				if id > o.upTo {
					t.Fatalf("gram %q: id %d above upTo %d", gramText(g), id, o.upTo)
				}
				if x.normLen[id] == 0 {
					continue // deleted since: skipped by queries, dropped by the next merge
				}
				if gc := gramClass(x.norms[id], g); gc != c {
					t.Fatalf("gram %q: %q in class %d, is %d", gramText(g), x.norms[id], c, gc)
				}
				key := [3]int{c, int(x.normLen[id]), int(id)}
				if slices.Compare(key[:], prev[:]) <= 0 && len(got) > 0 {
					t.Fatalf("gram %q: %v after %v", gramText(g), key, prev)
				}
				prev = key
				got = append(got, id)
			}
			start = end
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("gram %q: ordered %d live ids, the list %d", gramText(g), len(got), len(want))
		}
		if o.covered > 0 && l[o.covered-1] != o.upTo {
			t.Fatalf("gram %q: upTo %d, list at covered %d", gramText(g), o.upTo, l[o.covered-1])
		}
	}
}

// matchesReference compares every query's pages with reference.
func matchesReference(t *testing.T, x *Index, queries []string) {
	for _, query := range queries {
		all := reference(x, query)
		for _, size := range []int{1, 7, 100} {
			want := all
			if size == 1 && len(want) > 50 {
				continue
			}
			var got []candidate
			for off := 0; ; off += size {
				p := x.Query(query, off, size)
				for _, r := range p.Results {
					got = append(got, candidate{x.ids[r.Name], r.Score})
				}
				switch {
				case len(all) <= exactUpTo && (!p.TotalExact || p.Total != len(all)):
					t.Fatalf("Query(%q): total %d (exact %v), want exactly %d", query, p.Total, p.TotalExact, len(all))
				case len(all) > exactUpTo && p.TotalExact && (len(alternatives(normalise(query))) == 1 || p.Total != len(all)):
					// Each alternative counts up to exactUpTo: two may
					// count more than that in all, exactly.
					t.Fatalf("Query(%q): total %d (exact %v), want an estimate above %d (there are %d)", query, p.Total, p.TotalExact, exactUpTo, len(all))
				case len(all) > exactUpTo && !p.TotalExact && p.Total <= exactUpTo:
					t.Fatalf("Query(%q): total %d (exact %v), want an estimate above %d (there are %d)", query, p.Total, p.TotalExact, exactUpTo, len(all))
				case p.More != (off+size < len(all)):
					t.Fatalf("Query(%q) at %d: More %v with %d results", query, off, p.More, len(all))
				}
				if !p.More {
					break
				}
				if size < 20 && off > 100 {
					want = want[:len(got)] // enough for the small pages
					break
				}
			}
			if len(got) != len(want) {
				t.Fatalf("Query(%q) pages of %d hold %d results, want %d", query, size, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("Query(%q) pages of %d: result %d is %v (%s), want %v (%s)", query, size, i,
						got[i], x.norms[got[i].id], want[i], x.norms[want[i].id])
				}
			}
		}
	}
}
