// Package kv is the contract between the registry's storage rules and the
// engines that hold its bytes: ordered buckets of keys and values, read in
// consistent snapshots and changed by atomic transactions. bbolt (package
// bolt, the embedded default) and etcd (package etcdkv, for high
// availability) implement it; package kvstore builds the registry on it.
//
// The contract is deliberately small: get, ordered cursors, put, delete,
// and a transaction that commits all of its writes or none of them, and
// only if nothing it read has changed since (engines with one writer, like
// bbolt, get this for free; etcd checks it with compares and re-runs the
// transaction when another writer got there first).
package kv

import (
	"context"
	"errors"
	"io"
)

// Bucket names a keyspace; keys of different buckets never collide.
type Bucket string

// Reader reads one consistent snapshot. Keys and values it returns are
// valid only until the transaction ends: copy what you keep.
type Reader interface {
	// Get returns the value of key, or nil if absent.
	Get(b Bucket, key []byte) ([]byte, error)
	// Cursor returns a cursor over b in key order.
	Cursor(b Bucket) Cursor
}

// Cursor walks a bucket's keys in order. Every method returns the key
// and value it moved to, or nil, nil past either end (and after an
// error, which Err reports).
type Cursor interface {
	First() (key, value []byte)
	Last() (key, value []byte)
	// Seek moves to the first key ≥ key.
	Seek(key []byte) (k, v []byte)
	Next() (key, value []byte)
	Prev() (key, value []byte)
	// Err returns the error that stopped the cursor (a network read of a
	// remote engine), if any.
	Err() error
}

// Txn is a read-write transaction: reads see its own writes.
type Txn interface {
	Reader
	Put(b Bucket, key, value []byte) error
	Delete(b Bucket, key []byte) error
}

// BucketSpec declares a bucket and how it grows.
type BucketSpec struct {
	Name Bucket
	// Append marks buckets whose keys only ever grow at their end (logs
	// keyed by revision): an engine may pack their pages full.
	Append bool
	// Scattered marks buckets whose keys mostly arrive in no order (a
	// resource's changes): an engine may leave room in their pages.
	Scattered bool
	// Runs marks buckets whose keys arrive in increasing order within
	// each of many runs (memberships keyed group first, imported entity
	// by entity: each group's run grows at its end, in the middle of a
	// page that also holds the next group's first keys): an engine may
	// fill their pages most of the way, not full.
	Runs bool
}

// Store is a transactional key-value engine.
type Store interface {
	// View runs fn on one consistent snapshot.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a transaction and commits its writes atomically
	// and durably before returning. fn may be run more than once (after a
	// conflicting commit by another writer, or when an engine retries a
	// group of transactions one by one): it must rebuild any outcome it
	// reports each time, and must do all its checks before its first
	// write, so that an error leaves nothing behind. An error fn returns is
	// returned as is, with nothing committed.
	Update(ctx context.Context, fn func(Txn) error) error
	// Committed returns a channel closed at the next commit by any writer
	// (with remote engines, perhaps a little after it).
	Committed() <-chan struct{}
	// Empty reports whether the store holds nothing at all (a new file or
	// key prefix).
	Empty(ctx context.Context) (bool, error)
	// Close releases the engine.
	Close() error
}

// Errors of engines.
var (
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("kv: store is closed")
	// ErrTooLarge is returned by Update when a transaction exceeds what the
	// engine accepts in one commit (etcd's --max-txn-ops or
	// --max-request-bytes); callers split their work below Limits.
	ErrTooLarge = errors.New("kv: transaction too large for the engine")
	// ErrUnavailable wraps the failures of a remote engine that a retry
	// may cure (no leader, no quorum, a member unreachable, a timeout).
	// An Update that fails with it may or may not have committed.
	ErrUnavailable = errors.New("kv: engine unavailable")
)

// Limits are the largest transaction an engine commits.
type Limits struct {
	// Ops is the most puts and deletes in one transaction (0: no limit).
	Ops int
	// Bytes is the most key and value bytes in one transaction (0: no
	// limit).
	Bytes int
}

// CompactPerTxn is the most change-log entries a writer compacts in one
// transaction on an engine with Limits: compaction rides on the
// transaction of a change, so it must stay small beside the largest change
// (etcdkv's DefaultLimits allow for this many, each with its audit entries
// and request id: at most six deletes).
const CompactPerTxn = 64

// Limiter is implemented by engines with transaction limits.
type Limiter interface {
	Limits() Limits
}

// BucketSizer is implemented by engines for which a large transaction into
// a nearly empty bucket is slow (bbolt); writers then split theirs.
type BucketSizer interface {
	// SmallBucket reports whether b is nearly empty.
	SmallBucket(b Bucket) bool
}

// SnapshotWriter is implemented by engines that can write a consistent
// copy of all their data as one file (bbolt); backups use it.
type SnapshotWriter interface {
	// WriteSnapshot calls begin with a reader of the snapshot and the
	// copy's size, then writes the copy to w.
	WriteSnapshot(ctx context.Context, begin func(r Reader, size int64) error, w io.Writer) error
}

// Pinger is implemented by engines that can lose their storage while the
// process runs (etcd: its members unreachable, or no quorum). Engines
// without it (bbolt, a local file) can always serve.
type Pinger interface {
	// Ping returns nil when the engine can serve reads and writes now,
	// with a cheap request that needs what a write needs (for etcd, a
	// linearizable read: a leader and a quorum). It returns ctx's error,
	// or the engine's, otherwise; it never waits past ctx.
	Ping(ctx context.Context) error
}

// SoleWriter is implemented by engines that no one but the Store opened on
// them writes to while it is open (bbolt: the file is locked). The Store
// then learns every commit from its own transactions and does not follow
// Committed with reads of its own, which would make an engine that applies
// commits lazily (bbolt behind its write-ahead log) apply them at once.
type SoleWriter interface {
	// SoleWriter reports whether the engine has only the one writer.
	SoleWriter() bool
}

// LimitsOf returns s's limits, none if it declares none.
func LimitsOf(s Store) Limits {
	if l, ok := s.(Limiter); ok {
		return l.Limits()
	}
	return Limits{}
}

type relaxedKey struct{}

// Relaxed marks ctx so that the Views run with it may be served from an
// engine replica that has applied every commit Committed has signalled so
// far, without first confirming with a quorum that no newer commit exists
// (etcd: a serializable read from the nearest member instead of a
// linearizable one). Use it where the reader is woken by Committed and
// only needs what woke it: the tail of a watch, the refresh of the known
// head. Reads that must see every write acknowledged before they started,
// by any replica, go without it.
func Relaxed(ctx context.Context) context.Context {
	return context.WithValue(ctx, relaxedKey{}, true)
}

// IsRelaxed reports whether ctx was marked by Relaxed.
func IsRelaxed(ctx context.Context) bool {
	v, _ := ctx.Value(relaxedKey{}).(bool)
	return v
}
