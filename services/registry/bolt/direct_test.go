package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"talentreg/services/registry/bolt"
	"talentreg/services/registry/kv"
)

// queueBig queues bigUpdate's rewrite of the 1,000 big keys with fill,
// without waiting for it.
func queueBig(db *bolt.DB, fill byte) func() error {
	value := bytes.Repeat([]byte{fill}, 1024)
	return db.Queue(context.Background(), func(tx kv.Txn) error {
		for i := range 1000 {
			if err := tx.Put("b", fmt.Appendf(nil, "big%05d", i), value); err != nil {
				return err
			}
		}
		return nil
	})
}

// Direct commits queued one behind the other are applied while the one
// before is synced (each is acknowledged once checkpointed). A power cut
// while a direct commit syncs — the next already applied — leaves the
// last checkpoint's pages intact: here every page written since it is
// garbled in a copy of the file taken then, and the copy recovers to the
// checkpoint.
func TestWAL_PowerCutWhileADirectCommitSyncs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kv.db")
	cut := filepath.Join(dir, "cut.db")
	o := walOpts()
	o.CheckpointBytes, o.CheckpointInterval = 1<<30, time.Hour
	var committed, synced atomic.Int32
	next := make(chan struct{}) // closed when the loop, past b, commits or waits for b
	var nextOnce sync.Once
	var copyErr error
	var db *bolt.DB
	var waitC func() error
	o.Crash = func(point string) {
		switch point {
		case "direct-committed":
			if committed.Add(1) == 2 {
				// b is committed, its sync not started: c comes next.
				waitC = queueBig(db, 'c')
			}
		case "committed", "direct-awaited":
			if committed.Load() == 2 {
				nextOnce.Do(func() { close(next) })
			}
		case "direct-synced":
			if synced.Add(1) != 2 {
				return
			}
			// The second direct commit (b) is synced, its checkpoint not
			// written, and the loop has gone on to c: it either waits
			// for b or (wrongly) has committed c. The file and log as a
			// power cut now would find them.
			select {
			case <-next:
				copyErr = copyDBAndLog(path, cut)
			case <-time.After(time.Minute):
				copyErr = errors.New("the commit loop neither committed nor waited after b")
			}
		}
	}
	db = openWAL(t, path, o)
	bigUpdate(t, db, 'a') // direct: the checkpoint
	atCheckpoint, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bigUpdate(t, db, 'b') // and c, queued meanwhile
	if waitC == nil {
		t.Fatal("c was not queued")
	}
	if err := waitC(); err != nil {
		t.Fatal(err)
	}
	if got := bigValues(t, db); len(got) != 1 || got["c"] != 1000 {
		t.Fatalf("values: %v, want 1000 × c", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if copyErr != nil || synced.Load() < 2 {
		t.Fatalf("no copy at the second direct commit's sync (%d syncs): %v", synced.Load(), copyErr)
	}

	now, err := os.ReadFile(cut)
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
		t.Fatalf("only %d pages written since the checkpoint", garbled)
	}
	if err := os.WriteFile(cut, now, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openWAL(t, cut, o)
	defer db.Close()
	checkPages(t, db)
	if got := bigValues(t, db); len(got) != 1 || got["a"] != 1000 {
		t.Fatalf("values after recovery (%d pages garbled): %v, want 1000 × a", garbled, got)
	}
}

// copyDBAndLog copies the database file at path and its log folder to
// dst and dst's log folder.
func copyDBAndLog(path, dst string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return err
	}
	return os.CopyFS(bolt.DefaultWALDir(dst), os.DirFS(bolt.DefaultWALDir(path)))
}

// A direct commit is not read before it is durable: recovery after a
// crash would take it back. A read meanwhile waits for its checkpoint.
func TestWAL_ReadsWaitForADirectCommitToBeDurable(t *testing.T) {
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
		// bbolt has committed the chunk; its fsync has not started. A
		// read that would see it waits: with a context already ended,
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
		t.Fatalf("a read while the direct commit synced: %v, saw it: %v", during, sawB.Load())
	}
	// Acknowledged: durable, and read.
	if got := bigValues(t, db); got["b"] != 1000 {
		t.Fatalf("values after the ack: %v", got)
	}
}
