package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needTool returns the path of a command a test needs: on $PATH or in the
// repository's .tools/bin, where scripts/ops-tools.sh installs it. Without
// it the test skips, except in CI (CI set), where it fails: .ci/run runs
// scripts/ops-tools.sh first.
func needTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p, err := filepath.Abs(filepath.Join("..", ".tools", "bin", name)); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed and CI is set: CI must run this test (scripts/ops-tools.sh installs it)", name)
	}
	t.Skipf("%s not installed (scripts/ops-tools.sh installs it); with CI set this fails", name)
	return ""
}

// runTool runs a command and returns its combined output; a non-zero exit
// fails the test.
func runTool(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}
