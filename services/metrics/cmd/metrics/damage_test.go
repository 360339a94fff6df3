package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/command"
	"talentreg/platform/command/commandtest"
	"talentreg/services/metrics/checkpoint"
	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/projection"
)

// fixtureCheckpoint writes a checkpoint of 2,000 entities into dir.
func fixtureCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "metrics.db")
	m, p := feedmodel.New(), projection.New()
	for i := range 2000 {
		for _, c := range m.Put(feedmodel.Entity(fmt.Sprintf("e%05d", i), registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, "Binhai", []string{"aerospace"}, false, false)) {
			if err := p.Apply(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(p.Delta()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRun_RefusesTruncatedCheckpoint reproduces the report: a metrics.db
// cut short killed the service with SIGBUS. It now exits 1 saying the
// file is truncated, and leaves it as it was.
func TestRun_RefusesTruncatedCheckpoint(t *testing.T) {
	path := fixtureCheckpoint(t, t.TempDir())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut to a third of the pages in use (the file may run on past them:
	// bbolt grows it in chunks).
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	err = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:used/3], 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a service that wrongly starts stops here
	defer cancel()
	err = run(ctx, []string{"--db", path, "--registry", "127.0.0.1:1", "--grpc-addr", "127.0.0.1:0", "--admin-addr", ""},
		func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if command.ExitCode(err) != 1 || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v (exit %d), want exit 1 saying truncated and naming the file", err, command.ExitCode(err))
	}
	if after, _ := os.ReadFile(path); sha256.Sum256(after) != sha256.Sum256(before) {
		t.Fatal("the refused checkpoint was modified")
	}
}

// childArgsEnv carries the arguments of run for a child process of
// TestRun_PermissionDeniedIsNotCorrupt, separated by newlines; TestMain
// runs them instead of the tests.
const childArgsEnv = "TALENTREG_TEST_METRICS_ARGS"

// runChild runs the service with the arguments in childArgsEnv and returns
// its exit code, printing its error.
func runChild(args string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, strings.Split(args, "\n"), func(string) string { return "" }, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
	}
	return command.ExitCode(err)
}

// TestRun_PermissionDeniedIsNotCorrupt: a checkpoint the user may not open
// is reported as such, not as a corrupt file. The service runs as the
// unprivileged user nobody (root may open anything).
func TestRun_PermissionDeniedIsNotCorrupt(t *testing.T) {
	dir := commandtest.SharedDir(t)
	path := fixtureCheckpoint(t, dir)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	args := []string{"--db", path, "--registry", "127.0.0.1:1", "--grpc-addr", "127.0.0.1:0", "--admin-addr", ""}
	out, code := commandtest.RunUnprivileged(t, "TestRun_PermissionDeniedIsNotCorrupt", childArgsEnv+"="+strings.Join(args, "\n"))
	if code != 1 || !strings.Contains(out, "permission denied") || strings.Contains(out, "corrupt") {
		t.Fatalf("exit %d, output:\n%s\nwant exit 1 saying permission denied, not corrupt", code, out)
	}
}
