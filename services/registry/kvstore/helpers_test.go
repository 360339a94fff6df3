package kvstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/etcdkv"
)

// needBolt skips a test of the bbolt engine's own behaviour (files,
// fsync, locks) in the etcd run.
func needBolt(t testing.TB) {
	t.Helper()
	if engine == "etcd" {
		t.Skip("a test of the bbolt engine")
	}
}

// testClock is a deterministic clock: each reading is one millisecond after
// the previous.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time {
	return time.Date(2024, 6, 14, 0, 0, 0, 0, time.UTC).Add(time.Duration(c.ns.Add(int64(time.Millisecond))))
}

// testOptions are the options of the store and of its engine.
type testOptions struct {
	RetainChanges int64
	Clock         func() time.Time
	RestoreBackup bool
	// Of the bbolt engine.
	NoSync    bool
	MustExist bool
	Timeout   time.Duration
	// WAL puts the write-ahead log in front of the file, with small
	// checkpoints so that tests cross several (unless WALDefaults).
	WAL, WALDefaults bool
	// MigrateBatch is Options.migrateBatch.
	MigrateBatch int
}

// openFile opens the registry in the bbolt file at path.
func openFile(path string, o testOptions) (*Store, error) {
	bo := bolt.Options{Buckets: Buckets(), NoSync: o.NoSync, MustExist: o.MustExist, Timeout: o.Timeout}
	if o.WAL {
		bo.WAL = true
		if !o.WALDefaults {
			bo.CheckpointBytes = 32 << 10
		}
	}
	db, err := bolt.Open(path, bo)
	if err != nil {
		return nil, err
	}
	s, err := Open(context.Background(), db, Options{RetainChanges: o.RetainChanges, Clock: o.Clock, RestoreBackup: o.RestoreBackup, migrateBatch: o.MigrateBatch})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// engine is the engine the tests of this run use: bbolt, or etcd when
// KVSTORE_ENGINE=etcd (TestConformance_Etcd runs the suite that way).
var engine = os.Getenv("KVSTORE_ENGINE")

// etcdEndpoints are the etcd member's endpoints when engine is etcd.
var etcdEndpoints []string

var prefixSeq atomic.Int64

// openTest opens a store on a real engine — a bbolt file in t.TempDir(),
// or a fresh prefix of the test etcd member — and, at cleanup, checks its
// consistency and closes it.
func openTest(t testing.TB, opts testOptions) *Store {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = (&testClock{}).Now
	}
	var s *Store
	var err error
	if engine == "etcd" {
		var e *etcdkv.Store
		// TestMain checked the member's limits once.
		e, err = etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: etcdEndpoints, Prefix: fmt.Sprintf("/t%d/", prefixSeq.Add(1)), LimitsChecked: true})
		if err == nil {
			s, err = Open(context.Background(), e, Options{RetainChanges: opts.RetainChanges, Clock: opts.Clock})
		}
	} else {
		s, err = openFile(filepath.Join(t.TempDir(), "registry.db"), opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

var ctx = context.Background()

// A valid credit code: 17 characters plus the computed check character.
func creditCode(first17 string) string {
	return first17 + string(registry.CreditCodeCheckChar(first17))
}

func entity(id string) *registry.Entity {
	return &registry.Entity{ID: id, DisplayName: "Entity " + id, Kind: registry.EntityKindEnterprise, Region: "Binhai"}
}

func group(id string, kind registry.GroupKind) *registry.Group {
	return &registry.Group{ID: id, DisplayName: "Group " + id, Kind: kind, Field: "aerospace"}
}

func mustCreate[T registry.Resource](t testing.TB, s *Store, r T) T {
	t.Helper()
	var out registry.Resource
	var err error
	switch r := any(r).(type) {
	case *registry.Entity:
		out, _, err = s.CreateEntity(ctx, r, "")
	case *registry.Group:
		out, _, err = s.CreateGroup(ctx, r, "")
	case *registry.Membership:
		out, _, err = s.CreateMembership(ctx, r, "")
	case *registry.TalentRecord:
		out, _, err = s.CreateTalentRecord(ctx, r, "")
	case *registry.Program:
		out, _, err = s.CreateProgram(ctx, r, "")
	case *registry.Target:
		out, _, err = s.CreateTarget(ctx, r, "")
	case *registry.Policy:
		out, _, err = s.CreatePolicy(ctx, r, "")
	}
	if err != nil {
		t.Fatalf("create %s: %v", r.Name(), err)
	}
	return out.(T)
}

func wantCode(t testing.TB, err error, code registry.Code) {
	t.Helper()
	if got := registry.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %d), want code %d", err, got, code)
	}
}

// boltDB returns the bbolt engine of a store opened on a file.
func boltDB(s *Store) *bolt.DB { return s.Engine().(*bolt.DB) }

// markBackupFile marks the registry file at path as a backup.
func markBackupFile(path string, takenAt time.Time) (BackupMark, error) {
	db, err := bolt.Open(path, bolt.Options{Buckets: Buckets(), MustExist: true})
	if err != nil {
		return BackupMark{}, err
	}
	mark, err := MarkBackup(context.Background(), db, takenAt)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return mark, err
}
