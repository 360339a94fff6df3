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

// Writer appends records to one segment.
type Writer struct {
	f    *os.File
	next uint64 // sequence of the next record
	size int64
	buf  []byte
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
	path := filepath.Join(dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	h := segHeader(id, first)
	if _, err := f.Write(h); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{f: f, next: first, size: int64(len(h))}, nil
}

// Next returns the sequence the next record gets.
func (w *Writer) Next() uint64 { return w.next }

// Size returns the segment's length in bytes.
func (w *Writer) Size() int64 { return w.size }

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
	if w.Crash != nil {
		if _, err := w.f.Write(w.buf[:len(w.buf)/2]); err != nil {
			return 0, err
		}
		_ = fdatasync(w.f)
		w.Crash("torn")
		if _, err := w.f.Write(w.buf[len(w.buf)/2:]); err != nil {
			return 0, err
		}
	} else if _, err := w.f.Write(w.buf); err != nil {
		return 0, err
	}
	if err := fdatasync(w.f); err != nil {
		return 0, err
	}
	if w.Crash != nil {
		w.Crash("synced")
	}
	w.size += int64(len(w.buf))
	w.next++
	return seq, nil
}

// Close closes the segment file.
func (w *Writer) Close() error { return w.f.Close() }

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
