package search_test

import (
	"fmt"
	"strings"
	"testing"

	"talentreg/services/metrics/search"
)

func demoIndex() *search.Index {
	x := search.New()
	for i, n := range []string{
		"Tianjin University", "Nankai University", "Tianjin University of Technology",
		"Tianjin University of Science and Technology", "Hebei University of Technology",
		"Tianjin Binhai Haixin Aerospace Composites Co., Ltd.", "Civil Aviation University of China",
		"Beijing Zhongguancun Intelligent Equipment Co., Ltd.", "天津滨海新材料研究院",
	} {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/e%d", i), DisplayName: n, Kind: "ENTITY_KIND_UNIVERSITY",
			CreditCode: fmt.Sprintf("12120000MB%07dX", i)})
	}
	x.Put(search.Doc{Name: "groups/aerospace", DisplayName: "Binhai Aerospace Talent Alliance", Kind: "GROUP_KIND_ALLIANCE"})
	x.Put(search.Doc{Name: "programs/haihe", DisplayName: "Haihe Talent", Kind: "program"})
	return x
}

func names(rs []search.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.DisplayName
	}
	return out
}

func TestIndex_Search(t *testing.T) {
	x := demoIndex()
	for _, tc := range []struct {
		name, query string
		first       string
		total       int
	}{
		{"english exact name ranks first", "Tianjin University", "Tianjin University", 3},
		{"lower case", "tianjin university", "Tianjin University", 3},
		{"word prefix", "Tianjin Univ", "Tianjin University", 3},
		{"chinese through the glossary", "天津大学", "Tianjin University", 3},
		{"chinese and english mixed", "天津 technology", "Tianjin University of Technology", 2},
		{"chinese name, part of it", "新材料", "天津滨海新材料研究院", 1},
		{"chinese single character", "津", "天津滨海新材料研究院", 1},
		{"infix", "aviation", "Civil Aviation University of China", 1},
		{"short prefix", "ha", "Haihe Talent", 2},
		{"credit code exact", "12120000MB0000001X", "Nankai University", 1},
		{"groups too", "aerospace alliance", "Binhai Aerospace Talent Alliance", 1},
		{"programmes too", "Haihe", "Haihe Talent", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, total := x.Search(tc.query, 0, 20)
			if total != tc.total || len(rs) == 0 || rs[0].DisplayName != tc.first {
				t.Fatalf("Search(%q) = %v (total %d), want %q first of %d", tc.query, names(rs), total, tc.first, tc.total)
			}
		})
	}
	for _, q := range []string{"Peking", "北京大学", "zzz", "天津大学X"} {
		if rs, total := x.Search(q, 0, 20); total != 0 {
			t.Errorf("Search(%q) found %v", q, names(rs))
		}
	}
}

func TestIndex_Paging(t *testing.T) {
	x := search.New()
	for i := range 45 {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/e%02d", i), DisplayName: fmt.Sprintf("Tianjin Company %02d", i)})
	}
	seen := map[string]bool{}
	for off := 0; off < 45; off += 20 {
		rs, total := x.Search("tianjin company", off, 20)
		if total != 45 {
			t.Fatalf("total %d, want 45", total)
		}
		for _, r := range rs {
			if seen[r.Name] {
				t.Fatalf("%s on two pages", r.Name)
			}
			seen[r.Name] = true
		}
	}
	if len(seen) != 45 {
		t.Fatalf("pages held %d results, want 45", len(seen))
	}
	if rs, _ := x.Search("tianjin company", 100, 20); len(rs) != 0 {
		t.Fatalf("a page past the end holds %v", names(rs))
	}
}

func TestIndex_UpdateAndDelete(t *testing.T) {
	x := demoIndex()
	x.Put(search.Doc{Name: "entities/e1", DisplayName: "Nankai Institute", Kind: "ENTITY_KIND_RESEARCH_INSTITUTE"})
	if rs, _ := x.Search("Nankai University", 0, 20); len(rs) != 0 {
		t.Fatalf("the old name is still found: %v", names(rs))
	}
	if rs, _ := x.Search("nankai institute", 0, 20); len(rs) != 1 || rs[0].Name != "entities/e1" {
		t.Fatalf("the new name is not found: %v", names(rs))
	}
	x.Delete("entities/e0")
	if rs, _ := x.Search("tianjin university", 0, 20); len(rs) != 2 {
		t.Fatalf("after deleting Tianjin University: %v", names(rs))
	}
	// Many deletions rebuild the index; what is left is still found.
	for i := range 3000 {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/x%d", i), DisplayName: fmt.Sprintf("Temporary %d", i)})
	}
	for i := range 3000 {
		x.Delete(fmt.Sprintf("entities/x%d", i))
	}
	if rs, total := x.Search("temporary", 0, 20); total != 0 {
		t.Fatalf("deleted documents found: %v", names(rs))
	}
	if rs, _ := x.Search("hebei technology", 0, 20); len(rs) != 1 {
		t.Fatalf("after a rebuild: %v", names(rs))
	}
	if x.Len() != 10 {
		t.Fatalf("Len %d, want 10", x.Len())
	}
}

// TestIndex_QueryTotal: the total is exact up to TotalExactUpTo and an
// estimate above it, and paging through every match of a word that
// common visits each one once, in rank order, More telling when to stop.
func TestIndex_QueryTotal(t *testing.T) {
	x := search.New()
	n := search.TotalExactUpTo + 2000
	for i := range n {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/e%05d", i), DisplayName: fmt.Sprintf("Tianjin Company %05d%s", i, strings.Repeat(" x", i%7))})
	}
	for i := range search.TotalExactUpTo {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/b%05d", i), DisplayName: fmt.Sprintf("Beijing Firm %05d", i)})
	}
	if p := x.Query("beijing", 0, 20); !p.TotalExact || p.Total != search.TotalExactUpTo || !p.More {
		t.Fatalf("beijing: total %d (exact %v), more %v; want exactly %d and more", p.Total, p.TotalExact, p.More, search.TotalExactUpTo)
	}
	p := x.Query("tianjin", 0, 20)
	if p.TotalExact || p.Total < search.TotalExactUpTo || p.Total > 2*n {
		t.Fatalf("tianjin: total %d (exact %v), want an estimate above %d near %d", p.Total, p.TotalExact, search.TotalExactUpTo, n)
	}
	// The best: the shortest names (no " x"), the earlier indexed first.
	for i, r := range p.Results {
		if want := fmt.Sprintf("entities/e%05d", 7*i); r.Name != want {
			t.Fatalf("tianjin result %d is %s (%s), want %s", i, r.Name, r.DisplayName, want)
		}
	}
	seen := map[string]bool{}
	last := p.Results[0].Score
	for off := 0; ; off += 500 {
		p := x.Query("tianjin", off, 500)
		for _, r := range p.Results {
			if seen[r.Name] || r.Score > last {
				t.Fatalf("page at %d: %s (score %v after %v) seen before or out of order", off, r.Name, r.Score, last)
			}
			seen[r.Name], last = true, r.Score
		}
		if !p.More {
			break
		}
	}
	if len(seen) != n {
		t.Fatalf("the pages of tianjin held %d results, want %d", len(seen), n)
	}
}

// TestIndex_PutAllocations: indexing a name reuses the index's scratch
// space for its normalised words and grams; what a Put allocates is what
// it keeps (the document's strings, its normalised name, its map entries,
// and now and then a posting list grown). It was 25 allocations a name,
// one per word and per growth of the gram list.
func TestIndex_PutAllocations(t *testing.T) {
	x := search.New()
	const name = "Tianjin Binhai New Area Aerospace Technology Innovation and Industrialisation Research Institute Holding Co., Ltd. No. %07d"
	for i := range 1000 {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/w%d", i), DisplayName: fmt.Sprintf(name, i), Kind: "ENTITY_KIND_ENTERPRISE"})
	}
	docs := make([]search.Doc, 2000)
	for i := range docs {
		docs[i] = search.Doc{Name: fmt.Sprintf("entities/e%d", i), DisplayName: fmt.Sprintf(name, 1000+i), Kind: "ENTITY_KIND_ENTERPRISE"}
	}
	i := 0
	allocs := testing.AllocsPerRun(len(docs)-1, func() { // AllocsPerRun calls once more to warm up
		x.Put(docs[i])
		i++
	})
	if allocs > 10 {
		t.Errorf("%.1f allocations per Put of a 15-word name, want at most 10", allocs)
	}
	if got := x.Len(); got != 3000 {
		t.Fatalf("%d documents, want 3000", got)
	}
	if res, n := x.Search("aerospace 0002999", 0, 5); n != 1 || res[0].Name != "entities/e1999" {
		t.Errorf("search for the last name put: %d results %+v", n, res)
	}
}
