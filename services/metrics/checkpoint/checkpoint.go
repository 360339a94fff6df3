// Package checkpoint stores the metrics projection, the registry revision
// it reflects and the id of the registry database that revision belongs to
// in a bbolt file, all in one transaction, so that a restart resumes from
// the revision instead of recounting from a snapshot — and knows whether
// the registry it follows is still the same one.
//
// Open refuses, and leaves untouched, a file that is not a metrics
// checkpoint, a corrupt one, one of an unknown format, and one locked by
// another process. It migrates a checkpoint of the previous format (see
// formatV2).
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

	"talentreg/platform/boltfile"
	"talentreg/services/metrics/projection"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors of Open.
var (
	// ErrLocked is returned when another process (another metrics replica
	// given the same --db) holds the file.
	ErrLocked = errors.New("checkpoint file is locked by another process")
	// ErrForeign is returned when the file is not a metrics checkpoint:
	// not a bbolt file, another program's bbolt file, or a checkpoint of
	// another format.
	ErrForeign = errors.New("not a talentreg metrics checkpoint")
	// ErrCorrupt is returned when the file is damaged: cut short of the
	// pages it counts, or with a page out of place (boltfile.Verify). The
	// message says what is wrong.
	ErrCorrupt = boltfile.ErrCorrupt
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

// initialMmapSize is the checkpoint file's initial map: 1 GiB.
const initialMmapSize = 1 << 30

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
	// The map is sized up front (address space, not memory): growing it
	// while the file grows makes bbolt copy every node of the open
	// transaction off the old map (Bucket.dereference) in the middle of a
	// save, a third of a save's CPU in a fresh replica following 1,000
	// writes/s.
	db, err := openBolt(path, &bolt.Options{Timeout: opts.Timeout, FreelistType: bolt.FreelistMapType, InitialMmapSize: initialMmapSize})
	if err != nil {
		return nil, openError(path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if f := meta.Get(keyFormat); f == nil || bytes.Equal(f, []byte(formatV2)) || bytes.Equal(f, []byte(formatV3)) {
			if f != nil {
				// An older state: rebuilt from a snapshot (see formatV3).
				if err := meta.Delete(keyRegistryID); err != nil {
					return err
				}
			}
			if err := meta.Put(keyFormat, []byte(formatV4)); err != nil {
				return err
			}
		}
		gen := generation(tx)
		if gen == 0 {
			gen = 1
			if err := meta.Put(keyGeneration, binary.BigEndian.AppendUint64(nil, gen)); err != nil {
				return err
			}
		}
		// Drop what a full save interrupted by a crash left behind.
		var stale [][]byte
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if bytes.HasPrefix(name, []byte(statePrefix)) && !bytes.Equal(name, stateBucket(gen)) {
				stale = append(stale, bytes.Clone(name))
			}
			return nil
		})
		for _, name := range stale {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		_, err = createState(tx, gen)
		return err
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
		if f := meta.Get(keyFormat); !bytes.Equal(f, []byte(formatV4)) && !bytes.Equal(f, []byte(formatV3)) && !bytes.Equal(f, []byte(formatV2)) {
			return fmt.Errorf("checkpoint %s: %w: format %q, want %q (remove the file to rebuild it from a registry snapshot)",
				path, ErrForeign, f, formatV4)
		}
		return nil
	})
}

// openBolt opens a bbolt file through boltfile.Opener, which locks it and
// verifies its structure before bbolt maps it: bbolt would fault (SIGBUS)
// on a truncated file and panic on a damaged page. A panic bbolt still
// raises is turned into an error.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	o.OpenFile = boltfile.Opener{Timeout: o.Timeout}.OpenFile
	return bolt.Open(path, 0o600, o)
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout), errors.Is(err, boltfile.ErrLocked):
		return fmt.Errorf("checkpoint %s: %w (is another metrics service using the same --db?)", path, ErrLocked)
	case errors.Is(err, ErrCorrupt):
		return fmt.Errorf("checkpoint %s: %w (remove the file to rebuild it from a registry snapshot)", path, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("checkpoint %s: %w: %v", path, ErrForeign, err)
	}
	return fmt.Errorf("checkpoint %s: %w", path, err) // the os error: permission, …
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Save writes d: with d.Full the state is replaced, else d's deletions
// then its puts are applied; either way the revision and the registry id
// move to d.Revision and d.RegistryID atomically with the state. It may
// reorder d.Put.
func (s *Store) Save(d projection.Delta) error {
	d.Encode() // what Live.Delta left to encode off the projection's lock
	// Sorted keys fill bbolt pages in order instead of splitting them.
	slices.SortFunc(d.Put, func(a, b projection.Record) int {
		return cmp.Or(cmp.Compare(a.Section, b.Section), cmp.Compare(a.Key, b.Key))
	})
	var err error
	if d.Full {
		err = s.saveFull(d)
	} else {
		err = s.db.Update(func(tx *bolt.Tx) error {
			buckets, err := openState(tx, generation(tx))
			if err != nil {
				return err
			}
			for _, r := range d.Delete {
				if err := buckets.get(r.Section).Delete([]byte(r.Key)); err != nil {
					return err
				}
			}
			if err := buckets.put(d.Put); err != nil {
				return err
			}
			return s.setRevision(tx, d, 0)
		})
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: save revision %d: %w", s.db.Path(), d.Revision, err)
	}
	return nil
}

// saveFull writes d into a new generation, fullSaveChunk records per
// transaction, and switches to it in the last one.
func (s *Store) saveFull(d projection.Delta) error {
	var next uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		next = generation(tx) + 1
		if err := tx.DeleteBucket(stateBucket(next)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		_, err := createState(tx, next)
		return err
	})
	if err != nil {
		return err
	}
	puts := d.Put
	for {
		chunk := puts[:min(len(puts), fullSaveChunk)]
		puts = puts[len(chunk):]
		last := len(puts) == 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			buckets, err := openState(tx, next)
			if err != nil {
				return err
			}
			for _, b := range buckets {
				b.FillPercent = 0.9 // written once, in key order
			}
			if err := buckets.put(chunk); err != nil {
				return err
			}
			if !last {
				return nil
			}
			old := generation(tx)
			if err := s.setRevision(tx, d, next); err != nil {
				return err
			}
			return tx.DeleteBucket(stateBucket(old))
		})
		if err != nil || last {
			return err
		}
	}
}

// setRevision records d's revision and registry id (and, when gen > 0, the
// generation).
func (s *Store) setRevision(tx *bolt.Tx, d projection.Delta, gen uint64) error {
	meta := tx.Bucket(bucketMeta)
	if gen > 0 {
		if err := meta.Put(keyGeneration, binary.BigEndian.AppendUint64(nil, gen)); err != nil {
			return err
		}
	}
	if err := meta.Put(keyRevision, binary.BigEndian.AppendUint64(nil, uint64(d.Revision))); err != nil {
		return err
	}
	if err := meta.Put(keyRegistryID, []byte(d.RegistryID)); err != nil {
		return err
	}
	return meta.Put(keySavedAt, []byte(s.now().UTC().Format(time.RFC3339Nano)))
}

// generation returns the current state generation, 0 when none.
func generation(tx *bolt.Tx) uint64 {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0
	}
	if v := meta.Get(keyGeneration); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// stateBuckets are the section buckets of one generation.
type stateBuckets map[projection.Section]*bolt.Bucket

func createState(tx *bolt.Tx, gen uint64) (stateBuckets, error) {
	root, err := tx.CreateBucketIfNotExists(stateBucket(gen))
	if err != nil {
		return nil, err
	}
	out := stateBuckets{}
	for sec, name := range sectionBuckets {
		if out[sec], err = root.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func openState(tx *bolt.Tx, gen uint64) (stateBuckets, error) {
	root := tx.Bucket(stateBucket(gen))
	if root == nil {
		return nil, fmt.Errorf("%w: state generation %d missing", ErrForeign, gen)
	}
	out := stateBuckets{}
	for sec, name := range sectionBuckets {
		if out[sec] = root.Bucket(name); out[sec] == nil {
			return nil, fmt.Errorf("%w: state generation %d lacks %s", ErrForeign, gen, name)
		}
	}
	return out, nil
}

// get returns the bucket of sec; an unknown section is a programming error
// in the projection package.
func (b stateBuckets) get(sec projection.Section) *bolt.Bucket {
	if bk := b[sec]; bk != nil {
		return bk
	}
	panic(fmt.Sprintf("checkpoint: unknown section %d", sec))
}

func (b stateBuckets) put(records []projection.Record) error {
	for _, r := range records {
		if err := b.get(r.Section).Put([]byte(r.Key), r.Value); err != nil {
			return fmt.Errorf("put %q: %w", r.Key, err)
		}
	}
	return nil
}

// Load restores the projection saved last, with its registry id; ok is
// false when nothing was saved yet.
func (s *Store) Load() (p *projection.Projection, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keyRevision)
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: meta/revision is %d bytes", ErrForeign, len(v))
		}
		revision := int64(binary.BigEndian.Uint64(v))
		buckets, err := openState(tx, generation(tx))
		if err != nil {
			return err
		}
		p, err = projection.Restore(revision, func(add func(projection.Record) error) error {
			for sec, b := range buckets {
				err := b.ForEach(func(k, v []byte) error {
					return add(projection.Record{Section: sec, Key: string(k), Value: v})
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		p.SetRegistryID(string(meta.Get(keyRegistryID))) // copied: the value belongs to the transaction
		ok = true
		return nil
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
