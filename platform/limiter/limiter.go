// Package limiter counts long-lived calls (watch and snapshot streams) in
// all and per client, and refuses one past either limit. What a client is
// — a peer host, later an authenticated principal — is the caller's key.
package limiter

import "sync"

// Scope says which limit refused a call.
type Scope string

// The limits.
const (
	ScopeServer Scope = "server"
	ScopeClient Scope = "client"
)

// Limiter counts open calls. The zero value refuses everything; use New.
type Limiter struct {
	max, perClient int

	mu     sync.Mutex
	open   int
	counts map[string]int
}

// New returns a Limiter of at most max calls in all and perClient per
// client.
func New(max, perClient int) *Limiter {
	return &Limiter{max: max, perClient: perClient, counts: map[string]int{}}
}

// Acquire takes a slot for a call of client. It returns release (to call
// once, when the call ends; further calls do nothing) or, when a limit is
// reached, the scope of that limit, the limit and how many are open in it.
func (l *Limiter) Acquire(client string) (release func(), scope Scope, limit, open int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.max:
		return nil, ScopeServer, l.max, l.open
	case l.counts[client] >= l.perClient:
		return nil, ScopeClient, l.perClient, l.counts[client]
	}
	l.open++
	l.counts[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.open--
			if l.counts[client]--; l.counts[client] <= 0 {
				delete(l.counts, client)
			}
		})
	}, "", 0, 0
}

// Open returns how many calls are open.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}
