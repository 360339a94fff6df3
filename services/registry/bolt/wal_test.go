package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/services/registry/bolt"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kv/kvtest"
)

func TestWAL_Conformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{Buckets: kvtest.Buckets, WAL: true, CheckpointBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if errs := db.CheckPages(); len(errs) > 0 {
				t.Errorf("bbolt check: %v", errs)
			}
			db.Close()
		})
		return db
	})
}

// walOpts are small checkpoints, so that tests cross several.
func walOpts() bolt.Options {
	return bolt.Options{Buckets: kvtest.Buckets, WAL: true, CheckpointBytes: 2 << 10}
}

func openWAL(t *testing.T, path string, o bolt.Options) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// write puts keys k<from>..k<to-1> from 8 writers, each key its own
// Update, every tenth put and deleted again in its transaction, and returns when all are
// acknowledged.
func write(t *testing.T, db *bolt.DB, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, to-from)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < to; i += 8 {
				errs <- db.Update(context.Background(), func(tx kv.Txn) error {
					if err := tx.Put("a", fmt.Appendf(nil, "k%05d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
						return err
					}
					if i%10 == 0 {
						return tx.Delete("a", fmt.Appendf(nil, "k%05d", i))
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// keys returns bucket a's keys.
func keys(t *testing.T, db *bolt.DB) []string {
	t.Helper()
	var ks []string
	err := db.View(context.Background(), func(r kv.Reader) error {
		c := r.Cursor("a")
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			ks = append(ks, string(k))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// want is bucket a's keys after write(0, n).
func want(n int) []string {
	var ks []string
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			continue // put, then deleted in the same transaction
		}
		ks = append(ks, fmt.Sprintf("k%05d", i))
	}
	sort.Strings(ks)
	return ks
}

func sameKeys(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d keys, want %d (first diff near %v)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "the end"
}

func segmentsOf(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func checkPages(t *testing.T, db *bolt.DB) {
	t.Helper()
	if errs := db.CheckPages(); len(errs) > 0 {
		t.Fatalf("bbolt check: %v", errs)
	}
}

func TestWAL_CleanCloseLeavesEmptyLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db := openWAL(t, path, walOpts())
	write(t, db, 0, 300)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s := segmentsOf(t, bolt.DefaultWALDir(path)); len(s) != 0 {
		t.Fatalf("segments after a clean close: %v", s)
	}
	db = openWAL(t, path, walOpts())
	defer db.Close()
	if r := db.Recovered(); r != nil {
		t.Fatalf("replayed %+v after a clean close", r)
	}
	sameKeys(t, keys(t, db), want(300))
}

func TestWAL_CrashReplaysAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	// Through many checkpoints first, then writes after the last one.
	db := openWAL(t, path, walOpts())
	write(t, db, 0, 300)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	o := walOpts()
	o.CheckpointBytes = 1 << 30
	db = openWAL(t, path, o)
	write(t, db, 300, 500)
	db.CrashForTest()
	db = openWAL(t, path, walOpts())
	defer db.Close()
	if db.Recovered() == nil || db.Recovered().Records == 0 {
		t.Fatalf("nothing replayed: %+v", db.Recovered())
	}
	sameKeys(t, keys(t, db), want(500))
	checkPages(t, db)
	write(t, db, 500, 600) // and it goes on
	sameKeys(t, keys(t, db), want(600))
}

// A power cut loses the bbolt writes made since the last checkpoint, meta
// pages included (here: both destroyed). The log's checkpoint puts them
// back and the replay redoes every acknowledged write.
func TestWAL_PowerCutLosingUnsyncedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db := openWAL(t, path, walOpts())
	write(t, db, 0, 400)
	db.CrashForTest()
	destroyMetaPages(t, path)
	db = openWAL(t, path, walOpts())
	defer db.Close()
	sameKeys(t, keys(t, db), want(400))
	checkPages(t, db)
}

// destroyMetaPages zeroes both of the file's meta pages, as a power cut
// that loses the bbolt writes since the last checkpoint would.
func destroyMetaPages(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 2*os.Getpagesize()), 0); err != nil {
		t.Fatal(err)
	}
}

// usedEnd is the end of a segment's records: segments are zero-filled
// ahead of use.
func usedEnd(b []byte) int {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return end
}

func lastSegment(t *testing.T, path string) string {
	t.Helper()
	segs := segmentsOf(t, bolt.DefaultWALDir(path))
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	return segs[len(segs)-1]
}

func TestWAL_TornTailIsCutNotApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	o := walOpts()
	o.CheckpointBytes = 1 << 30 // one segment
	db := openWAL(t, path, o)
	write(t, db, 0, 100)
	// The last write, alone in its record: the one the tear cuts.
	if err := db.Update(context.Background(), func(tx kv.Txn) error { return tx.Put("b", []byte("last"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	db.CrashForTest()
	// Put bbolt back at the checkpoint as a power cut would, so that only
	// the log can bring the writes back.
	seg := lastSegment(t, path)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the last record in its middle, garbage where the rest was, and
	// the zeros of the unused segment after.
	end := usedEnd(b)
	copy(b[end-10:], "\xde\xad\xbe\xef garbage garbage garbage")
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}

	db = openWAL(t, path, o)
	defer db.Close()
	r := db.Recovered()
	if r == nil || !strings.Contains(r.Cut, "torn record") {
		t.Fatalf("recovered %+v, want a torn tail cut", r)
	}
	sameKeys(t, keys(t, db), want(100))
	err = db.View(context.Background(), func(rd kv.Reader) error {
		v, err := rd.Get("b", []byte("last"))
		if v != nil {
			return errors.New("the torn record was applied")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkPages(t, db)
}

func TestWAL_DamagedRecordInTheMiddleIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	o := walOpts()
	o.CheckpointBytes = 1 << 30
	db := openWAL(t, path, o)
	write(t, db, 0, 100)
	db.CrashForTest()
	seg := lastSegment(t, path)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[usedEnd(b)/2] ^= 0x40 // one bit, in some record's payload or header
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = bolt.Open(path, o)
	if !errors.Is(err, bolt.ErrLogCorrupt) || !strings.Contains(err.Error(), "intact records follow") {
		t.Fatalf("Open: %v, want ErrLogCorrupt naming the damage", err)
	}
	// Refused, and refused again: nothing was cut or applied.
	if _, err := bolt.Open(path, o); !errors.Is(err, bolt.ErrLogCorrupt) {
		t.Fatalf("second Open: %v", err)
	}
}

func TestWAL_LogOfAnotherFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	dbA := openWAL(t, a, walOpts())
	write(t, dbA, 0, 50)
	dbA.CrashForTest()
	dbB := openWAL(t, b, walOpts())
	write(t, dbB, 0, 20)
	if err := dbB.Close(); err != nil {
		t.Fatal(err)
	}

	o := walOpts()
	o.WALDir = bolt.DefaultWALDir(a)
	_, err := bolt.Open(b, o)
	if !errors.Is(err, bolt.ErrLogMismatch) || !strings.Contains(err.Error(), "does not fit this file") {
		t.Fatalf("b with a's log: %v, want ErrLogMismatch", err)
	}
	// b is untouched, a still recovers with its own log.
	dbB = openWAL(t, b, walOpts())
	sameKeys(t, keys(t, dbB), want(20))
	dbB.Close()
	dbA = openWAL(t, a, walOpts())
	sameKeys(t, keys(t, dbA), want(50))
	dbA.Close()
}

func TestWAL_CrashedFileWithoutItsLogIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db := openWAL(t, path, walOpts())
	write(t, db, 0, 50)
	db.CrashForTest()
	o := walOpts()
	o.WALDir = filepath.Join(t.TempDir(), "elsewhere")
	if _, err := bolt.Open(path, o); !errors.Is(err, bolt.ErrLogMismatch) || !strings.Contains(err.Error(), "not closed cleanly") {
		t.Fatalf("Open: %v, want ErrLogMismatch", err)
	}
	ro := bolt.Options{Buckets: kvtest.Buckets, ReadOnly: true}
	if _, err := bolt.Open(path, ro); !errors.Is(err, bolt.ErrLogPending) {
		t.Fatalf("read-only Open: %v, want ErrLogPending", err)
	}
	// Without the log on (the offline tools): applied, then detached.
	db = openWAL(t, path, bolt.Options{Buckets: kvtest.Buckets})
	sameKeys(t, keys(t, db), want(50))
	db.Close()
	if _, err := os.Stat(bolt.DefaultWALDir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log folder after it was applied without the log: %v", err)
	}
	db = openWAL(t, path, bolt.Options{Buckets: kvtest.Buckets, ReadOnly: true})
	sameKeys(t, keys(t, db), want(50))
	db.Close()
}

// A transaction bigger than the log takes in one record (an import chunk)
// is committed to bbolt with fsync and checkpointed at once; writes before
// and after it go through the log, and a crash loses none of them.
func TestWAL_BigTransactionCommitsDirectly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	o := walOpts()
	o.CheckpointBytes = 1 << 30
	db := openWAL(t, path, o)
	write(t, db, 0, 100)
	value := bytes.Repeat([]byte("v"), 1024)
	err := db.Update(context.Background(), func(tx kv.Txn) error {
		for i := range 1000 { // 1 MiB
			if err := tx.Put("b", fmt.Appendf(nil, "big%05d", i), value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	write(t, db, 100, 200)
	db.CrashForTest()
	var logged int64
	for _, s := range segmentsOf(t, bolt.DefaultWALDir(path)) {
		b, _ := os.ReadFile(s)
		logged += int64(usedEnd(b))
	}
	if logged > 256<<10 {
		t.Fatalf("the log holds %d bytes: the big transaction went through it", logged)
	}
	db = openWAL(t, path, o)
	defer db.Close()
	if r := db.Recovered(); r == nil || r.Records == 0 {
		t.Fatalf("nothing replayed after the big transaction: %+v", r)
	}
	sameKeys(t, keys(t, db), want(200))
	n := 0
	db.View(context.Background(), func(r kv.Reader) error {
		c := r.Cursor("b")
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	if n != 1000 {
		t.Fatalf("%d keys of the big transaction, want 1000", n)
	}
	checkPages(t, db)
}

// bigUpdate rewrites the 1,000 keys big00000… of bucket "b" with 1 KiB
// values in one transaction (1 MiB: a direct commit).
func bigUpdate(t *testing.T, db *bolt.DB, fill byte) {
	t.Helper()
	value := bytes.Repeat([]byte{fill}, 1024)
	err := db.Update(context.Background(), func(tx kv.Txn) error {
		for i := range 1000 {
			if err := tx.Put("b", fmt.Appendf(nil, "big%05d", i), value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// bigValues returns the distinct values of bucket "b".
func bigValues(t *testing.T, db *bolt.DB) map[string]int {
	t.Helper()
	vals := map[string]int{}
	err := db.View(context.Background(), func(r kv.Reader) error {
		c := r.Cursor("b")
		for k, v := c.First(); k != nil; k, v = c.Next() {
			vals[string(v[:1])]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// Direct commits follow one another as an import's chunks do: the pages
// each frees are reused by the next, as without the log, instead of being
// held back by a pin (the file grew by a chunk's pages).
func TestWAL_DirectCommitsReuseTheirPages(t *testing.T) {
	size := func(wal bool) int64 {
		path := filepath.Join(t.TempDir(), "kv.db")
		o := walOpts()
		o.WAL = wal
		db := openWAL(t, path, o)
		defer db.Close()
		for i := range 20 {
			bigUpdate(t, db, byte('a'+i))
		}
		checkPages(t, db)
		u, err := db.Usage() // FileBytes: the pages in use, not the file's preallocated size
		if err != nil {
			t.Fatal(err)
		}
		return u.FileBytes
	}
	without, with := size(false), size(true)
	if with > without {
		t.Fatalf("%d KiB of pages with the log, %d KiB without", with>>10, without>>10)
	}
}

// After a direct commit the checkpoint is not pinned until a commit that
// skips fsync needs it; it must then be pinned before that commit frees
// pages of it, or the next commits overwrite them and a power cut leaves
// a checkpoint whose pages are gone.
func TestWAL_PowerCutAfterDirectThenLoggedCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	o := walOpts()
	o.CheckpointBytes = 1 << 30
	db := openWAL(t, path, o)
	bigUpdate(t, db, 'a') // direct, checkpointed
	// Logged commits that rewrite every page of the big bucket, several
	// times: without the pin, the later ones reuse the checkpoint's pages.
	for round := range 5 {
		for lo := 0; lo < 1000; lo += 100 {
			err := db.Update(context.Background(), func(tx kv.Txn) error {
				for i := lo; i < lo+100; i++ {
					if err := tx.Put("b", fmt.Appendf(nil, "big%05d", i), bytes.Repeat([]byte{byte('b' + round)}, 1024)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	db.CrashForTest()
	// The power cut: the meta pages written since the checkpoint are lost.
	destroyMetaPages(t, path)
	db = openWAL(t, path, o)
	defer db.Close()
	checkPages(t, db)
	if got := bigValues(t, db); len(got) != 1 || got["f"] != 1000 {
		t.Fatalf("values after recovery: %v, want 1000 × f", got)
	}
}

// bbolt cannot grow its map while the checkpoint's read transaction is
// open: a commit that would need it is refused with a clear error instead
// of waiting for ever.
func TestWAL_RefusesToOutgrowTheMap(t *testing.T) {
	o := walOpts()
	o.InitialMmapSize = 512<<20 + 2<<20 // 2 MiB of room above the headroom
	db := openWAL(t, filepath.Join(t.TempDir(), "kv.db"), o)
	defer db.Close()
	value := bytes.Repeat([]byte("v"), 1000)
	var err error
	for i := 0; i < 10_000 && err == nil; i++ {
		err = db.Update(context.Background(), func(tx kv.Txn) error {
			return tx.Put("a", fmt.Appendf(nil, "k%05d", i), value)
		})
	}
	if !errors.Is(err, bolt.ErrLogFailed) || !strings.Contains(err.Error(), "--mmap-size") {
		t.Fatalf("writes past the map: %v, want ErrLogFailed naming --mmap-size", err)
	}
}

// bbolt commits lazily behind the log, several groups per commit: a read
// must still see every write acknowledged before it.
func TestWAL_ReadsSeeEveryAcknowledgedWrite(t *testing.T) {
	db := openWAL(t, filepath.Join(t.TempDir(), "kv.db"), walOpts())
	defer db.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				key := fmt.Appendf(nil, "w%d-%03d", w, i)
				if err := db.Update(ctx, func(tx kv.Txn) error { return tx.Put("a", key, []byte("v")) }); err != nil {
					errs <- err
					return
				}
				var got []byte
				err := db.View(ctx, func(r kv.Reader) error {
					v, err := r.Get("a", key)
					got = bytes.Clone(v)
					return err
				})
				if err != nil || got == nil {
					errs <- fmt.Errorf("%s acknowledged, then read: %q, %v", key, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// An op that fails after writing is taken back out of bbolt's open
// transaction, which bbolt can only do by rolling it back: the groups
// before it in that transaction were acknowledged and must stay, readable
// at once and after a crash.
func TestWAL_OpFailingAfterWritingKeepsEarlierGroups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	o := walOpts()
	o.CheckpointBytes = 1 << 30 // no checkpoint: the crash replays them all
	db := openWAL(t, path, o)
	errLate := errors.New("late failure")
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				key := fmt.Sprintf("w%d-%03d", w, i)
				fails := i%10 == 5
				err := db.Update(context.Background(), func(tx kv.Txn) error {
					if err := tx.Put("a", []byte(key), []byte("v")); err != nil {
						return err
					}
					if fails {
						return errLate
					}
					return nil
				})
				switch {
				case fails && !errors.Is(err, errLate):
					errs <- fmt.Errorf("%s: %v, want its own error", key, err)
					return
				case !fails && err != nil:
					errs <- err
					return
				case !fails:
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Strings(acked)
	sameKeys(t, keys(t, db), acked)
	db.CrashForTest()
	db = openWAL(t, path, o)
	defer db.Close()
	sameKeys(t, keys(t, db), acked)
	checkPages(t, db)
}

// A power cut may leave any page bbolt wrote since the last checkpoint
// torn or half written, not only its meta pages. Here every page that
// differs from the file as it stood at the checkpoint, and every page the
// file grew by, is overwritten with garbage: the checkpoint's pages are
// intact (the pin kept later commits off them) and the replay redoes every
// acknowledged write.
func TestWAL_PowerCutGarblingEveryPageWrittenSinceTheCheckpoint(t *testing.T) {
	path, o, db := openCheckpointedOnce(t)
	atCheckpoint, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rewriteThenCrash(t, db)

	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	garbage := bytes.Repeat([]byte{0xa5}, page)
	garbled := 0
	for off := 0; off < len(now); off += page {
		end := min(off+page, len(now))
		if end <= len(atCheckpoint) && bytes.Equal(now[off:end], atCheckpoint[off:end]) {
			continue
		}
		copy(now[off:end], garbage)
		garbled++
	}
	if garbled < 10 {
		t.Fatalf("only %d pages written since the checkpoint: the test writes too little", garbled)
	}
	if err := os.WriteFile(path, now, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openWAL(t, path, o)
	defer db.Close()
	checkPages(t, db)
	if got := bigValues(t, db); len(got) != 1 || got["d"] != 1000 {
		t.Fatalf("values after recovery (%d pages garbled): %v, want 1000 × d", garbled, got)
	}
	sameKeys(t, keys(t, db), want(200))
}

// openCheckpointedOnce opens a logged DB whose only checkpoint follows
// bigUpdate's direct commit of 1,000 a values.
func openCheckpointedOnce(t *testing.T) (string, bolt.Options, *bolt.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kv.db")
	o := walOpts()
	o.CheckpointBytes = 1 << 30
	o.CheckpointInterval = time.Hour // no checkpoint but the direct commit's
	db := openWAL(t, path, o)
	bigUpdate(t, db, 'a') // direct: committed with fsync, checkpointed
	return path, o, db
}

// rewriteThenCrash rewrites bigUpdate's 1,000 values three times in
// logged transactions of 100 (the last round's are d), writes keys 0–199,
// and crashes db: bbolt has written many pages since the checkpoint.
func rewriteThenCrash(t *testing.T, db *bolt.DB) {
	t.Helper()
	for round := range 3 {
		for lo := 0; lo < 1000; lo += 100 {
			err := db.Update(context.Background(), func(tx kv.Txn) error {
				for i := lo; i < lo+100; i++ {
					if err := tx.Put("b", fmt.Appendf(nil, "big%05d", i), bytes.Repeat([]byte{byte('b' + round)}, 1024)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	write(t, db, 0, 200)
	db.CrashForTest()
}

// With the log, bbolt does not extend the file ahead of use (NoGrowSync):
// after direct and logged commits the file ends at its high-water mark,
// without bbolt's 16 MiB growth step (the import's db / raw figure).
func TestWAL_FileEndsAtItsHighWaterMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db := openWAL(t, path, walOpts())
	defer db.Close()
	bigUpdate(t, db, 'a') // direct
	write(t, db, 0, 300)  // logged, lazily committed
	var hwm int64
	if err := db.Bolt().View(func(tx *bbolt.Tx) error { hwm = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != hwm {
		t.Fatalf("file %d bytes, high-water mark %d", fi.Size(), hwm)
	}
}

// Without a sync at each growth, a power cut may lose the pages the file
// grew by since the last checkpoint, its new size with them. The
// checkpoint fsynced the file as it then was, so cutting the file back to
// that size (and losing the meta pages written since) is recovered from
// the log like any other lost write.
func TestWAL_PowerCutLosingTheGrowthSinceTheCheckpoint(t *testing.T) {
	path, o, db := openCheckpointedOnce(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	atCheckpoint := fi.Size()
	rewriteThenCrash(t, db)
	if fi, err = os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Size() <= atCheckpoint {
		t.Fatalf("file %d bytes, %d at the checkpoint: the test did not grow it", fi.Size(), atCheckpoint)
	}
	if err := os.Truncate(path, atCheckpoint); err != nil {
		t.Fatal(err)
	}
	destroyMetaPages(t, path)
	db = openWAL(t, path, o)
	defer db.Close()
	checkPages(t, db)
	if got := bigValues(t, db); len(got) != 1 || got["d"] != 1000 {
		t.Fatalf("values after recovery: %v, want 1000 × d", got)
	}
	sameKeys(t, keys(t, db), want(200))
}

// A direct commit is not read before it is checkpointed: recovery after a
// crash would take it back until then (a change feed that had read it
// would hold revisions the registry lost). A read meanwhile waits.
func TestWAL_ReadsWaitForADirectCommitsCheckpoint(t *testing.T) {
	o := walOpts()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	var during error
	var sawB atomic.Bool
	var db *bolt.DB
	o.Crash = func(point string) {
		if point != "direct-committed" || db == nil {
			return
		}
		// bbolt has committed the chunk; its checkpoint is not written.
		// A read that would see it waits: with a context already ended,
		// it returns at once, without reading.
		during = db.View(canceled, func(r kv.Reader) error {
			if v, _ := r.Get("b", []byte("big00000")); v != nil && v[0] == 'b' {
				sawB.Store(true)
			}
			return nil
		})
	}
	path := filepath.Join(t.TempDir(), "kv.db")
	db = openWAL(t, path, o)
	defer db.Close()
	bigUpdate(t, db, 'b')
	if !errors.Is(during, context.Canceled) || sawB.Load() {
		t.Fatalf("a read before the direct commit's checkpoint: %v, saw it: %v", during, sawB.Load())
	}
	// Acknowledged: durable, and read.
	if got := bigValues(t, db); got["b"] != 1000 {
		t.Fatalf("values after the ack: %v", got)
	}
}
