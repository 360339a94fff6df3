package search_test

import (
	"os"
	"testing"
	"time"
)

func TestPerQuery(t *testing.T) {
	if os.Getenv("SEARCH_PERQUERY") == "" {
		t.Skip()
	}
	x, _ := buildBench(benchEntities)
	for _, q := range []string{"Tianjin University", "tianjin univ", "天津大学", "Haixin Aerospace", "ruifeng cell therapy", "tianjin", "co ltd", "滨海 新材料", "91120116MA0123456X", "zhongguancun machine vision"} {
		best := time.Hour
		var total int
		for range 5 {
			s := time.Now()
			_, total = x.Search(q, 0, 20)
			best = min(best, time.Since(s))
		}
		t.Logf("%-30q %8d results  %v", q, total, best)
	}
}
