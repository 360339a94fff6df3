package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/command"
	"talentreg/platform/freeport"
)

// served is a registry run in-process on a free port until stopped.
type served struct {
	addr   string
	client registryv1.RegistryServiceClient
	stderr *syncBuffer
	stop   func()
}

func serveRegistry(t *testing.T, db string) *served {
	t.Helper()
	return serveRegistryWith(t, "--db", db)
}

// serveRegistryWith serves a registry with the storage flags args.
func serveRegistryWith(t *testing.T, args ...string) *served {
	t.Helper()
	addr := freeport.For(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stderr := &syncBuffer{}
	go func() {
		done <- run(ctx, append([]string{"--grpc-addr", addr, "--admin-addr", ""}, args...), func(string) string { return "" }, &bytes.Buffer{}, stderr)
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	// 30 s: on etcd, the start sends a request of the registry's limits
	// (15 MiB) to check etcd accepts it, which takes a while on a busy
	// test machine.
	hctx, hcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer hcancel()
	if _, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		cancel()
		t.Fatalf("registry not serving: %v\n%s", err, stderr.String())
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	}
	t.Cleanup(stop)
	return &served{addr: addr, client: registryv1.NewRegistryServiceClient(conn), stderr: stderr, stop: stop}
}

func (s *served) head(t *testing.T) *registryv1.ListChangesResponse {
	t.Helper()
	resp, err := s.client.ListChanges(context.Background(), &registryv1.ListChangesRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (s *served) create(t *testing.T, id string) {
	t.Helper()
	_, err := s.client.CreateEntity(context.Background(), &registryv1.CreateEntityRequest{EntityId: id,
		Entity: &registryv1.Entity{DisplayName: id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, Region: "Binhai"}})
	if err != nil {
		t.Fatal(err)
	}
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestBackup_OnlineThenRestore: `registry backup` copies a running
// registry into a checked file marked as a backup, leaving nothing partial
// behind; a registry served on that file holds its data at its revision
// under a new registry id, and says so in its log.
func TestBackup_OnlineThenRestore(t *testing.T) {
	dir := t.TempDir()
	reg := serveRegistry(t, filepath.Join(dir, "registry.db"))
	reg.create(t, "acme")
	reg.create(t, "binhai-u")
	orig := reg.head(t)

	out := filepath.Join(dir, "backups", "registry-1.db")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	msg, err := runCmd(t, "backup", "--registry", reg.addr, "--out", out)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, msg)
	}
	if !strings.Contains(msg, "backup of registry "+orig.GetRegistryId()+" at revision 2") {
		t.Errorf("backup output: %s", msg)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("backup folder holds %d files, want only the backup: %v", len(entries), entries)
	}
	// The registry went on; the backup stays at revision 2.
	reg.create(t, "after-backup")
	msg, err = runCmd(t, "check", "--db", out)
	if err != nil || !strings.Contains(msg, "consistent at revision 2 ") || !strings.Contains(msg, "a backup of registry "+orig.GetRegistryId()) {
		t.Fatalf("check of the backup: %v\n%s", err, msg)
	}
	// Never over an existing file.
	if _, err := runCmd(t, "backup", "--registry", reg.addr, "--out", out); command.ExitCode(err) != 2 {
		t.Fatalf("backup onto an existing file: %v, want a usage error", err)
	}
	reg.stop()

	restoredDB := filepath.Join(dir, "restored", "registry.db")
	if err := os.MkdirAll(filepath.Dir(restoredDB), 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(restoredDB, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := serveRegistry(t, restoredDB)
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
	if log := restored.stderr.String(); !strings.Contains(log, "restored a backup") || !strings.Contains(log, orig.GetRegistryId()) {
		t.Fatalf("restore not logged:\n%s", log)
	}
}

// TestBackup_Offline: --db copies a file no registry has open, and is
// refused while one has it open.
func TestBackup_Offline(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	reg := serveRegistry(t, db)
	reg.create(t, "acme")
	if msg, err := runCmd(t, "backup", "--db", db, "--out", filepath.Join(dir, "locked.db")); err == nil || !strings.Contains(msg+err.Error(), "locked") {
		t.Fatalf("offline backup of an open database: %v %s, want a locked error", err, msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "locked.db")); err == nil {
		t.Fatal("a failed backup left its --out file")
	}
	reg.stop()
	out := filepath.Join(dir, "offline.db")
	if msg, err := runCmd(t, "backup", "--db", db, "--out", out); err != nil || !strings.Contains(msg, "at revision 1") {
		t.Fatalf("offline backup: %v\n%s", err, msg)
	}
	if msg, err := runCmd(t, "check", "--db", out); err != nil || !strings.Contains(msg, "a backup of registry") {
		t.Fatalf("check: %v\n%s", err, msg)
	}
}

func TestBackup_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"backup"},
		{"backup", "--out", filepath.Join(t.TempDir(), "b.db"), "extra"},
		{"backup", "--out", filepath.Join(t.TempDir(), "b.db"), "--timeout", "0s"},
	} {
		if _, err := runCmd(t, args...); command.ExitCode(err) != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
}

// TestBackup_IntoAFolderKeepingTheNewest: a folder --out gets backups named
// by time, id and revision; --keep prunes the oldest.
func TestBackup_IntoAFolderKeepingTheNewest(t *testing.T) {
	dir := t.TempDir()
	reg := serveRegistry(t, filepath.Join(dir, "registry.db"))
	backups := filepath.Join(dir, "backups") + "/"
	if err := os.MkdirAll(backups, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 3 {
		reg.create(t, "e"+strings.Repeat("x", i))
		if msg, err := runCmd(t, "backup", "--registry", reg.addr, "--out", backups, "--keep", "2"); err != nil {
			t.Fatalf("backup %d: %v\n%s", i, err, msg)
		}
		entries, err := os.ReadDir(backups)
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], "-r2.db") || !strings.HasSuffix(names[1], "-r3.db") {
		t.Fatalf("backups kept: %v, want those of revisions 2 and 3", names)
	}
	if _, err := runCmd(t, "backup", "--registry", reg.addr, "--out", filepath.Join(dir, "one.db"), "--keep", "2"); command.ExitCode(err) != 2 {
		t.Fatalf("--keep with a file --out: %v, want a usage error", err)
	}
}
