// Package storage opens the registry's store on one of its engines: a
// bbolt file (the embedded default) or an etcd cluster. It only wires
// package kvstore (the rules) to package bolt or etcdkv (the engines).
package storage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"talentreg/services/registry/bolt"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kvstore"
)

// Options are the store's and its bbolt engine's settings.
type Options struct {
	// RetainChanges is how many change events the log keeps (default
	// 1,000,000).
	RetainChanges int64
	// Clock returns the commit time (default time.Now).
	Clock func() time.Time
	// RestoreBackup serves a backup: it gets a new id (see
	// kvstore.BackupMark).
	RestoreBackup bool
	// Existing opens only a registry that exists, without initialising or
	// migrating it (the offline checks).
	Existing bool
	// Bolt tunes the bbolt engine (its Buckets are set by OpenBolt).
	Bolt bolt.Options
}

func (o Options) store() kvstore.Options {
	return kvstore.Options{RetainChanges: o.RetainChanges, Clock: o.Clock, RestoreBackup: o.RestoreBackup, ReadOnly: o.Existing}
}

// OpenBolt opens (or creates) the registry in the bbolt file at path. The
// engine is the store's Engine(), a *bolt.DB.
func OpenBolt(path string, o Options) (*kvstore.Store, error) {
	bo := o.Bolt
	bo.Buckets = kvstore.Buckets()
	db, err := bolt.Open(path, bo)
	if err != nil {
		return nil, err
	}
	s, err := kvstore.Open(context.Background(), db, o.store())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// OpenEtcd opens (or creates) the registry under eo.Prefix of an etcd
// cluster.
func OpenEtcd(ctx context.Context, eo etcdkv.Options, o Options) (*kvstore.Store, error) {
	db, err := etcdkv.Open(ctx, eo)
	if err != nil {
		return nil, err
	}
	e := etcdEngine{db}
	s, err := kvstore.Open(ctx, e, o.store())
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("etcd %v: %w", eo.Endpoints, err)
	}
	return s, nil
}

// Bolt returns the bbolt engine of a store on a file, or nil.
func Bolt(s *kvstore.Store) *bolt.DB {
	db, _ := s.Engine().(*bolt.DB)
	return db
}

// etcdEngine is the etcd engine with backups: one snapshot of etcd (one
// etcd revision, while replicas go on writing) is copied into a temporary
// bbolt file in os.TempDir, which is then written out, so `registry
// backup` makes the same file on either engine.
type etcdEngine struct{ *etcdkv.Store }

var _ kv.SnapshotWriter = etcdEngine{}

// WriteSnapshot implements kv.SnapshotWriter.
func (e etcdEngine) WriteSnapshot(ctx context.Context, begin func(r kv.Reader, size int64) error, w io.Writer) error {
	dir, err := os.MkdirTemp("", "talentreg-backup-*")
	if err != nil {
		return fmt.Errorf("backup of etcd: a temporary file: %w", err)
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "snapshot.db"), bolt.Options{Buckets: kvstore.Buckets(), NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := kvstore.CopySnapshot(ctx, e.Store, db); err != nil {
		return fmt.Errorf("backup of etcd: %w", err)
	}
	return db.WriteSnapshot(ctx, begin, w)
}
