package kvstore

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"talentreg/services/registry"
)

// sameChange says how two changes differ ("" when they do not).
func sameChange(a, b registry.Change) string {
	switch {
	case a.Revision != b.Revision || a.Type != b.Type || a.TxnFirst != b.TxnFirst || a.TxnLast != b.TxnLast:
		return fmt.Sprintf("header %d/%d [%d,%d] vs %d/%d [%d,%d]", a.Revision, a.Type, a.TxnFirst, a.TxnLast, b.Revision, b.Type, b.TxnFirst, b.TxnLast)
	case !a.CommitTime.Equal(b.CommitTime):
		return fmt.Sprintf("commit time %v vs %v", a.CommitTime, b.CommitTime)
	case (a.Before == nil) != (b.Before == nil) || a.Before != nil && full(a.Before) != full(b.Before):
		return fmt.Sprintf("before %v vs %v", a.Before, b.Before)
	case (a.After == nil) != (b.After == nil) || a.After != nil && full(a.After) != full(b.After):
		return fmt.Sprintf("after %v vs %v", a.After, b.After)
	case !reflect.DeepEqual(a.Actor, b.Actor):
		return fmt.Sprintf("actor %+v vs %+v", a.Actor, b.Actor)
	}
	return ""
}

// fataler is what checkTailMatchesEngine needs of a *testing.T or a
// *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkTailMatchesEngine reads the change log from every revision in
// [from, head] in pages of limit, from the tail (which must answer) and
// from the engine, and fails on the first difference.
func checkTailMatchesEngine(t fataler, s *Store, from int64, limit int) {
	t.Helper()
	head := s.Revision()
	nextWhole := from // the next page compared whole: pages that follow each other from from
	for r := from; r <= head; r++ {
		got, ok, err := s.tailPage(r, limit)
		if !ok || err != nil {
			t.Fatalf("tail page from %d: ok %v, err %v (head %d)", r, ok, err, head)
		}
		want, err := s.ListChanges(ctx, r, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Changes) != len(want.Changes) || got.Revision != want.Revision || got.More != want.More {
			t.Fatalf("page from %d: tail has %d changes to %d (more %v), the engine %d to %d (more %v)",
				r, len(got.Changes), got.Revision, got.More, len(want.Changes), want.Revision, want.More)
		}
		// Every page's revisions and its first and last change; every
		// change whole once, in the pages that follow each other from
		// from. Comparing each page whole was quadratic in the head.
		whole := r == nextWhole
		if n := len(got.Changes); whole && n > 0 {
			nextWhole = got.Changes[n-1].Revision + 1
		}
		for i := range got.Changes {
			if got.Changes[i].Revision != want.Changes[i].Revision {
				t.Fatalf("page from %d, change %d: tail has revision %d, the engine %d", r, i, got.Changes[i].Revision, want.Changes[i].Revision)
			}
			if !whole && i != 0 && i != len(got.Changes)-1 {
				continue
			}
			if d := sameChange(got.Changes[i], want.Changes[i]); d != "" {
				t.Fatalf("change %d: tail and engine differ: %s", want.Changes[i].Revision, d)
			}
		}
	}
}

// TestTail_ServesWhatTheEngineHolds: every kind of mutation, by several
// actors, read back from the tail equals the engine's change log.
func TestTail_ServesWhatTheEngineHolds(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{WAL: true})
	alice := registry.WithActor(ctx, &registry.Actor{Principal: "alice", Method: registry.AuthMethod(1), RequestID: "r1", Peer: "10.0.0.1:5"})
	bob := registry.WithActor(ctx, &registry.Actor{Principal: "bob", UserAgent: "talentctl", Via: "gateway"})

	mustCreate(t, s, entity("e0"))
	for i := 1; i <= 3; i++ {
		if _, _, err := s.CreateEntity(alice, entity(fmt.Sprintf("e%d", i)), fmt.Sprintf("req-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.CreateGroup(bob, group("g0", registry.GroupKindAlliance), ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		m := &registry.Membership{GroupID: "g0", EntityID: fmt.Sprintf("e%d", i), Role: registry.MembershipRoleMember}
		if _, _, err := s.CreateMembership(alice, m, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.UpdateEntity(bob, "e1", "", func(e *registry.Entity) { e.DisplayName = "Renamed e1"; e.Region = "Tianjin" }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BatchCreateEntities(alice, []*registry.Entity{entity("b0"), entity("b1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteGroup(bob, "g0", "", true); err != nil { // cascades to its memberships
		t.Fatal(err)
	}
	if _, err := s.DeleteEntity(ctx, "e3", "", false); err != nil {
		t.Fatal(err)
	}
	items := []registry.Resource{entity("i0"), entity("e2"), group("g1", registry.GroupKindConsortium)}
	if res, err := s.Import(alice, registry.WholeItems(items), 0); err != nil || len(res.Errors) > 0 {
		t.Fatalf("import: %v %v", err, res.Errors)
	}
	if s.Revision() < 15 {
		t.Fatalf("revision %d: the workload made too few changes", s.Revision())
	}
	for _, limit := range []int{1, 3, 500} {
		checkTailMatchesEngine(t, s, 1, limit)
	}
	// The tail's first revision: a store opened again starts its tail
	// at its head, and reads before it go to the engine.
	if _, ok, _ := s.tailPage(0, 10); ok {
		t.Fatal("the tail answered from revision 0 (the oldest retained, the engine's to say)")
	}
	if _, ok, _ := s.tailPage(s.Revision()+2, 10); ok {
		t.Fatal("the tail answered from beyond its head + 1")
	}
	page, ok, err := s.tailPage(s.Revision()+1, 10)
	if !ok || err != nil || len(page.Changes) != 0 || page.Revision != s.Revision() || page.More {
		t.Fatalf("caught-up tail page: %+v ok %v err %v", page, ok, err)
	}
}

// TestTail_FeedUnderConcurrentWrites follows the log as the change feed
// does (Committed, then a tailing read) while writers commit concurrently:
// it sees every revision once, in order, and is never left waiting for a
// commit whose goroutine added it to the tail after a later one's.
func TestTail_FeedUnderConcurrentWrites(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{WAL: true, NoSync: true})
	const writers, each = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, _, err := s.CreateEntity(ctx, entity(fmt.Sprintf("w%d-%d", w, i)), ""); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	deadline := time.After(60 * time.Second)
	next := int64(1)
	tailing := registry.Tailing(ctx)
	for next <= writers*each {
		committed := s.Committed()
		page, err := s.ListChanges(tailing, next, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			if ch.Revision != next {
				t.Fatalf("feed got revision %d, want %d", ch.Revision, next)
			}
			next++
		}
		if len(page.Changes) > 0 {
			continue
		}
		select {
		case <-committed:
		case err := <-errs:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("feed stuck at revision %d; store at %d", next, s.Revision())
		}
	}
	wg.Wait()
	checkTailMatchesEngine(t, s, 1, 500)
}

// TestTail_Bounds: the ring serves only a consecutive run of revisions,
// keeps the latest tailSize, and never a compacted one.
func TestTail_Bounds(t *testing.T) {
	entries := func(from, to int64) []tailEntry {
		var es []tailEntry
		for r := from; r <= to; r++ {
			es = append(es, tailEntry{rev: r, entry: []byte{byte(r)}})
		}
		return es
	}
	tl := newTail(10)
	if tl.add(entries(12, 13), 0) {
		t.Fatal("the run grew past a missing revision 11")
	}
	if es, head, ok := tl.page(11, 10); !ok || len(es) != 0 || head != 10 {
		t.Fatalf("page(11) before 11 is added: %d entries, head %d, ok %v", len(es), head, ok)
	}
	if !tl.add(entries(11, 11), 0) {
		t.Fatal("adding 11 did not grow the run")
	}
	if es, head, ok := tl.page(11, 10); !ok || len(es) != 3 || head != 13 || es[2].rev != 13 {
		t.Fatalf("page(11): %d entries, head %d, ok %v", len(es), head, ok)
	}
	if _, _, ok := tl.page(10, 10); ok {
		t.Fatal("served revision 10, from before the tail started")
	}
	// A commit bigger than the ring: the latest tailSize stay.
	big := entries(14, 14+tailSize+99)
	if !tl.add(big, 5) {
		t.Fatal("a big commit did not grow the run")
	}
	last := big[len(big)-1].rev
	if _, _, ok := tl.page(last-tailSize, 1); ok {
		t.Fatal("served a revision the ring no longer holds")
	}
	if es, head, ok := tl.page(last-tailSize+1, tailSize); !ok || len(es) != tailSize || head != last || es[0].rev != last-tailSize+1 {
		t.Fatalf("page of the whole ring: %d entries, head %d, ok %v", len(es), head, ok)
	}
	// Compaction past the ring's start moves it.
	tl.add(entries(last+1, last+1), last-10)
	if _, _, ok := tl.page(last-10, 1); ok {
		t.Fatal("served a compacted revision")
	}
	if es, _, ok := tl.page(last-9, 100); !ok || len(es) != 11 {
		t.Fatalf("page after compaction: %d entries, ok %v", len(es), ok)
	}
}
