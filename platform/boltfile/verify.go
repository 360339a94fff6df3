// Package boltfile checks a bbolt file before bbolt maps it into memory.
//
// bbolt trusts its file: it reads pages through a memory map, so a file cut
// short of the pages its meta page counts kills the process with SIGBUS on
// the first read past the end, and a damaged page panics deep inside a
// read, or faults. Verify reads a file the way bbolt does — the newest valid
// meta page, the freelist, then every page reachable from the root bucket,
// nested buckets included — but through a bounds-checked view of exactly
// the file's pages, and reports what is wrong instead. Opener plugs it into
// bbolt.Options.OpenFile, so that the check runs under the file lock and
// before bbolt reads a byte.
//
// Verify checks the structure, not the values: a damaged value inside an
// intact page is the caller's to find (its own decoding, or bbolt's
// Tx.Check, which is safe to run once Verify has passed).
package boltfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
)

// ErrCorrupt is wrapped by every error of Verify that finds the file
// damaged: truncated, without a valid meta page, or with a page that is
// out of place, of the wrong type, or whose elements run past it.
var ErrCorrupt = errors.New("corrupt database file")

// bbolt's on-disk format (go.etcd.io/bbolt/internal/common, format
// version 2). Integers are in the machine's byte order, as bbolt writes
// them.
const (
	magic          = 0xED0CDAED
	formatVersion  = 2
	pageHeaderSize = 16 // id uint64, flags uint16, count uint16, overflow uint32
	metaChecksumAt = 56 // magic, version, pageSize, flags uint32; root bucket 16; freelist, pgid, txid uint64
	elementSize    = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	bucketHeader   = 16 // root pgid uint64, sequence uint64; root 0: an inline page follows

	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	bucketLeaf   = 0x01

	noFreelist = ^uint64(0)

	rootBucket = "root bucket"

	// maxProblems is how many problems one report lists.
	maxProblems = 10
	// maxDepth bounds page and bucket nesting; bbolt's trees are a few
	// levels deep.
	maxDepth = 256
)

var ne = binary.NativeEndian

// meta is the part of a meta page the walk needs.
type meta struct {
	pageSize             uint64
	root, freelist, pgid uint64
	txid                 uint64
}

// Verify checks the bbolt file f: the file holds every page its newest
// valid meta page counts, every page reachable from the root bucket lies
// within them, is of the right type, is reached once and not free, has its
// elements and keys inside it in strictly increasing key order within the
// bounds its parent gives, and every page is either reachable or free. It
// reads f through a read-only map of exactly those pages, never past them,
// and recovers from a fault (the file cut short while being read), so it
// neither panics nor crashes. Problems are reported in an error wrapping
// ErrCorrupt; other errors (stat, mmap) are returned as they are.
func Verify(f *os.File) (err error) {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := uint64(fi.Size())
	m, err := readMeta(f, size)
	if err != nil {
		return err
	}
	if m.pgid > size/m.pageSize {
		return fmt.Errorf("%w: truncated: %d bytes, but its meta page counts %d pages of %d bytes (%d bytes)",
			ErrCorrupt, size, m.pgid, m.pageSize, m.pgid*m.pageSize)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(m.pgid*m.pageSize), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("map %s for verification: %w", f.Name(), err)
	}
	defer func() { _ = syscall.Munmap(data) }()
	defer func() {
		// A bug in the walk (a bounds check it missed) or a fault from a
		// file truncated under it: either way the file cannot be trusted.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading it failed: %v", ErrCorrupt, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	w := &walker{data: data, ps: m.pageSize, hwm: m.pgid, used: newBitset(m.pgid), free: newBitset(m.pgid)}
	w.used.set(0)
	w.used.set(1)
	if m.freelist != noFreelist {
		w.freelist(m.freelist)
	}
	w.tree(rootBucket, m.root, nil, nil, 0)
	if m.freelist != noFreelist && len(w.problems) == 0 {
		w.accounting()
	}
	return w.err()
}

// readMeta returns the meta page bbolt would use: of the two, the valid one
// with the higher transaction id.
func readMeta(f *os.File, size uint64) (meta, error) {
	buf := make([]byte, pageHeaderSize+metaChecksumAt+8)
	read := func(off uint64) (meta, error) {
		if off+uint64(len(buf)) > size {
			return meta{}, fmt.Errorf("a meta page at %d is past the end", off)
		}
		if _, err := f.ReadAt(buf, int64(off)); err != nil {
			return meta{}, err
		}
		return parseMeta(buf)
	}
	m0, err0 := read(0)
	ps := m0.pageSize
	if err0 != nil {
		// Find the second meta page as bbolt does: try each page size.
		for i := range 15 {
			if m1, err := read(1024 << i); err == nil {
				ps = m1.pageSize
				break
			}
		}
	}
	if ps == 0 {
		return meta{}, fmt.Errorf("%w: no valid meta page: not a bbolt file, or both meta pages are damaged (first: %v)", ErrCorrupt, err0)
	}
	m1, err1 := read(ps)
	switch {
	case err0 != nil && err1 != nil:
		return meta{}, fmt.Errorf("%w: no valid meta page: %v; %v", ErrCorrupt, err0, err1)
	case err0 != nil || (err1 == nil && m1.txid > m0.txid):
		m0 = m1
	}
	switch {
	case m0.pgid < 4:
		return meta{}, fmt.Errorf("%w: meta page counts %d pages", ErrCorrupt, m0.pgid)
	case m0.root < 2 || m0.root >= m0.pgid:
		return meta{}, fmt.Errorf("%w: root page %d outside the file's pages 2..%d", ErrCorrupt, m0.root, m0.pgid-1)
	case m0.freelist != noFreelist && (m0.freelist < 2 || m0.freelist >= m0.pgid):
		return meta{}, fmt.Errorf("%w: freelist page %d outside the file's pages 2..%d", ErrCorrupt, m0.freelist, m0.pgid-1)
	}
	return m0, nil
}

// parseMeta decodes and validates the meta page at the start of b.
func parseMeta(b []byte) (meta, error) {
	m := b[pageHeaderSize:]
	switch {
	case ne.Uint32(m) != magic:
		return meta{}, errors.New("not a bbolt meta page")
	case ne.Uint32(m[4:]) != formatVersion:
		return meta{}, fmt.Errorf("bbolt format version %d, want %d", ne.Uint32(m[4:]), formatVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumAt])
	if h.Sum64() != ne.Uint64(m[metaChecksumAt:]) {
		return meta{}, errors.New("meta page checksum mismatch")
	}
	ps := uint64(ne.Uint32(m[8:]))
	if ps < 512 || ps > 1<<24 || ps&(ps-1) != 0 {
		return meta{}, fmt.Errorf("page size %d", ps)
	}
	return meta{pageSize: ps, root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, nil
}

// walker visits the pages of one mapped file.
type walker struct {
	data       []byte // pages 0..hwm-1
	ps, hwm    uint64
	used, free bitset
	problems   []string
	more       int // problems beyond maxProblems
}

func (w *walker) problem(format string, args ...any) {
	if len(w.problems) < maxProblems {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	} else {
		w.more++
	}
}

// done reports whether the report is full: the walk stops early.
func (w *walker) done() bool { return len(w.problems) >= maxProblems }

func (w *walker) err() error {
	if len(w.problems) == 0 {
		return nil
	}
	msg := strings.Join(w.problems, "; ")
	if w.more > 0 {
		msg += fmt.Sprintf("; and %d more", w.more)
	}
	return fmt.Errorf("%w: %s", ErrCorrupt, msg)
}

// span returns page id with its overflow pages and marks them used, or
// reports why it cannot.
func (w *walker) span(where string, id uint64) ([]byte, bool) {
	if id < 2 || id >= w.hwm {
		w.problem("%s: page %d is outside the file's pages 2..%d", where, id, w.hwm-1)
		return nil, false
	}
	off := id * w.ps
	if got := ne.Uint64(w.data[off:]); got != id {
		w.problem("%s: page %d says it is page %d", where, id, got)
		return nil, false
	}
	overflow := uint64(ne.Uint32(w.data[off+12:]))
	if overflow >= w.hwm-id {
		w.problem("%s: page %d runs %d pages past the last page", where, id, overflow-(w.hwm-id)+1)
		return nil, false
	}
	for p := id; p <= id+overflow; p++ {
		if w.used.has(p) {
			w.problem("%s: page %d is reached twice", where, p)
			return nil, false
		}
		w.used.set(p)
	}
	return w.data[off : off+(overflow+1)*w.ps], true
}

// freelist reads the free page ids.
func (w *walker) freelist(id uint64) {
	span, ok := w.span("freelist", id)
	if !ok {
		return
	}
	if flags := ne.Uint16(span[8:]); flags != freelistPage {
		w.problem("freelist: page %d has type %#x", id, flags)
		return
	}
	count, first := uint64(ne.Uint16(span[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF { // the count did not fit: it is the first element
		count, first = ne.Uint64(span[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > (uint64(len(span))-first)/8 {
		w.problem("freelist: page %d lists %d ids, more than it holds", id, count)
		return
	}
	for i := range count {
		p := ne.Uint64(span[first+8*i:])
		switch {
		case p < 2 || p >= w.hwm:
			w.problem("freelist: free page %d outside the file's pages 2..%d", p, w.hwm-1)
		case w.free.has(p):
			w.problem("freelist: page %d is free twice", p)
		default:
			w.free.set(p)
		}
		if w.done() {
			return
		}
	}
}

// tree walks the B+tree of one bucket from page id: every key in it must be
// ≥ lo and < hi (nil: unbounded).
func (w *walker) tree(where string, id uint64, lo, hi []byte, depth int) {
	if depth > maxDepth {
		w.problem("%s: pages nest deeper than %d", where, maxDepth)
		return
	}
	span, ok := w.span(where, id)
	if !ok {
		return
	}
	w.node(where, id, span, lo, hi, depth)
}

// node checks one branch or leaf page (id 0: inline in a bucket's value)
// and descends into its children and nested buckets.
func (w *walker) node(where string, id uint64, page []byte, lo, hi []byte, depth int) {
	flags, count := ne.Uint16(page[8:]), uint64(ne.Uint16(page[10:]))
	if count > (uint64(len(page))-pageHeaderSize)/elementSize {
		w.problem("%s: page %d: %d elements do not fit in it", where, id, count)
		return
	}
	// field returns n bytes at pos past element i's start, if in the page.
	field := func(i uint64, pos uint32, n uint64) ([]byte, bool) {
		start := pageHeaderSize + i*elementSize + uint64(pos)
		end := start + n
		if end > uint64(len(page)) {
			w.problem("%s: page %d: element %d runs past the page", where, id, i)
			return nil, false
		}
		return page[start:end], true
	}
	// Keys rise strictly along the page, the first one ≥ lo, the last one
	// < hi: one comparison per key.
	prev := lo
	inOrder := func(i uint64, key []byte) bool {
		if prev != nil {
			if c := bytes.Compare(key, prev); c < 0 || c == 0 && i > 0 {
				w.problem("%s: page %d: element %d: key %s is out of order", where, id, i, quote(key))
				return false
			}
		}
		if i == count-1 && hi != nil && bytes.Compare(key, hi) >= 0 {
			w.problem("%s: page %d: element %d: key %s is past its parent's bound", where, id, i, quote(key))
			return false
		}
		prev = key
		return true
	}
	switch flags {
	case branchPage:
		if id == 0 || count == 0 {
			w.problem("%s: page %d: a branch page of %d elements", where, id, count)
			return
		}
		keys := make([][]byte, count)
		for i := range count {
			e := page[pageHeaderSize+i*elementSize:]
			key, ok := field(i, ne.Uint32(e), uint64(ne.Uint32(e[4:])))
			if !ok || !inOrder(i, key) {
				return
			}
			keys[i] = key
		}
		for i := range count {
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			w.tree(where, ne.Uint64(page[pageHeaderSize+i*elementSize+8:]), keys[i], next, depth+1)
			if w.done() {
				return
			}
		}
	case leafPage:
		for i := range count {
			e := page[pageHeaderSize+i*elementSize:]
			eflags, pos, ksize, vsize := ne.Uint32(e), ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:])
			kv, ok := field(i, pos, uint64(ksize)+uint64(vsize))
			if !ok {
				return
			}
			key, value := kv[:ksize], kv[ksize:]
			if !inOrder(i, key) {
				return
			}
			switch eflags {
			case 0:
			case bucketLeaf:
				w.bucket(bucketName(where, key), value, depth+1)
				if w.done() {
					return
				}
			default:
				w.problem("%s: page %d: element %d has flags %#x", where, id, i, eflags)
				return
			}
		}
	default:
		w.problem("%s: page %d has type %#x, want a branch or leaf page", where, id, flags)
	}
}

// bucket checks a nested bucket from its value: a header, then either the
// root page's id or the root page itself (inline).
func (w *walker) bucket(where string, value []byte, depth int) {
	if len(value) < bucketHeader {
		w.problem("%s: bucket header of %d bytes", where, len(value))
		return
	}
	root := ne.Uint64(value)
	if root != 0 {
		w.tree(where, root, nil, nil, depth)
		return
	}
	inline := value[bucketHeader:]
	if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafPage {
		w.problem("%s: inline bucket without a leaf page", where)
		return
	}
	if depth > maxDepth {
		w.problem("%s: buckets nest deeper than %d", where, maxDepth)
		return
	}
	w.node(where, 0, inline, nil, nil, depth)
}

// accounting checks that every page is exactly one of used and free.
func (w *walker) accounting() {
	for i := range w.used {
		both, neither := w.used[i]&w.free[i], ^(w.used[i] | w.free[i])
		if i == len(w.used)-1 && w.hwm%64 != 0 {
			neither &= 1<<(w.hwm%64) - 1 // bits past the last page
		}
		if both != 0 {
			w.problem("page %d is both in use and free", uint64(i)*64+uint64(bits.TrailingZeros64(both)))
		}
		if neither != 0 {
			w.problem("page %d is neither in use nor free", uint64(i)*64+uint64(bits.TrailingZeros64(neither)))
		}
		if w.done() {
			return
		}
	}
}

// bucketName names the bucket under key in where, for reports:
// bucket "a", bucket "a"/"b".
func bucketName(where string, key []byte) string {
	if where == rootBucket {
		return "bucket " + quote(key)
	}
	return where + "/" + quote(key)
}

// quote shows a key, shortened: keys are client data and can be long.
func quote(key []byte) string {
	const max = 64
	if len(key) > max {
		return fmt.Sprintf("%q…", key[:max])
	}
	return fmt.Sprintf("%q", key)
}

// bitset is a set of page ids.
type bitset []uint64

func newBitset(n uint64) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }
