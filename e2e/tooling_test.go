package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"talentreg/platform/auth"
	"talentreg/platform/freeport"
)

// repoRoot is the repository's top folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestMakeRun_CtrlCStopsEverythingAndExitsZero runs `make run` on a
// terminal (script(1) provides one) on free ports, waits until it is up,
// and types Ctrl-C: the three services stop and make exits 0 without an
// error line. Before, run.sh exited 130 on SIGINT and make, which gets the
// SIGINT too, failed the run ("make: *** [Makefile: run] Error 130").
// The binaries are those TestMain built; talentctl is a stand-in, the demo
// load being beside the point.
func TestMakeRun_CtrlCStopsEverythingAndExitsZero(t *testing.T) {
	t.Parallel()
	if binDir == "" {
		t.Skip("-short: the binaries are not built")
	}
	needTool(t, "make", "apt-get install make")
	needTool(t, "script", "apt-get install bsdutils")
	needTool(t, "curl", "apt-get install curl")
	bin := t.TempDir()
	for _, name := range []string{"registry", "metrics", "gateway"} {
		if err := os.Symlink(filepath.Join(binDir, name), filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "talentctl"), []byte("#!/bin/sh\necho talentctl stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeport.For(t)
	// The stand-in talentctl cannot write the auth config make run serves
	// with: write it, as `talentctl auth dev-config` would.
	data := t.TempDir()
	if err := auth.WriteDevConfig(filepath.Join(data, "dev"), nil); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"BIN_DIR="+bin, "DATA_DIR="+data,
		"HTTP_ADDR="+httpAddr, "REGISTRY_ADDR="+freeport.For(t), "METRICS_ADDR="+freeport.For(t),
		"GATEWAY_ADMIN_ADDR="+freeport.For(t), "REGISTRY_ADMIN_ADDR="+freeport.For(t), "METRICS_ADMIN_ADDR="+freeport.For(t),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// -o build: the binaries are given, not built.
	cmd := exec.CommandContext(ctx, "script", "-qec", "make -o build run", "/dev/null")
	cmd.Dir, cmd.Env = repoRoot(t), env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var out bytes.Buffer
	ready := make(chan bool, 1)
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sent := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "Press Ctrl-C") {
				sent = true
				ready <- true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	if !<-ready {
		cmd.Wait()
		<-lines
		t.Fatalf("make run did not come up:\n%s", out.String())
	}
	if _, err := stdin.Write([]byte{0x03}); err != nil { // Ctrl-C on the terminal
		t.Fatal(err)
	}
	err = cmd.Wait()
	<-lines
	if err != nil || strings.Contains(out.String(), "make: ***") {
		t.Fatalf("make run after Ctrl-C: %v; output:\n%s", err, out.String())
	}
	for _, want := range []string{"gateway stopped", "metrics stopped", "registry stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if c, err := net.DialTimeout("tcp", httpAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the gateway still listens on %s after make run ended", httpAddr)
	}
}

// TestCIRun_FailsWhenTheToolchainCannotInstall: when the pinned proto
// toolchain cannot be installed, .ci/run fails and says why, instead of
// skipping check-generated and lint and going on (as it did).
func TestCIRun_FailsWhenTheToolchainCannotInstall(t *testing.T) {
	t.Parallel()
	needTool(t, "make", "apt-get install make")
	// A copy of the script and the Makefile, with no toolchain installed
	// and no module proxy to install it from.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".ci"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".ci/run", "Makefile"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(dir, ".ci", "run"), "checks")
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf(".ci/run checks without a toolchain: %v, want exit 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "could not be installed") || strings.Contains(string(out), "== make check-generated") {
		t.Fatalf("output does not say the toolchain could not be installed, or went on:\n%s", out)
	}
}
