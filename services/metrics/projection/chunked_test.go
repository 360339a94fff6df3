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

// TestChunked_DropBefore: dropping the chunks before an element keeps
// every index from it on, and a copy taken before still reads them all.
func TestChunked_DropBefore(t *testing.T) {
	var c chunked[int]
	const n = smallChunks + 3<<maxChunkBits + 7
	for i := range n {
		c.add(i)
	}
	snap := c
	for _, from := range []int{0, 3, 4, smallChunks - 1, smallChunks, smallChunks + 1<<maxChunkBits + 5, n - 1} {
		c.dropBefore(from)
		for i := from; i < n; i++ {
			if *c.at(i) != i {
				t.Fatalf("after dropBefore(%d): at(%d) = %d", from, i, *c.at(i))
			}
		}
		if got := c.searchFrom(from, func(v *int) bool { return *v >= n/2 }); got != max(from, n/2) {
			t.Fatalf("after dropBefore(%d): searchFrom = %d", from, got)
		}
		c.add(c.n)
	}
	if len(c.chunks) != 1 && len(c.chunks) != 2 {
		t.Fatalf("%d chunks held after dropping all but the last elements", len(c.chunks))
	}
	for i := range n {
		if *snap.at(i) != i {
			t.Fatalf("snapshot: at(%d) = %d", i, *snap.at(i))
		}
	}
}
