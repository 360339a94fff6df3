package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogram_QuantilesWithinPrecision(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	var xs []time.Duration
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(300*time.Microsecond))
		xs = append(xs, d)
		h.Record(d)
	}
	slices.Sort(xs)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := xs[int(q*float64(len(xs)))-1]
		got := h.Quantile(q)
		if rel := float64(got-want) / float64(want); rel > 0.01 || rel < -0.01 {
			t.Errorf("q%.3f = %v, want %v (±1%%)", q, got, want)
		}
	}
	if h.Max() != xs[len(xs)-1] {
		t.Errorf("Max = %v, want %v", h.Max(), xs[len(xs)-1])
	}
}

func TestHistogram_BucketsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 + 5} {
		b := bucketOf(v)
		if b < 0 || b >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
		got := bucketValue(b)
		diff := float64(got) - float64(v)
		if diff < 0 {
			diff = -diff
		}
		if v > 0 && diff/float64(v) > 1.0/subCount {
			t.Errorf("bucketValue(bucketOf(%d)) = %d", v, got)
		}
	}
}

func TestHistogram_Merge(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	a.Merge(&b)
	if a.Count() != 2 || a.Max() != 3*time.Millisecond || a.Mean() != 2*time.Millisecond {
		t.Fatalf("merged: n=%d max=%v mean=%v", a.Count(), a.Max(), a.Mean())
	}
}
