package kvstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"talentreg/services/registry"
)

// entityKeys returns how many entities the store holds.
func entityKeys(t *testing.T, s *Store) int {
	t.Helper()
	u, err := boltDB(s).Usage()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range u.Buckets {
		if b.Name == "entities" {
			return b.Keys
		}
	}
	t.Fatal("no entities bucket")
	return 0
}

// writeBackupFile writes a backup of s to a new file and returns its path
// and what WriteBackup announced.
func writeBackupFile(t *testing.T, s *Store) (string, registry.BackupInfo) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.db")
	var buf bytes.Buffer
	var info registry.BackupInfo
	if err := s.WriteBackup(ctx, func(i registry.BackupInfo) error { info = i; return nil }, &buf); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != info.Size {
		t.Fatalf("wrote %d bytes, announced %d", buf.Len(), info.Size)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, info
}

// TestStore_WriteBackup_ConsistentWhileWritersGoOn: a backup taken while
// entities are being created is one revision exactly — as many entities as
// its revision, each create being one revision — and passes the full
// consistency check; the writers are not blocked meanwhile.
func TestStore_WriteBackup_ConsistentWhileWritersGoOn(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{})
	for i := range 200 {
		mustCreate(t, s, entity(fmt.Sprintf("before-%d", i)))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := s.CreateEntity(ctx, entity(fmt.Sprintf("during-%d-%d", w, i)), ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// The copy waits in its writer until a write has committed after the
	// copy's read transaction began: writers go on while a backup runs.
	var info registry.BackupInfo
	var buf bytes.Buffer
	err := s.WriteBackup(ctx, func(i registry.BackupInfo) error { info = i; return nil },
		writerFunc(func(p []byte) (int, error) {
			if buf.Len() == 0 {
				deadline := time.Now().Add(10 * time.Second)
				for s.Revision() <= info.Revision && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if s.Revision() <= info.Revision {
					return 0, errors.New("no write committed while the backup ran")
				}
			}
			return buf.Write(p)
		}))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if info.RegistryID != s.ID() || info.Revision < 200 || int64(buf.Len()) != info.Size {
		t.Fatalf("backup info %+v, %d bytes written; store %s at %d", info, buf.Len(), s.ID(), s.Revision())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := openFile(path, testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Fatalf("the copy is inconsistent: %v", err)
	}
	if cp.ID() != info.RegistryID || cp.Revision() != info.Revision {
		t.Fatalf("copy of %s at %d, announced %s at %d", cp.ID(), cp.Revision(), info.RegistryID, info.Revision)
	}
	if n := entityKeys(t, cp); int64(n) != info.Revision {
		t.Fatalf("copy at revision %d holds %d entities", info.Revision, n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestStore_WriteBackup_StopsWhenTheContextEnds(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("acme"))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := s.WriteBackup(cctx, func(registry.BackupInfo) error { return nil }, &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// begin's error stops it too, before anything is written.
	var buf bytes.Buffer
	stopErr := errors.New("no room")
	if err := s.WriteBackup(ctx, func(registry.BackupInfo) error { return stopErr }, &buf); !errors.Is(err, stopErr) || buf.Len() != 0 {
		t.Fatalf("err = %v with %d bytes written, want %v and none", err, buf.Len(), stopErr)
	}
}

// TestMarkBackup_RestoreStartsANewEpoch: a marked backup opens as it is
// (same id, the mark readable) for checks, and served with RestoreBackup
// gets a new id once, keeping its data and revisions; later opens keep the
// new id.
func TestMarkBackup_RestoreStartsANewEpoch(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("acme"))
	mustCreate(t, s, entity("binhai-u"))
	path, info := writeBackupFile(t, s)
	taken := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	mark, err := markBackupFile(path, taken)
	if err != nil {
		t.Fatal(err)
	}
	if want := (BackupMark{RegistryID: s.ID(), Revision: 2, TakenAt: taken}); mark != want || info.Revision != 2 {
		t.Fatalf("mark %+v, want %+v", mark, want)
	}

	b, err := openFile(path, testOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := b.Backup()
	if !ok || !got.TakenAt.Equal(taken) || got.RegistryID != s.ID() || b.ID() != s.ID() {
		t.Fatalf("opened for a check: id %s, backup mark %+v %v; want the original id and the mark", b.ID(), got, ok)
	}
	if _, _, ok := b.RestoredFrom(); ok {
		t.Fatal("a backup not yet served says it was restored")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := openFile(path, testOptions{RestoreBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	from, now, ok := r.RestoredFrom()
	if !ok || !now || from.RegistryID != s.ID() || from.Revision != 2 {
		t.Fatalf("restored from %+v (now %v, ok %v)", from, now, ok)
	}
	if r.ID() == s.ID() || r.ID() == "" {
		t.Fatalf("restored database kept id %q", r.ID())
	}
	if _, ok := r.Backup(); ok {
		t.Fatal("the restored database still carries the backup mark")
	}
	if r.Revision() != 2 || entityKeys(t, r) != 2 {
		t.Fatalf("restored at revision %d with %d entities, want 2 and 2", r.Revision(), entityKeys(t, r))
	}
	mustCreate(t, r, entity("after-restore"))
	if r.Revision() != 3 {
		t.Fatalf("revision after a write: %d, want 3", r.Revision())
	}
	newID := r.ID()
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := openFile(path, testOptions{RestoreBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, now, ok := again.RestoredFrom(); again.ID() != newID || now || !ok {
		t.Fatalf("reopened: id %s (want %s), restored now %v, ok %v", again.ID(), newID, now, ok)
	}
}

// TestMarkBackup_TwoRestoresOfOneBackupDiffer: each database served from
// the same backup is an epoch of its own.
func TestMarkBackup_TwoRestoresOfOneBackupDiffer(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{})
	mustCreate(t, s, entity("acme"))
	path, _ := writeBackupFile(t, s)
	if _, err := markBackupFile(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 2 {
		p := filepath.Join(t.TempDir(), fmt.Sprintf("restore-%d.db", i))
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := openFile(p, testOptions{RestoreBackup: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
		r.Close()
	}
	if ids[0] == ids[1] || ids[0] == s.ID() {
		t.Fatalf("ids of two restores %v, original %s: each must be new", ids, s.ID())
	}
}

func TestMarkBackup_RefusesAForeignFile(t *testing.T) {
	needBolt(t)
	path := filepath.Join(t.TempDir(), "garbage.db")
	garbage := bytes.Repeat([]byte("not a database "), 4096)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := markBackupFile(path, time.Now()); err == nil {
		t.Fatal("MarkBackup accepted a foreign file")
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, garbage) {
		t.Fatal("MarkBackup changed a foreign file")
	}
}

// TestStore_DiskStats: the file size is the file's, and commits add to the
// write time.
func TestStore_DiskStats(t *testing.T) {
	needBolt(t)
	s := openTest(t, testOptions{})
	before, err := boltDB(s).DiskStats()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustCreate(t, s, entity(fmt.Sprintf("e%d", i)))
	}
	after, err := boltDB(s).DiskStats()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(boltDB(s).Path())
	if err != nil {
		t.Fatal(err)
	}
	if after.FileBytes != fi.Size() || after.FileBytes <= 0 {
		t.Errorf("FileBytes %d, file %d", after.FileBytes, fi.Size())
	}
	if after.CommitWriteTime <= before.CommitWriteTime {
		t.Errorf("commit write time %v after 20 commits, %v before", after.CommitWriteTime, before.CommitWriteTime)
	}
	if after.FreeBytes < 0 {
		t.Errorf("FreeBytes %d", after.FreeBytes)
	}
}
