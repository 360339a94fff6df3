package kvstore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/kv"
)

// The fixture testdata/format2.db.gz is a format-2 file written by the
// registry before format 3 (main at b40c0df): groups with request ids, an
// import of entities and memberships, updates by several principals, a
// forced delete with its cascade, a re-creation, and a log compacted to
// its last 400 changes. testdata/format2.golden.gz is what that version
// read from it (describe).
const fixtureDB, fixtureGolden = "testdata/format2.db.gz", "testdata/format2.golden.gz"

// describe renders everything a store answers about its history: the
// whole change log, every resource's history and every principal's.
func describe(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	page, err := s.ListChanges(ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "revision %d compacted %d id %s\n", s.Revision(), s.CompactedRevision(), s.ID())
	names := map[string]bool{}
	for _, ch := range page.Changes {
		fmt.Fprintf(&b, "%d %v %d-%d actor=%+v\n  before=%+v\n  after=%+v\n", ch.Revision, ch.Type, ch.TxnFirst, ch.TxnLast, ch.Actor, ch.Before, ch.After)
		names[ch.Name()] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		h, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: n}, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "history %s:", n)
		for _, ch := range h.Changes {
			fmt.Fprintf(&b, " %d", ch.Revision)
		}
		b.WriteString("\n")
	}
	for _, p := range []string{"alice", "bob", "carol", "importer"} {
		h, err := s.ListChangesBy(ctx, registry.ChangeQuery{Principal: p}, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "by %s: %d changes\n", p, len(h.Changes))
	}
	return b.String()
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureFile writes the format-2 fixture into a temporary directory.
func fixtureFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.db")
	if err := os.WriteFile(path, gunzip(t, fixtureDB), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openReadOnly opens the bbolt file at path without migrating it.
func openReadOnly(t *testing.T, path string) *Store {
	t.Helper()
	db, err := bolt.Open(path, bolt.Options{Buckets: Buckets(), MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, db, Options{ReadOnly: true})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return s
}

// count returns the number of keys in bucket b.
func count(t *testing.T, s *Store, b kv.Bucket) int {
	t.Helper()
	n := 0
	if err := s.kv.View(ctx, func(r kv.Reader) error { return forEach(r, b, func(_, _ []byte) error { n++; return nil }) }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpen_MigratesFormat2Fixture(t *testing.T) {
	needBolt(t)
	path := fixtureFile(t)
	golden := string(gunzip(t, fixtureGolden))

	old := openReadOnly(t, path)
	if old.Format() != formatV2 {
		t.Fatalf("fixture format %q", old.Format())
	}
	if err := old.Check(); err != nil {
		t.Fatalf("check of the format-2 file: %v", err)
	}
	if got := describe(t, old); got != golden {
		t.Fatalf("format 2 read as it is differs from what the previous version read:\n%s", firstDiff(got, golden))
	}
	byNameBefore := count(t, old, bucketByName)
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
	// Every retained change was in the by-name index; now the latest
	// change of each stored record is not.
	byName, changes := count(t, s, bucketByName), count(t, s, bucketChanges)
	if byNameBefore != changes || byName >= changes/2 {
		t.Errorf("by-name entries: %d before, %d after, for %d changes", byNameBefore, byName, changes)
	}
	// Writes on the migrated file: an update (materialising the v3 entry it
	// supersedes), a delete and a re-creation.
	if _, _, err := s.UpdateEntity(actorCtx("bob"), "e101", "", func(e *registry.Entity) { e.Region = "Pudong" }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteEntity(actorCtx("carol"), "e005", "", true); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, entity("e005"))
	if err := s.Check(); err != nil {
		t.Fatalf("check after writes: %v", err)
	}
	h, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: "entities/e101"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Changes); n < 2 || h.Changes[n-2].After.(*registry.Entity).Region != h.Changes[n-1].Before.(*registry.Entity).Region {
		t.Errorf("history of e101 after an update: %+v", h.Changes)
	}
}

// firstDiff shows where two descriptions part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// engineAt returns a function that opens one place of the test engine (a
// bbolt file, an etcd prefix) anew at each call.
func engineAt(t *testing.T) func() kv.Store {
	t.Helper()
	if engine == "etcd" {
		prefix := fmt.Sprintf("/t%d/", prefixSeq.Add(1))
		return func() kv.Store {
			e, err := etcdkv.Open(ctx, etcdkv.Options{Endpoints: etcdEndpoints, Prefix: prefix, LimitsChecked: true}) // TestMain checked them
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
	}
	path := filepath.Join(t.TempDir(), "registry.db")
	return func() kv.Store {
		db, err := bolt.Open(path, bolt.Options{Buckets: Buckets()})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
}

// downgradeToV3 rewrites a format-4 store as format 3 wrote it: whole
// (version-2) records, v2 change entries with whole images (and whole
// before images in v3 entries, v3 entries for v5 ones), a membership's entity index entry
// repeating the entity id, the counter under "head".
func downgradeToV3(tx kv.Txn) error {
	for _, c := range registry.Collections {
		sc := schemas[c]
		type record struct{ k, v []byte }
		var all []record
		if err := forEach(tx, sc.primary, func(k, v []byte) error {
			all = append(all, record{bytes.Clone(k), bytes.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
		for _, rec := range all {
			r, err := decodeRecord(c, rec.k, rec.v)
			if err != nil {
				return err
			}
			if err := tx.Put(sc.primary, rec.k, encodeResource(nil, r)); err != nil {
				return err
			}
			for i := range sc.fields {
				f := &sc.fields[i]
				if !f.tail {
					continue
				}
				for _, val := range f.values(r) {
					if err := tx.Delete(sc.index, indexKey(f, val, rec.k)); err != nil {
						return err
					}
					if err := tx.Put(sc.index, append(indexPrefix(f, val), rec.k...), nil); err != nil {
						return err
					}
				}
			}
		}
	}
	type entry struct {
		rev int64
		v   []byte
	}
	var all []entry
	if err := forEach(tx, bucketChanges, func(k, v []byte) error {
		all = append(all, entry{revFromKey(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	whole := func(c registry.Collection, pk, img []byte) ([]byte, error) {
		if c == 0 {
			return nil, nil
		}
		r, err := decodeRecord(c, pk, img)
		if err != nil {
			return nil, err
		}
		return encodeResource(nil, r), nil
	}
	for _, en := range all {
		rc, err := splitChange(en.rev, en.v)
		if err != nil {
			return err
		}
		before, err := whole(rc.beforeColl, rc.pk, rc.before)
		if err != nil {
			return err
		}
		var v []byte
		switch rc.version {
		case changeV3, changeV5:
			if rc.version == changeV5 {
				rec, err := tx.Get(schemas[rc.afterColl].primary, rc.pk)
				if err != nil {
					return err
				}
				r, err := decodeRecord(rc.afterColl, rc.pk, rec)
				if err != nil {
					return err
				}
				rc.h.commit = r.Metadata().UpdateTime
			}
			v = currentChange(changeV3, rc.h, rc.afterColl, before, rc.pk)
		case changeV4:
			after, err := whole(rc.afterColl, rc.pk, rc.after)
			if err != nil {
				return err
			}
			v = v2Entry(rc, before, after)
		default:
			continue
		}
		if err := tx.Put(bucketChanges, revKey(en.rev), v); err != nil {
			return err
		}
	}
	head, err := tx.Get(bucketMeta, keyHead)
	if err != nil {
		return err
	}
	if err := tx.Put(bucketMeta, keyHeadV3, bytes.Clone(head)); err != nil {
		return err
	}
	if err := tx.Delete(bucketMeta, keyHead); err != nil {
		return err
	}
	return tx.Put(bucketMeta, keyFormat, []byte(formatV3))
}

// v2Entry returns rc as a v2 change entry with the given whole images.
func v2Entry(rc rawChange, before, after []byte) []byte {
	e := encoder{}
	e.changeHeader(changeV2, rc.h)
	for _, img := range []struct {
		c registry.Collection
		b []byte
	}{{rc.beforeColl, before}, {rc.afterColl, after}} {
		if img.c == 0 {
			e.byte(0)
			continue
		}
		e.byte(byte(img.c))
		e.bytes(img.b)
	}
	return e.b
}

// downgradeToV2 rewrites a format-4 store as format 2 wrote it: what
// downgradeToV3 does, then every change with its images and in the
// by-name index, the counter under "revision".
func downgradeToV2(t *testing.T, e kv.Store) {
	t.Helper()
	err := e.Update(ctx, func(tx kv.Txn) error {
		if err := downgradeToV3(tx); err != nil {
			return err
		}
		type entry struct {
			rev int64
			v   []byte
		}
		var all []entry
		if err := forEach(tx, bucketChanges, func(k, v []byte) error {
			all = append(all, entry{revFromKey(k), bytes.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
		for _, en := range all {
			coll, pk, err := changeKey(en.rev, en.v)
			if err != nil {
				return err
			}
			if err := tx.Put(bucketByName, nameKey(coll, pk, en.rev), nil); err != nil {
				return err
			}
			rc, err := splitChange(en.rev, en.v)
			if err != nil {
				return err
			}
			if rc.version != changeV3 {
				continue
			}
			rec, err := tx.Get(schemas[rc.afterColl].primary, rc.pk)
			if err != nil {
				return err
			}
			if err := tx.Put(bucketChanges, revKey(en.rev), v2Entry(rc, rc.before, bytes.Clone(rec))); err != nil {
				return err
			}
		}
		head, err := tx.Get(bucketMeta, keyHeadV3)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketMeta, keyRevision, bytes.Clone(head)); err != nil {
			return err
		}
		if err := tx.Delete(bucketMeta, keyHeadV3); err != nil {
			return err
		}
		return tx.Put(bucketMeta, keyFormat, []byte(formatV2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeHistory makes creates, updates, deletes with cascades and
// re-creations, in single calls, a batch and an import, with the log
// compacted to its last retain changes.
func writeHistory(t *testing.T, s *Store) {
	t.Helper()
	for g := range 3 {
		if _, _, err := s.CreateGroup(actorCtx("alice"), group(fmt.Sprintf("g%d", g), registry.GroupKindAlliance), fmt.Sprintf("req-%d", g)); err != nil {
			t.Fatal(err)
		}
	}
	var items []registry.ImportItem
	for i := range 30 {
		items = append(items, registry.ImportItem{Resource: entity(fmt.Sprintf("e%02d", i))})
	}
	for i := range 30 {
		items = append(items, registry.ImportItem{Resource: &registry.Membership{GroupID: fmt.Sprintf("g%d", i%3), EntityID: fmt.Sprintf("e%02d", i), Role: registry.MembershipRole(1 + i%2)}})
	}
	if _, err := s.Import(actorCtx("importer"), items, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, _, err := s.UpdateEntity(actorCtx("bob"), fmt.Sprintf("e%02d", i%10), "", func(e *registry.Entity) { e.Region = fmt.Sprintf("R%d", i) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeleteGroup(actorCtx("carol"), "g2", "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteEntity(actorCtx("carol"), "e01", "", true); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, entity("e01"))
	if _, _, err := s.BatchCreateEntities(actorCtx("alice"), []*registry.Entity{entity("b1"), entity("b2")}); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_MigratesFormat2InSteps migrates a format-2 store one small step
// at a time: after every step (where an interruption could leave it) the
// store checks clean and reads exactly as before, and the next Open
// finishes the migration.
func TestOpen_MigratesFormat2InSteps(t *testing.T) {
	open := engineAt(t)
	clk := &testClock{}
	s, err := Open(ctx, open(), Options{Clock: clk.Now, RetainChanges: 80})
	if err != nil {
		t.Fatal(err)
	}
	writeHistory(t, s)
	want := describe(t, s)
	wantByName := count(t, s, bucketByName)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downgradeToV2(t, open())

	steps := migrateInSteps(t, open, formatV2, want, nil, func(tx kv.Txn, ro *Store) (bool, error) {
		return migrateV3Step(tx, 9, nameRecords(ro.Engine()))
	}, func() {
		// The first step fences replicas of earlier versions off: they
		// read the counter under "revision".
		mustLackMetaKey(t, open(), keyRevision, "format-2 revision counter")
	})
	if steps < 5 {
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
	if got := count(t, s, bucketByName); got != wantByName {
		t.Errorf("by-name entries: %d, a store written as format 3 has %d", got, wantByName)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	// Writes after the migration compact the log through converted
	// entries.
	writeHistory2(t, s)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func writeHistory2(t *testing.T, s *Store) {
	t.Helper()
	for i := range 100 {
		if _, _, err := s.UpdateEntity(ctx, fmt.Sprintf("e%02d", 10+i%20), "", func(e *registry.Entity) { e.DisplayName = fmt.Sprintf("n%d", i) }); err != nil {
			t.Fatal(err)
		}
	}
}

// migrationChildEnv names the file the child process of
// TestOpen_MigrationSurvivesSIGKILL migrates.
const migrationChildEnv = "TALENTREG_TEST_MIGRATION_CHILD_DB"

// TestMigrationChild is not a test: re-executed by
// TestOpen_MigrationSurvivesSIGKILL with migrationChildEnv set, it opens
// (migrates) the file in steps of two entries, printing "step" after each
// committed one. Without the variable it returns at once.
func TestMigrationChild(t *testing.T) {
	path := os.Getenv(migrationChildEnv)
	if path == "" {
		return
	}
	migrateStepped = func() { fmt.Println("step") }
	s, err := openFile(path, testOptions{MigrateBatch: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	s.Close()
	fmt.Println("done")
}

// TestOpen_MigrationSurvivesSIGKILL kills a process migrating the
// format-2 fixture and reopens the file: it is consistent mid-migration,
// and the next Open resumes and finishes it with nothing lost.
func TestOpen_MigrationSurvivesSIGKILL(t *testing.T) {
	needBolt(t)
	path := fixtureFile(t)
	steps := killMigrationAfter(t, path, 20)
	golden := string(gunzip(t, fixtureGolden))

	mid := openReadOnly(t, path)
	var marker []byte
	if err := mid.kv.View(ctx, func(r kv.Reader) (err error) {
		v, err := r.Get(bucketMeta, keyMigrating)
		marker = bytes.Clone(v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if mid.Format() != formatV2 || len(marker) != 8 {
		t.Fatalf("after the kill: format %q, marker %x; want a migration under way", mid.Format(), marker)
	}
	if err := mid.Check(); err != nil {
		t.Fatalf("check mid-migration: %v", err)
	}
	if got := describe(t, mid); got != golden {
		t.Fatalf("mid-migration:\n%s", firstDiff(got, golden))
	}
	mid.Close()
	t.Logf("killed after %d steps, resuming at revision %d", steps, revFromKey(marker))

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
}

// TestListChangesBy_ResourceMatchesAScanOfTheLog holds the by-name index
// (which leaves out each stored record's latest change) to the change log:
// every resource's history, read in pages of every size from 1 to 4, is
// exactly the log's changes of that name.
func TestListChangesBy_ResourceMatchesAScanOfTheLog(t *testing.T) {
	s := openTest(t, testOptions{RetainChanges: 70})
	writeHistory(t, s)
	for i := range 30 { // updates, deletes and re-creations, some compacted
		id := fmt.Sprintf("e%02d", i%12)
		switch i % 3 {
		case 0, 1:
			if _, _, err := s.UpdateEntity(ctx, id, "", func(e *registry.Entity) { e.DisplayName = fmt.Sprintf("x%d", i) }); err != nil {
				t.Fatal(err)
			}
		case 2:
			if _, err := s.DeleteEntity(ctx, id, "", true); err != nil {
				t.Fatal(err)
			}
			mustCreate(t, s, entity(id))
		}
	}
	log, err := s.ListChanges(ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{}
	for _, ch := range log.Changes {
		want[ch.Name()] = append(want[ch.Name()], ch.Revision)
	}
	for name, revs := range want {
		for limit := 1; limit <= 4; limit++ {
			var got []int64
			for from := int64(0); ; {
				page, err := s.ListChangesBy(ctx, registry.ChangeQuery{Resource: name}, from, limit)
				if err != nil {
					t.Fatal(err)
				}
				for _, ch := range page.Changes {
					got = append(got, ch.Revision)
				}
				if !page.More || len(page.Changes) == 0 {
					break
				}
				from = page.Changes[len(page.Changes)-1].Revision + 1
			}
			if !equalRevs(got, revs) {
				t.Fatalf("history of %s in pages of %d: %v, the log has %v", name, limit, got, revs)
			}
		}
	}
}

// killMigrationAfter runs TestMigrationChild on the file at path in a
// child process and SIGKILLs it once it has reported killAfter migration
// steps; it returns the steps seen.
// startChild runs the test named test of this binary in a child process
// with env added, and returns it with its stdout and a buffer of its
// stderr. Whatever happens, the child does not outlive the test by more
// than 90 s.
func startChild(t *testing.T, test string, env ...string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() { watchdog.Stop() })
	return cmd, stdout, stderr
}

func killMigrationAfter(t *testing.T, path string, killAfter int) int {
	t.Helper()
	cmd, stdout, stderr := startChild(t, "TestMigrationChild", migrationChildEnv+"="+path)
	steps, killed := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "step" {
			steps++
		}
		if steps == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child after %d steps: %v, want killed by SIGKILL\n%s", steps, err, stderr.String())
	}
	return steps
}

// migrateInSteps runs step, each call in its own transaction on a store
// opened read-only, until it reports done, and returns how many it took.
// Before each step the store still reads as format from, passes Check,
// describes as want and passes check (when not nil); afterFirst runs once
// the first step is committed.
func migrateInSteps(t *testing.T, open func() kv.Store, from, want string, check func(ro *Store, steps int), step func(tx kv.Txn, ro *Store) (bool, error), afterFirst func()) int {
	t.Helper()
	steps := 0
	for done := false; !done; steps++ {
		ro, err := Open(ctx, open(), Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if ro.Format() != from {
			t.Fatalf("step %d: format %q before the last step", steps, ro.Format())
		}
		if err := ro.Check(); err != nil {
			t.Fatalf("check after %d steps: %v", steps, err)
		}
		if got := describe(t, ro); got != want {
			t.Fatalf("after %d steps:\n%s", steps, firstDiff(got, want))
		}
		if check != nil {
			check(ro, steps)
		}
		err = ro.Engine().Update(ctx, func(tx kv.Txn) (err error) {
			done, err = step(tx, ro)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		if steps == 0 {
			afterFirst()
		}
	}
	return steps
}

// mustLackMetaKey fails the test when e's meta bucket holds key (what it
// is named in the failure), and closes e.
func mustLackMetaKey(t *testing.T, e kv.Store, key []byte, what string) {
	t.Helper()
	defer e.Close()
	err := e.View(ctx, func(r kv.Reader) error {
		v, err := r.Get(bucketMeta, key)
		if err == nil && v != nil {
			err = fmt.Errorf("%s still present", what)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
