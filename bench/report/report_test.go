package report

import (
	"strings"
	"testing"
)

func TestEvaluate_RatiosWithinRounds(t *testing.T) {
	r := &Report{}
	a := r.Case("a", "A")
	b := r.Case("b", "B")
	a.Rounds = []Figures{{QPS: 100}, {QPS: 90}, {QPS: 200}}
	b.Rounds = []Figures{{QPS: 100}, {QPS: 100}, {QPS: 100}}
	o := r.Evaluate(Check{Num: Ref{"a", QPS}, Den: Ref{"b", QPS}, Threshold: 0.95})
	if o.Verdict != Pass || o.Median != 1.0 || len(o.Ratios) != 3 {
		t.Fatalf("got %+v", o)
	}
	o = r.Evaluate(Check{Num: Ref{"a", QPS}, Den: Ref{"b", QPS}, Threshold: 1.5})
	if o.Verdict != Fail {
		t.Fatalf("got %+v", o)
	}
	o = r.Evaluate(Check{Num: Ref{"a", QPS}, Threshold: 95, AtMost: true})
	if o.Verdict != Fail || o.Median != 100 {
		t.Fatalf("absolute: %+v", o)
	}
}

func TestEvaluate_SkipsWhenACaseIsSkipped(t *testing.T) {
	r := &Report{}
	r.Case("a", "A").Rounds = []Figures{{QPS: 1}}
	r.Case("b", "B").Skip = "not built"
	o := r.Evaluate(Check{Num: Ref{"a", QPS}, Den: Ref{"b", QPS}, Threshold: 1})
	if o.Verdict != Skip || !strings.Contains(o.Why, "not built") {
		t.Fatalf("got %+v", o)
	}
}

func TestMarkdown_ShowsMediansRangesAndVerdicts(t *testing.T) {
	r := &Report{Title: "T", Command: "harness -smoke"}
	r.Case("grpc-get/floor", "bare").Rounds = []Figures{{QPS: 1000, P99: 1}, {QPS: 3000, P99: 2}, {QPS: 2000, P99: 3}}
	r.Case("grpc-get/talentreg", "real").Skip = "not built"
	r.Case("import/talentreg", "import").Rounds = []Figures{{ItemsPerSec: 5000}}
	r.Checks = []Check{{Target: "x", Num: Ref{"grpc-get/talentreg", QPS}, Den: Ref{"grpc-get/floor", QPS}, Threshold: 0.8}}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"2000 [1000–3000]", "skipped: not built", "SKIP", "items/s 5000", "`harness -smoke`"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Fatal(m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatal(m)
	}
}
