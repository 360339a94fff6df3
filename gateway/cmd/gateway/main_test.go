package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun_ServesAndStopsCleanly runs the command on port 0, configured
// partly from the environment, reads the bound addresses from its one
// "serving" log line, and checks it serves and returns nil when its
// context ends (what SIGTERM does).
func TestRun_ServesAndStopsCleanly(t *testing.T) {
	env := map[string]string{
		"TALENTREG_HTTP_ADDR": "127.0.0.1:1", // the flag wins
		"TALENTREG_METRICS":   "127.0.0.1:1,127.0.0.1:2",
		"TALENTREG_REGISTRY":  "127.0.0.1:3",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--admin-pprof"}, func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	var serving struct {
		HTTPAddr  string   `json:"http_addr"`
		AdminAddr string   `json:"admin_addr"`
		Metrics   []string `json:"metrics"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for serving.HTTPAddr == "" {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"serving"`) {
				if err := json.Unmarshal([]byte(line), &serving); err != nil {
					t.Fatalf("serving line %s: %v", line, err)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving line within 10 s; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(stderr.String(), `"msg":"serving"`); n != 1 {
		t.Errorf("%d serving lines, want one with every address: %s", n, stderr.String())
	}
	if serving.HTTPAddr == env["TALENTREG_HTTP_ADDR"] {
		t.Errorf("TALENTREG_HTTP_ADDR won over --http-addr")
	}
	if strings.HasSuffix(serving.HTTPAddr, ":0") || serving.AdminAddr == "" || strings.HasSuffix(serving.AdminAddr, ":0") {
		t.Fatalf("serving line does not name the bound addresses: %+v", serving)
	}
	if len(serving.Metrics) != 2 {
		t.Errorf("metrics from TALENTREG_METRICS = %q, want two replicas", serving.Metrics)
	}
	httpAddr, adminAddr := serving.HTTPAddr, serving.AdminAddr
	resp0, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	if resp0.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp0.StatusCode)
	}
	resp, err := http.Get("http://" + adminAddr + "/debug/pprof/cmdline")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("admin pprof: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err = http.Get("http://" + httpAddr + "/readyz")
	if err != nil || resp.StatusCode != 503 {
		t.Errorf("/readyz without backends: %v %v, want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15 s of cancellation")
	}
	if !strings.Contains(stderr.String(), `"msg":"gateway stopped"`) {
		t.Errorf("no JSON stop log line in %s", stderr.String())
	}
}

// TestRun_RejectsBadConfig: bad flags, arguments and configuration are
// usage errors (exit 2, like the registry and metrics); --help exits 0.
func TestRun_RejectsBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--metrics", ""},
		{"--max-body-bytes", "0"},
		{"--http-addr", "nonsense"},
		{"--log-level", "loud"},
		{"extra-arg"},
		{"--no-such-flag"},
		{"--read-timeout", "soon"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
		if code := exitCode(err); code != 2 {
			t.Errorf("run(%q) = %v: exit code %d, want 2", args, err, code)
		}
	}
	var out bytes.Buffer
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"TALENTREG_MAX_BODY_BYTES": "lots"}[k]
	}, &out, &out)
	if code := exitCode(err); code != 2 {
		t.Errorf("bad TALENTREG_MAX_BODY_BYTES: %v: exit code %d, want 2", err, code)
	}
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, &out); exitCode(err) != 0 {
		t.Errorf("--help: %v: exit code %d, want 0", err, exitCode(err))
	}
}

// TestMain runs the command itself when the test binary is started by
// TestMain_ExitCodes.
func TestMain(m *testing.M) {
	if os.Getenv("TALENTREG_TEST_RUN_GATEWAY") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestMain_ExitCodes runs the command as a process: 2 for usage errors, 0
// for --help, 1 when it cannot serve (its port is taken).
func TestMain_ExitCodes(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--no-such-flag"}, 2},
		{[]string{"--max-body-bytes", "0"}, 2},
		{[]string{"extra-arg"}, 2},
		{[]string{"--help"}, 0},
		{[]string{"--http-addr", taken.Addr().String(), "--admin-addr", ""}, 1},
	} {
		cmd := exec.Command(os.Args[0], tc.args...)
		cmd.Env = append(os.Environ(), "TALENTREG_TEST_RUN_GATEWAY=1")
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("gateway %q: exit code %d, want %d\n%s", tc.args, code, tc.want, out)
		}
	}
}
