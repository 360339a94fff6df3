package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"talentreg/platform/freeport"
)

// readmeBlocks returns the ```sh blocks of README.md found under the
// level-2 headings named, in the order printed.
func readmeBlocks(t *testing.T, headings ...string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = false
			for _, h := range headings {
				in = in || strings.TrimPrefix(line, "## ") == h
			}
		case in && cur == nil && line == "```sh":
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestReadme_ExamplesRunInOrder starts `make run`'s script on free ports
// (the demo data loaded, auth and TLS on) and runs the README's HTTP and
// talentctl examples of "Trying it" and "Lifecycles, targets and
// policies" in the order printed, as a reader would paste them: every
// command must succeed (curl fails on an HTTP error, talentctl on any
// error). Left out: the grpcurl block (a tool `make grpcurl` installs) and
// the import into "another, empty registry", which is not running.
func TestReadme_ExamplesRunInOrder(t *testing.T) {
	t.Parallel()
	if binDir == "" {
		t.Skip("-short: the binaries are not built")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		needTool(t, tool, "apt-get install "+tool)
	}
	root := repoRoot(t)
	bin := t.TempDir()
	for _, name := range []string{"registry", "metrics", "gateway"} {
		if err := os.Symlink(filepath.Join(binDir, name), filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "talentctl"), "talentreg/talentctl/cmd/talentctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building talentctl: %v\n%s", err, out)
	}

	data := t.TempDir()
	httpAddr, registryAddr, metricsAddr := freeport.For(t), freeport.For(t), freeport.For(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, filepath.Join(root, "scripts", "run.sh"))
	run.Dir = root
	run.Env = append(os.Environ(), "BIN_DIR="+bin, "DATA_DIR="+data, "READY_TIMEOUT=180",
		"HTTP_ADDR="+httpAddr, "REGISTRY_ADDR="+registryAddr, "METRICS_ADDR="+metricsAddr,
		"GATEWAY_ADMIN_ADDR="+freeport.For(t), "REGISTRY_ADMIN_ADDR="+freeport.For(t), "METRICS_ADMIN_ADDR="+freeport.For(t))
	out, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stderr = run.Stdout
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var runOut strings.Builder
	ready := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			mu.Lock()
			runOut.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !sent && strings.Contains(sc.Text(), "Press Ctrl-C") {
				sent = true
				ready <- true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	defer func() {
		_ = run.Process.Signal(os.Interrupt)
		<-done
		_ = run.Wait()
	}()
	if !<-ready {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("make run did not come up:\n%s", runOut.String())
	}

	blocks := readmeBlocks(t, "Trying it", "Lifecycles, targets and policies")
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	port := httpAddr[strings.LastIndexByte(httpAddr, ':')+1:]
	for _, b := range blocks {
		if strings.Contains(b, "grpcurl") {
			continue
		}
		for _, line := range strings.Split(b, "\n") {
			if strings.Contains(line, "into another, empty registry") {
				continue
			}
			line = strings.ReplaceAll(line, "data/dev", filepath.Join(data, "dev"))
			line = strings.ReplaceAll(line, "localhost:8080", "localhost:"+port)
			line = strings.ReplaceAll(line, "bin/talentctl", filepath.Join(bin, "talentctl"))
			// The reader sees an HTTP error in the output; the test needs
			// curl to fail on one. `head` may close the pipe before curl
			// is done (SIGPIPE under pipefail): sed reads it all.
			line = strings.Replace(line, "api() { curl -s ", "api() { curl -sSf ", 1)
			line = regexp.MustCompile(`\| head -1\b`).ReplaceAllString(line, "| sed -n 1p")
			script.WriteString(line + "\n")
		}
	}
	if !strings.Contains(script.String(), "api() { curl -sSf ") {
		t.Fatalf("the README's api() helper was not found to make curl fail on HTTP errors:\n%s", script.String())
	}
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = t.TempDir() // exports are written here
	sh.Env = append(os.Environ(), "TALENTREG_REGISTRY="+registryAddr, "TALENTREG_METRICS="+metricsAddr)
	res, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's examples failed: %v\nscript:\n%s\noutput:\n%s", err, script.String(), res)
	}
	if !strings.Contains(string(res), "HTTP/2 401") {
		t.Errorf("the request without a token did not answer 401:\n%s", res)
	}
}
