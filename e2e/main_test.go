package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// shared is the stack most tests use: one registry with a short progress
// interval, one metrics replica, and a gateway whose write timeout is
// shorter than the watch test holds its stream. Tests on it use ids of
// their own (uid) and never assume an empty database; tests that need one,
// or that kill processes, start a stack of their own.
//
// Tests with processes of their own call t.Parallel: they spend most of
// their time waiting on those processes (starts, elections, faults), so
// they overlap, -test.parallel (GOMAXPROCS) at a time, after the serial
// tests. Tests on the shared stack, and those that compare timings or
// latencies (TestCrash_RegistrySIGKILLMidLoad, TestWatch_*), stay serial.
var shared *stack

// sharedWriteTimeout is the shared gateway's --write-timeout.
const sharedWriteTimeout = 2 * time.Second

func TestMain(m *testing.M) {
	flag.Parse()
	// Every binary a test starts inherits it, through os.Environ.
	os.Setenv("GORACE", childRace)
	os.Exit(run(m))
}

// childRace is GORACE for the race-built binaries the tests start: a race
// stops the child at once (exit 66, which the test then sees), and its
// exit does not wait the race runtime's default second for other reports
// — a second on every graceful stop, flag listing and subcommand, which
// with halt_on_error no report needs.
const childRace = "halt_on_error=1 atexit_sleep_ms=0"

func run(m *testing.M) int {
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode (builds and starts the real binaries)")
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "talentreg-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir = tmp
	if err := setupAuth(filepath.Join(tmp, "dev")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: auth config:", err)
		return 1
	}
	start := time.Now()
	if err := buildBinaries(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	fmt.Printf("e2e: built the binaries in %v (race=%v)\n", time.Since(start).Round(time.Millisecond), raceEnabled)
	dir, err := os.MkdirTemp(tmp, "shared-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	shared, err = newStack(dir, stackOptions{
		registryArgs: []string{"--progress-interval", "200ms"},
		gatewayArgs:  []string{"--write-timeout", sharedWriteTimeout.String(), "--max-body-bytes", strconv.Itoa(sharedBodyLimit)},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: shared stack:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Printf("e2e: shared stack logs:\n%s\n", shared.logs(25))
	}
	shared.close()
	return code
}

// sharedBodyLimit is the shared gateway's --max-body-bytes: the default.
const sharedBodyLimit = 4 << 20

var uidSeq atomic.Int64

// uid returns a fresh resource id with the given prefix.
func uid(prefix string) string {
	return prefix + "-" + strconv.FormatInt(uidSeq.Add(1), 36)
}

// needShared skips tests that use the shared stack in -short mode.
func needShared(t *testing.T) *stack {
	t.Helper()
	if shared == nil {
		t.Skip("e2e: no shared stack (-short)")
	}
	return shared
}
