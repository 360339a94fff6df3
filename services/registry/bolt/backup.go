package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry"
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

// WriteBackup writes a consistent copy of the database file to w: one read
// transaction, so the copy is the whole file as of one revision, while
// writers go on. begin is called first with what the copy holds; an error
// from begin or w, or the end of ctx, stops the copy and is returned.
func (s *Store) WriteBackup(ctx context.Context, begin func(registry.BackupInfo) error, w io.Writer) error {
	return s.view(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		info := registry.BackupInfo{
			Revision:   revFromKey(meta.Get(keyRevision)),
			RegistryID: string(meta.Get(keyID)),
			Size:       tx.Size(),
		}
		if err := begin(info); err != nil {
			return err
		}
		cw := &ctxWriter{ctx: ctx, w: w}
		_, err := tx.WriteTo(cw)
		if cw.err != nil {
			return cw.err // bbolt's error keeps only its text
		}
		return err
	})
}

// ctxWriter fails its writes once ctx has ended, so a copy stops soon
// after its caller has gone, and keeps the first error.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	err error
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if c.err == nil {
		c.err = c.ctx.Err()
	}
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// MarkBackup records in the database file at path — a copy just made, that
// no process has open — that it is a backup of the database it holds,
// taken at takenAt, and returns the mark. A file that is not a registry
// database is refused and left untouched.
func MarkBackup(path string, takenAt time.Time) (BackupMark, error) {
	opts := Options{}
	opts.defaults()
	db, err := openBolt(path, opts)
	if err != nil {
		return BackupMark{}, err
	}
	var s Store
	if err := db.View(s.load); err != nil {
		_ = db.Close()
		return BackupMark{}, fmt.Errorf("%s: %w", path, err)
	}
	mark := BackupMark{RegistryID: s.id, Revision: s.revision.Load(), TakenAt: takenAt.UTC()}
	v, err := json.Marshal(mark)
	if err == nil {
		err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyBackup, v) })
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupMark{}, fmt.Errorf("%s: %w", path, err)
	}
	return mark, nil
}

// loadMarks reads the backup and restored_from marks of the meta bucket.
func (s *Store) loadMarks(meta *bbolt.Bucket) error {
	for _, m := range []struct {
		key []byte
		to  **BackupMark
	}{{keyBackup, &s.backup}, {keyRestoredFrom, &s.restoredFrom}} {
		v := meta.Get(m.key)
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

// restore turns a backup file into a restored database: a new id (the
// restore epoch), the backup mark moved to restored_from.
func (s *Store) restore(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	id := newDatabaseID()
	if err := meta.Put(keyID, []byte(id)); err != nil {
		return err
	}
	if err := meta.Put(keyRestoredFrom, meta.Get(keyBackup)); err != nil {
		return err
	}
	if err := meta.Delete(keyBackup); err != nil {
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
