package load

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits linear sub-buckets per
// power of two, so a recorded value is off by less than 1/2^subBits (0.8%).
const subBits = 7

const subCount = 1 << subBits

// nBuckets covers every uint64 nanosecond value.
const nBuckets = (65 - subBits) * subCount

// Histogram is a log-linear latency histogram in the manner of HDR
// histograms: constant relative precision, fixed memory (58 KiB), O(1)
// recording. The zero value is empty and ready to use; it is not safe for
// concurrent use.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	l := bits.Len64(v) // ≥ subBits+1
	m := v >> (l - subBits - 1)
	return (l-subBits)*subCount + int(m-subCount)
}

// bucketValue returns the midpoint of bucket b.
func bucketValue(b int) uint64 {
	if b < subCount {
		return uint64(b)
	}
	l := b/subCount + subBits
	m := uint64(b%subCount + subCount)
	shift := l - subBits - 1
	return m<<shift + (uint64(1)<<shift)/2
}

// Record adds one observation; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Mean returns the mean observation, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Max returns the largest observation.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q ≤ 1) of the observations: the
// smallest recorded value v such that at least q of them are ≤ v, within the
// histogram's precision. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var cum uint64
	for b, c := range h.counts {
		cum += c
		if cum >= rank {
			v := time.Duration(bucketValue(b))
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}
