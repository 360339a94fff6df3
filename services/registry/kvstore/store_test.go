package kvstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry"
)

func TestStore_CreateGetEntity(t *testing.T) {
	s := openTest(t, testOptions{})
	e := entity("acme")
	e.CreditCode = creditCode("91120116MA05JQ3X0")
	e.Industries = []string{"aerospace", "new-materials"}
	got, rev, err := s.CreateEntity(ctx, e, "")
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1 || got.Revision != 1 || got.Etag() != "1" {
		t.Fatalf("rev = %d, resource revision = %d, etag %q; want 1", rev, got.Revision, got.Etag())
	}
	if got.CreateTime.IsZero() || !got.CreateTime.Equal(got.UpdateTime) {
		t.Fatalf("times = %v / %v", got.CreateTime, got.UpdateTime)
	}
	read, err := s.GetEntity(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if read.DisplayName != e.DisplayName || read.CreditCode != e.CreditCode || len(read.Industries) != 2 || !read.CreateTime.Equal(got.CreateTime) {
		t.Fatalf("read back %+v, want %+v", read, got)
	}
	_, err = s.GetEntity(ctx, "missing")
	wantCode(t, err, registry.CodeNotFound)
}

func TestStore_CreditCodeIsUnique(t *testing.T) {
	s := openTest(t, testOptions{})
	code := creditCode("91120116MA05JQ3X0")
	a := entity("a")
	a.CreditCode = code
	mustCreate(t, s, a)
	b := entity("b")
	b.CreditCode = code
	_, _, err := s.CreateEntity(ctx, b, "")
	wantCode(t, err, registry.CodeAlreadyExists)
	// Moving the code away from a frees it for b.
	if _, _, err := s.UpdateEntity(ctx, "a", "", func(e *registry.Entity) { e.CreditCode = "" }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateEntity(ctx, b, ""); err != nil {
		t.Fatalf("code freed by an update is still taken: %v", err)
	}
	// And an update onto a taken code fails.
	_, _, err = s.UpdateEntity(ctx, "a", "", func(e *registry.Entity) { e.CreditCode = code })
	wantCode(t, err, registry.CodeAlreadyExists)
	bad := entity("c")
	bad.CreditCode = code[:17] + "0"
	if code[17] == '0' {
		bad.CreditCode = code[:17] + "1"
	}
	_, _, err = s.CreateEntity(ctx, bad, "")
	wantCode(t, err, registry.CodeInvalidArgument)
}

func TestStore_Etags(t *testing.T) {
	s := openTest(t, testOptions{})
	e := mustCreate(t, s, entity("a"))
	stale := e.Etag()
	u, _, err := s.UpdateEntity(ctx, "a", stale, func(e *registry.Entity) { e.Region = "Beijing" })
	if err != nil {
		t.Fatal(err)
	}
	if u.Etag() == stale || u.Region != "Beijing" || !u.CreateTime.Equal(e.CreateTime) || !u.UpdateTime.After(e.UpdateTime) {
		t.Fatalf("update gave %+v", u)
	}
	_, _, err = s.UpdateEntity(ctx, "a", stale, func(e *registry.Entity) { e.Region = "Hebei" })
	wantCode(t, err, registry.CodeAborted)
	_, err = s.DeleteEntity(ctx, "a", stale, false)
	wantCode(t, err, registry.CodeAborted)
	if _, err := s.DeleteEntity(ctx, "a", u.Etag(), false); err != nil {
		t.Fatal(err)
	}
	_, err = s.DeleteEntity(ctx, "a", "", false)
	wantCode(t, err, registry.CodeNotFound)
}

func TestStore_NoOpUpdateTakesNoRevision(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("a"))
	before := s.Revision()
	_, rev, err := s.UpdateEntity(ctx, "a", "", func(e *registry.Entity) { e.Region = "Binhai" })
	if err != nil {
		t.Fatal(err)
	}
	if rev != before || s.Revision() != before {
		t.Fatalf("a no-op update moved the revision from %d to %d", before, s.Revision())
	}
}

func TestStore_UpdateRejectsInvalidResult(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("a"))
	_, _, err := s.UpdateEntity(ctx, "a", "", func(e *registry.Entity) { e.Kind = 0 })
	wantCode(t, err, registry.CodeInvalidArgument)
	_, _, err = s.UpdateEntity(ctx, "a", "", func(e *registry.Entity) { e.ID = "b" })
	wantCode(t, err, registry.CodeInvalidArgument)
	got, _ := s.GetEntity(ctx, "a")
	if got.Kind != registry.EntityKindEnterprise {
		t.Fatal("a rejected update was written")
	}
}

func TestStore_RequestIDMakesCreateIdempotent(t *testing.T) {
	s := openTest(t, testOptions{})
	first, rev1, err := s.CreateEntity(ctx, entity("a"), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	// A retry, even with another generated id, returns the first result.
	again, rev2, err := s.CreateEntity(ctx, entity("b"), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != "a" || rev2 != rev1 || again.Etag() != first.Etag() {
		t.Fatalf("retry returned %s at %d, want a at %d", again.ID, rev2, rev1)
	}
	if _, err := s.GetEntity(ctx, "b"); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Fatal("the retry created a second entity")
	}
	// Request ids are per collection.
	if _, _, err := s.CreateGroup(ctx, group("g", registry.GroupKindAlliance), "req-1"); err != nil {
		t.Fatal(err)
	}
}

func TestStore_References(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("e"))
	mustCreate(t, s, group("g", registry.GroupKindAlliance))
	_, _, err := s.CreateMembership(ctx, &registry.Membership{GroupID: "g", EntityID: "nope", Role: registry.MembershipRoleMember}, "")
	wantCode(t, err, registry.CodeNotFound)
	_, _, err = s.CreateMembership(ctx, &registry.Membership{GroupID: "nope", EntityID: "e", Role: registry.MembershipRoleMember}, "")
	wantCode(t, err, registry.CodeNotFound)
	mustCreate(t, s, &registry.Membership{GroupID: "g", EntityID: "e", Role: registry.MembershipRoleMember})
	_, _, err = s.CreateMembership(ctx, &registry.Membership{GroupID: "g", EntityID: "e", Role: registry.MembershipRoleLead}, "")
	wantCode(t, err, registry.CodeAlreadyExists)
	rec := &registry.TalentRecord{ID: "r", Subject: "entities/nope", Category: registry.TalentCategoryGathered, Count: 5}
	_, _, err = s.CreateTalentRecord(ctx, rec, "")
	wantCode(t, err, registry.CodeNotFound)
	rec.Subject, rec.Program = "groups/g", "programs/nope"
	_, _, err = s.CreateTalentRecord(ctx, rec, "")
	wantCode(t, err, registry.CodeNotFound)
}

func TestStore_DeleteCascades(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("e"))
	mustCreate(t, s, entity("other"))
	mustCreate(t, s, &registry.Program{ID: "haihe", DisplayName: "Haihe Talent", Level: registry.ProgramLevelMunicipal})
	for _, g := range []string{"g1", "g2", "g3"} {
		mustCreate(t, s, group(g, registry.GroupKindAlliance))
		mustCreate(t, s, &registry.Membership{GroupID: g, EntityID: "e", Role: registry.MembershipRoleMember})
	}
	mustCreate(t, s, &registry.Membership{GroupID: "g1", EntityID: "other", Role: registry.MembershipRoleMember})
	mustCreate(t, s, &registry.TalentRecord{ID: "r1", Subject: "entities/e", Category: registry.TalentCategoryGathered, Count: 10, Program: "programs/haihe"})
	mustCreate(t, s, &registry.TalentRecord{ID: "r2", Subject: "entities/other", Category: registry.TalentCategoryGathered, Count: 10})

	_, err := s.DeleteEntity(ctx, "e", "", false)
	wantCode(t, err, registry.CodeFailedPrecondition)
	before := s.Revision()
	rev, err := s.DeleteEntity(ctx, "e", "", true)
	if err != nil {
		t.Fatal(err)
	}
	// Three memberships, one record, then the entity: five revisions.
	if rev != before+5 {
		t.Fatalf("cascade committed at %d, want %d", rev, before+5)
	}
	page, err := s.ListChanges(ctx, before+1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range page.Changes {
		if c.Type != registry.ChangeDeleted || c.After != nil || c.Before == nil {
			t.Fatalf("change %d is not a deletion with a before image: %+v", c.Revision, c)
		}
		names = append(names, c.Name())
	}
	want := "groups/g1/memberships/e groups/g2/memberships/e groups/g3/memberships/e talentRecords/r1 entities/e"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("cascade changes = %s, want %s", got, want)
	}
	if ms, _, _ := s.ListMemberships(ctx, "-", registry.ListQuery{}); len(ms) != 1 || ms[0].EntityID != "other" {
		t.Fatalf("memberships left = %v", ms)
	}
	// A programme's records go with it under force.
	_, err = s.DeleteProgram(ctx, "haihe", "", false)
	if err != nil {
		t.Fatalf("programme without records left: %v", err)
	}
	// A group's memberships and records go with it.
	mustCreate(t, s, &registry.TalentRecord{ID: "r3", Subject: "groups/g1", Category: registry.TalentCategoryCultivated, Count: 1})
	_, err = s.DeleteGroup(ctx, "g1", "", false)
	wantCode(t, err, registry.CodeFailedPrecondition)
	if _, err := s.DeleteGroup(ctx, "g1", "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTalentRecord(ctx, "r3"); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Fatal("group's talent record survived a forced delete")
	}
}

func TestStore_ListPagesAndFilters(t *testing.T) {
	s := openTest(t, testOptions{})
	var batch []*registry.Entity
	for i := 0; i < 120; i++ {
		e := entity(fmt.Sprintf("e%03d", i))
		if i%3 == 0 {
			e.Kind = registry.EntityKindUniversity
		}
		if i%4 == 0 {
			e.Region = "Beijing"
		}
		if i%5 == 0 {
			e.Industries = []string{"biomedicine", "aerospace"}
		}
		batch = append(batch, e)
	}
	if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var all []string
	q := registry.ListQuery{Limit: 50}
	for pages := 0; ; pages++ {
		es, next, err := s.ListEntities(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			all = append(all, e.ID)
		}
		if next == "" {
			if pages != 2 || len(es) != 20 {
				t.Fatalf("last page %d has %d items", pages, len(es))
			}
			break
		}
		q.After = next
	}
	if len(all) != 120 || !slices.IsSorted(all) {
		t.Fatalf("paged %d ids, sorted %v", len(all), slices.IsSorted(all))
	}
	conds := []registry.Condition{{Field: "kind", Value: "ENTITY_KIND_UNIVERSITY"}, {Field: "region", Value: "Beijing"}, {Field: "industries", Value: "biomedicine"}}
	var got []string
	q = registry.ListQuery{Conditions: conds, Limit: 1}
	for {
		es, next, err := s.ListEntities(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.ID)
		}
		if next == "" {
			break
		}
		q.After = next
	}
	var want []string
	for i := 0; i < 120; i += 60 { // divisible by 3, 4 and 5
		want = append(want, fmt.Sprintf("e%03d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("filtered = %v, want %v", got, want)
	}
	_, _, err := s.ListEntities(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "colour", Value: "red"}}})
	wantCode(t, err, registry.CodeInvalidArgument)
}

// TestStore_ListedEntitiesAreIndependent: the entities of a page share
// their allocations (see arena), yet each reads as GetEntity returns it,
// and appending to one's industries leaves the others as they were.
func TestStore_ListedEntitiesAreIndependent(t *testing.T) {
	s := openTest(t, testOptions{})
	var batch []*registry.Entity
	for i := range 200 {
		e := entity(fmt.Sprintf("e%03d", i))
		e.Industries = []string{"aerospace", "deep-sea", "biomedicine"}[:i%4]
		if i%3 == 0 {
			e.Status, e.EndTime = registry.LifecycleInactive, time.Unix(1700000000, 5).UTC()
		}
		batch = append(batch, e)
	}
	if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
		t.Fatal(err)
	}
	page, _, err := s.ListEntities(ctx, registry.ListQuery{Limit: registry.MaxPageSize})
	if err != nil || len(page) != len(batch) {
		t.Fatalf("listed %d entities, %v", len(page), err)
	}
	for _, e := range page {
		got, err := s.GetEntity(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e, got) {
			t.Fatalf("listed %+v\nGetEntity %+v", e, got)
		}
	}
	before := slices.Clone(page[2].Industries)
	page[1].Industries = append(page[1].Industries, "overwrite")
	if !slices.Equal(page[2].Industries, before) {
		t.Fatalf("appending to one entity's industries changed the next's: %v, want %v", page[2].Industries, before)
	}
}

// TestStore_VisitEntitiesIsListEntities: a visit sees the entities of
// the page ListEntities returns, in order, with the same cursor, and
// fails as it does.
func TestStore_VisitEntitiesIsListEntities(t *testing.T) {
	s := openTest(t, testOptions{})
	var batch []*registry.Entity
	for i := range 150 {
		e := entity(fmt.Sprintf("e%03d", i))
		e.Industries = []string{"aerospace", "deep-sea", "biomedicine"}[:i%4]
		if i%3 == 0 {
			e.Kind = registry.EntityKindUniversity
		}
		if i%5 == 0 {
			e.Status, e.EndTime = registry.LifecycleWithdrawn, time.Unix(1700000000, 5).UTC()
		}
		batch = append(batch, e)
	}
	if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, conds := range [][]registry.Condition{
		nil,
		{{Field: "kind", Value: "ENTITY_KIND_UNIVERSITY"}},
		{{Field: "industries", Value: "deep-sea"}, {Field: "kind", Value: "ENTITY_KIND_UNIVERSITY"}},
		{{Field: "status", Value: "LIFECYCLE_STATUS_ACTIVE"}},
	} {
		for _, limit := range []int{1, 7, 50, 0} {
			q := registry.ListQuery{Conditions: conds, Limit: limit}
			for {
				want, wantNext, err := s.ListEntities(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var got []*registry.Entity
				next, err := s.VisitEntities(ctx, q, func(e *registry.Entity) {
					c := *e // the visit's memory is not ours to keep
					c.ID, c.DisplayName, c.CreditCode, c.Region = strings.Clone(e.ID), strings.Clone(e.DisplayName), strings.Clone(e.CreditCode), strings.Clone(e.Region)
					c.Industries = nil
					for _, ind := range e.Industries {
						c.Industries = append(c.Industries, strings.Clone(ind))
					}
					got = append(got, &c)
				})
				if err != nil || next != wantNext || !reflect.DeepEqual(got, want) {
					t.Fatalf("%v: visited %v, next %q, %v; want %v, next %q", q, got, next, err, want, wantNext)
				}
				if q.After = next; next == "" {
					break
				}
			}
		}
	}
	_, err := s.VisitEntities(ctx, registry.ListQuery{Conditions: []registry.Condition{{Field: "colour", Value: "red"}}}, func(*registry.Entity) {
		t.Fatal("visited an entity of a failed list")
	})
	wantCode(t, err, registry.CodeInvalidArgument)
}

func TestStore_BatchCreateIsAtomic(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("b"))
	_, _, err := s.BatchCreateEntities(ctx, []*registry.Entity{entity("a"), entity("b"), entity("c")})
	wantCode(t, err, registry.CodeAlreadyExists)
	if _, err := s.GetEntity(ctx, "a"); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Fatal("a failed batch wrote its first entity")
	}
	_, _, err = s.BatchCreateEntities(ctx, []*registry.Entity{entity("x"), entity("x")})
	wantCode(t, err, registry.CodeInvalidArgument)
	if s.Revision() != 1 {
		t.Fatalf("revision = %d after failed batches, want 1", s.Revision())
	}
}

func TestStore_CompactionKeepsLastN(t *testing.T) {
	s := openTest(t, testOptions{RetainChanges: 10})
	for i := 0; i < 30; i++ {
		mustCreate(t, s, entity(fmt.Sprintf("e%d", i)))
	}
	if s.CompactedRevision() != 20 {
		t.Fatalf("compacted = %d, want 20", s.CompactedRevision())
	}
	_, err := s.ListChanges(ctx, 20, 10)
	wantCode(t, err, registry.CodeOutOfRange)
	var e *registry.Error
	if !errors.As(err, &e) || e.Metadata[registry.MetadataCompactedRevision] != "20" {
		t.Fatalf("error metadata = %v", e)
	}
	page, err := s.ListChanges(ctx, 0, 100)
	if err != nil || len(page.Changes) != 10 || page.Changes[0].Revision != 21 || page.More {
		t.Fatalf("retained page = %d changes from %d (more %v), err %v", len(page.Changes), page.Changes[0].Revision, page.More, err)
	}
}

func TestStore_ConcurrentWritersShareCommits(t *testing.T) {
	s := openTest(t, testOptions{})
	const writers, each = 32, 20
	revs := make(chan int64, writers*each)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, rev, err := s.CreateEntity(ctx, entity(fmt.Sprintf("w%d-%d", w, i)), "")
				if err != nil {
					t.Error(err)
					return
				}
				revs <- rev
			}
		}()
	}
	wg.Wait()
	close(revs)
	seen := map[int64]bool{}
	for r := range revs {
		if seen[r] {
			t.Fatalf("revision %d acknowledged twice", r)
		}
		seen[r] = true
	}
	if len(seen) != writers*each || s.Revision() != writers*each {
		t.Fatalf("%d distinct revisions, store at %d, want %d", len(seen), s.Revision(), writers*each)
	}
	// Group commit: concurrent writers share transactions (and fsyncs).
	if engine == "etcd" {
		return // etcd's writers conflict and retry instead (the revisions above)
	}
	if boltDB(s).Commits() >= writers*each {
		t.Fatalf("%d commits for %d writes: no write shared a commit", boltDB(s).Commits(), writers*each)
	}
	t.Logf("%d writes in %d commits", writers*each, boltDB(s).Commits())
}

// An op that fails after writing must leave nothing behind, and must not
// take the other ops of its batch down with it.
func TestStore_FailedOpAfterWriteIsRolledBack(t *testing.T) {
	s := openTest(t, testOptions{})
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i == 5 {
				errs[i] = s.mutate(ctx, func(t *tx) error {
					if err := t.write(entitySchema, registry.ChangeCreated, nil, entity("half")); err != nil {
						return err
					}
					return registry.InvalidField("x", "fails after writing")
				})
				return
			}
			_, _, errs[i] = s.CreateEntity(ctx, entity(fmt.Sprintf("ok%d", i)), "")
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if (i == 5) != (err != nil) {
			t.Fatalf("op %d: err = %v", i, err)
		}
	}
	if _, err := s.GetEntity(ctx, "half"); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Fatal("the failed op's write survived")
	}
	if s.Revision() != 9 {
		t.Fatalf("revision = %d, want 9 (one per good op, none for the failed one)", s.Revision())
	}
}

// A panic inside an op becomes an error for that caller only.
func TestStore_PanickingOpDoesNotKillTheWriter(t *testing.T) {
	s := openTest(t, testOptions{})
	err := s.mutate(ctx, func(*tx) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
	mustCreate(t, s, entity("after"))
}

func TestStore_Import(t *testing.T) {
	s := openTest(t, testOptions{})
	items := func() []registry.Resource {
		bad := entity("bad")
		bad.CreditCode = "123"
		return []registry.Resource{
			&registry.Program{ID: "kunpeng", DisplayName: "Kunpeng Plan", Level: registry.ProgramLevelDistrict},
			entity("a"), bad, group("g", registry.GroupKindConsortium),
			&registry.Membership{GroupID: "g", EntityID: "a", Role: registry.MembershipRoleLead},
			&registry.Membership{GroupID: "g", EntityID: "missing", Role: registry.MembershipRoleLead},
			&registry.TalentRecord{ID: "r", Subject: "groups/g", Category: registry.TalentCategoryCultivated, Count: 100, Program: "programs/kunpeng", Period: "2024"},
		}
	}
	res, err := s.Import(ctx, registry.WholeItems(items()), 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts[registry.Entities].Created != 1 || res.Counts[registry.Entities].Failed != 1 ||
		res.Counts[registry.Memberships].Created != 1 || res.Counts[registry.Memberships].Failed != 1 ||
		res.Counts[registry.TalentRecords].Created != 1 {
		t.Fatalf("counts = %+v %+v %+v", *res.Counts[registry.Entities], *res.Counts[registry.Memberships], *res.Counts[registry.TalentRecords])
	}
	if len(res.Errors) != 2 || res.Errors[0].Index != 102 || res.Errors[0].Field != "entity.credit_code" || res.Errors[1].Index != 105 {
		t.Fatalf("errors = %+v", res.Errors)
	}
	rev := s.Revision()
	res, err = s.Import(ctx, registry.WholeItems(items()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision() != rev || res.Counts[registry.Entities].Unchanged != 1 || res.Counts[registry.TalentRecords].Unchanged != 1 {
		t.Fatalf("re-import moved the revision %d → %d; counts %+v", rev, s.Revision(), *res.Counts[registry.Entities])
	}
	changed := items()
	changed[1].(*registry.Entity).Region = "Hebei"
	res, _ = s.Import(ctx, registry.WholeItems(changed), 0)
	if res.Counts[registry.Entities].Updated != 1 || s.Revision() != rev+1 {
		t.Fatalf("update through import: counts %+v, revision %d", *res.Counts[registry.Entities], s.Revision())
	}
}

// TestStore_ImportPartialItems: an item with a Merge changes only what
// the merge sets: the stored fields it leaves alone survive, a new
// resource gets defaults and must still be valid, and a merge that changes
// the identity is refused.
func TestStore_ImportPartialItems(t *testing.T) {
	s := openTest(t, testOptions{})
	stored := entity("a")
	stored.Industries = []string{"aerospace"}
	stored.LeadingEnterprise = true
	mustCreate(t, s, stored)
	displayName := func(id, name string) registry.ImportItem {
		return registry.ImportItem{Resource: &registry.Entity{ID: id, DisplayName: name}, Merge: func(old registry.Resource) registry.Resource {
			e := &registry.Entity{ID: id}
			if old != nil {
				c := *old.(*registry.Entity)
				e = &c
			}
			e.DisplayName = name
			return e
		}}
	}
	res, err := s.Import(ctx, []registry.ImportItem{displayName("a", "Renamed"), displayName("b", "New")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Counts[registry.Entities]; c.Updated != 1 || c.Failed != 1 || res.Processed != 2 {
		t.Fatalf("counts %+v, processed %d; errors %+v", *c, res.Processed, res.Errors)
	}
	// b is new and names no kind: refused by validation, naming the field.
	if len(res.Errors) != 1 || res.Errors[0].Index != 1 || res.Errors[0].Field != "entity.kind" {
		t.Fatalf("errors = %+v", res.Errors)
	}
	got, err := s.GetEntity(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Renamed" || got.Region != stored.Region || !slices.Equal(got.Industries, stored.Industries) || !got.LeadingEnterprise || got.Kind != stored.Kind {
		t.Fatalf("after a partial import: %+v, want the other fields of %+v kept", got, stored)
	}
	rev := s.Revision()
	if res, _ := s.Import(ctx, []registry.ImportItem{displayName("a", "Renamed")}, 0); res.Counts[registry.Entities].Unchanged != 1 || s.Revision() != rev {
		t.Fatalf("the same partial item again: %+v, revision %d → %d", *res.Counts[registry.Entities], rev, s.Revision())
	}
	moved := registry.ImportItem{Resource: entity("a"), Merge: func(registry.Resource) registry.Resource { return entity("z") }}
	if _, err := s.Import(ctx, []registry.ImportItem{moved}, 0); err == nil {
		t.Fatal("a merge that renames the item was accepted")
	}
}

// An import into an empty collection is committed in smallBucketChunk
// pieces; the caller still sees one result with the whole chunk's counts,
// error positions and last revision.
func TestStore_ImportIntoEmptyCollectionMergesItsTransactions(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{})
	const n, base = 2500, 7
	var items []registry.Resource
	for i := range n {
		e := benchEntity("e", i)
		if i == 1500 || i == 2400 {
			e.CreditCode = "123"
		}
		items = append(items, e)
	}
	items = append(items, group("g", registry.GroupKindAlliance),
		&registry.Membership{GroupID: "g", EntityID: benchEntity("e", 10).ID, Role: registry.MembershipRoleMember})
	if !s.anySmallBucket(registry.WholeItems(items[:1])) {
		t.Fatal("an empty entities bucket does not count as small")
	}
	commits := boltDB(s).Commits()
	res, err := s.Import(ctx, registry.WholeItems(items), base)
	if err != nil {
		t.Fatal(err)
	}
	if got := boltDB(s).Commits() - commits; got != 3 {
		t.Errorf("%d items committed in %d transactions, want 3 of at most %d", len(items), got, smallBucketChunk)
	}
	if c := res.Counts[registry.Entities]; c.Created != n-2 || c.Failed != 2 {
		t.Fatalf("entity counts = %+v", *c)
	}
	if res.Counts[registry.Groups].Created != 1 || res.Counts[registry.Memberships].Created != 1 {
		t.Fatalf("group/membership counts = %+v %+v", *res.Counts[registry.Groups], *res.Counts[registry.Memberships])
	}
	if len(res.Errors) != 2 || res.Errors[0].Index != base+1500 || res.Errors[1].Index != base+2400 {
		t.Fatalf("errors = %+v", res.Errors)
	}
	// One revision per stored item: the entities, the group, the membership.
	if want := int64(n-2) + 2; res.Revision != want || s.Revision() != want {
		t.Fatalf("revision = %d (store %d), want %d", res.Revision, s.Revision(), want)
	}
	if s.anySmallBucket(registry.WholeItems(items[:1])) {
		t.Fatal("entities bucket still counts as small after 2,498 records")
	}
}

func TestStore_EpochJoinTimeIsNotUnset(t *testing.T) {
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("e"))
	mustCreate(t, s, group("g", registry.GroupKindAlliance))
	epoch := time.Unix(0, 0).UTC()
	mustCreate(t, s, &registry.Membership{GroupID: "g", EntityID: "e", Role: registry.MembershipRoleMember, JoinTime: epoch})
	m, err := s.GetMembership(ctx, "g", "e")
	if err != nil {
		t.Fatal(err)
	}
	if !m.JoinTime.Equal(epoch) || m.JoinTime.IsZero() {
		t.Fatalf("join time = %v, want the epoch", m.JoinTime)
	}
}

func TestStore_IDSurvivesReopenAndDiffersBetweenDatabases(t *testing.T) {
	needBolt(t)
	dir := t.TempDir()
	a, err := openFile(filepath.Join(dir, "a.db"), testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := a.ID()
	a.Close()
	a, err = openFile(filepath.Join(dir, "a.db"), testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := openFile(filepath.Join(dir, "b.db"), testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(id) != 32 || a.ID() != id || b.ID() == id {
		t.Fatalf("ids: %q, reopened %q, other database %q", id, a.ID(), b.ID())
	}
}

// A crash between creating the file and committing its layout leaves a
// bbolt file without buckets: it opens as a fresh database. A missing
// folder is created.
func TestOpen_EmptyBoltFileAndMissingFolder(t *testing.T) {
	needBolt(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := openFile(path, testOptions{})
	if err != nil {
		t.Fatalf("bucketless file refused: %v", err)
	}
	mustCreate(t, s, entity("a"))
	s.Close()
	s, err = openFile(filepath.Join(dir, "new", "folder", "r.db"), testOptions{})
	if err != nil {
		t.Fatalf("missing folder: %v", err)
	}
	s.Close()
}

// A reader woken by Committed finds the commit in Revision: the feed's
// tail and every waiter on a revision rely on it (woken too early, they
// would wait again for a commit that already happened).
func TestCommitted_FiresOnceRevisionHasRisen(t *testing.T) {
	s := openTest(t, testOptions{})
	ctx := context.Background()
	for i := range 200 {
		committed := s.Committed()
		done := make(chan int64, 1)
		go func() {
			_, rev, err := s.CreateEntity(ctx, &registry.Entity{ID: fmt.Sprintf("c%d", i), DisplayName: "C", Kind: registry.EntityKindEnterprise, Region: "Binhai"}, "")
			if err != nil {
				t.Error(err)
			}
			done <- rev
		}()
		<-committed
		seen := s.Revision()
		rev := <-done
		if seen < rev {
			t.Fatalf("woken by commit %d, Revision() = %d", rev, seen)
		}
	}
}
