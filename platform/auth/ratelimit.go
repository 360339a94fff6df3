package auth

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// sourceLimiter limits failed authentications per client address: each
// failure takes a token from the source's bucket, and a source with an
// empty bucket is refused before its credential is even checked, which
// spares the CPU a flood of bad signatures would cost.
type sourceLimiter struct {
	every rate.Limit
	burst int
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*rate.Limiter
	// sources is len(m), read without the lock: while no source has
	// failed, allow answers at once (every authenticated call asks).
	sources atomic.Int64
}

// maxSources bounds the limiter's memory; past it, sources whose bucket
// has refilled are forgotten.
const maxSources = 10000

func newSourceLimiter(c *RateLimitConfig, now func() time.Time) *sourceLimiter {
	every, burst := limits(c)
	return &sourceLimiter{every: every, burst: burst, now: now, m: map[string]*rate.Limiter{}}
}

// limits returns c's refill rate and bucket size, or the defaults.
func limits(c *RateLimitConfig) (rate.Limit, int) {
	if c == nil {
		return rate.Limit(float64(defaultFailuresPerMin) / 60), defaultFailureBurst
	}
	return rate.Limit(c.PerMinute / 60), c.Burst
}

// reconfigure applies a reloaded config's limits, to the sources that have
// failed already too.
func (l *sourceLimiter) reconfigure(c *RateLimitConfig) {
	if l == nil {
		return
	}
	every, burst := limits(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.every, l.burst = every, burst
	now := l.now()
	for _, lim := range l.m {
		lim.SetLimitAt(now, l.every)
		lim.SetBurstAt(now, l.burst)
	}
}

// allow reports whether source may try to authenticate.
func (l *sourceLimiter) allow(source string) bool {
	if l == nil || l.sources.Load() == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[source]
	return !ok || lim.TokensAt(l.now()) >= 1
}

// fail records a failed authentication from source.
func (l *sourceLimiter) fail(source string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim, ok := l.m[source]
	if !ok {
		if len(l.m) >= maxSources {
			for s, x := range l.m {
				if x.TokensAt(now) >= float64(l.burst) {
					delete(l.m, s)
				}
			}
			if len(l.m) >= maxSources { // every source is failing: start over
				l.m = map[string]*rate.Limiter{}
			}
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[source] = lim
		l.sources.Store(int64(len(l.m)))
	}
	lim.AllowN(now, 1)
}
