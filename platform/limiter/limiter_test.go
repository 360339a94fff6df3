package limiter_test

import (
	"testing"

	"talentreg/platform/limiter"
)

func TestLimiter(t *testing.T) {
	l := limiter.New(3, 2)
	a1, scope, _, _ := l.Acquire("a")
	if a1 == nil {
		t.Fatalf("first call refused (%s)", scope)
	}
	if r, _, _, _ := l.Acquire("a"); r == nil {
		t.Fatal("second call of a refused")
	}
	if r, scope, limit, open := l.Acquire("a"); r != nil || scope != limiter.ScopeClient || limit != 2 || open != 2 {
		t.Fatalf("third call of a: %v %s %d %d, want refused at the client limit 2", r != nil, scope, limit, open)
	}
	if r, _, _, _ := l.Acquire("b"); r == nil {
		t.Fatal("b refused")
	}
	if r, scope, limit, _ := l.Acquire("c"); r != nil || scope != limiter.ScopeServer || limit != 3 {
		t.Fatalf("fourth call: %v %s %d, want refused at the server limit 3", r != nil, scope, limit)
	}
	a1()
	a1() // once only
	if l.Open() != 2 {
		t.Fatalf("Open = %d after a release, want 2", l.Open())
	}
	if r, _, _, _ := l.Acquire("c"); r == nil {
		t.Fatal("c refused after a release")
	}
}
