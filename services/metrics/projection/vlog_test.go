package projection

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestVlog_AtEachSnapshot checks the delta-encoded log against the plain
// list of what was added: every search, every scan from every start, a
// snapshot taken before more appends, and a restore in shuffled order.
func TestVlog_AtEachSnapshot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const width = 28
	l := newVlog(width)
	var want [][]int64
	cur := make([]int64, width)
	for i := range 3*keyEvery*40 + 5 {
		cur[0] += int64(rng.IntN(3)) // keys repeat now and then
		for range rng.IntN(4) {
			j := 1 + rng.IntN(width-1)
			switch rng.IntN(3) {
			case 0:
				cur[j] += int64(rng.IntN(5)) - 2
			case 1:
				cur[j] = rng.Int64() - 1<<62 // large jumps both ways
			default:
				cur[j] = 0
			}
		}
		cur[1] = int64(i) // like a revision: keeps a restore's order unique
		if i%97 == 0 {
			cur[width-1] = -1 << 63
		}
		l.add(cur)
		if last, _ := l.lastEntry(); !slices.Equal(last, cur) {
			t.Fatalf("lastEntry after %d adds: %v", i+1, last)
		}
		want = append(want, slices.Clone(cur))
	}
	check := func(l *vlog, want [][]int64) {
		t.Helper()
		out := make([]int64, width)
		for _, key := range []int64{-1, 0, 1, want[len(want)/2][0], want[len(want)-1][0], want[len(want)-1][0] + 10} {
			i := len(want) - 1
			for i >= 0 && want[i][0] > key {
				i--
			}
			ok := l.at(key, out)
			if ok != (i >= 0) || (ok && !slices.Equal(out, want[i])) {
				t.Fatalf("at(%d) = %v %v, want entry %d", key, ok, out, i)
			}
		}
		for i := range want {
			if !l.at(want[i][0], out) {
				t.Fatalf("at(%d): none", want[i][0])
			}
			j := i
			for j+1 < len(want) && want[j+1][0] == want[i][0] {
				j++
			}
			if !slices.Equal(out, want[j]) {
				t.Fatalf("at(%d) = %v, want %v", want[i][0], out, want[j])
			}
			if k, ok := l.atIndex(want[i][0], out); !ok || k != j {
				t.Fatalf("atIndex(%d) = %d %v, want %d", want[i][0], k, ok, j)
			}
		}
		for _, from := range []int{0, 1, keyEvery - 1, keyEvery, keyEvery + 1, len(want) - 1, len(want)} {
			i := from
			l.each(from, func(v []int64) {
				if !slices.Equal(v, want[i]) {
					t.Fatalf("each(%d): entry %d = %v, want %v", from, i, v, want[i])
				}
				i++
			})
			if i != len(want) {
				t.Fatalf("each(%d) stopped at %d of %d", from, i, len(want))
			}
		}
	}
	check(&l, want)

	snap := l
	for range 5000 {
		cur[0]++
		cur[1] = rng.Int64()
		l.add(cur)
	}
	check(&snap, want)

	shuffled := slices.Clone(want)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	r := newVlog(width)
	for _, v := range shuffled {
		r.add(v)
	}
	r.finish()
	check(&r, want)

	// Two entries of one key added in reverse order of their second
	// column: the log sorts them, so the key finds the later one.
	l2 := newVlog(2)
	l2.add([]int64{5, 2})
	l2.add([]int64{5, 1})
	l2.finish()
	if out := make([]int64, 2); !l2.at(5, out) || out[1] != 2 {
		t.Fatalf("at(5) after entries out of order = %v, want [5 2]", out)
	}
}

// TestVlog_DropBefore: after dropping the entries before a keyframe, the
// log finds and scans the entries from it on as before (indices absolute),
// frees the blocks before it, and a copy taken before the drop still
// decodes every entry.
func TestVlog_DropBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const width = 5
	l := newVlog(width)
	var want [][]int64
	cur := make([]int64, width)
	add := func() {
		cur[0] += int64(rng.IntN(3))
		cur[1]++
		cur[2+rng.IntN(width-2)] += int64(rng.IntN(1000)) - 500
		l.add(cur)
		want = append(want, slices.Clone(cur))
	}
	for range 40 * keyEvery {
		add()
	}
	snap := l
	out := make([]int64, width)
	for _, from := range []int{5, keyEvery, 3*keyEvery + 7, 20 * keyEvery, 40*keyEvery - 1, 40 * keyEvery} {
		before := l.bytes()
		l.dropBefore(from)
		if l.first != min(from, len(want)-1)/keyEvery*keyEvery {
			t.Fatalf("dropBefore(%d): first = %d", from, l.first)
		}
		if from >= 20*keyEvery && l.bytes() >= before {
			t.Fatalf("dropBefore(%d) freed nothing: %d bytes, %d before", from, l.bytes(), before)
		}
		for i := l.first; i < len(want); i++ {
			j, ok := l.atIndex(want[i][0], out)
			k := i
			for k+1 < len(want) && want[k+1][0] == want[i][0] {
				k++
			}
			if !ok || j != k || !slices.Equal(out, want[k]) {
				t.Fatalf("after dropBefore(%d): atIndex(%d) = %d %v %v, want %d %v", from, want[i][0], j, ok, out, k, want[k])
			}
		}
		i := l.first
		l.scan(l.first, func(j int, v []int64) bool {
			if j != i || !slices.Equal(v, want[i]) {
				t.Fatalf("after dropBefore(%d): scan at %d: entry %d = %v, want %v", from, i, j, v, want[i])
			}
			i++
			return true
		})
		if i != len(want) {
			t.Fatalf("after dropBefore(%d): scan stopped at %d of %d", from, i, len(want))
		}
		for range keyEvery + 3 {
			add()
		}
	}
	i := 0
	snap.each(0, func(v []int64) {
		if !slices.Equal(v, want[i]) {
			t.Fatalf("snapshot: entry %d = %v, want %v", i, v, want[i])
		}
		i++
	})
	if i != 40*keyEvery {
		t.Fatalf("snapshot: %d entries, want %d", i, 40*keyEvery)
	}
}
