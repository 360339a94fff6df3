package storeprobe_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"talentreg/services/registry/storeprobe"
)

// scripted is a kv.Pinger whose answers the test sets: those queued
// first, in order, then err (or a ping that hangs until its context ends,
// when block). It counts pings.
type scripted struct {
	mu    sync.Mutex
	queue []error
	err   error
	block bool
	pings int
}

func (s *scripted) Ping(ctx context.Context) error {
	s.mu.Lock()
	s.pings++
	var err error
	block := false
	if len(s.queue) > 0 {
		err, s.queue = s.queue[0], s.queue[1:]
	} else {
		err, block = s.err, s.block
	}
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (s *scripted) set(err error, block bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err, s.block = err, block
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

type report struct {
	available bool
	err       error
}

func start(t *testing.T, p *scripted, o storeprobe.Options) <-chan report {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan report, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		storeprobe.Run(ctx, p, o, func(available bool, err error) { reports <- report{available, err} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return reports
}

func next(t *testing.T, reports <-chan report) report {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no report within 10 s")
	}
	return report{}
}

// TestRun_LostAfterFailuresInARowAndBackAtOnce: the store is reported lost
// only after FailAfter failed pings in a row (fewer, then a success, is no
// report), with the last ping's error; a ping that hangs counts as failed
// at its timeout; the first success after that reports it available.
func TestRun_LostAfterFailuresInARowAndBackAtOnce(t *testing.T) {
	p := &scripted{}
	reports := start(t, p, storeprobe.Options{Interval: 5 * time.Millisecond, Timeout: 20 * time.Millisecond, FailAfter: 3})
	lost := errors.New("no quorum")

	// Fewer failures in a row than FailAfter, each time followed by a
	// success: blips, not a loss.
	var blips []error
	for range 20 {
		blips = append(blips, lost, lost, nil)
	}
	p.mu.Lock()
	p.queue = blips
	p.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for p.count() < len(blips)+3 {
		if time.Now().After(deadline) {
			t.Fatal("the pings did not run within 10 s")
		}
		time.Sleep(time.Millisecond) // polling a counter, not synchronisation
	}
	select {
	case r := <-reports:
		t.Fatalf("reported %+v after blips of failed pings", r)
	default:
	}

	p.set(lost, false)
	if r := next(t, reports); r.available || !errors.Is(r.err, lost) {
		t.Fatalf("after failing pings: %+v, want lost with the ping's error", r)
	}
	p.set(nil, false)
	if r := next(t, reports); !r.available || r.err != nil {
		t.Fatalf("after a good ping: %+v, want available", r)
	}

	p.set(nil, true) // pings hang: each fails at its timeout
	if r := next(t, reports); r.available || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("while pings hang: %+v, want lost with a deadline error", r)
	}
	p.set(nil, false)
	if r := next(t, reports); !r.available {
		t.Fatalf("after pings go through again: %+v, want available", r)
	}
}
