package search_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"talentreg/services/metrics/search"
)

// TestBuild_SameAsPut: an index built in one go answers every query
// exactly as one built by Put of the same documents in turn — replaced
// documents (same name) and credit codes included — with and without
// ordered posting lists.
func TestBuild_SameAsPut(t *testing.T) {
	t.Run("unordered", testBuildSameAsPut)
	defer search.SetOrderedMin(100)()
	t.Run("ordered", testBuildSameAsPut)
}

func testBuildSameAsPut(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var docs []search.Doc
	for i := range 3000 {
		name := fmt.Sprintf("entities/e%d", i)
		if i%7 == 0 && i > 0 {
			name = fmt.Sprintf("entities/e%d", r.IntN(i)) // replaces an earlier one
		}
		d := search.Doc{Name: name, DisplayName: benchName(r), Kind: "ENTITY_KIND_ENTERPRISE"}
		if i%3 == 0 {
			d.CreditCode = fmt.Sprintf("91120116MA%07dX", i)
		}
		if i%11 == 0 {
			d.DisplayName = "天津大学 " + d.DisplayName
		}
		docs = append(docs, d)
	}
	put := search.New()
	for _, d := range docs {
		put.Put(d)
	}
	built := search.Build(docs)
	if put.Len() != built.Len() {
		t.Fatalf("Len: put %d, built %d", put.Len(), built.Len())
	}
	queries := []string{"tianjin", "tian", "ti", "t", "binhai hai", "aerospace composites", "co ltd", "天津", "天津大学",
		"91120116MA0000003X", "91120116MA0000007X", "cell", "xinrui", "zzz", ""}
	for i := 0; i < 200; i++ {
		words := strings.Fields(docs[r.IntN(len(docs))].DisplayName)
		w := words[r.IntN(len(words))]
		queries = append(queries, w[:1+r.IntN(len(w))])
	}
	for _, q := range queries {
		for _, page := range [][2]int{{0, 20}, {20, 50}} {
			a, an := put.Search(q, page[0], page[1])
			b, bn := built.Search(q, page[0], page[1])
			if an != bn || !reflect.DeepEqual(a, b) {
				t.Fatalf("query %q page %v: put %d %v\nbuilt %d %v", q, page, an, a, bn, b)
			}
		}
	}
	for _, d := range docs {
		a, aok := put.Get(d.Name)
		b, bok := built.Get(d.Name)
		if aok != bok || a != b {
			t.Fatalf("Get(%q): put %v %v, built %v %v", d.Name, a, aok, b, bok)
		}
	}
	// Both go on the same way.
	more := search.Doc{Name: "entities/new", DisplayName: "Tianjin Newco Aerospace", Kind: "ENTITY_KIND_ENTERPRISE"}
	put.Put(more)
	built.Put(more)
	put.Delete(docs[5].Name)
	built.Delete(docs[5].Name)
	a, _ := put.Search("tianjin", 0, 100)
	b, _ := built.Search("tianjin", 0, 100)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("after Put and Delete: put %v\nbuilt %v", a, b)
	}
}

// BenchmarkBuild builds the index of the data set's names at once (what a
// bootstrap does) against Put of each; compare allocs and bytes per op.
func BenchmarkBuild(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]search.Doc, 200_000)
	for i := range docs {
		docs[i] = search.Doc{Name: fmt.Sprintf("entities/e%07d", i), DisplayName: benchName(r), Kind: "ENTITY_KIND_ENTERPRISE",
			CreditCode: fmt.Sprintf("91120116MA%07dX", i)}
	}
	b.Run("Build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			search.Build(docs)
		}
	})
	b.Run("Put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := search.New()
			for _, d := range docs {
				x.Put(d)
			}
		}
	})
}
