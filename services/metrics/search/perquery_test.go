package search_test

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"
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
	runs := 200
	if n, err := strconv.Atoi(os.Getenv("SEARCH_PERQUERY_RUNS")); err == nil && n > 0 {
		runs = n
	}
	x, _ := buildBench(benchEntities)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lat := make([][]time.Duration, len(perQueryShapes))
	cpu := make([][]time.Duration, len(perQueryShapes))
	totals := make([]int, len(perQueryShapes))
	for range runs {
		for i, q := range perQueryShapes {
			s, c := time.Now(), threadCPU()
			_, totals[i] = x.Search(q.query, q.offset, 20)
			cpu[i] = append(cpu[i], threadCPU()-c)
			lat[i] = append(lat[i], time.Since(s))
		}
	}
	pct := func(ds []time.Duration, p int) time.Duration { return ds[len(ds)*p/100].Round(time.Microsecond) }
	for i, q := range perQueryShapes {
		slices.Sort(lat[i])
		slices.Sort(cpu[i])
		t.Logf("%-30q off %5d %8d results  wall p50 %9v p99 %9v  cpu p50 %9v p99 %9v", q.query, q.offset, totals[i],
			pct(lat[i], 50), pct(lat[i], 99), pct(cpu[i], 50), pct(cpu[i], 99))
	}
}
