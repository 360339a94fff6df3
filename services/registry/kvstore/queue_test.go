package kvstore

import (
	"errors"
	"testing"

	"talentreg/services/registry"
)

// Import chunks queued one behind the other (the next before the last is
// waited for) commit in the order queued: memberships queued behind the
// chunk that creates their entities all find them. Behind the write-ahead
// log each chunk is a direct commit, applied while the one before syncs.
func TestStore_QueueImportKeepsTheOrder(t *testing.T) {
	s := openTest(t, testOptions{WAL: true, WALDefaults: true})
	const pre, n = 2000, 3000
	// Fill the buckets past their first page, so the chunks below are
	// queued whole (not split for a small bucket).
	var items []registry.Resource
	items = append(items, group("g", registry.GroupKindAlliance))
	for i := range pre {
		items = append(items, benchEntity("e", i), &registry.Membership{GroupID: "g", EntityID: benchEntity("e", i).ID, Role: registry.MembershipRoleMember})
	}
	if _, err := s.Import(ctx, registry.WholeItems(items), 0); err != nil {
		t.Fatal(err)
	}
	var entities, memberships []registry.Resource
	for i := pre; i < pre+n; i++ {
		entities = append(entities, benchEntity("e", i))
		memberships = append(memberships, &registry.Membership{GroupID: "g", EntityID: benchEntity("e", i).ID, Role: registry.MembershipRoleMember})
	}
	first := s.QueueImport(ctx, registry.WholeItems(entities), 0, nil)
	second := s.QueueImport(ctx, registry.WholeItems(memberships), n, first)
	r1, err1 := first.Wait()
	r2, err2 := second.Wait()
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if c := r1.Counts[registry.Entities]; c.Created != n || c.Failed != 0 || r1.Processed != n {
		t.Fatalf("entities: %+v, processed %d", *c, r1.Processed)
	}
	if c := r2.Counts[registry.Memberships]; c.Created != n || c.Failed != 0 || len(r2.Errors) != 0 {
		t.Fatalf("memberships: %+v, errors %v", *c, r2.Errors)
	}
	if want := int64(1 + 2*pre + 2*n); r2.Revision != want || s.Revision() != want {
		t.Fatalf("revision %d (store %d), want %d", r2.Revision, s.Revision(), want)
	}
}

// A chunk queued behind one that fails commits nothing, though it was
// queued before the failure was known: an import's position stays "all
// before the failed chunk".
func TestStore_QueueImportAfterAFailedChunkCommitsNothing(t *testing.T) {
	s := openTest(t, testOptions{})
	boom := registry.ImportItem{Resource: entity("a"), Merge: func(registry.Resource) registry.Resource { panic("boom") }}
	first := s.QueueImport(ctx, []registry.ImportItem{boom}, 0, nil)
	second := s.QueueImport(ctx, registry.WholeItems([]registry.Resource{entity("b")}), 1, first)
	if _, err := first.Wait(); err == nil {
		t.Fatal("the failing chunk succeeded")
	}
	if _, err := second.Wait(); !errors.Is(err, errEarlierChunkFailed) {
		t.Fatalf("the chunk behind it: %v, want %v", err, errEarlierChunkFailed)
	}
	_, err := s.GetEntity(ctx, "b")
	wantCode(t, err, registry.CodeNotFound)
	if s.Revision() != 0 {
		t.Fatalf("revision %d after two failed chunks", s.Revision())
	}
}
