package projection

import (
	"math/bits"
	"sort"
)

// chunked is an append-only list kept in chunks that never grow: appending
// never copies what is there. The history appends a version per registry
// transaction while the applier holds the projection's lock; a slice that
// grows by doubling would, now and then, copy every version it holds —
// hundreds of megabytes after days of writes — inside that lock.
//
// Chunks start small (a series of one version costs little) and double up
// to maxChunk elements. An element never moves and is never written again
// once appended, and a chunk's slice header never changes once allocated,
// so a copy of a chunked value is a snapshot of its first n elements that
// another goroutine may read while this one goes on appending (see
// histTake).
//
// dropBefore frees the chunks wholly before an element; indices stay
// absolute (chunks[k] is chunk base+k).
type chunked[T any] struct {
	chunks [][]T
	base   int
	n      int
}

const (
	minChunkBits = 2
	maxChunkBits = 10
	// smallChunks is how many elements the doubling chunks hold in all.
	smallChunks = 1<<(maxChunkBits+1) - 1<<minChunkBits
)

// locate returns the chunk and the offset in it of element i.
func locate(i int) (chunk, off int) {
	if i < smallChunks {
		// Chunk k holds 1<<(k+minChunkBits) elements from
		// 1<<(k+minChunkBits) - 1<<minChunkBits on.
		k := bits.Len(uint(i+1<<minChunkBits)) - 1 - minChunkBits
		return k, i - (1<<(k+minChunkBits) - 1<<minChunkBits)
	}
	i -= smallChunks
	return maxChunkBits - minChunkBits + 1 + i>>maxChunkBits, i & (1<<maxChunkBits - 1)
}

// add appends v.
func (c *chunked[T]) add(v T) {
	k, off := locate(c.n)
	if k-c.base == len(c.chunks) {
		c.chunks = append(c.chunks, make([]T, 1<<min(k+minChunkBits, maxChunkBits)))
	}
	c.chunks[k-c.base][off] = v
	c.n++
}

// at returns element i (< n, not dropped).
func (c *chunked[T]) at(i int) *T {
	k, off := locate(i)
	return &c.chunks[k-c.base][off]
}

// dropBefore frees the chunks that hold only elements before i. It
// replaces the slice of chunks rather than writing it, so a copy of c
// taken before still reads what it held.
func (c *chunked[T]) dropBefore(i int) {
	if k, _ := locate(i); k > c.base {
		c.chunks = append([][]T(nil), c.chunks[k-c.base:]...)
		c.base = k
	}
}

// last returns the last element; false when there is none.
func (c *chunked[T]) last() (*T, bool) {
	if c.n == 0 {
		return nil, false
	}
	return c.at(c.n - 1), true
}

// search returns the smallest i in [0, n) for which f is true, assuming
// f is false then true along the list; n if it never is.
func (c *chunked[T]) search(f func(*T) bool) int {
	return c.searchFrom(0, f)
}

// searchFrom is search over [lo, n).
func (c *chunked[T]) searchFrom(lo int, f func(*T) bool) int {
	return lo + sort.Search(c.n-lo, func(i int) bool { return f(c.at(lo + i)) })
}

// each calls fn for elements from on, in order.
func (c *chunked[T]) each(from int, fn func(*T)) {
	for i := from; i < c.n; {
		k, off := locate(i)
		ch := c.chunks[k-c.base]
		end := min(len(ch), off+c.n-i)
		for j := off; j < end; j++ {
			fn(&ch[j])
		}
		i += end - off
	}
}

// slice returns the elements in a fresh slice.
func (c *chunked[T]) slice() []T {
	out := make([]T, 0, c.n)
	c.each(0, func(v *T) { out = append(out, *v) })
	return out
}

// reset replaces the elements with vs.
func (c *chunked[T]) reset(vs []T) {
	*c = chunked[T]{}
	for _, v := range vs {
		c.add(v)
	}
}
