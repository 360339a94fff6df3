package kvstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"talentreg/services/registry/kv"
)

// keyCopying marks a destination that Copy is filling: its meta bucket
// (with the format key) is written last, so until then the registry
// refuses to serve it, and a second Copy may clear it and start again.
var keyCopying = []byte("copying")

// CopyReport says what Copy copied.
type CopyReport struct {
	RegistryID string
	Revision   int64
	Keys       int64
	Bytes      int64
	// Digest is a SHA-256 over every bucket's keys and values in order,
	// the same on both sides of a faithful copy.
	Digest [sha256.Size]byte
}

// Copy copies the registry held by from into to, key for key, in one
// snapshot of from: the same id, revisions, change log, audit trail and
// request ids, so that a metrics replica's checkpoint stays valid across
// engines. to must be empty, or hold an unfinished copy (which is cleared
// first). Writes go in transactions within to's limits; the meta bucket
// goes last, so an interrupted copy is never served. Afterwards the copy is
// read back and its digest compared, and from is read again: if its
// revision moved (a registry was serving it), the copy is stale and Copy
// fails. No registry may serve either side while it runs.
func Copy(ctx context.Context, from, to kv.Store) (CopyReport, error) {
	rep, err := CopySnapshot(ctx, from, to)
	if err != nil {
		return rep, err
	}
	now, err := Digest(ctx, from)
	if err != nil {
		return rep, fmt.Errorf("reading the source again: %w", err)
	}
	if now != rep.Digest {
		return rep, errors.New("the source changed while it was copied (a registry is serving it): stop every registry replica and copy again")
	}
	return rep, nil
}

// CopySnapshot is Copy of a source that may be served meanwhile: what it
// copies is one snapshot of it, and the copy is read back and compared,
// but writes after the snapshot are not in it (a backup).
func CopySnapshot(ctx context.Context, from, to kv.Store) (CopyReport, error) {
	var rep CopyReport
	if err := prepareDestination(ctx, to); err != nil {
		return rep, err
	}
	chunk := copyChunk(to)
	err := from.View(ctx, func(r kv.Reader) error {
		format, err := r.Get(bucketMeta, keyFormat)
		if err != nil {
			return err
		}
		if format == nil {
			return ErrForeign
		}
		if migrating, err := r.Get(bucketMeta, keyMigrating); err != nil || migrating != nil || string(format) != formatV4 {
			return errors.Join(err, fmt.Errorf("the source holds format %q, not %q: serve it once with this version of the registry (which migrates it) and stop it, then copy", format, formatV4))
		}
		id, err := r.Get(bucketMeta, keyID)
		if err != nil {
			return err
		}
		rev, err := headRevision(r)
		if err != nil {
			return err
		}
		rep.RegistryID, rep.Revision = string(id), revFromKey(rev)
		if err := to.Update(ctx, func(t kv.Txn) error { return t.Put(bucketMeta, keyCopying, []byte(rep.RegistryID)) }); err != nil {
			return fmt.Errorf("destination: %w", err)
		}
		digest := sha256.New()
		for _, b := range copyOrder() {
			if err := copyBucket(ctx, r, to, b, chunk, digest, &rep); err != nil {
				return err
			}
		}
		copy(rep.Digest[:], digest.Sum(nil))
		return nil
	})
	if err != nil {
		return rep, err
	}
	// The meta bucket's last transaction removed the marker; read the copy
	// back whole.
	got, err := Digest(ctx, to)
	if err != nil {
		return rep, fmt.Errorf("reading the copy back: %w", err)
	}
	if got != rep.Digest {
		return rep, errors.New("the copy read back differs from the source: do not serve it")
	}
	return rep, nil
}

// Digest returns the SHA-256 over every bucket's keys and values of the
// registry held by s, in one snapshot, as Copy computes it.
func Digest(ctx context.Context, s kv.Store) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	err := s.View(ctx, func(r kv.Reader) error {
		h := sha256.New()
		for _, b := range copyOrder() {
			err := forEach(r, b, func(k, v []byte) error {
				if b != bucketMeta || !bytes.Equal(k, keyCopying) {
					digestPair(h, b, k, v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		copy(sum[:], h.Sum(nil))
		return nil
	})
	return sum, err
}

// copyOrder is every bucket, meta last.
func copyOrder() []kv.Bucket {
	var order []kv.Bucket
	for _, spec := range Buckets() {
		if spec.Name != bucketMeta {
			order = append(order, spec.Name)
		}
	}
	return append(order, bucketMeta)
}

func digestPair(h hash.Hash, b kv.Bucket, k, v []byte) {
	var n [8]byte
	for _, part := range [][]byte{[]byte(b), k, v} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
}

// copyLimits bound one transaction of Copy: half the engine's limits
// (room for its own overhead), and sizes bbolt commits quickly otherwise.
type copyLimits struct{ keys, bytes int }

func copyChunk(to kv.Store) copyLimits {
	c := copyLimits{keys: 20000, bytes: 32 << 20}
	l := kv.LimitsOf(to)
	if l.Ops > 0 {
		c.keys = min(c.keys, l.Ops/2)
	}
	if l.Bytes > 0 {
		c.bytes = min(c.bytes, l.Bytes/2)
	}
	return c
}

// copyBucket writes b's keys in transactions of at most chunk.
func copyBucket(ctx context.Context, r kv.Reader, to kv.Store, b kv.Bucket, chunk copyLimits, digest hash.Hash, rep *CopyReport) error {
	type pair struct{ k, v []byte }
	var batch []pair
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := to.Update(ctx, func(t kv.Txn) error {
			for _, p := range batch {
				if err := t.Put(b, p.k, p.v); err != nil {
					return err
				}
			}
			if b == bucketMeta {
				return t.Delete(bucketMeta, keyCopying)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("destination, bucket %s: %w", b, err)
		}
		batch, size = batch[:0], 0
		return nil
	}
	err := forEach(r, b, func(k, v []byte) error {
		if b == bucketMeta && bytes.Equal(k, keyCopying) {
			return nil // a source that was itself copied keeps no marker
		}
		digestPair(digest, b, k, v)
		rep.Keys++
		rep.Bytes += int64(len(k) + len(v))
		// The meta bucket is small and goes in one transaction, the last.
		if b != bucketMeta && (len(batch) >= chunk.keys || size+len(k)+len(v) > chunk.bytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, pair{bytes.Clone(k), bytes.Clone(v)})
		size += len(k) + len(v)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// prepareDestination accepts an empty engine, clears one holding an
// unfinished copy, and refuses anything else.
func prepareDestination(ctx context.Context, to kv.Store) error {
	empty, err := to.Empty(ctx)
	if err != nil || empty {
		return err
	}
	var format, marker []byte
	err = to.View(ctx, func(r kv.Reader) error {
		var err error
		if format, err = r.Get(bucketMeta, keyFormat); err != nil {
			return err
		}
		marker, err = r.Get(bucketMeta, keyCopying)
		return err
	})
	if err != nil {
		return err
	}
	if format != nil || marker == nil {
		return errors.New("the destination already holds data: copy only into an empty file or etcd prefix")
	}
	chunk := copyChunk(to)
	for _, b := range copyOrder() {
		for {
			var keys [][]byte
			err := to.View(ctx, func(r kv.Reader) error {
				c := r.Cursor(b)
				for k, _ := c.First(); k != nil && len(keys) < chunk.keys; k, _ = c.Next() {
					keys = append(keys, bytes.Clone(k))
				}
				return c.Err()
			})
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				break
			}
			err = to.Update(ctx, func(t kv.Txn) error {
				for _, k := range keys {
					if err := t.Delete(b, k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("clearing the unfinished copy: %w", err)
			}
		}
	}
	return nil
}
