package kvstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// changesFrom returns every change from revision from on.
func changesFrom(t *testing.T, s *Store, from int64) []registry.Change {
	t.Helper()
	var out []registry.Change
	for {
		page, err := s.ListChanges(ctx, from, registry.MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Changes...)
		if !page.More || len(page.Changes) == 0 {
			return out
		}
		from = page.Changes[len(page.Changes)-1].Revision + 1
	}
}

// wantTxn checks that changes are exactly one transaction.
func wantTxn(t *testing.T, what string, changes []registry.Change) {
	t.Helper()
	if len(changes) == 0 {
		t.Fatalf("%s: no changes", what)
	}
	first, last := changes[0].Revision, changes[len(changes)-1].Revision
	for _, c := range changes {
		if c.TxnFirst != first || c.TxnLast != last {
			t.Fatalf("%s: change %d says transaction %d-%d, want %d-%d", what, c.Revision, c.TxnFirst, c.TxnLast, first, last)
		}
	}
}

func TestStore_ChangesRecordTheirTransaction(t *testing.T) {
	s := openTest(t, testOptions{})

	_, rev, err := s.CreateEntity(ctx, entity("e"), "")
	if err != nil {
		t.Fatal(err)
	}
	wantTxn(t, "create", changesFrom(t, s, rev))

	before := s.Revision()
	var batch []*registry.Entity
	for i := range 10 {
		batch = append(batch, entity(fmt.Sprintf("b%d", i)))
	}
	if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
		t.Fatal(err)
	}
	wantTxn(t, "batch", changesFrom(t, s, before+1))

	for _, g := range []string{"g1", "g2"} {
		mustCreate(t, s, group(g, registry.GroupKindAlliance))
		mustCreate(t, s, &registry.Membership{GroupID: g, EntityID: "e", Role: registry.MembershipRoleMember})
	}
	before = s.Revision()
	if _, err := s.DeleteEntity(ctx, "e", "", true); err != nil {
		t.Fatal(err)
	}
	cascade := changesFrom(t, s, before+1)
	if len(cascade) != 3 {
		t.Fatalf("cascade made %d changes, want 3", len(cascade))
	}
	wantTxn(t, "cascade", cascade)
}

// An import into an empty collection commits in several transactions
// (smallBucketChunk items each): each is a transaction of its own, as a
// client sees it, and the changes say so.
func TestStore_ImportTransactionsAreMarked(t *testing.T) {
	s := openTest(t, testOptions{})
	chunk := s.importChunk()
	var items []registry.Resource
	for i := range 2*chunk + 10 {
		items = append(items, benchEntity("e", i))
	}
	if _, err := s.Import(ctx, registry.WholeItems(items), 0); err != nil {
		t.Fatal(err)
	}
	changes := changesFrom(t, s, 1)
	if len(changes) != len(items) {
		t.Fatalf("%d changes, want %d", len(changes), len(items))
	}
	wantTxn(t, "import transaction 1", changes[:chunk])
	wantTxn(t, "import transaction 2", changes[chunk:2*chunk])
	wantTxn(t, "import transaction 3", changes[2*chunk:])
}

// Group commit puts several requests into one bbolt transaction; each
// request remains a transaction of its own (it is atomic on its own), so
// a consumer may show the state after any of them.
func TestStore_GroupCommittedRequestsAreSeparateTransactions(t *testing.T) {
	s := openTest(t, testOptions{})
	const writers, each, size = 16, 5, 3
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var batch []*registry.Entity
				for j := range size {
					batch = append(batch, entity(fmt.Sprintf("w%d-%d-%d", w, i, j)))
				}
				if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	changes := changesFrom(t, s, 1)
	if len(changes) != writers*each*size {
		t.Fatalf("%d changes, want %d", len(changes), writers*each*size)
	}
	for i := 0; i < len(changes); i += size {
		// A batch's entities share their id prefix: its changes are
		// consecutive and form one transaction.
		wantTxn(t, "batch at "+changes[i].Name(), changes[i:i+size])
	}
	if engine != "etcd" {
		t.Logf("%d batches in %d commits", writers*each, boltDB(s).Commits())
	}
}

func TestDecodeChange_V1EntryIsItsOwnTransaction(t *testing.T) {
	after := encodeResource(nil, entity("e"))
	e := encoder{}
	e.byte(changeV1)
	e.byte(byte(registry.ChangeCreated))
	e.time(time.Date(2024, 6, 14, 0, 0, 0, 0, time.UTC))
	e.byte(0)
	e.byte(byte(registry.Entities))
	e.bytes(after)
	v1 := e.b
	ch, err := decodeChange(nil, 42, v1)
	if err != nil {
		t.Fatal(err)
	}
	if ch.TxnFirst != 42 || ch.TxnLast != 42 || ch.After.Name() != "entities/e" {
		t.Fatalf("v1 entry decoded as %+v", ch)
	}
}

func TestStore_CheckFindsBrokenTransactionBounds(t *testing.T) {
	s := openTest(t, testOptions{})
	if _, _, err := s.BatchCreateEntities(ctx, []*registry.Entity{entity("a"), entity("b"), entity("c")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	// Rewrite change 2 as if its transaction ended there.
	put := func(first, last int64) {
		t.Helper()
		err := s.kv.Update(ctx, func(kt kv.Txn) error {
			v, err := kt.Get(bucketChanges, revKey(2))
			if err != nil {
				return err
			}
			ch, err := decodeChange(kt, 2, v)
			if err != nil {
				return err
			}
			h := changeHeader{typ: ch.Type, commit: ch.CommitTime, first: first, rev: 2, last: last}
			return kt.Put(bucketChanges, revKey(2), currentChange(changeV3, h, registry.Entities, nil, []byte(ch.After.(*registry.Entity).ID)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(1, 2)
	if err := s.Check(); err == nil {
		t.Fatal("Check passed a transaction that ends inside another")
	}
	put(1, 3) // restored, so the cleanup check passes
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
