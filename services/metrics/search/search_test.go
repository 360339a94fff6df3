package search_test

import (
	"fmt"
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
