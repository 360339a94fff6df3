package kvstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// BackupMark is what a backup file records about where it came from, in
// its meta bucket. `registry backup` writes it into the copy it made; a
// registry that serves the file (Options.RestoreBackup) turns the backup
// into a restored database: it gets a new id and the mark becomes its
// restored_from.
//
// The new id is the restore epoch. The copy's revisions are the
// original's up to Revision, but the restored database then commits its
// own: a consumer that followed the original past Revision holds changes
// the restored one never had, and might pass its applied revision again
// with different ones. Only a changed id tells it to start over.
type BackupMark struct {
	// RegistryID is the id of the database the backup was copied from.
	RegistryID string `json:"registry_id"`
	// Revision is the last revision the copy holds.
	Revision int64 `json:"revision"`
	// TakenAt is when the backup was made.
	TakenAt time.Time `json:"taken_at"`
}

func (m BackupMark) String() string {
	return fmt.Sprintf("registry %s at revision %d, taken %s", m.RegistryID, m.Revision, m.TakenAt.UTC().Format(time.RFC3339))
}

// WriteBackup writes a consistent copy of the database to w, when the
// engine can (bbolt: the whole file as of one read transaction, while
// writers go on). begin is called first with what the copy holds; an error
// from begin or w, or the end of ctx, stops the copy and is returned. An
// engine that cannot is FAILED_PRECONDITION: back it up with its own tools
// (etcdctl snapshot save).
func (s *Store) WriteBackup(ctx context.Context, begin func(registry.BackupInfo) error, w io.Writer) error {
	sw, ok := s.kv.(kv.SnapshotWriter)
	if !ok {
		return &registry.Error{Code: registry.CodeFailedPrecondition, Reason: "BACKUP_NOT_SUPPORTED",
			Message: "this registry's storage engine cannot write a backup: back it up with the engine's own tools"}
	}
	return engineError(sw.WriteSnapshot(ctx, func(r kv.Reader, size int64) error {
		rev, err := headRevision(r)
		if err != nil {
			return err
		}
		id, err := r.Get(bucketMeta, keyID)
		if err != nil {
			return err
		}
		return begin(registry.BackupInfo{Revision: revFromKey(rev), RegistryID: string(id), Size: size})
	}, w))
}

// MarkBackup records in engine — a copy just made, that no registry
// serves — that it is a backup of the database it holds, taken at takenAt,
// and returns the mark. An engine that does not hold a registry is refused
// and left untouched.
func MarkBackup(ctx context.Context, engine kv.Store, takenAt time.Time) (BackupMark, error) {
	s := Store{commitCh: make(chan struct{})}
	if err := engine.View(ctx, s.load); err != nil {
		return BackupMark{}, err
	}
	mark := BackupMark{RegistryID: s.id, Revision: s.revision.Load(), TakenAt: takenAt.UTC()}
	v, err := json.Marshal(mark)
	if err != nil {
		return BackupMark{}, err
	}
	if err := engine.Update(ctx, func(t kv.Txn) error { return t.Put(bucketMeta, keyBackup, v) }); err != nil {
		return BackupMark{}, err
	}
	return mark, nil
}

// loadMarks reads the backup and restored_from marks of the meta bucket.
func (s *Store) loadMarks(get func([]byte) []byte) error {
	for _, m := range []struct {
		key []byte
		to  **BackupMark
	}{{keyBackup, &s.backup}, {keyRestoredFrom, &s.restoredFrom}} {
		v := get(m.key)
		if v == nil {
			continue
		}
		var mark BackupMark
		if err := json.Unmarshal(v, &mark); err != nil || mark.RegistryID == "" {
			return fmt.Errorf("%w: damaged meta/%s %q", ErrForeign, m.key, v)
		}
		*m.to = &mark
	}
	return nil
}

// restore turns a backup into a restored database: a new id (the restore
// epoch), the backup mark moved to restored_from.
func (s *Store) restore(t kv.Txn) error {
	id := newDatabaseID()
	mark, err := t.Get(bucketMeta, keyBackup)
	if err != nil {
		return err
	}
	if err := t.Put(bucketMeta, keyID, []byte(id)); err != nil {
		return err
	}
	if err := t.Put(bucketMeta, keyRestoredFrom, append([]byte(nil), mark...)); err != nil {
		return err
	}
	if err := t.Delete(bucketMeta, keyBackup); err != nil {
		return err
	}
	s.id, s.restoredFrom, s.backup, s.restoredAtOpen = id, s.backup, nil, true
	return nil
}

// Backup returns the mark of a backup file not yet served; ok is false for
// any other database.
func (s *Store) Backup() (mark BackupMark, ok bool) {
	if s.backup == nil {
		return BackupMark{}, false
	}
	return *s.backup, true
}

// RestoredFrom returns the backup the database was restored from, if it
// was; restoredNow reports whether that happened when this Store opened
// it.
func (s *Store) RestoredFrom() (mark BackupMark, restoredNow, ok bool) {
	if s.restoredFrom == nil {
		return BackupMark{}, false, false
	}
	return *s.restoredFrom, s.restoredAtOpen, true
}
