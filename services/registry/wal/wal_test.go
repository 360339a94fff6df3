package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testID = bytes.Repeat([]byte{7}, IDSize)

func appendN(t *testing.T, w *Writer, n, size int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := bytes.Repeat([]byte{byte(w.Next())}, size)
		if _, err := w.Append(p); err != nil {
			t.Fatal(err)
		}
	}
}

// Records fill a segment and go on in the next; recovery reads them all,
// in order, and stops at each segment's zero-filled rest.
func TestRecover_AcrossFullSegments(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, testID, 1)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 40, 1<<20) // 40 MiB: three segments
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := segments(dir)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	rec, err := Recover(dir, testID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Records) != 40 || rec.Last != 40 || rec.Cut != "" {
		t.Fatalf("recovered %d records up to %d (cut %q), want 40", len(rec.Records), rec.Last, rec.Cut)
	}
	for i, r := range rec.Records {
		if r.Seq != uint64(i+1) || len(r.Payload) != 1<<20 || r.Payload[0] != byte(i+1) {
			t.Fatalf("record %d: seq %d, %d bytes", i, r.Seq, len(r.Payload))
		}
	}
	// Records up to the checkpoint are skipped.
	if rec, err := Recover(dir, testID, 25); err != nil || len(rec.Records) != 15 || rec.Records[0].Seq != 26 {
		t.Fatalf("after 25: %d records, %v", len(rec.Records), err)
	}
}

func TestRecover_RefusesForeignAndMissingRecords(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, testID, 10)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 3, 100)
	w.Close()
	other := bytes.Repeat([]byte{8}, IDSize)
	if _, err := Recover(dir, other, 9); !errors.Is(err, ErrForeign) {
		t.Fatalf("another id: %v, want ErrForeign", err)
	}
	// The checkpoint says 5: records 6..9 are missing.
	if _, err := Recover(dir, testID, 5); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("gap: %v, want ErrCorrupt naming the missing records", err)
	}
}

func TestCheckpoint_RoundTripAndDamage(t *testing.T) {
	dir := t.TempDir()
	if cp, err := ReadCheckpoint(dir); cp != nil || err != nil {
		t.Fatalf("no checkpoint: %v, %v", cp, err)
	}
	want := Checkpoint{ID: testID, Seq: 42, Clean: true, State: []byte("meta pages")}
	if err := WriteCheckpoint(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCheckpoint(dir)
	if err != nil || got.Seq != 42 || !got.Clean || string(got.State) != "meta pages" || !bytes.Equal(got.ID, testID) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	path := filepath.Join(dir, "checkpoint")
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o600)
	if _, err := ReadCheckpoint(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged checkpoint: %v, want ErrCorrupt", err)
	}
}

func Example() {
	dir, _ := os.MkdirTemp("", "wal-example")
	defer os.RemoveAll(dir)
	id := bytes.Repeat([]byte{1}, IDSize)
	w, _ := Create(dir, id, 1)
	w.Append([]byte("first"))
	w.Append([]byte("second"))
	w.Close()
	rec, _ := Recover(dir, id, 1) // record 1 is in the checkpointed state
	for _, r := range rec.Records {
		fmt.Println(r.Seq, string(r.Payload))
	}
	// Output: 2 second
}

// WriteOutPaced only writes out: any range, chunk-aligned or not and past
// the end, leaves the file as it was; and a spare segment is head then
// zeros to SegmentBytes, written out chunk by chunk.
func TestWriteOutPaced_LeavesTheFileAsItWas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("talentreg"), (3*flushChunk)/9+123)
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := int64(len(want))
	for _, r := range [][2]int64{{0, n}, {7, flushChunk + 5}, {n - 1, n + 10*flushChunk}, {0, 0}} {
		if err := WriteOutPaced(f, r[0], r[1]); err != nil {
			t.Fatalf("WriteOutPaced(%d, %d): %v", r[0], r[1], err)
		}
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file changed (%d bytes, err %v)", len(got), err)
	}

	head := []byte("segment head")
	zf, err := zeroFile(filepath.Join(t.TempDir(), "spare"), head)
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	got, err := os.ReadFile(zf.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != SegmentBytes || !bytes.Equal(got[:len(head)], head) || bytes.IndexFunc(got[len(head):], func(r rune) bool { return r != 0 }) >= 0 {
		t.Fatalf("spare: %d bytes, head %q, or not zeros after it", len(got), got[:min(len(got), len(head))])
	}
}
