package boltfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"talentreg/platform/boltfile"
)

// fixture writes a bbolt file with nested buckets, an inline bucket,
// values spanning overflow pages and free pages, and returns its bytes.
func fixture(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		err := db.Update(func(tx *bolt.Tx) error {
			top, err := tx.CreateBucketIfNotExists([]byte("records"))
			if err != nil {
				return err
			}
			idx, err := top.CreateBucketIfNotExists([]byte("index"))
			if err != nil {
				return err
			}
			small, err := tx.CreateBucketIfNotExists([]byte("small")) // stays inline
			if err != nil {
				return err
			}
			if err := small.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			for i := range 1500 {
				k := fmt.Appendf(nil, "key-%06d", rng.IntN(4000))
				v := bytes.Repeat([]byte{byte(i)}, 20+rng.IntN(200))
				if i%500 == 0 {
					v = bytes.Repeat([]byte{'x'}, 9000) // overflow pages
				}
				if err := top.Put(k, v); err != nil {
					return err
				}
				if err := idx.Put(append(k, byte(round)), nil); err != nil {
					return err
				}
			}
			// Deletes leave free pages behind.
			c := top.Cursor()
			n := 0
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if n++; n%7 == 0 {
					if err := c.Delete(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func verifyPath(t testing.TB, path string) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return boltfile.Verify(f)
}

func TestVerify_ValidFilePasses(t *testing.T) {
	if err := verifyPath(t, writeFile(t, fixture(t))); err != nil {
		t.Fatal(err)
	}
}

// TestVerify_FindsDamage covers each kind of damage with the words the
// report uses.
func TestVerify_FindsDamage(t *testing.T) {
	valid := fixture(t)
	const ps = 4096
	metaPgid := func(b []byte) uint64 { // high water mark of the newer meta page
		m0, m1 := b[16:], b[ps+16:]
		if txid := func(m []byte) uint64 { return le(m[48:]) }; txid(m1) > txid(m0) {
			m0 = m1
		}
		return le(m0[40:])
	}
	hwm := metaPgid(valid)
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"text file", func([]byte) []byte { return bytes.Repeat([]byte("not a database\n"), 1000) }, "no valid meta page"},
		{"both meta pages", func(b []byte) []byte {
			for i := range 2 * ps {
				b[i] ^= 0x5a
			}
			return b
		}, "no valid meta page"},
		{"truncated by one page", func(b []byte) []byte { return b[:(hwm-1)*ps] }, "truncated"},
		{"truncated by one byte", func(b []byte) []byte { return b[:hwm*ps-1] }, "truncated"},
		{"every page header after the metas", func(b []byte) []byte {
			for p := uint64(2); p < hwm; p++ {
				b[p*ps+8] = 0x77 // flags
			}
			return b
		}, "type 0x77"},
		{"a page that says it is another", func(b []byte) []byte {
			for p := uint64(2); p < hwm; p++ {
				b[p*ps] ^= 0x01 // id
			}
			return b
		}, "says it is page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyPath(t, writeFile(t, tt.damage(bytes.Clone(valid))))
			if !errors.Is(err, boltfile.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify: %v, want ErrCorrupt saying %q", err, tt.want)
			}
		})
	}
}

// le reads an integer as bbolt writes it (in the machine's byte order).
func le(b []byte) uint64 { return binary.NativeEndian.Uint64(b) }

// TestVerify_PassedFilesAreSafeForBbolt is the package's contract, with
// bbolt as the oracle: after random damage (bytes overwritten, bits
// flipped, the file cut short), a file Verify passes opens in bbolt,
// passes bbolt's own Tx.Check and iterates every key of every bucket
// without a panic or a fault. Before Verify existed, bbolt faulted or
// panicked on many of these files.
func TestVerify_PassedFilesAreSafeForBbolt(t *testing.T) {
	valid := fixture(t)
	rng := rand.New(rand.NewPCG(3, 4))
	passed, refused := 0, 0
	for i := range 300 {
		b := bytes.Clone(valid)
		var what string
		switch i % 3 {
		case 0:
			off, n := 2*4096+rng.IntN(len(b)-2*4096), 1+rng.IntN(4096)
			n = min(n, len(b)-off)
			for j := range n {
				b[off+j] = byte(rng.Uint32())
			}
			what = fmt.Sprintf("%d random bytes at %d", n, off)
		case 1:
			off := 2*4096 + rng.IntN(len(b)-2*4096)
			b[off] ^= 1 << rng.IntN(8)
			what = fmt.Sprintf("a bit flipped at %d", off)
		case 2:
			n := rng.IntN(len(b))
			b = b[:n]
			what = fmt.Sprintf("cut to %d bytes", n)
		}
		path := writeFile(t, b)
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, OpenFile: boltfile.Opener{}.OpenFile})
		if err != nil {
			if !errors.Is(err, boltfile.ErrCorrupt) {
				t.Fatalf("%s: %v, want ErrCorrupt", what, err)
			}
			refused++
			continue
		}
		passed++
		err = db.View(func(tx *bolt.Tx) error {
			var errs []error
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			var walk func(b *bolt.Bucket) error
			walk = func(b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if v == nil {
						return walk(b.Bucket(k))
					}
					return nil
				})
			}
			return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
		})
		db.Close()
		if err != nil {
			t.Fatalf("%s: Verify passed, but bbolt finds: %v", what, err)
		}
	}
	t.Logf("%d damaged files refused, %d passed (damage in free pages or values)", refused, passed)
	if refused < 100 {
		t.Fatalf("only %d of 300 damaged files refused", refused)
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestOpener covers the file-level rules: a damaged file is refused
// untouched, a missing or empty one is refused with MustExist and not
// created, a locked one times out with ErrLocked, and a directory is not a
// database.
func TestOpener(t *testing.T) {
	valid := fixture(t)
	open := func(o boltfile.Opener, path string) error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{OpenFile: o.OpenFile, Timeout: time.Second})
		if err == nil {
			return db.Close()
		}
		return err
	}
	t.Run("valid file opens", func(t *testing.T) {
		if err := open(boltfile.Opener{}, writeFile(t, valid)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("damaged file refused untouched", func(t *testing.T) {
		path := writeFile(t, valid[:len(valid)/2])
		before := sum(t, path)
		if err := open(boltfile.Opener{}, path); !errors.Is(err, boltfile.ErrCorrupt) {
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
		if sum(t, path) != before {
			t.Fatal("the file changed")
		}
	})
	t.Run("missing file with MustExist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		if err := open(boltfile.Opener{MustExist: true}, path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("open: %v, want os.ErrNotExist", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the file was created: %v", err)
		}
	})
	t.Run("empty file with MustExist", func(t *testing.T) {
		path := writeFile(t, nil)
		if err := open(boltfile.Opener{MustExist: true}, path); !errors.Is(err, boltfile.ErrEmpty) {
			t.Fatalf("open: %v, want ErrEmpty", err)
		}
		if fi, _ := os.Stat(path); fi.Size() != 0 {
			t.Fatal("the empty file was initialised")
		}
	})
	t.Run("locked file", func(t *testing.T) {
		path := writeFile(t, valid)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := open(boltfile.Opener{Timeout: 200 * time.Millisecond}, path); !errors.Is(err, boltfile.ErrLocked) {
			t.Fatalf("open: %v, want ErrLocked", err)
		}
		if waited := time.Since(start); waited < 200*time.Millisecond {
			t.Fatalf("gave up after %v, before the timeout", waited)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if err := open(boltfile.Opener{}, t.TempDir()); err == nil || errors.Is(err, boltfile.ErrCorrupt) {
			t.Fatalf("open: %v, want a not-a-file error", err)
		}
	})
}
