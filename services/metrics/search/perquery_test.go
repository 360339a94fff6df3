package search_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"talentreg/services/metrics/search"
)

// threadCPU returns the CPU time of the calling thread: on a machine
// other work shares, it times a query without the time it waited.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// perQueryShapes are the query shapes timed at a million entities: few
// results, hundreds, thousands, a common word (300k matches), common
// words (600k), a common prefix and a common infix, Chinese through the
// glossary, a credit code, and pages further down a common word.
var perQueryShapes = []struct {
	query  string
	offset int
}{
	{"Tianjin University", 0}, {"tianjin univ", 0}, {"天津大学", 0},
	{"Haixin Aerospace", 0}, {"ruifeng cell therapy", 0},
	{"tianjin", 0}, {"co ltd", 0}, {"binhai", 0}, {"tianjin binhai", 0},
	{"tian", 0}, {"jin", 0}, {"hai", 0},
	{"滨海 新材料", 0}, {"91120116MA0123456X", 0}, {"zhongguancun machine vision", 0},
	{"tianjin", 20}, {"tianjin", 1000},
}

// TestPerQuery times every query shape (a page of 20) against one million
// entities, the shapes interleaved so that a busy machine slows them
// alike, and logs the p50 and p99 of each over SEARCH_PERQUERY_RUNS runs
// (default 200), in wall time and in the CPU time of its thread (the
// wall time on a busy machine includes waits for a core). It runs only with SEARCH_PERQUERY set:
//
//	SEARCH_PERQUERY=1 go test ./services/metrics/search -run TestPerQuery -v
func TestPerQuery(t *testing.T) {
	if os.Getenv("SEARCH_PERQUERY") == "" {
		t.Skip("set SEARCH_PERQUERY=1 to time the query shapes at 1M entities")
	}
	x, _ := buildBench(benchEntities)
	shapes := make([]timedShape, len(perQueryShapes))
	for i, q := range perQueryShapes {
		shapes[i] = timedShape{name: q.query, queries: []string{q.query}, offset: q.offset}
	}
	timeShapes(t, x, shapes)
}

// timedShape is a query shape: its queries (variants taken in turn) and
// the offset of the page asked for.
type timedShape struct {
	name    string
	queries []string
	offset  int
}

// timeShapes times each shape's queries (a page of 20) against x, the
// shapes interleaved, one query of each per run, over
// SEARCH_PERQUERY_RUNS runs (default 200), and logs the p50 and p99 of
// each shape in wall and thread CPU time.
func timeShapes(t *testing.T, x *search.Index, shapes []timedShape) {
	runs := 200
	if n, err := strconv.Atoi(os.Getenv("SEARCH_PERQUERY_RUNS")); err == nil && n > 0 {
		runs = n
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lat := make([][]time.Duration, len(shapes))
	cpu := make([][]time.Duration, len(shapes))
	totals := make([]int, len(shapes))
	for r := range runs {
		for i, sh := range shapes {
			q := sh.queries[r%len(sh.queries)]
			s, c := time.Now(), threadCPU()
			_, totals[i] = x.Search(q, sh.offset, searchPage)
			cpu[i] = append(cpu[i], threadCPU()-c)
			lat[i] = append(lat[i], time.Since(s))
		}
	}
	pct := func(ds []time.Duration, p int) time.Duration { return ds[len(ds)*p/100].Round(time.Microsecond) }
	for i, sh := range shapes {
		slices.Sort(lat[i])
		slices.Sort(cpu[i])
		t.Logf("%-30q off %5d %8d results  wall p50 %9v p99 %9v  cpu p50 %9v p99 %9v", sh.name, sh.offset, totals[i],
			pct(lat[i], 50), pct(lat[i], 99), pct(cpu[i], 50), pct(cpu[i], 99))
	}
}

// TestBulkPerQuery is TestPerQuery on the names of the harness's bulk
// data set (bench/dataset: every name reads "Tianjin Binhai New Area
// <title> Technology Innovation and Industrialisation Research Institute
// Holding Co., Ltd. No. <7 digits>", and 2,000 groups) with the
// harness's 11 query shapes (bench/harness bulkSearchShapes), each over
// its 64 variants. A common word there is in every name, and a title in
// a sixth of them:
//
//	SEARCH_PERQUERY=1 go test ./services/metrics/search -run TestBulkPerQuery -v
//
// SEARCH_PERQUERY_PUT=1 builds the index by Put instead of Build.
func TestBulkPerQuery(t *testing.T) {
	if os.Getenv("SEARCH_PERQUERY") == "" {
		t.Skip("set SEARCH_PERQUERY=1 to time the bulk query shapes at 1M entities")
	}
	x := buildBulk(benchEntities)
	timeShapes(t, x, bulkShapes(benchEntities))
}

// The bulk data set's titles, in rotation, and their Chinese as the
// glossary maps them (bench/dataset titles, bench/harness titleZH).
var (
	bulkTitles  = []string{"Aerospace", "New Materials", "Biomedicine", "Deep Sea", "Digital Economy", "Advanced Energy"}
	bulkTitleZH = map[string]string{
		"Aerospace": "航天", "New Materials": "新材料", "Biomedicine": "生物医药",
		"Deep Sea": "深海", "Digital Economy": "数字经济", "Advanced Energy": "能源",
	}
)

// bulkName is the display name of bulk entity i (bench/dataset.NewEntity).
func bulkName(i int) string {
	return fmt.Sprintf("Tianjin Binhai New Area %s Technology Innovation and Industrialisation Research Institute Holding Co., Ltd. No. %07d",
		bulkTitles[i%len(bulkTitles)], i)
}

// bulkCreditCode is the credit code of bulk entity i
// (bench/dataset.CreditCode).
func bulkCreditCode(i int) string {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	body := fmt.Sprintf("%08d", i%100000000)
	orgWeights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k := range 8 {
		sum += int(body[k]-'0') * orgWeights[k]
	}
	var orgCheck string
	switch c := 11 - sum%11; c {
	case 10:
		orgCheck = "X"
	case 11:
		orgCheck = "0"
	default:
		orgCheck = strconv.Itoa(c)
	}
	code := "91120116" + body + orgCheck
	sum = 0
	for k := range 17 {
		sum += strings.IndexByte(alphabet, code[k]) * weights[k]
	}
	return code + string(alphabet[(31-sum%31)%31])
}

// bulkIndustries are the bulk data set's industry ids, which name its
// groups (bench/dataset Industries).
var bulkIndustries = []string{
	"biomanufacturing", "cell-gene-therapy", "brain-science-intelligent-medicine",
	"information-innovation", "deep-sea", "aerospace", "advanced-energy",
	"new-materials", "biomedicine", "financial-leasing", "high-end-equipment",
	"digital-economy",
}

// bulkGroups is the number of groups of the bulk data set (bench/harness
// ImportGroups).
const bulkGroups = 2_000

// buildBulk indexes the first n entities of the bulk data set and its
// groups (named "Binhai <industry> talent group <g>", so that a name
// starts with 滨海 新材料's words), after the entities (the resource
// names' order), as a metrics bootstrap does (Build), or with
// SEARCH_PERQUERY_PUT set as one following the feed does (Put of each).
func buildBulk(n int) *search.Index {
	each := func(yield func(search.Doc)) {
		for i := range n {
			yield(search.Doc{Name: fmt.Sprintf("entities/e-%07d", i), DisplayName: bulkName(i),
				Kind: "ENTITY_KIND_ENTERPRISE", CreditCode: bulkCreditCode(i)})
		}
		for g := range bulkGroups {
			yield(search.Doc{Name: fmt.Sprintf("groups/g-%04d", g), Kind: "GROUP_KIND_ALLIANCE",
				DisplayName: fmt.Sprintf("Binhai %s talent group %d", bulkIndustries[g%len(bulkIndustries)], g)})
		}
	}
	if os.Getenv("SEARCH_PERQUERY_PUT") != "" {
		x := search.New()
		each(x.Put)
		return x
	}
	return search.BuildFunc(n, each)
}

// bulkShapes returns the harness's bulk query shapes, each for the 64
// entities it picks of n (bench/harness readKeys, searchVariants).
func bulkShapes(n int) []timedShape {
	r := rand.New(rand.NewPCG(6, 6))
	keys := make([]int, 64)
	for j := range keys {
		keys[j] = r.IntN(n)
	}
	keys[0] = 0
	pick := func(xs ...string) func(int) string { return func(k int) string { return xs[k%len(xs)] } }
	title := func(k int) string { return bulkTitles[k%len(bulkTitles)] }
	shapes := []struct {
		name   string
		query  func(k int) string
		offset int
	}{
		{"name words", func(k int) string { return fmt.Sprintf("%s %07d", title(k), k) }, 0},
		{"Chinese name words", func(k int) string { return fmt.Sprintf("%s %07d", bulkTitleZH[title(k)], k) }, 0},
		{"credit code", bulkCreditCode, 0},
		{"one word", pick("aerospace", "biomedicine", "materials", "economy", "energy", "deep"), 0},
		{"prefix", pick("tian", "binh", "innov", "indus"), 0},
		{"infix", pick("jin", "hai", "novat", "ustrial"), 0},
		{"two words", pick("tianjin binhai", "research institute", "holding co", "new area"), 0},
		{"天津", pick("天津", "滨海", "滨海新区", "研究院"), 0},
		{"滨海 新材料", func(k int) string { return "滨海 " + bulkTitleZH[title(k)] }, 0},
		{"天津 航天", func(k int) string { return "天津 " + bulkTitleZH[title(k)] }, 0},
		{"second page", pick("tianjin", "binhai", "technology"), searchPage},
	}
	out := make([]timedShape, len(shapes))
	for i, sh := range shapes {
		out[i] = timedShape{name: sh.name, offset: sh.offset}
		for _, k := range keys {
			out[i].queries = append(out[i].queries, sh.query(k))
		}
	}
	return out
}

// searchPage is the page the harness asks for.
const searchPage = 20
