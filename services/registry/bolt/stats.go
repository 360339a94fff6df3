package bolt

import (
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// DiskStats is what the database costs on disk, for monitoring.
type DiskStats struct {
	// FileBytes is the file's size on disk; bbolt grows it ahead of use.
	FileBytes int64
	// FreeBytes is the space of pages free for reuse inside the file.
	FreeBytes int64
	// CommitWriteTime is the total time commits spent writing pages and
	// fsyncing the file since Open; with the commit count it gives the mean
	// fsync-bound commit latency.
	CommitWriteTime time.Duration
}

// DiskStats returns the current DiskStats. It is cheap: no transaction.
func (d *DB) DiskStats() (DiskStats, error) {
	st := d.db.Stats()
	fi, err := os.Stat(d.db.Path())
	if err != nil {
		return DiskStats{}, err
	}
	return DiskStats{
		FileBytes:       fi.Size(),
		FreeBytes:       int64(st.FreePageN+st.PendingPageN) * int64(d.db.Info().PageSize),
		CommitWriteTime: st.TxStats.GetWriteTime(),
	}, nil
}

// BucketUsage is the space one bucket of the file takes.
type BucketUsage struct {
	Name string
	Keys int
	// Allocated is the bytes of the bucket's pages; InUse the part its
	// keys, values and page headers fill.
	Allocated, InUse int64
}

// Usage is where the file's space goes.
type Usage struct {
	FileBytes int64
	PageSize  int
	// FreeBytes is the space of free pages, reused before the file grows.
	FreeBytes int64
	Buckets   []BucketUsage
}

// Usage reports the file's size and each bucket's share of it, so that an
// operator can see what a growing file holds (`registry check` prints it).
func (d *DB) Usage() (Usage, error) {
	u := Usage{PageSize: d.db.Info().PageSize}
	st := d.db.Stats()
	u.FreeBytes = int64(st.FreePageN+st.PendingPageN) * int64(u.PageSize)
	err := d.db.View(func(btx *bbolt.Tx) error {
		u.FileBytes = btx.Size()
		return btx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			bs := b.Stats()
			u.Buckets = append(u.Buckets, BucketUsage{
				Name: string(name), Keys: bs.KeyN,
				Allocated: int64(bs.BranchAlloc + bs.LeafAlloc), InUse: int64(bs.BranchInuse + bs.LeafInuse),
			})
			return nil
		})
	})
	return u, err
}
