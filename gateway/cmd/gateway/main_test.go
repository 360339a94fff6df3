package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
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

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// TestRun_ServesAndStopsCleanly runs the command on free ports, configured
// partly from the environment, and checks it serves and returns nil when its
// context ends (what SIGTERM does).
func TestRun_ServesAndStopsCleanly(t *testing.T) {
	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"TALENTREG_HTTP_ADDR": "127.0.0.1:1", // the flag wins
		"TALENTREG_METRICS":   freeAddr(t) + "," + freeAddr(t),
		"TALENTREG_REGISTRY":  freeAddr(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--http-addr", httpAddr, "--admin-addr", adminAddr}, func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/healthz: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not serving: %v; stderr: %s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
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

func TestRun_RejectsBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--metrics", ""},
		{"--max-body-bytes", "0"},
		{"--http-addr", "nonsense"},
		{"extra-arg"},
		{"--no-such-flag"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
		if err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
