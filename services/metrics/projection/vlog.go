package projection

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
)

// vlog is an append-only list of int64 vectors of one width, delta
// encoded: the history's versions (a revision then the figures) and its
// transaction times (a commit time then a revision). Column 0 is the key
// it is searched on and never decreases.
//
// Each entry is a bit mask of the columns that differ from the entry
// before, then the zig-zag varint differences of those columns. A
// transaction changes a few of the Summary's 27 figures, so a Summary
// version costs ~8 bytes where a full one cost 224. Every keyEvery-th
// entry is a keyframe, encoded against zero, and indexed by its key: a
// read binary-searches the keyframes and decodes at most keyEvery entries.
//
// The bytes live in blocks that never move or grow once allocated (small
// first, then blockMax): appending never copies what is there, and, as
// with chunked, a copy of a vlog is a snapshot of its first n entries that
// another goroutine may decode while this one appends. last is the
// writer's alone.
//
// dropBefore frees the entries before a keyframe (the history's exact log
// drops its oldest day, see histbound.go). Indices stay absolute: entry i
// is the i-th ever added, and the entries from first on are held. It
// replaces the slices of block and keyframe chunks rather than writing
// them, so a copy taken before still decodes what it held.
type vlog struct {
	width int
	n     int
	first int // the first entry held, a keyframe's (0 until dropBefore)
	// blocks[i] is block blockBase+i; the blocks before were freed.
	blocks    [][]byte
	blockBase int
	bi, bo    int // where the next byte goes (bi absolute)
	keys      chunked[keyframe]
	last      []int64 // the last entry added; the writer's only

	// unsorted holds the entries while a restore adds them out of order
	// (see restore); nil otherwise.
	unsorted [][]int64
}

// keyframe is where entry k·keyEvery starts: block is absolute.
type keyframe struct {
	key       int64
	block, at int32
}

const (
	keyEvery = 32
	// maxWidth bounds a vlog's width (the mask is a uint64; decoders keep
	// entries on the stack).
	maxWidth     = 32
	blockMinBits = 6
	blockMaxBits = 12
)

func newVlog(width int) vlog {
	if width > maxWidth {
		panic("vlog: width over maxWidth")
	}
	return vlog{width: width}
}

// lastEntry returns the last entry added (the writer's view); false when
// there is none.
func (l *vlog) lastEntry() ([]int64, bool) {
	return l.last, l.n > 0
}

// add appends v (len(v) == width). An entry that sorts before the last
// (by key, then by the second column: a restore's transactions of one
// commit time may come in any order) goes to unsorted.
func (l *vlog) add(v []int64) {
	if l.unsorted != nil || (l.n > 0 && (v[0] < l.last[0] || v[0] == l.last[0] && v[1] < l.last[1])) {
		l.addUnsorted(v)
		return
	}
	if l.last == nil {
		l.last = make([]int64, l.width)
	}
	var zero [maxWidth]int64
	prev := l.last
	if l.n%keyEvery == 0 {
		prev = zero[:l.width]
		l.keys.add(keyframe{v[0], int32(l.bi), int32(l.bo)})
	}
	var mask uint64
	for i := range l.width {
		if v[i] != prev[i] {
			mask |= 1 << i
		}
	}
	var buf [10 * (maxWidth + 1)]byte
	b := binary.AppendUvarint(buf[:0], mask)
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		b = binary.AppendVarint(b, v[i]-prev[i])
	}
	l.write(b)
	copy(l.last, v)
	l.n++
}

// write copies b into the blocks, starting new ones as they fill.
func (l *vlog) write(b []byte) {
	for len(b) > 0 {
		if l.bi-l.blockBase == len(l.blocks) {
			l.blocks = append(l.blocks, make([]byte, 1<<min(blockMinBits+l.bi, blockMaxBits)))
		}
		blk := l.blocks[l.bi-l.blockBase]
		k := copy(blk[l.bo:], b)
		b = b[k:]
		if l.bo += k; l.bo == len(blk) {
			l.bi, l.bo = l.bi+1, 0
		}
	}
}

// dropBefore frees the entries before the keyframe at or before entry i
// (first ≤ i ≤ n): what the blocks and keyframe chunks before it hold.
// Entries from i on decode as before; those between the keyframe and i
// stay, as the base of the entries after them.
func (l *vlog) dropBefore(i int) {
	k := min(i/keyEvery, l.keys.n-1)
	if k*keyEvery <= l.first {
		return
	}
	l.first = k * keyEvery
	l.keys.dropBefore(k)
	if b := int(l.keys.at(k).block); b > l.blockBase {
		// A fresh slice: a copy of l taken before keeps the old one.
		l.blocks = append([][]byte(nil), l.blocks[b-l.blockBase:]...)
		l.blockBase = b
	}
}

// vreader decodes a vlog's entries in order.
type vreader struct {
	l      *vlog
	blk    []byte // block bi
	bi, bo int
	i      int // index of the next entry
}

func (l *vlog) readerAt(k int) vreader {
	kf := l.keys.at(k)
	bi := int(kf.block)
	return vreader{l: l, blk: l.blocks[bi-l.blockBase], bi: bi, bo: int(kf.at), i: k * keyEvery}
}

func (r *vreader) byte() byte {
	for r.bo == len(r.blk) {
		r.bi, r.bo = r.bi+1, 0
		r.blk = r.l.blocks[r.bi-r.l.blockBase]
	}
	c := r.blk[r.bo]
	r.bo++
	return c
}

func (r *vreader) uvarint() uint64 {
	var x uint64
	for s := uint(0); ; s += 7 {
		c := r.byte()
		if c < 0x80 {
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
	}
}

// next decodes the next entry into cur, which holds the entry before.
func (r *vreader) next(cur []int64) {
	if r.i%keyEvery == 0 {
		clear(cur)
	}
	for m := r.uvarint(); m != 0; m &= m - 1 {
		u := r.uvarint()
		cur[bits.TrailingZeros64(m)] += int64(u>>1) ^ -int64(u&1)
	}
	r.i++
}

// nextUpTo is next for an entry that is not a keyframe, which it decodes
// only when its key is at or below key: otherwise it leaves cur as it was,
// returns false, and the reader must not be used again. Peeking at the
// key, which comes first, spares a copy of the entry per step.
func (r *vreader) nextUpTo(cur []int64, key int64) bool {
	m := r.uvarint()
	if m&1 != 0 {
		u := r.uvarint()
		k := cur[0] + (int64(u>>1) ^ -int64(u&1))
		if k > key {
			return false
		}
		cur[0] = k
		m &= m - 1
	}
	for ; m != 0; m &= m - 1 {
		u := r.uvarint()
		cur[bits.TrailingZeros64(m)] += int64(u>>1) ^ -int64(u&1)
	}
	r.i++
	return true
}

// at copies into out the last entry held whose key is at or below key;
// false when there is none.
func (l *vlog) at(key int64, out []int64) bool {
	_, ok := l.atIndex(key, out)
	return ok
}

// atIndex is at that also returns the entry's index.
func (l *vlog) atIndex(key int64, out []int64) (int, bool) {
	k := l.keys.searchFrom(l.first/keyEvery, func(kf *keyframe) bool { return kf.key > key }) - 1
	if k < l.first/keyEvery {
		return 0, false
	}
	r := l.readerAt(k)
	r.next(out)
	for r.i < l.n && r.i%keyEvery != 0 && r.nextUpTo(out, key) {
	}
	return r.i - 1, true
}

// each calls fn with each entry from index from (≥ first) on, in order;
// fn must not keep v.
func (l *vlog) each(from int, fn func(v []int64)) {
	l.scan(from, func(_ int, v []int64) bool { fn(v); return true })
}

// scan calls fn with each entry from index from (≥ first) on, and its
// index, in order, until fn returns false; fn must not keep v.
func (l *vlog) scan(from int, fn func(i int, v []int64) bool) {
	if from >= l.n {
		return
	}
	r := l.readerAt(from / keyEvery)
	var buf [maxWidth]int64
	cur := buf[:l.width]
	for r.i < l.n {
		i := r.i
		r.next(cur)
		if i >= from && !fn(i, cur) {
			return
		}
	}
}

// bytes returns the memory the encoded entries held take.
func (l *vlog) bytes() int {
	n := (l.keys.n - l.first/keyEvery) * 16
	for _, b := range l.blocks {
		n += len(b)
	}
	return n
}

// addUnsorted collects entries that come out of order (a restore from
// records in no particular order); finish encodes them sorted.
func (l *vlog) addUnsorted(v []int64) {
	if l.unsorted == nil {
		l.each(0, func(e []int64) { l.unsorted = append(l.unsorted, slices.Clone(e)) })
		l.unsorted = slices.Grow(l.unsorted, 1)
	}
	l.unsorted = append(l.unsorted, slices.Clone(v))
}

// finish encodes what addUnsorted collected, sorted by key (then by the
// second column).
func (l *vlog) finish() {
	if l.unsorted == nil {
		return
	}
	vs := l.unsorted
	slices.SortStableFunc(vs, func(a, b []int64) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	*l = newVlog(l.width)
	for _, v := range vs {
		l.add(v)
	}
}
