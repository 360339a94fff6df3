// Package checkpoint stores the metrics projection and the registry
// revision it reflects in a bbolt file, both in one transaction, so that a
// restart resumes from the revision instead of recounting from a snapshot.
//
// Open refuses, and leaves untouched, a file that is not a metrics
// checkpoint, a corrupt one, and one locked by another process.
package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"talentreg/services/metrics/projection"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors of Open.
var (
	// ErrLocked is returned when another process (another metrics replica
	// given the same --db) holds the file.
	ErrLocked = errors.New("checkpoint file is locked by another process")
	// ErrForeign is returned when the file is not a metrics checkpoint: not
	// a bbolt file, a corrupt one, another program's bbolt file, or a
	// checkpoint of another format.
	ErrForeign = errors.New("not a talentreg metrics checkpoint")
)

// Options configure a Store.
type Options struct {
	// Timeout bounds the wait for the file lock (default 1 s).
	Timeout time.Duration
	// Now returns the time recorded with each save (default time.Now).
	Now func() time.Time
}

// Store is an open checkpoint file.
type Store struct {
	db  *bolt.DB
	now func() time.Time
}

// Open opens the checkpoint at path, creating it when missing (its folder
// must exist). Errors wrap ErrLocked or ErrForeign where they apply; the
// file is then left as it was.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if info, err := os.Stat(path); err == nil && info.Size() > 0 {
		// Look before writing: opening read-write may initialise or
		// rewrite parts of a file that turns out not to be ours.
		if err := inspect(path, opts.Timeout); err != nil {
			return nil, err
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: opts.Timeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, openError(path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if meta.Get(keyFormat) == nil {
			if err := meta.Put(keyFormat, []byte(formatV1)); err != nil {
				return err
			}
		}
		for _, name := range sectionBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("checkpoint %s: initialise: %w", path, err)
	}
	return &Store{db: db, now: opts.Now}, nil
}

// inspect opens an existing file read-only and checks that it is a metrics
// checkpoint of this format, or an empty bbolt file.
func inspect(path string, timeout time.Duration) error {
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if empty {
				return nil // a bare bbolt file: nothing to lose
			}
			return fmt.Errorf("checkpoint %s: %w: a bbolt file of another program", path, ErrForeign)
		}
		if f := meta.Get(keyFormat); !bytes.Equal(f, []byte(formatV1)) {
			return fmt.Errorf("checkpoint %s: %w: format %q, want %q (remove the file to rebuild it from a registry snapshot)",
				path, ErrForeign, f, formatV1)
		}
		return nil
	})
}

// openBolt opens a bbolt file, turning a panic on a damaged file into an
// error.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", berrors.ErrInvalid, r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("checkpoint %s: %w (is another metrics service using the same --db?)", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("checkpoint %s: %w: %v", path, ErrForeign, err)
	}
	return fmt.Errorf("checkpoint %s: %w", path, err)
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Save writes d in one transaction: with d.Full the state is replaced,
// else d's deletions then its puts are applied; the revision moves to
// d.Revision in the same transaction.
func (s *Store) Save(d projection.Delta) error {
	puts := slices.Clone(d.Put)
	// Sorted keys fill bbolt pages in order instead of splitting them.
	slices.SortFunc(puts, func(a, b projection.Record) int {
		return cmp.Or(cmp.Compare(a.Section, b.Section), cmp.Compare(a.Key, b.Key))
	})
	err := s.db.Update(func(tx *bolt.Tx) error {
		buckets := map[projection.Section]*bolt.Bucket{}
		for sec, name := range sectionBuckets {
			if d.Full {
				if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
					return err
				}
			}
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			if d.Full {
				b.FillPercent = 0.9 // written once in key order
			}
			buckets[sec] = b
		}
		bucket := func(sec projection.Section) (*bolt.Bucket, error) {
			if b := buckets[sec]; b != nil {
				return b, nil
			}
			return nil, fmt.Errorf("unknown section %d", sec)
		}
		for _, r := range d.Delete {
			b, err := bucket(r.Section)
			if err != nil {
				return err
			}
			if err := b.Delete([]byte(r.Key)); err != nil {
				return err
			}
		}
		for _, r := range puts {
			b, err := bucket(r.Section)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(r.Key), r.Value); err != nil {
				return fmt.Errorf("put %q: %w", r.Key, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyRevision, binary.BigEndian.AppendUint64(nil, uint64(d.Revision))); err != nil {
			return err
		}
		return meta.Put(keySavedAt, []byte(s.now().UTC().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return fmt.Errorf("checkpoint %s: save revision %d: %w", s.db.Path(), d.Revision, err)
	}
	return nil
}

// Load restores the projection saved last; ok is false when nothing was
// saved yet.
func (s *Store) Load() (p *projection.Projection, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyRevision)
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: meta/revision is %d bytes", ErrForeign, len(v))
		}
		revision := int64(binary.BigEndian.Uint64(v))
		p, err = projection.Restore(revision, func(add func(projection.Record) error) error {
			for sec, name := range sectionBuckets {
				b := tx.Bucket(name)
				if b == nil {
					continue
				}
				err := b.ForEach(func(k, v []byte) error {
					return add(projection.Record{Section: sec, Key: string(k), Value: v})
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		ok = err == nil
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("checkpoint %s: load: %w", s.db.Path(), err)
	}
	return p, ok, nil
}

// Revision returns the revision saved last; ok is false when nothing was
// saved yet.
func (s *Store) Revision() (revision int64, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyRevision); len(v) == 8 {
			revision, ok = int64(binary.BigEndian.Uint64(v)), true
		}
		return nil
	})
	return revision, ok, err
}

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}
