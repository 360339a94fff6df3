package projection

import "testing"

func TestChunked_AppendAtSearch(t *testing.T) {
	var c chunked[int]
	const n = smallChunks + 3<<maxChunkBits + 7
	for i := range n {
		c.add(i * 2)
		if v, _ := c.last(); *v != i*2 {
			t.Fatalf("last after %d adds: %d", i+1, *v)
		}
	}
	for i := range n {
		if got := *c.at(i); got != i*2 {
			t.Fatalf("at(%d) = %d, want %d", i, got, i*2)
		}
	}
	for _, want := range []int{0, 1, 5, smallChunks - 1, smallChunks, n - 1, n} {
		if got := c.search(func(v *int) bool { return *v >= 2*want }); got != want {
			t.Fatalf("search for %d: %d", want, got)
		}
	}
	next := 17
	c.each(17, func(v *int) {
		if *v != next*2 {
			t.Fatalf("each: %d, want %d", *v, next*2)
		}
		next++
	})
	if next != n {
		t.Fatalf("each stopped at %d of %d", next, n)
	}
	// A snapshot keeps its elements while the list grows.
	snap := c
	for i := range 5000 {
		c.add(-i)
	}
	if snap.n != n || *snap.at(n - 1) != (n-1)*2 || len(snap.slice()) != n {
		t.Fatalf("snapshot changed")
	}
}
