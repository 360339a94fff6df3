package follower_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"talentreg/services/metrics/internal/registrytest"
)

// backupRegistry runs `registry backup` against reg and returns the file.
func backupRegistry(t *testing.T, reg *registrytest.Process) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "backup.db")
	if b, err := exec.Command(registryBin, "backup", "--registry", reg.Addr, "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("registry backup: %v\n%s", err, b)
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFollower_RestoredBackupAheadOfTheProjection: the registry is
// restored from a backup taken before the changes the follower applied
// last, and the restored registry commits changes of its own past the
// applied revision before the follower sees it. Revisions alone cannot
// tell: the restored registry is ahead. The restore epoch — a backup gets a
// new registry id when served — makes the follower reload, and it
// converges on the restored registry's figures, none of the lost changes
// left.
func TestFollower_RestoredBackupAheadOfTheProjection(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	backup := backupRegistry(t, reg)
	populate(t, w, "lost")
	r := startFollower(t, reg.FailFastClient(), filepath.Join(t.TempDir(), "metrics.db"))
	applied := converged(t, w, r.live)
	oldID := r.live.RegistryID()

	// The restored registry runs elsewhere first and passes the applied
	// revision, then takes the original's place.
	restored := registrytest.Start(t, registryBin, registrytest.Options{})
	restored.Stop()
	copyFile(t, backup, restored.DB)
	restored.Restart()
	rw := registrytest.Writer{C: restored.Client()}
	populate(t, rw, "b")
	if rev := populate(t, rw, "c"); rev <= applied {
		t.Fatalf("the restored registry is at %d, not past the applied %d: the test proves nothing", rev, applied)
	}
	restored.Stop()
	reg.Stop()
	copyFile(t, restored.DB, reg.DB)
	reg.Restart()

	converged(t, w, r.live) // against a snapshot: no "lost" figure remains
	if id := r.live.RegistryID(); id == oldID {
		t.Fatalf("the projection still reflects registry %s", oldID)
	}
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 2 {
		t.Errorf("%v snapshot loads, want 2", n)
	}
}

// TestFollower_RawCopyBehindTheProjectionKeepsItsID: a copy of the file
// taken without `registry backup` (say, a disk snapshot) keeps the
// registry id. Restored behind the applied revision, the follower finds
// the registry behind it and reloads; the figures are compared after the
// reload (compared before, they are the projection's ahead of the
// registry, which WithFigures refuses).
func TestFollower_RawCopyBehindTheProjectionKeepsItsID(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	populate(t, w, "a")
	reg.Stop()
	raw := filepath.Join(t.TempDir(), "raw.db")
	copyFile(t, reg.DB, raw)
	reg.Restart()
	populate(t, w, "lost")
	r := startFollower(t, reg.FailFastClient(), filepath.Join(t.TempDir(), "metrics.db"))
	converged(t, w, r.live)
	id := r.live.RegistryID()

	reg.Stop()
	copyFile(t, raw, reg.DB)
	reg.Restart()
	// Until the follower finds the registry behind it, the projection is
	// still past the registry's revision (converged would read it and
	// fail with ErrHoldPassed): wait for the reload.
	waitUntil(t, "the follower has reloaded from the registry restored behind it", func() bool {
		return counter(t, r.reg, "talentreg_metrics_snapshot_loads_total") >= 2
	})
	converged(t, w, r.live)
	if r.live.RegistryID() != id {
		t.Fatalf("registry id changed from %s to %s: the test proves nothing", id, r.live.RegistryID())
	}
	if n := counter(t, r.reg, "talentreg_metrics_snapshot_loads_total"); n != 2 {
		t.Errorf("%v snapshot loads, want 2", n)
	}
}
