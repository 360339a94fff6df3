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

func TestMarkdown_SideBySideWithoutVerdicts(t *testing.T) {
	r := &Report{Title: "T"}
	r.Case("grpc-get/talentreg", "bbolt").Rounds = []Figures{{QPS: 1000, P99: 2}, {QPS: 2000, P99: 4}}
	r.Case("grpc-get/talentreg-etcd3", "etcd").Rounds = []Figures{{QPS: 250, P99: 8}, {QPS: 1000, P99: 10}}
	r.Case("grpc-get/talentreg-etcd1", "etcd").Skip = "not built"
	r.Comparisons = []Comparison{
		{What: "etcd3 vs bbolt", Num: Ref{"grpc-get/talentreg-etcd3", QPS}, Den: Ref{"grpc-get/talentreg", QPS}},
		{What: "etcd3 p99", Num: Ref{"grpc-get/talentreg-etcd3", P99}, Unit: " ms"},
		{What: "etcd1 vs bbolt", Num: Ref{"grpc-get/talentreg-etcd1", QPS}, Den: Ref{"grpc-get/talentreg", QPS}},
	}
	if o := r.Compare(r.Comparisons[0]); o.Verdict != "" || o.Median != 0.375 || len(o.Ratios) != 2 {
		t.Fatalf("Compare: %+v", o)
	}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"## Side by side", "| etcd3 vs bbolt | 0.25, 0.50 | **0.38×** |", "| etcd3 p99 | 8.00, 10.0 | **9.00 ms** |", "| etcd1 vs bbolt | – | – (grpc-get/talentreg-etcd1: not built) |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PASS") || strings.Contains(out, "FAIL") {
		t.Errorf("a comparison got a verdict:\n%s", out)
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
