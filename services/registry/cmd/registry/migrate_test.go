package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kvstore"
	"talentreg/services/registry/storage"
)

// digestOf returns the digest of every key of the registry in a file.
func digestOf(t *testing.T, path string) [32]byte {
	t.Helper()
	db, err := bolt.Open(path, bolt.Options{Buckets: kvstore.Buckets(), MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sum, err := kvstore.Digest(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestMigrate_BoltToEtcdAndBack: a registry copied to etcd keeps its id,
// revisions and change log (a registry served on the copy continues the
// same feed), `registry check --store etcd` passes on it, and copied back
// to a file it is byte for byte the same keys as the original.
func TestMigrate_BoltToEtcdAndBack(t *testing.T) {
	dir := t.TempDir()
	src, _ := fixtureDB(t, dir)
	// History beyond creates: an update and a delete, by name.
	st, err := storage.OpenBolt(src, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := st.UpdateEntity(ctx, "e00001", "", func(e *registry.Entity) { e.DisplayName = "Renamed" }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteEntity(ctx, "e00002", "", false); err != nil {
		t.Fatal(err)
	}
	id, rev := st.ID(), st.Revision()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	endpoints := strings.Join(cluster.Endpoints(), ",")
	out, err := runCmd(t, "migrate", "--from", "bolt:"+src, "--to", "etcd:"+endpoints, "--etcd-prefix", "/m/")
	if err != nil {
		t.Fatalf("migrate bolt → etcd: %v\n%s", err, out)
	}
	if !strings.Contains(out, "consistent at revision") {
		t.Fatalf("migrate output lacks the check of the copy:\n%s", out)
	}
	out, err = runCmd(t, "check", "--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", "/m/")
	if err != nil || !strings.Contains(out, "consistent at revision") || !strings.Contains(out, id) {
		t.Fatalf("check --store etcd: %v\n%s", err, out)
	}

	// Served on etcd, the copy is the same registry at the same revision,
	// and the next write continues its revisions.
	srv := serveRegistryWith(t, "--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", "/m/")
	head := srv.head(t)
	if head.RegistryId != id || head.Revision != rev {
		t.Fatalf("served copy: registry %s at %d, want %s at %d", head.RegistryId, head.Revision, id, rev)
	}
	srv.create(t, "after-migration")
	if got := srv.head(t).Revision; got != rev+1 {
		t.Fatalf("first write on the copy got revision %d, want %d", got, rev+1)
	}
	srv.stop()

	// Back to a file: the same keys as the original plus the new write;
	// without it, exactly the original (checked by a second round trip of
	// the original through another prefix).
	back := filepath.Join(dir, "back.db")
	out, err = runCmd(t, "migrate", "--from", "etcd:"+endpoints, "--etcd-prefix", "/m/", "--to", "bolt:"+back)
	if err != nil {
		t.Fatalf("migrate etcd → bolt: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "check", "--db", back); err != nil {
		t.Fatalf("check the file copied back: %v\n%s", err, out)
	}
	s2, err := storage.OpenBolt(back, storage.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.GetEntity(ctx, "after-migration"); err != nil || s2.ID() != id || s2.Revision() != rev+1 {
		t.Fatalf("file copied back: id %s rev %d, entity written on etcd: %v", s2.ID(), s2.Revision(), err)
	}
	s2.Close()
	if _, err := runCmd(t, "migrate", "--from", "bolt:"+src, "--to", "etcd:"+endpoints, "--etcd-prefix", "/m2/"); err != nil {
		t.Fatal(err)
	}
	back2 := filepath.Join(dir, "back2.db")
	if _, err := runCmd(t, "migrate", "--from", "etcd:"+endpoints, "--etcd-prefix", "/m2/", "--to", "bolt:"+back2); err != nil {
		t.Fatal(err)
	}
	if digestOf(t, src) != digestOf(t, back2) {
		t.Fatal("a registry copied to etcd and back differs from the original")
	}
}

// TestMigrate_Refusals: a destination holding data, a source a registry
// serves, and malformed engine specs are refused, leaving the destination
// as it was; a destination holding an interrupted copy is cleared and
// copied into.
func TestMigrate_Refusals(t *testing.T) {
	dir := t.TempDir()
	src, _ := fixtureDB(t, dir)
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	endpoints := strings.Join(cluster.Endpoints(), ",")
	if out, err := runCmd(t, "migrate", "--from", "bolt:"+src, "--to", "etcd:"+endpoints); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runCmd(t, "migrate", "--from", "bolt:"+src, "--to", "etcd:"+endpoints)
	if err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Fatalf("migrate into a prefix holding a registry: %v\n%s", err, out)
	}

	// An interrupted copy: the marker and some keys, no meta.
	ctx := context.Background()
	half, err := etcdkv.Open(ctx, etcdkv.Options{Endpoints: cluster.Endpoints(), Prefix: "/half/"})
	if err != nil {
		t.Fatal(err)
	}
	err = half.Update(ctx, func(tx kv.Txn) error {
		if err := tx.Put("meta", []byte("copying"), []byte("x")); err != nil {
			return err
		}
		return tx.Put("entities", []byte("stale-leftover"), []byte("junk"))
	})
	half.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, "migrate", "--from", "bolt:"+src, "--to", "etcd:"+endpoints, "--etcd-prefix", "/half/"); err != nil {
		t.Fatalf("migrate over an interrupted copy: %v\n%s", err, out)
	}
	half, err = etcdkv.Open(ctx, etcdkv.Options{Endpoints: cluster.Endpoints(), Prefix: "/half/"})
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	sum, err := kvstore.Digest(ctx, half)
	if err != nil || sum != digestOf(t, src) {
		t.Fatalf("the copy over an interrupted one is not the source (err %v): the leftover survived?", err)
	}

	// A file a registry serves is locked.
	srv := serveRegistry(t, src)
	out, err = runCmd(t, "migrate", "--from", "bolt:"+src, "--to", "bolt:"+filepath.Join(dir, "x.db"))
	if err == nil {
		t.Fatalf("migrate from a served file succeeded:\n%s", out)
	}
	srv.stop()

	for _, args := range [][]string{
		{"--from", src, "--to", "bolt:y.db"},
		{"--from", "bolt:" + src},
		{"--from", "bolt:" + src, "--to", "zip:y"},
		{"--from", "bolt:" + src, "--to", "bolt:" + src},
		{"--from", "etcd:" + endpoints, "--to", "etcd:" + endpoints},
	} {
		if _, err := runCmd(t, append([]string{"migrate"}, args...)...); err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("migrate %v: %v, want a usage error naming the flag", args, err)
		}
	}
}

// TestBackup_OnEtcd: `registry backup` of a registry on etcd writes the
// same kind of file as on bbolt (one snapshot, checked, marked as a
// backup) while the registry goes on; restored by migrating it into an
// empty prefix and serving that, it holds the data at its revision under a
// new registry id.
func TestBackup_OnEtcd(t *testing.T) {
	dir := t.TempDir()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	endpoints := strings.Join(cluster.Endpoints(), ",")
	reg := serveRegistryWith(t, "--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", "/live/")
	reg.create(t, "acme")
	reg.create(t, "binhai-u")
	orig := reg.head(t)
	out := filepath.Join(dir, "backup.db")
	msg, err := runCmd(t, "backup", "--registry", reg.addr, "--out", out)
	if err != nil || !strings.Contains(msg, "backup of registry "+orig.GetRegistryId()+" at revision 2") {
		t.Fatalf("backup: %v\n%s", err, msg)
	}
	reg.create(t, "after-backup")
	msg, err = runCmd(t, "check", "--db", out)
	if err != nil || !strings.Contains(msg, "consistent at revision 2 ") || !strings.Contains(msg, "a backup of registry "+orig.GetRegistryId()) {
		t.Fatalf("check of the backup: %v\n%s", err, msg)
	}
	reg.stop()

	if msg, err := runCmd(t, "migrate", "--from", "bolt:"+out, "--to", "etcd:"+endpoints, "--etcd-prefix", "/restored/"); err != nil {
		t.Fatalf("migrate the backup into etcd: %v\n%s", err, msg)
	}
	restored := serveRegistryWith(t, "--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", "/restored/")
	head := restored.head(t)
	if head.GetRevision() != 2 || head.GetRegistryId() == orig.GetRegistryId() || head.GetRegistryId() == "" {
		t.Fatalf("restored registry %q at revision %d; want a new id (not %q) at 2", head.GetRegistryId(), head.GetRevision(), orig.GetRegistryId())
	}
	if _, err := restored.client.GetEntity(context.Background(), &registryv1.GetEntityRequest{Name: "entities/acme"}); err != nil {
		t.Fatalf("restored registry lacks acme: %v", err)
	}
	if _, err := restored.client.GetEntity(context.Background(), &registryv1.GetEntityRequest{Name: "entities/after-backup"}); err == nil {
		t.Fatal("restored registry holds a write made after the backup")
	}
}
