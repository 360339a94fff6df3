package checkpoint_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/checkpoint"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	bolt "go.etcd.io/bbolt"
)

// openStore opens a checkpoint in a temporary folder and checks the file's
// consistency when the test ends.
func openStore(t *testing.T, path string) *checkpoint.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "metrics.db")
	}
	s, err := checkpoint.Open(path, checkpoint.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		_ = s.Close()
	})
	return s
}

// example returns a model and a projection that applied its changes.
func example(t *testing.T) (*feedmodel.Model, *projection.Projection) {
	m := feedmodel.New()
	p := projection.New()
	apply := func(cs []*registryv1.Change) {
		for _, c := range cs {
			if err := p.Apply(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply(m.Put(feedmodel.Program("haihe")))
	apply(m.Put(feedmodel.Entity("tju", registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, "Tianjin", []string{"aerospace"}, false, true)))
	apply(m.Put(feedmodel.Entity("acme", registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, "", nil, true, false)))
	apply(m.Put(feedmodel.Group("a1", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "aerospace")))
	apply(m.Put(feedmodel.Membership("a1", "tju", registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD)))
	apply(m.Put(feedmodel.Membership("a1", "acme", registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER)))
	apply(m.Put(feedmodel.Record("r1", "entities/tju", registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, 9, "programs/haihe", "2024")))
	apply(m.Put(feedmodel.Record("r2", "groups/a1", registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, 4, "", "")))
	return m, p
}

func same(t *testing.T, got, want *projection.Projection) {
	t.Helper()
	if d := metrics.Diff(got.Figures(), want.Figures()); len(d) > 0 {
		t.Fatalf("loaded projection differs: %v", d)
	}
}

func TestStore_SaveLoad_Full(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	_, p := example(t)
	s, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(); err != nil || ok {
		t.Fatalf("Load of a new file: ok=%v err=%v, want nothing", ok, err)
	}
	if err := s.Save(p.Delta()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path)
	got, ok, err := s.Load()
	if err != nil || !ok {
		t.Fatalf("Load: ok=%v err=%v", ok, err)
	}
	same(t, got, p)
	if rev, ok, _ := s.Revision(); !ok || rev != p.Revision() {
		t.Fatalf("Revision = %d, %v; want %d", rev, ok, p.Revision())
	}
}

// TestStore_SaveLoad_Incremental saves a full delta, then deltas of
// updates and cascade deletes: the file then loads what the projection
// holds.
func TestStore_SaveLoad_Incremental(t *testing.T) {
	s := openStore(t, "")
	m, p := example(t)
	if err := s.Save(p.Delta()); err != nil {
		t.Fatal(err)
	}
	for _, cs := range [][]*registryv1.Change{
		m.Put(feedmodel.Entity("acme", registryv1.EntityKind_ENTITY_KIND_INCUBATOR, "Hebei", []string{"deep-sea"}, false, false)),
		m.Put(feedmodel.Group("a1", registryv1.GroupKind_GROUP_KIND_CONSORTIUM, "biomedicine")),
		m.Delete("entities/tju"),
		m.Put(feedmodel.Entity("tju", registryv1.EntityKind_ENTITY_KIND_OTHER, "", nil, false, false)),
		m.Delete("programs/haihe"),
	} {
		for _, c := range cs {
			if err := p.Apply(c); err != nil {
				t.Fatal(err)
			}
		}
		d := p.Delta()
		if d.Full {
			t.Fatal("a delta after a save is full")
		}
		if err := s.Save(d); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, p)
	}
}

func TestOpen_Refuses(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.db")
	{
		s, err := checkpoint.Open(valid, checkpoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, p := example(t)
		if err := s.Save(p.Delta()); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
	validBytes, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		make func(path string)
		want error
	}{
		{"text file", func(path string) {
			write(t, path, bytes.Repeat([]byte("not a database\n"), 1000))
		}, checkpoint.ErrCorrupt},
		{"truncated checkpoint", func(path string) {
			write(t, path, validBytes[:100])
		}, checkpoint.ErrCorrupt},
		// Cut short of the pages its meta page counts: bbolt mapped it and
		// the process died of SIGBUS reading past the end.
		{"checkpoint cut short of its pages", func(path string) {
			write(t, path, validBytes[:5*4096])
		}, checkpoint.ErrCorrupt},
		{"checkpoint with a damaged page", func(path string) {
			b := bytes.Clone(validBytes)
			for p := 2; p < 9 && (p+1)*4096 <= len(b); p++ {
				b[p*4096+8] = 0x77 // page flags
			}
			write(t, path, b)
		}, checkpoint.ErrCorrupt},
		{"corrupt meta pages", func(path string) {
			b := bytes.Clone(validBytes)
			for i := 0; i < 8192 && i < len(b); i++ {
				b[i] ^= 0x5a
			}
			write(t, path, b)
		}, checkpoint.ErrCorrupt},
		{"another program's bbolt file", func(path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket([]byte("users"))
				return b.Put([]byte("alice"), []byte("x"))
			})
			_ = db.Close()
		}, checkpoint.ErrForeign},
		{"checkpoint of another format", func(path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket([]byte("meta"))
				return b.Put([]byte("format"), []byte("talentreg.metrics.checkpoint.v1"))
			})
			_ = db.Close()
		}, checkpoint.ErrForeign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "metrics.db")
			tc.make(path)
			before, _ := os.ReadFile(path)
			_, err := checkpoint.Open(path, checkpoint.Options{Timeout: 100 * time.Millisecond})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("Open changed a file it refused")
			}
		})
	}
}

func TestOpen_Locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	openStore(t, path)
	_, err := checkpoint.Open(path, checkpoint.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, checkpoint.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestOpen_EmptyFileIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	write(t, path, nil)
	s := openStore(t, path)
	if _, ok, err := s.Load(); ok || err != nil {
		t.Fatalf("Load: ok=%v err=%v, want nothing", ok, err)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// big returns a projection of n entities, each in a group, loaded in bulk.
func big(n int) *projection.Projection {
	l := projection.NewLoader()
	l.Add(feedmodel.Group("g", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "aerospace"))
	for i := range n {
		id := fmt.Sprintf("e%06d", i)
		l.Add(feedmodel.Entity(id, registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, "Binhai", nil, false, false))
		l.Add(feedmodel.Membership("g", id, registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER))
	}
	return l.Finish(int64(2*n + 1))
}

// TestStore_FullSave_Chunked: a full save larger than one transaction's
// share loads back whole, and a second full save replaces the first.
func TestStore_FullSave_Chunked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	s := openStore(t, path)
	for _, n := range []int{45000, 30000} {
		p := big(n)
		if err := s.Save(p.Delta()); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Load()
		if err != nil || !ok {
			t.Fatalf("Load: %v %v", ok, err)
		}
		same(t, got, p)
	}
}

// TestOpen_DropsInterruptedFullSave: a generation left half-written by a
// crash is dropped on open; the previous checkpoint is intact.
func TestOpen_DropsInterruptedFullSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	_, p := example(t)
	s, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(p.Delta()); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := append([]byte("state."), 0, 0, 0, 0, 0, 0, 0, 99)
	_ = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(stale)
		if err != nil {
			return err
		}
		_, err = b.CreateBucket([]byte("entities"))
		return err
	})
	_ = db.Close()

	s, err = checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Load()
	if err != nil || !ok {
		t.Fatalf("Load: %v %v", ok, err)
	}
	same(t, got, p)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(stale) != nil {
			t.Error("the interrupted generation is still there")
		}
		return nil
	})
}

// TestStore_RegistryID: the registry id is saved with the revision, by full
// and incremental saves alike, and loaded with the projection.
func TestStore_RegistryID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	s := openStore(t, path)
	m, p := example(t)
	p.SetRegistryID("registry-a")
	if err := s.Save(p.Delta()); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.RegistryID() != "registry-a" || got.Revision() != p.Revision() {
		t.Fatalf("full save loads registry %q at %d, want registry-a at %d", got.RegistryID(), got.Revision(), p.Revision())
	}
	for _, c := range m.Put(feedmodel.Program("kunpeng")) {
		if err := p.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	d := p.Delta()
	if d.Full || d.RegistryID != "registry-a" {
		t.Fatalf("incremental Delta: full %v, registry %q", d.Full, d.RegistryID)
	}
	if err := s.Save(d); err != nil {
		t.Fatal(err)
	}
	got, _, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.RegistryID() != "registry-a" || got.Revision() != p.Revision() {
		t.Fatalf("incremental save loads registry %q at %d, want registry-a at %d", got.RegistryID(), got.Revision(), p.Revision())
	}
	same(t, got, p)
}

// TestOpen_MigratesV2: a checkpoint of the previous format, which has no
// registry id, opens; it loads with an unknown registry id (so the
// follower rebuilds it from a snapshot), and the file is of the current
// format from then on.
func TestOpen_MigratesV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.db")
	_, p := example(t)
	p.SetRegistryID("registry-a")
	{
		s, err := checkpoint.Open(path, checkpoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(p.Delta()); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
	// Make it the v2 file the previous release wrote: same layout, no
	// registry id.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if err := meta.Delete([]byte("registryID")); err != nil {
			return err
		}
		return meta.Put([]byte("format"), []byte("talentreg.metrics.checkpoint.v2"))
	})
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatalf("Open of a v2 checkpoint: %v", err)
	}
	got, ok, err := s.Load()
	if err != nil || !ok {
		t.Fatalf("Load of a v2 checkpoint: %v %v", ok, err)
	}
	if got.RegistryID() != "" {
		t.Fatalf("v2 checkpoint loads registry id %q, want none", got.RegistryID())
	}
	same(t, got, p)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if f := tx.Bucket([]byte("meta")).Get([]byte("format")); string(f) != "talentreg.metrics.checkpoint.v4" {
			t.Errorf("format after opening a v2 file: %q", f)
		}
		return nil
	})
}
