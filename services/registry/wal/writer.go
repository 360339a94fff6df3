package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// SegmentBytes is the size segments are created at, filled with zeros:
// an append then overwrites blocks the file already has, and its
// fdatasync writes data only — no change of the file's size or extents to
// journal (on ext4, such a journal commit also flushes the dirty data of
// every other file with pending allocations: the database's pages). A
// full segment is followed by the next.
const SegmentBytes = 16 << 20

// flushChunk is how much a background flush writes out at a time (see
// WriteOutPaced).
const flushChunk = 1 << 20

// Writer appends records to a log's segments.
type Writer struct {
	dir  string
	id   []byte
	f    *os.File
	next uint64 // sequence of the next record
	size int64  // bytes of the current segment in use
	all  int64  // bytes appended since the last Rotate
	buf  []byte
	// spare is a zero-filled file made ready in the background for the
	// next segment, so that starting one costs a header write and a
	// rename, not SegmentBytes of zeros. spareBusy: one is being made or
	// is ready.
	spare     chan spareFile
	spareBusy bool
	// Crash, if set, is called at the named points of an append ("torn":
	// half of the frame written; "synced": the frame durable): fault
	// injection for the crash tests.
	Crash func(point string)
}

// Create starts the segment of dir whose first record will be first,
// durably (the file and its name), and returns its writer.
func Create(dir string, id []byte, first uint64) (*Writer, error) {
	if len(id) != IDSize {
		return nil, fmt.Errorf("wal: id of %d bytes, want %d", len(id), IDSize)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	_ = os.Remove(filepath.Join(dir, spareName)) // left by a crash
	f, size, err := createSegment(dir, id, first)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, id: bytes.Clone(id), f: f, next: first, size: size, spare: make(chan spareFile, 1)}
	w.prepareSpare()
	return w, nil
}

const spareName = "spare.tmp"

type spareFile struct {
	f   *os.File
	err error
}

// prepareSpare starts making the next segment's file.
func (w *Writer) prepareSpare() {
	w.spareBusy = true
	go func() {
		f, err := zeroFile(filepath.Join(w.dir, spareName), nil)
		w.spare <- spareFile{f, err}
	}()
}

// Rotate starts a new segment: the records appended from now on go to
// it, and the segments before it hold only records before Next(). Size
// starts again from zero.
func (w *Writer) Rotate() error {
	if err := w.rotate(); err != nil {
		return err
	}
	w.all = 0
	return nil
}

func (w *Writer) rotate() error {
	f, size, err := w.newSegment(w.next)
	if err != nil {
		return err
	}
	_ = w.f.Close()
	w.f, w.size = f, size
	return nil
}

// newSegment starts the segment whose first record is first, from the
// spare if it is ready.
func (w *Writer) newSegment(first uint64) (*os.File, int64, error) {
	if w.spareBusy {
		select {
		case sp := <-w.spare:
			w.spareBusy = false
			if sp.err == nil {
				f, size, err := w.useSpare(sp.f, first)
				if err == nil {
					w.prepareSpare()
				}
				return f, size, err
			}
		default:
		}
	}
	f, size, err := createSegment(w.dir, w.id, first)
	if err == nil && !w.spareBusy {
		w.prepareSpare()
	}
	return f, size, err
}

// useSpare turns the spare into the segment starting at first.
func (w *Writer) useSpare(f *os.File, first uint64) (*os.File, int64, error) {
	h := segHeader(w.id, first)
	if _, err := f.WriteAt(h, 0); err != nil {
		f.Close()
		return nil, 0, err
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return nil, 0, err
	}
	if err := os.Rename(filepath.Join(w.dir, spareName), filepath.Join(w.dir, segmentName(first))); err != nil {
		f.Close()
		return nil, 0, err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, int64(len(h)), nil
}

// zeroFile creates path holding head then zeros up to SegmentBytes,
// synced.
func zeroFile(path string, head []byte) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if _, err := f.Write(head); err != nil {
		return fail(err)
	}
	zeros := make([]byte, flushChunk)
	for n := int64(len(head)); n < SegmentBytes; n += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), SegmentBytes-n)]); err != nil {
			return fail(err)
		}
		// Out to the disk a chunk at a time (see WriteOutPaced): a spare
		// is made while the log appends.
		if err := WriteOutPaced(f, n, n+int64(len(zeros))); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return f, nil
}

// createSegment creates the segment starting at first, SegmentBytes of
// zeros after its header, durably.
func createSegment(dir string, id []byte, first uint64) (*os.File, int64, error) {
	path := filepath.Join(dir, segmentName(first))
	tmp := path + ".tmp"
	h := segHeader(id, first)
	f, err := zeroFile(tmp, h)
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(tmp)
		return nil, 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, int64(len(h)), nil
}

// Next returns the sequence the next record gets.
func (w *Writer) Next() uint64 { return w.next }

// Size returns the bytes appended since the last Rotate.
func (w *Writer) Size() int64 { return w.all }

// Append writes one record with the next sequence, in one write, and
// fdatasyncs the segment: when it returns nil the record is durable. After
// an error the segment's tail is unknown: the writer must not be used
// again (recovery cuts what a failed append left).
func (w *Writer) Append(payload []byte) (uint64, error) {
	if len(payload) > maxRecord {
		return 0, fmt.Errorf("wal: record of %d bytes, at most %d", len(payload), maxRecord)
	}
	seq := w.next
	w.buf = appendFrame(w.buf[:0], seq, payload)
	if w.size > segHeaderLen && w.size+int64(len(w.buf)) > SegmentBytes {
		// Full: the next segment starts with this record. (A record
		// bigger than a segment extends it.)
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	if w.Crash != nil {
		half := len(w.buf) / 2
		if _, err := w.f.WriteAt(w.buf[:half], w.size); err != nil {
			return 0, err
		}
		_ = fdatasync(w.f)
		w.Crash("torn")
		if _, err := w.f.WriteAt(w.buf[half:], w.size+int64(half)); err != nil {
			return 0, err
		}
	} else if _, err := w.f.WriteAt(w.buf, w.size); err != nil {
		return 0, err
	}
	if err := fdatasync(w.f); err != nil {
		return 0, err
	}
	if w.Crash != nil {
		w.Crash("synced")
	}
	w.size += int64(len(w.buf))
	w.all += int64(len(w.buf))
	w.next++
	return seq, nil
}

// Close closes the segment file, and removes the spare.
func (w *Writer) Close() error {
	if w.spareBusy {
		if sp := <-w.spare; sp.f != nil {
			sp.f.Close()
		}
		_ = os.Remove(filepath.Join(w.dir, spareName))
		w.spareBusy = false
	}
	return w.f.Close()
}

// Checkpoint says that the records up to Seq are durable in the database
// the log belongs to, as of the database state State describes.
type Checkpoint struct {
	ID  []byte
	Seq uint64
	// Clean marks a log closed cleanly: no record after Seq exists.
	Clean bool
	// State is the database's own description of the checkpointed state
	// (for bbolt: its two meta pages), opaque to the log.
	State []byte
}

const cpMagic = "TRWALCP1"

// WriteCheckpoint replaces dir's checkpoint durably: written to a
// temporary file, synced, renamed over the old one, the folder synced.
func WriteCheckpoint(dir string, cp Checkpoint) error {
	if len(cp.ID) != IDSize {
		return fmt.Errorf("wal: id of %d bytes, want %d", len(cp.ID), IDSize)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b := []byte(cpMagic)
	b = append(b, cp.ID...)
	b = binary.LittleEndian.AppendUint64(b, cp.Seq)
	clean := byte(0)
	if cp.Clean {
		clean = 1
	}
	b = append(b, clean)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cp.State)))
	b = append(b, cp.State...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(dir, "checkpoint.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "checkpoint")); err != nil {
		return err
	}
	return syncDir(dir)
}

// ReadCheckpoint returns dir's checkpoint, or nil if it has none.
func ReadCheckpoint(dir string) (*Checkpoint, error) {
	path := filepath.Join(dir, "checkpoint")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	const fixed = len(cpMagic) + IDSize + 8 + 1 + 4
	if len(b) < fixed+4 || !bytes.Equal(b[:len(cpMagic)], []byte(cpMagic)) ||
		crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%s: %w: the checkpoint file fails its checksum", path, ErrCorrupt)
	}
	p := len(cpMagic)
	cp := &Checkpoint{ID: bytes.Clone(b[p : p+IDSize])}
	p += IDSize
	cp.Seq = binary.LittleEndian.Uint64(b[p:])
	p += 8
	cp.Clean = b[p] == 1
	p++
	n := int(binary.LittleEndian.Uint32(b[p:]))
	p += 4
	if p+n != len(b)-4 {
		return nil, fmt.Errorf("%s: %w: the checkpoint file has a wrong length", path, ErrCorrupt)
	}
	cp.State = bytes.Clone(b[p : p+n])
	return cp, nil
}
