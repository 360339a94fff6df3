package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBackupRestore: `registry backup` from the running registry of a
// stack, writes go on, then the registry is replaced by a new process on
// the backup file. The metrics replica notices the restored database (a
// new registry id), reloads from it, and the API answers with the data of
// the backup: the writes after it are gone everywhere, none left in the
// figures.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	s := startStack(t, stackOptions{})
	create := func(prefix string, n int) int64 {
		var rev int64
		for i := range n {
			_, r := s.must(t, "POST", "/v1/entities?entityId="+prefix+strconv.Itoa(i), map[string]any{"displayName": prefix, "kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai"})
			rev = r.revision(t)
		}
		return rev
	}
	summaryAt := func(rev int64) map[string]any {
		m, _ := s.must(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(rev, 10), nil)
		return m
	}
	backupRev := create("kept-", 5)
	out := filepath.Join(t.TempDir(), "registry-backup.db")
	b, err := exec.Command(filepath.Join(binDir, "registry"), "backup", "--registry", s.registry.grpcAddr, "--out", out,
		"--registry-ca", devFile("ca.crt"), "--token-file", devFile("admin.token")).CombinedOutput()
	if err != nil {
		t.Fatalf("registry backup: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), fmt.Sprintf("at revision %d", backupRev)) {
		t.Fatalf("backup output: %s", b)
	}
	last := create("lost-", 3)
	if got := summaryAt(last)["entities"]; fmt.Sprint(got) != "8" {
		t.Fatalf("entities before the restore: %v, want 8", got)
	}

	// Restore: a new registry process on the backup file, where the old
	// one served (the metrics replica and gateway know that address).
	if err := s.registry.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "registry.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.registry.start(); err != nil {
		t.Fatal(err)
	}
	m := s.metrics[0]
	eventually(t, 30*time.Second, func() error {
		e, err := scrapeAdmin(m)
		if err != nil {
			return err
		}
		loads, err := e.value("talentreg_metrics_snapshot_loads_total")
		if err != nil {
			return err
		}
		applied, err := e.value("talentreg_metrics_applied_revision")
		if err != nil {
			return err
		}
		if loads != 2 || int64(applied) != backupRev {
			return fmt.Errorf("%s: %v snapshot loads at revision %v, want 2 at %d", m.name, loads, applied, backupRev)
		}
		return nil
	})
	if err := s.waitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := summaryAt(backupRev); fmt.Sprint(got["entities"]) != "5" || fmt.Sprint(got["revision"]) != strconv.FormatInt(backupRev, 10) {
		t.Fatalf("summary after the restore: %v, want 5 entities at revision %d", got, backupRev)
	}
	if r := s.call(t, "GET", "/v1/entities/lost-0", nil); r.Status != 404 {
		t.Fatalf("an entity written after the backup: %v, want 404", r)
	}
	// The restored registry goes on from the backup's revision.
	if rev := create("after-", 1); rev != backupRev+1 {
		t.Fatalf("first write after the restore at revision %d, want %d", rev, backupRev+1)
	}
	if got := summaryAt(backupRev + 1); fmt.Sprint(got["entities"]) != "6" {
		t.Fatalf("summary: %v, want 6 entities", got)
	}
	logs, _ := os.ReadFile(m.logPath)
	if !strings.Contains(string(logs), "database was replaced") {
		t.Errorf("%s did not log the replaced database", m.name)
	}
}
