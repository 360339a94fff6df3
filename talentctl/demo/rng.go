package demo

import (
	"cmp"
	"slices"
)

// rng is SplitMix64: a tiny generator whose output is fixed by its
// definition, so the data set stays byte-for-byte the same on every Go
// release (math/rand/v2 does not promise stable method outputs).
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); the modulo bias is irrelevant here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// shuffle permutes s in place (Fisher-Yates).
func shuffle[T any](r *rng, s []T) {
	for i := len(s) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		s[i], s[j] = s[j], s[i]
	}
}

// pick returns a random element of s.
func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }

// weighted returns an index into weights, chosen with probability
// proportional to its weight.
func (r *rng) weighted(weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := r.float() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// split divides total into len(weights) parts of at least 1 each, in
// proportion to weights beyond that minimum; the parts sum to total exactly
// (largest remainders take the leftover units, ties by index).
func split(total int64, weights []float64) []int64 {
	n := int64(len(weights))
	if n == 0 || total < n {
		panic("demo: split: total smaller than the number of parts")
	}
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	parts := make([]int64, n)
	rest := total - n
	frac := make([]float64, n)
	var given int64
	for i, w := range weights {
		share := float64(rest) * w / sum
		whole := int64(share)
		parts[i] = 1 + whole
		frac[i] = share - float64(whole)
		given += whole
	}
	// Hand the leftover units to the largest fractional parts.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(frac[b], frac[a]) })
	for _, i := range order[:rest-given] {
		parts[i]++
	}
	return parts
}
