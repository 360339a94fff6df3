package kvstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
)

func actorCtx(principal string) context.Context {
	return registry.WithActor(ctx, &registry.Actor{
		Principal: principal, Method: registry.AuthStaticToken, RequestID: "req-" + principal,
		UserAgent: "test/1", Peer: "192.0.2.1", Via: "spiffe://talentreg/gateway",
	})
}

func TestStore_ChangesRecordTheirActor(t *testing.T) {
	s := openTest(t, testOptions{})
	alice, bob := actorCtx("alice"), actorCtx("bob")
	if _, _, err := s.CreateEntity(alice, entity("a"), ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateGroup(bob, group("g", registry.GroupKindAlliance), ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateMembership(bob, &registry.Membership{GroupID: "g", EntityID: "a", Role: registry.MembershipRoleMember}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateEntity(alice, "a", "", func(e *registry.Entity) { e.Region = "Beijing" }); err != nil {
		t.Fatal(err)
	}
	// A cascade made by bob: two changes in one transaction, one actor.
	if _, err := s.DeleteEntity(bob, "a", "", true); err != nil {
		t.Fatal(err)
	}

	page, err := s.ListChanges(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice", "bob", "bob", "alice", "bob", "bob"}
	if len(page.Changes) != len(want) {
		t.Fatalf("%d changes, want %d", len(page.Changes), len(want))
	}
	for i, ch := range page.Changes {
		if ch.Actor == nil || ch.Actor.Principal != want[i] {
			t.Fatalf("change %d (%s): actor %+v, want %s", ch.Revision, ch.Name(), ch.Actor, want[i])
		}
		if ch.Actor.RequestID != "req-"+want[i] || ch.Actor.Peer != "192.0.2.1" || ch.Actor.Method != registry.AuthStaticToken ||
			ch.Actor.UserAgent != "test/1" || ch.Actor.Via != "spiffe://talentreg/gateway" {
			t.Fatalf("change %d: actor %+v lost a field", ch.Revision, ch.Actor)
		}
	}
	if page.Changes[4].Actor != page.Changes[5].Actor {
		t.Error("the changes of one transaction should share their actor")
	}

	byBob, err := s.ListChangesBy(ctx, registry.ChangeQuery{Principal: "bob"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(byBob.Changes); !equalRevs(got, []int64{2, 3, 5, 6}) {
		t.Errorf("bob's changes: revisions %v, want [2 3 5 6]", got)
	}
	history, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "entities/a"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(history.Changes); !equalRevs(got, []int64{1, 4, 6}) {
		t.Errorf("history of entities/a: revisions %v, want [1 4 6] (created, updated, deleted)", got)
	}
	both, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "entities/a", Principal: "alice"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(both.Changes); !equalRevs(got, []int64{1, 4}) {
		t.Errorf("alice's changes to entities/a: %v, want [1 4]", got)
	}
	membership, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "groups/g/memberships/a"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(membership.Changes); !equalRevs(got, []int64{3, 5}) {
		t.Errorf("history of the membership: %v, want [3 5]", got)
	}
}

func TestStore_ListChangesByPages(t *testing.T) {
	s := openTest(t, testOptions{})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, _, err := s.CreateEntity(actorCtx("alice"), entity(id), ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateEntity(actorCtx("bob"), entity(id+"x"), ""); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	from := int64(0)
	for range 10 {
		page, err := s.ListChangesBy(ctx, registry.ChangeQuery{Principal: "alice"}, from, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, revisions(page.Changes)...)
		if !page.More {
			break
		}
		from = page.Changes[len(page.Changes)-1].Revision + 1
	}
	if !equalRevs(got, []int64{1, 3, 5, 7, 9}) {
		t.Errorf("alice's changes paged by 2: %v, want [1 3 5 7 9]", got)
	}
	// A start inside a multi-change transaction still finds it.
	if _, _, err := s.BatchCreateEntities(actorCtx("carol"), []*registry.Entity{entity("p"), entity("q"), entity("r")}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListChangesBy(ctx, registry.ChangeQuery{Principal: "carol"}, 12, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(page.Changes); !equalRevs(got, []int64{12, 13}) {
		t.Errorf("carol's changes from 12: %v, want [12 13]", got)
	}
}

func TestStore_ConcurrentActorsInOneCommit(t *testing.T) {
	s := openTest(t, testOptions{})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := []string{"alice", "bob", "carol", "dan"}[i%4]
			if _, _, err := s.CreateEntity(actorCtx(who), entity(who+"-"+itoa(i)), ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	page, err := s.ListChanges(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range page.Changes {
		e := ch.After.(*registry.Entity)
		if ch.Actor == nil || e.ID[:len(ch.Actor.Principal)] != ch.Actor.Principal {
			t.Fatalf("%s was recorded as made by %+v", e.ID, ch.Actor)
		}
	}
}

func TestStore_CompactionPrunesTheAuditTrail(t *testing.T) {
	s := openTest(t, testOptions{RetainChanges: 3})
	for i := range 10 {
		if _, _, err := s.CreateEntity(actorCtx("alice"), entity("e"+itoa(i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	// The cleanup's Check verifies that the audit buckets hold exactly the
	// retained changes; here, what a client sees.
	if _, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "entities/e0"}, 1, 10); registry.ErrorCode(err) != registry.CodeOutOfRange {
		t.Errorf("history from revision 1 after compaction: %v, want OUT_OF_RANGE", err)
	}
	if page, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "entities/e0"}, 0, 10); err != nil || len(page.Changes) != 0 {
		t.Errorf("history of a compacted resource from the oldest retained: %v, %v; want none", page.Changes, err)
	}
	page, err := s.ListChangesBy(ctx, registry.ChangeQuery{Principal: "alice"}, s.CompactedRevision()+1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(page.Changes); !equalRevs(got, []int64{8, 9, 10}) {
		t.Errorf("alice's retained changes: %v, want [8 9 10]", got)
	}
}

func TestOpen_MigratesFormat1(t *testing.T) {
	needBolt(t)
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := openFile(path, testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, entity("a"))
	mustCreate(t, s, group("g", registry.GroupKindAlliance))
	if _, _, err := s.UpdateEntity(ctx, "a", "", func(e *registry.Entity) { e.Region = "Hebei" }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Turn it into the file format 1 wrote: format 2's layout without
	// the audit buckets.
	bdb, err := bolt.Open(path, bolt.Options{Buckets: Buckets()})
	if err != nil {
		t.Fatal(err)
	}
	downgradeToV2(t, bdb)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{[]byte(bucketActors), []byte(bucketByActor), []byte(bucketByName)} {
			if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, bberrors.ErrBucketNotFound) {
				return err
			}
		}
		return tx.Bucket([]byte(bucketMeta)).Put(keyFormat, []byte(formatV1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = openFile(path, testOptions{})
	if err != nil {
		t.Fatalf("open a format-1 file: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("after migration: %v", err)
	}
	history, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "entities/a"}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := revisions(history.Changes); !equalRevs(got, []int64{1, 3}) || history.Changes[0].Actor != nil {
		t.Errorf("migrated history: %v (actor %+v), want [1 3] without actors", got, history.Changes[0].Actor)
	}
	if _, _, err := s.CreateEntity(actorCtx("alice"), entity("b"), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("after a write: %v", err)
	}
}

func revisions(cs []registry.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Revision
	}
	return out
}

func equalRevs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
