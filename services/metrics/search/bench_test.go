package search_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"talentreg/services/metrics/search"
)

// Names shaped like the demo data's: a place prefix, a trade name of two
// syllables, a business line, a legal form.
var (
	benchPlaces = []string{"Tianjin", "Tianjin Binhai", "Binhai", "Tianjin Lingang", "TEDA", "Beijing", "Beijing Zhongguancun", "Hebei", "Langfang", "Baoding"}
	benchSyll   = []string{"hai", "xin", "rui", "tai", "feng", "hua", "kang", "yuan", "bo", "tong", "jie", "sheng", "da", "chuang", "lian", "zhi", "heng", "long", "an", "cheng"}
	benchLines  = []string{"Aerospace Composites", "Synthetic Biology", "Cell Therapy", "Information Technology", "Marine Engineering", "Energy Storage", "New Materials", "Biopharmaceutical", "Precision Machinery", "Cloud Computing", "Financial Leasing", "Semiconductor", "Machine Vision", "Fuel Cell", "Supply Chain", "Network Security"}
	benchForms  = []string{"Co., Ltd.", "Technology Co., Ltd.", "Group Co., Ltd.", "Research Institute", "Incubator"}
)

func benchName(r *rand.Rand) string {
	trade := benchSyll[r.IntN(len(benchSyll))] + benchSyll[r.IntN(len(benchSyll))]
	trade = string(trade[0]-32) + trade[1:]
	return fmt.Sprintf("%s %s %s %s", benchPlaces[r.IntN(len(benchPlaces))], trade, benchLines[r.IntN(len(benchLines))], benchForms[r.IntN(len(benchForms))])
}

const benchEntities = 1_000_000

// buildBench indexes n generated entities and returns the heap bytes the
// index holds.
func buildBench(n int) (*search.Index, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := search.New()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/e%07d", i), DisplayName: benchName(r), Kind: "ENTITY_KIND_ENTERPRISE",
			CreditCode: fmt.Sprintf("91120116MA%07dX", i)})
	}
	x.Put(search.Doc{Name: "entities/tju", DisplayName: "Tianjin University", Kind: "ENTITY_KIND_UNIVERSITY"})
	runtime.GC()
	runtime.ReadMemStats(&after)
	return x, after.HeapAlloc - before.HeapAlloc
}

// BenchmarkIndex_Search1M runs a mix of queries (a page of 20) against one
// million entities and reports the p50/p99 latency of each query and the
// index's heap bytes per entity.
func BenchmarkIndex_Search1M(b *testing.B) {
	x, heap := buildBench(benchEntities)
	queries := []string{
		"Tianjin University", "tianjin univ", "天津大学", // few results
		"Haixin Aerospace", "ruifeng cell therapy", // a trade name and a line: hundreds
		"tianjin", "co ltd", // very common words: hundreds of thousands
		"滨海 新材料", "91120116MA0123456X", "zhongguancun machine vision",
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		x.Search(queries[i%len(queries)], 0, 20)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(heap)/benchEntities, "index-B/entity")
}

// BenchmarkIndex_SearchSelective1M is the same without the two queries of
// very common words.
func BenchmarkIndex_SearchSelective1M(b *testing.B) {
	x, _ := buildBench(benchEntities)
	queries := []string{"Tianjin University", "tianjin univ", "天津大学", "Haixin Aerospace", "ruifeng cell therapy", "滨海 新材料", "91120116MA0123456X", "zhongguancun machine vision"}
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		x.Search(queries[i%len(queries)], 0, 20)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkIndex_Put indexes the data set's names: the cost a snapshot
// load pays per entity for search.
func BenchmarkIndex_Put(b *testing.B) {
	x := search.New()
	r := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 1<<16)
	for i := range names {
		names[i] = benchName(r)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		x.Put(search.Doc{Name: fmt.Sprintf("entities/e%07d", i), DisplayName: names[i%len(names)], Kind: "ENTITY_KIND_ENTERPRISE"})
	}
}

var (
	bench1MOnce sync.Once
	bench1M     *search.Index
)

// BenchmarkIndex_Query1M times each query shape of TestPerQuery (a page
// of 20) against one million entities, one sub-benchmark per shape, with
// its p50 and p99:
//
//	go test ./services/metrics/search -run '^$' -bench 'Query1M/tianjin$'
func BenchmarkIndex_Query1M(b *testing.B) {
	bench1MOnce.Do(func() { bench1M, _ = buildBench(benchEntities) })
	for _, q := range perQueryShapes {
		b.Run(fmt.Sprintf("%s@%d", q.query, q.offset), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				bench1M.Search(q.query, q.offset, 20)
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
