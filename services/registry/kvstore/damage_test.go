package kvstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
)

// damagedFixture builds a registry file of a few thousand resources,
// closes it and returns its bytes and how many of them its pages use (the
// file is longer: bbolt grows it ahead).
func damagedFixture(t *testing.T) ([]byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := openFile(path, testOptions{NoSync: true, Clock: (&testClock{}).Now})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < 3000; lo += registry.MaxBatch {
		batch := make([]*registry.Entity, 0, registry.MaxBatch)
		for i := lo; i < lo+registry.MaxBatch; i++ {
			batch = append(batch, benchEntity("e", i))
		}
		if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	var used int
	if err := boltDB(s).Bolt().View(func(tx *bbolt.Tx) error { used = int(tx.Size()); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, used
}

// readEverything reads every resource and the whole change log, as
// StreamSnapshot and WatchChanges do, and runs the full check; it returns
// the first error. It must never panic.
func readEverything(s *Store) error {
	if err := s.Snapshot(ctx, func(int64) error { return nil }, func(registry.Resource) error { return nil }); err != nil {
		return err
	}
	for from := int64(1); ; {
		page, err := s.ListChanges(ctx, from, 1000)
		if err != nil {
			return err
		}
		if len(page.Changes) == 0 || !page.More {
			break
		}
		from = page.Changes[len(page.Changes)-1].Revision + 1
	}
	return s.Check()
}

// TestOpen_RefusesDamagedFile reproduces the operator's report: 4 KiB of
// random bytes written into a registry file. Spread over the file, each
// copy is either refused at Open with an error saying "corrupt" and left
// untouched, or (the bytes landed on a free page, or inside values) opens
// and then reads and checks without a panic. Most must be refused: nearly
// every page of this file is in use.
func TestOpen_RefusesDamagedFile(t *testing.T) {
	needBolt(t)
	valid, used := damagedFixture(t)
	const copies = 24
	refused := 0
	for i := range copies {
		// From the third page (after the two meta pages) to the end, at
		// page-aligned and unaligned offsets alike.
		off := 8192 + (used-8192-4096-1000)*i/(copies-1)
		if i%2 == 1 {
			off += 1000
		}
		t.Run(fmt.Sprintf("at_%d", off), func(t *testing.T) {
			b := append([]byte(nil), valid...)
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for j := range 4096 {
				b[off+j] = byte(rng.Uint32())
			}
			path := filepath.Join(t.TempDir(), "registry.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			sum := fileSum(t, path)
			s, err := openFile(path, testOptions{})
			if err != nil {
				if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), path) {
					t.Fatalf("Open: %v, want an error saying corrupt and naming the file", err)
				}
				if fileSum(t, path) != sum {
					t.Fatal("the refused file was modified")
				}
				refused++
				return
			}
			defer s.Close()
			_ = readEverything(s) // may report the damage; must not panic
		})
	}
	t.Logf("%d of %d damaged copies refused at Open", refused, copies)
	if refused < copies/2 {
		t.Fatalf("%d of %d damaged copies refused at Open, want most", refused, copies)
	}
}

// TestOpen_RefusesTruncatedFile: a file cut short of the pages its meta
// page counts is refused at Open, untouched, with an error saying it is
// truncated (before, bbolt mapped it and the process died of SIGBUS on
// the first read past the end).
func TestOpen_RefusesTruncatedFile(t *testing.T) {
	needBolt(t)
	valid, used := damagedFixture(t)
	for _, size := range []int{100, 4096, 3 * 4096, used / 2, used - 4096, used - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.db")
			if err := os.WriteFile(path, valid[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			sum := fileSum(t, path)
			s, err := openFile(path, testOptions{})
			if err == nil {
				err = readEverything(s)
				s.Close()
				t.Fatalf("Open succeeded on a file truncated to %d of %d bytes (read: %v)", size, used, err)
			}
			if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v, want an error saying corrupt and naming the file", err)
			}
			if size > 2*4096 && !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("Open: %v, want it to say truncated", err)
			}
			if fileSum(t, path) != sum {
				t.Fatal("the refused file was modified")
			}
		})
	}
}

// TestOpen_MustExist: with MustExist (the offline tools), a missing file
// is an error wrapping os.ErrNotExist and is not created, and an empty one
// is refused untouched instead of being initialised.
func TestOpen_MustExist(t *testing.T) {
	needBolt(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "sub", "registry.db")
	if _, err := openFile(missing, testOptions{MustExist: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing): %v, want os.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) created its folder: %v", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openFile(empty, testOptions{MustExist: true}); !errors.Is(err, bolt.ErrEmpty) {
		t.Fatalf("Open(empty): %v, want bolt.ErrEmpty", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file changed: %v, %v", fi, err)
	}
}
