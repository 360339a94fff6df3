//go:build unix

package kvstore

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// The fixture testdata/format3.db.gz is a format-3 file written by the
// registry before format 4 (main at 0eb03c4): the format-2 fixture
// migrated by that version, then an import of entities with industries
// and regions and of two memberships each, membership role updates (their
// v3 entries materialised with whole before images), entity updates,
// membership deletes, a forced entity and group delete with cascades and a
// re-creation. testdata/format3.golden.gz is what that version read from
// it (describe).
const fixture3DB, fixture3Golden = "testdata/format3.db.gz", "testdata/format3.golden.gz"

// fixture3File writes the format-3 fixture into a temporary directory.
func fixture3File(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.db")
	if err := os.WriteFile(path, gunzip(t, fixture3DB), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// membershipsOfEntities lists, for every entity with a membership, the
// memberships a filter on the entity finds, in pages of two: the list
// join over the membership index's entity entries.
func membershipsOfEntities(t *testing.T, s *Store) string {
	t.Helper()
	all, _, err := s.ListMemberships(ctx, "-", registry.ListQuery{Limit: registry.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var b bytes.Buffer
	for _, m := range all {
		if seen[m.EntityID] {
			continue
		}
		seen[m.EntityID] = true
		fmt.Fprintf(&b, "%s:", m.EntityID)
		q := registry.ListQuery{Limit: 2, Conditions: []registry.Condition{{Field: "entity", Value: "entities/" + m.EntityID}}}
		for {
			page, next, err := s.ListMemberships(ctx, "-", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				fmt.Fprintf(&b, " %s", p.GroupID)
			}
			if next == "" {
				break
			}
			q.After = next
		}
		b.WriteString("\n")
	}
	return b.String()
}

// bucketBytes returns the keys and the key and value bytes of bucket b.
func bucketBytes(t *testing.T, s *Store, b kv.Bucket) (n, size int) {
	t.Helper()
	if err := s.kv.View(ctx, func(r kv.Reader) error {
		return forEach(r, b, func(k, v []byte) error {
			n++
			size += len(k) + len(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return n, size
}

func TestOpen_MigratesFormat3Fixture(t *testing.T) {
	needBolt(t)
	path := fixture3File(t)
	golden := string(gunzip(t, fixture3Golden))

	old := openReadOnly(t, path)
	if old.Format() != formatV3 {
		t.Fatalf("fixture format %q", old.Format())
	}
	if err := old.Check(); err != nil {
		t.Fatalf("check of the format-3 file: %v", err)
	}
	if got := describe(t, old); got != golden {
		t.Fatalf("format 3 read as it is differs from what the previous version read:\n%s", firstDiff(got, golden))
	}
	joins := membershipsOfEntities(t, old)
	_, recBefore := bucketBytes(t, old, membershipSchema.primary)
	_, idxBefore := bucketBytes(t, old, membershipSchema.index)
	old.Close()

	s, err := openFile(path, testOptions{MigrateBatch: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Format() != formatV4 {
		t.Fatalf("format after open: %q", s.Format())
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check after migration: %v", err)
	}
	if got := describe(t, s); got != golden {
		t.Fatalf("the migrated file reads differently:\n%s", firstDiff(got, golden))
	}
	if got := membershipsOfEntities(t, s); got != joins {
		t.Fatalf("memberships by entity after migration:\n%s", firstDiff(got, joins))
	}
	n, recAfter := bucketBytes(t, s, membershipSchema.primary)
	_, idxAfter := bucketBytes(t, s, membershipSchema.index)
	t.Logf("%d memberships: records %d → %d bytes, index %d → %d bytes", n, recBefore, recAfter, idxBefore, idxAfter)
	if n == 0 || recAfter >= recBefore-10*n || idxAfter >= idxBefore-5*n {
		t.Errorf("%d memberships: records %d → %d bytes, index %d → %d bytes: the migration left them as they were", n, recBefore, recAfter, idxBefore, idxAfter)
	}
	// Writes on the migrated file: a membership update (materialising the
	// v3 entry it supersedes with a version-3 record), a cascade, a
	// re-creation.
	if _, _, err := s.UpdateMembership(actorCtx("bob"), "f3g0", "f3e00", "", func(m *registry.Membership) { m.Role = 2 }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateMembership(actorCtx("bob"), "f3g0", "f3e00", "", func(m *registry.Membership) { m.Role = 1 }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteEntity(actorCtx("carol"), "f3e03", "", true); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, entity("f3e03"))
	mustCreate(t, s, &registry.Membership{GroupID: "f3g1", EntityID: "f3e03", Role: 1})
	if err := s.Check(); err != nil {
		t.Fatalf("check after writes: %v", err)
	}
	h, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "groups/f3g0/memberships/f3e00"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Changes); n < 3 || h.Changes[n-2].After.(*registry.Membership).Role != 2 || h.Changes[n-1].Before.(*registry.Membership).Role != 2 ||
		h.Changes[n-1].Before.(*registry.Membership).EntityID != "f3e00" {
		t.Errorf("history of f3g0/f3e00 after two updates: %+v", h.Changes)
	}
	ms, _, err := s.ListMemberships(ctx, "-", registry.ListQuery{Conditions: []registry.Condition{{Field: "entity", Value: "entities/f3e03"}}})
	if err != nil || len(ms) != 1 || ms[0].GroupID != "f3g1" {
		t.Fatalf("memberships of the re-created f3e03: %+v, %v", ms, err)
	}
}

// TestOpen_MigratesFormat3InSteps migrates a format-3 store one small step
// at a time: after every step (where an interruption could leave it) the
// store checks clean and reads exactly as before, lists by the membership
// index as before, and the next Open finishes the migration.
func TestOpen_MigratesFormat3InSteps(t *testing.T) {
	open := engineAt(t)
	clk := &testClock{}
	s, err := Open(ctx, open(), Options{Clock: clk.Now, RetainChanges: 80})
	if err != nil {
		t.Fatal(err)
	}
	writeHistory(t, s)
	for _, i := range []int{21, 22, 24, 25, 27, 28} { // before images of memberships in the log
		if _, _, err := s.UpdateMembership(actorCtx("bob"), fmt.Sprintf("g%d", i%3), fmt.Sprintf("e%02d", i), "", func(m *registry.Membership) { m.Role = 2 }); err != nil {
			t.Fatal(err)
		}
	}
	want, wantJoins := describe(t, s), membershipsOfEntities(t, s)
	wantByName := count(t, s, bucketByName)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e := open()
	if err := e.Update(ctx, downgradeToV3); err != nil {
		t.Fatal(err)
	}
	e.Close()

	steps := migrateInSteps(t, open, formatV3, want, func(ro *Store, steps int) {
		if got := membershipsOfEntities(t, ro); got != wantJoins {
			t.Fatalf("memberships by entity after %d steps:\n%s", steps, firstDiff(got, wantJoins))
		}
	}, func(tx kv.Txn, _ *Store) (bool, error) {
		return migrateV4Step(tx, 3, math.MaxInt)
	}, func() {
		// The first step fences replicas of format 3 off: they read the
		// counter under "head".
		mustLackMetaKey(t, open(), keyHeadV3, "format-3 revision counter")
	})
	if steps < 15 {
		t.Fatalf("migrated in %d steps: the test wants several", steps)
	}
	s, err = Open(ctx, open(), Options{Clock: clk.Now, RetainChanges: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Format() != formatV4 {
		t.Fatalf("format %q", s.Format())
	}
	if got := describe(t, s); got != want {
		t.Fatalf("migrated:\n%s", firstDiff(got, want))
	}
	if got := membershipsOfEntities(t, s); got != wantJoins {
		t.Fatalf("memberships by entity after the migration:\n%s", firstDiff(got, wantJoins))
	}
	if got := count(t, s, bucketByName); got != wantByName {
		t.Errorf("by-name entries: %d, a store written as format 4 has %d", got, wantByName)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	writeHistory2(t, s)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_MigrationToV4SurvivesSIGKILL kills a process migrating the
// format-3 fixture and reopens the file: it is consistent mid-migration,
// and the next Open resumes and finishes it with nothing lost.
func TestOpen_MigrationToV4SurvivesSIGKILL(t *testing.T) {
	needBolt(t)
	path := fixture3File(t)
	// Steps of two records: 160 entities and 7 groups take 84 steps, so
	// the kill lands among the 250 memberships, their index half
	// converted.
	steps := killMigrationAfter(t, path, 150)
	golden := string(gunzip(t, fixture3Golden))

	mid := openReadOnly(t, path)
	var marker []byte
	if err := mid.kv.View(ctx, func(r kv.Reader) (err error) {
		v, err := r.Get(bucketMeta, keyMigrating4)
		marker = bytes.Clone(v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if mid.Format() != formatV3 || len(marker) < 2 || registry.Collection(marker[0]) != registry.Memberships {
		t.Fatalf("after the kill: format %q, marker %q; want a migration under way", mid.Format(), marker)
	}
	if err := mid.Check(); err != nil {
		t.Fatalf("check mid-migration: %v", err)
	}
	if got := describe(t, mid); got != golden {
		t.Fatalf("mid-migration:\n%s", firstDiff(got, golden))
	}
	joins := membershipsOfEntities(t, mid)
	mid.Close()
	t.Logf("killed after %d steps, resuming at %s %q", steps, registry.Collection(marker[0]), marker[1:])

	s, err := openFile(path, testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Format() != formatV4 {
		t.Fatalf("format %q after resuming", s.Format())
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s); got != golden {
		t.Fatalf("resumed:\n%s", firstDiff(got, golden))
	}
	if got := membershipsOfEntities(t, s); got != joins {
		t.Fatalf("memberships by entity after resuming:\n%s", firstDiff(got, joins))
	}
}
