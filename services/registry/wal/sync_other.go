//go:build !linux

package wal

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

// WriteOutPaced does nothing here: the fsync that follows writes it all.
func WriteOutPaced(f *os.File, from, to int64) error { return nil }
