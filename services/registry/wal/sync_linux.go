package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data durable without its timestamps.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// WriteOutPaced writes f's dirty pages in [from, to) to the disk one
// flushChunk at a time, waiting for each, so that a big background flush
// (a checkpoint's fsync of the database file, a spare segment's zeros)
// never queues more than a chunk ahead of the log's fdatasync: the disk's
// cache flush that completes an fdatasync waits for every write queued
// before it, and 16 MiB queued at once held acknowledgements back for
// 150 ms. It makes nothing durable: an fsync must follow, and finds
// little left to write. Where sync_file_range is refused it does nothing.
func WriteOutPaced(f *os.File, from, to int64) error {
	fd := int(f.Fd())
	const flags = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	for off := from; off < to; off += flushChunk {
		switch err := unix.SyncFileRange(fd, off, min(flushChunk, to-off), flags); err {
		case nil:
		case unix.ENOSYS, unix.EINVAL, unix.EOPNOTSUPP:
			return nil
		default:
			return err
		}
	}
	return nil
}
