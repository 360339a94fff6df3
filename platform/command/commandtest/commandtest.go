// Package commandtest runs a binary's tests in a child process as an
// unprivileged user, for tests of what a user without rights to a file
// sees: tests run as root in CI, and root passes every permission check,
// so a chmod 000 file proves nothing in-process.
package commandtest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// nobody is the uid and gid the child runs as when the test runs as root.
const nobody = 65534

// SharedDir returns a new directory that every user can enter and read
// (t.TempDir is private to its owner), removed when the test ends.
func SharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "commandtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// RunUnprivileged runs the test binary again with -test.run selecting the
// test named test, env added to the environment: as the user nobody when
// this process is root, else as this user. It returns the child's output
// (stdout and stderr) and exit code. When the child cannot be started as
// nobody (no CAP_SETUID), the test is skipped, saying why.
func RunUnprivileged(t *testing.T, test string, env ...string) (output string, exitCode int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var attr *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		// go test builds the binary in a private folder: nobody could not
		// run it there.
		exe = copyExecutable(t, exe, filepath.Join(SharedDir(t), filepath.Base(exe)))
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = attr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	case errors.Is(err, syscall.EPERM) && attr != nil:
		t.Skipf("cannot start a child as uid %d: %v", nobody, err)
	default:
		t.Fatal(err)
	}
	return "", 0
}

func copyExecutable(t *testing.T, from, to string) string {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}
