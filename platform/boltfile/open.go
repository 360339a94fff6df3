package boltfile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Errors of Opener.OpenFile besides ErrCorrupt and the os errors of
// opening the file (os.ErrNotExist, os.ErrPermission, …), which it returns
// as they are.
var (
	// ErrLocked is returned when another process holds the file's lock
	// past the timeout.
	ErrLocked = errors.New("database file is locked by another process")
	// ErrEmpty is returned for an empty file when the file must exist.
	ErrEmpty = errors.New("empty file")
)

// lockPoll is how often a locked file is tried again.
const lockPoll = 50 * time.Millisecond

// Opener opens files for bbolt (bbolt.Options.OpenFile): it locks the file
// as bbolt would — exclusively to write, shared to read — and verifies a
// non-empty one before bbolt reads it, so that bbolt only ever maps a file
// whose pages are all there and in place. bbolt's own lock then converts
// the one already held, on the same open file.
type Opener struct {
	// Timeout bounds the wait for the lock; zero or less tries once.
	Timeout time.Duration
	// MustExist refuses a missing file (an error wrapping os.ErrNotExist)
	// or an empty one (ErrEmpty) instead of letting bbolt create one.
	MustExist bool
	// Prepare, if set, is called on a non-empty file once it is locked
	// and before it is verified: the last chance to change the file
	// before bbolt reads it (a write-ahead log putting back the meta pages
	// of its checkpoint).
	Prepare func(f *os.File) error
}

// OpenFile has os.OpenFile's signature. Errors: those of os.OpenFile,
// ErrLocked, ErrEmpty, and Verify's (wrapping ErrCorrupt). A file it
// refuses is closed and left as it was.
func (o Opener) OpenFile(name string, flag int, perm os.FileMode) (_ *os.File, err error) {
	if o.MustExist {
		flag &^= os.O_CREATE
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close() // releases the lock too
		}
	}()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if err := lock(f, flag&(os.O_WRONLY|os.O_RDWR) != 0, o.Timeout); err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil { // again: it may have changed before the lock
		return nil, err
	}
	if fi.Size() == 0 {
		if o.MustExist {
			return nil, ErrEmpty
		}
		return f, nil // bbolt initialises it
	}
	if o.Prepare != nil {
		if err := o.Prepare(f); err != nil {
			return nil, err
		}
	}
	if err := Verify(f); err != nil {
		return nil, err
	}
	return f, nil
}

// lock takes a flock on f, polling until timeout.
func lock(f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		case !time.Now().Before(deadline):
			return ErrLocked
		}
		time.Sleep(lockPoll)
	}
}
