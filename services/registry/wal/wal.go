// Package wal is a write-ahead log: numbered records appended to segment
// files in one folder, each record made durable by one sequential append
// and one fdatasync, and a checkpoint file saying up to which record the
// data the log protects is durable elsewhere.
//
// A record is framed by its length and sequence number, the two covered by
// a header checksum, and its payload by a second checksum (CRC-32C). At
// recovery (Recover) the records are read back in order. A damaged record
// after which nothing intact follows is a torn write — the tail of an
// append that a crash interrupted, never acknowledged — and is cut. A
// damaged record followed by intact ones is damage to acknowledged data
// and is refused (ErrCorrupt), never skipped.
//
// Layout of the folder:
//
//	checkpoint             the last checkpoint (WriteCheckpoint), replaced atomically
//	<first seq, hex>.wal   segments: a header, then records
package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// IDSize is the length of a log's id: the id of the database file it
// belongs to.
const IDSize = 16

// Errors of Recover and ReadCheckpoint.
var (
	// ErrCorrupt is returned for damage that is not a torn tail: a damaged
	// record with intact records after it, a gap in the sequence, a
	// damaged segment header or checkpoint. The message says where.
	ErrCorrupt = errors.New("write-ahead log is damaged")
	// ErrForeign is returned when a segment or checkpoint belongs to
	// another database (another id).
	ErrForeign = errors.New("write-ahead log belongs to another database")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	segMagic     = "TRWALSG1"
	segHeaderLen = 8 + IDSize + 8 + 4 // magic, id, first seq, crc
	frameLen     = 4 + 8 + 4 + 4      // length, seq, header crc, payload crc
	// maxRecord bounds a record's length, so a damaged length is never
	// taken for a huge record.
	maxRecord = 1 << 30
	segSuffix = ".wal"
)

// Record is one record of the log.
type Record struct {
	Seq     uint64
	Payload []byte
}

// segmentName is the file name of the segment whose first record is seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

// segment is a segment file found in the folder.
type segment struct {
	path  string
	first uint64
}

// segments lists dir's segments in order.
func segments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, segment{path: filepath.Join(dir, name), first: first})
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmpU64(a.first, b.first) })
	return segs, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendFrame appends the frame of one record to buf.
func appendFrame(buf []byte, seq uint64, payload []byte) []byte {
	var h [frameLen]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[4:], seq)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	binary.LittleEndian.PutUint32(h[16:], crc32.Checksum(payload, castagnoli))
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// parseFrame reads the record at the start of b; ok is false when it is
// not an intact record.
func parseFrame(b []byte) (seq uint64, payload []byte, n int, ok bool) {
	if len(b) < frameLen {
		return 0, nil, 0, false
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return 0, nil, 0, false
	}
	l := binary.LittleEndian.Uint32(b[0:])
	if l > maxRecord || uint64(len(b)-frameLen) < uint64(l) {
		return 0, nil, 0, false
	}
	payload = b[frameLen : frameLen+int(l)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, nil, 0, false
	}
	return binary.LittleEndian.Uint64(b[4:]), payload, frameLen + int(l), true
}

func segHeader(id []byte, first uint64) []byte {
	h := make([]byte, 0, segHeaderLen)
	h = append(h, segMagic...)
	h = append(h, id...)
	h = binary.LittleEndian.AppendUint64(h, first)
	return binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
}

// Recovery is what Recover found.
type Recovery struct {
	// Records are the intact records after the checkpoint's, in order.
	Records []Record
	// Last is the sequence of the last intact record (or after, if none).
	Last uint64
	// Cut describes the torn tail that was cut, empty if none.
	Cut string
}

// Recover reads the records of dir with a sequence above after, checking
// that the log belongs to id and that the sequence has no gap from after
// on. A torn tail is cut from the files (truncated, later segments
// removed); damage before intact records is refused with ErrCorrupt.
// Records at or below after (already applied) are checked but not
// returned.
func Recover(dir string, id []byte, after uint64) (Recovery, error) {
	segs, err := segments(dir)
	if err != nil {
		return Recovery{}, err
	}
	rec := Recovery{Last: after}
	datas := make([][]byte, len(segs))
	for i, s := range segs {
		if datas[i], err = os.ReadFile(s.path); err != nil {
			return rec, err
		}
	}
	// expect is the next sequence; 0 until the first record fixes it.
	var expect uint64
	for i, s := range segs {
		data := datas[i]
		if len(data) < segHeaderLen {
			if laterIntact(datas, i, 0, 0) {
				return rec, fmt.Errorf("%s: %w: a segment header is cut short but later segments hold records", s.path, ErrCorrupt)
			}
			if err := cut(segs, i, 0, &rec, "a segment header cut short"); err != nil {
				return rec, err
			}
			break
		}
		h := data[:segHeaderLen]
		if !bytes.Equal(h, segHeader(h[8:8+IDSize], s.first)) {
			return rec, fmt.Errorf("%s: %w: its header is damaged or names another first record", s.path, ErrCorrupt)
		}
		if !bytes.Equal(h[8:8+IDSize], id) {
			return rec, fmt.Errorf("%s: %w (its id %x, the database's %x)", s.path, ErrForeign, h[8:8+IDSize], id)
		}
		if expect != 0 && s.first != expect {
			return rec, fmt.Errorf("%s: %w: it starts at record %d, the previous segment ended before %d", s.path, ErrCorrupt, s.first, expect)
		}
		expect = s.first
		off := segHeaderLen
		for off < len(data) {
			seq, payload, n, ok := parseFrame(data[off:])
			if ok && seq != expect {
				return rec, fmt.Errorf("%s: %w: record %d at offset %d, expected %d", s.path, ErrCorrupt, seq, off, expect)
			}
			if !ok && allZero(data[off:]) {
				break // the unused, zero-filled rest of the segment
			}
			if !ok {
				if laterIntact(datas, i, off+1, expect) {
					return rec, fmt.Errorf("%s: %w: the record at offset %d (record %d) fails its checksum but intact records follow it: "+
						"this is damage to acknowledged writes, not a torn write; refusing to replay (restore the database from a backup)",
						s.path, ErrCorrupt, off, expect)
				}
				if err := cut(segs, i, int64(off), &rec, fmt.Sprintf("a torn record at offset %d of %s (record %d), %d bytes", off, filepath.Base(s.path), expect, len(data)-off)); err != nil {
					return rec, err
				}
				return finish(rec, after)
			}
			if seq > after {
				if rec.Last != seq-1 {
					return rec, fmt.Errorf("%s: %w: record %d follows the checkpoint at %d: records in between are missing", s.path, ErrCorrupt, seq, rec.Last)
				}
				rec.Records = append(rec.Records, Record{Seq: seq, Payload: payload})
				rec.Last = seq
			}
			expect++
			off += n
		}
	}
	return finish(rec, after)
}

func finish(rec Recovery, after uint64) (Recovery, error) {
	if rec.Last < after {
		rec.Last = after
	}
	return rec, nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// laterIntact reports whether an intact record with a sequence at or above
// min starts anywhere from offset from of segment i on: a damaged record
// before it is then not a torn tail.
func laterIntact(datas [][]byte, i, from int, min uint64) bool {
	for j := i; j < len(datas); j++ {
		d := datas[j]
		start := from
		if j > i {
			start = segHeaderLen
		}
		for off := max(start, 0); off+frameLen <= len(d); off++ {
			if off+8 <= len(d) && binary.LittleEndian.Uint64(d[off:]) == 0 {
				// Zeros (the unused rest of a segment): no record starts
				// where eight zero bytes do (its length is not zero), so
				// the next can only start in the run's last 7 bytes or after.
				end := off
				for end+8 <= len(d) && binary.LittleEndian.Uint64(d[end:]) == 0 {
					end += 8
				}
				off = end - 7
			}
			if seq, _, _, ok := parseFrame(d[off:]); ok && seq >= min {
				return true
			}
		}
	}
	return false
}

// cut truncates segment i at off and removes the segments after it.
func cut(segs []segment, i int, off int64, rec *Recovery, what string) error {
	if off < segHeaderLen {
		if err := os.Remove(segs[i].path); err != nil {
			return err
		}
	} else if err := truncateSync(segs[i].path, off); err != nil {
		return err
	}
	for _, s := range segs[i+1:] {
		if err := os.Remove(s.path); err != nil {
			return err
		}
	}
	rec.Cut = what
	return syncDir(filepath.Dir(segs[i].path))
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// Pending reports whether dir holds any segment file.
func Pending(dir string) (bool, error) {
	segs, err := segments(dir)
	return len(segs) > 0, err
}

// RemoveBefore removes the segments whose records all precede seq (every
// segment that starts before the one starting at seq).
func RemoveBefore(dir string, seq uint64) error {
	segs, err := segments(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, s := range segs {
		if s.first >= seq {
			break
		}
		if err := os.Remove(s.path); err != nil {
			return err
		}
		removed = true
	}
	if !removed {
		return nil
	}
	return syncDir(dir)
}

// RemoveAll removes every segment of dir.
func RemoveAll(dir string) error { return RemoveBefore(dir, ^uint64(0)) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
