package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// crashHook returns the write-ahead log's fault hook for TALENTREG_WAL_CRASH
// = "point:N": at the N-th passage through point (bolt.Options.Crash) the
// process kills itself with SIGKILL, as abruptly as a power cut ends it.
// Only the crash tests set it.
func crashHook(spec string) (func(string), error) {
	point, n, ok := strings.Cut(spec, ":")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 {
		return nil, fmt.Errorf("TALENTREG_WAL_CRASH: want point:N, got %q", spec)
	}
	var seen atomic.Int64
	return func(p string) {
		if p == point && seen.Add(1) == int64(count) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}, nil
}
