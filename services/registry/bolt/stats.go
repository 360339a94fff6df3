package bolt

import (
	"os"
	"time"
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
func (s *Store) DiskStats() (DiskStats, error) {
	st := s.db.Stats()
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return DiskStats{}, err
	}
	return DiskStats{
		FileBytes:       fi.Size(),
		FreeBytes:       int64(st.FreePageN+st.PendingPageN) * int64(s.db.Info().PageSize),
		CommitWriteTime: st.TxStats.GetWriteTime(),
	}, nil
}
