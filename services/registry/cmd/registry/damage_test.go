package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"talentreg/platform/command"
	"talentreg/platform/command/commandtest"
	"talentreg/platform/freeport"
	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/storage"
)

// fixtureDB writes a registry file of 3,000 entities into dir and returns
// its path and the bytes its pages use.
func fixtureDB(t *testing.T, dir string) (string, int) {
	t.Helper()
	path := filepath.Join(dir, "registry.db")
	s, err := storage.OpenBolt(path, storage.Options{Bolt: bolt.Options{NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < 3000; lo += registry.MaxBatch {
		var batch []*registry.Entity
		for i := lo; i < lo+registry.MaxBatch; i++ {
			batch = append(batch, &registry.Entity{ID: fmt.Sprintf("e%05d", i), DisplayName: "Entity", Kind: registry.EntityKindEnterprise, Region: "Binhai"})
		}
		if _, _, err := s.BatchCreateEntities(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var used int
	_ = db.View(func(tx *bbolt.Tx) error { used = int(tx.Size()); return nil })
	return path, used
}

// entitiesRoot returns the file offset of the entities bucket's root page.
func entitiesRoot(t *testing.T, path string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var at int
	_ = db.View(func(tx *bbolt.Tx) error {
		at = int(tx.Bucket([]byte("entities")).Root()) * db.Info().PageSize
		return nil
	})
	if at == 0 {
		t.Fatal("the entities bucket is inline: no page to damage")
	}
	return at
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestRun_RefusesDamagedFiles reproduces the operator's report on every
// command that opens the file: 4 KiB of random bytes in the middle of a
// registry.db (the registry started and accepted writes, then panicked in
// StreamSnapshot; `registry check` panicked) and a registry.db cut short
// (SIGBUS). Each command now exits 1 with a message naming the file and
// saying what is wrong, and leaves the file as it was.
func TestRun_RefusesDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	path, used := fixtureDB(t, dir)
	valid, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	randomMiddle := bytes.Clone(valid)
	rng := rand.New(rand.NewPCG(1, 2))
	// The page damaged is one in use (the root of the entities bucket,
	// a branch page near the middle): the middle of the file may be a
	// free page, which no reader ever looks at.
	at := entitiesRoot(t, path)
	for i := range 4096 {
		randomMiddle[at+i] = byte(rng.Uint32())
	}
	files := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"random 4 KiB in the middle", randomMiddle, "corrupt database file"},
		{"truncated", valid[:used/2], "truncated"},
	}
	for _, f := range files {
		damaged := filepath.Join(dir, strings.ReplaceAll(f.name, " ", "-")+".db")
		if err := os.WriteFile(damaged, f.bytes, 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "compacted.db")
		for _, args := range [][]string{
			{"--db", damaged, "--grpc-addr", freeport.For(t), "--admin-addr", ""},
			{"check", "--db", damaged},
			{"compact", "--db", damaged, "--out", out},
		} {
			t.Run(f.name+"/"+args[0], func(t *testing.T) {
				before := fileSum(t, damaged)
				// A registry that wrongly starts serving stops at the deadline.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := run(ctx, args, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
				if command.ExitCode(err) != 1 || !strings.Contains(err.Error(), f.want) || !strings.Contains(err.Error(), damaged) {
					t.Fatalf("err = %v (exit %d), want exit 1 saying %q and naming the file", err, command.ExitCode(err), f.want)
				}
				if fileSum(t, damaged) != before {
					t.Fatal("the damaged file was modified")
				}
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("compact left %s behind: %v", out, err)
				}
			})
		}
	}
}

// TestRun_CheckReportsDamagedRecords: a file whose pages are sound but
// whose records are not is reported by `registry check` (exit 1, each
// problem listed), never a panic.
func TestRun_CheckReportsDamagedRecords(t *testing.T) {
	path, _ := fixtureDB(t, t.TempDir())
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("entities")).Put([]byte("e00042"), []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"check", "--db", path}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if command.ExitCode(err) != 1 || !strings.Contains(err.Error(), "inconsistent") || !strings.Contains(err.Error(), "corrupt record") {
		t.Fatalf("check: %v (exit %d), want exit 1 reporting the corrupt record", err, command.ExitCode(err))
	}
}

// TestRun_OfflineToolsRefuseMissingFile: check and compact of a file that
// does not exist fail and create nothing (they used to create an empty
// registry and report it consistent).
func TestRun_OfflineToolsRefuseMissingFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such", "registry.db")
	for _, args := range [][]string{
		{"check", "--db", missing},
		{"compact", "--db", missing, "--out", filepath.Join(dir, "out.db")},
	} {
		err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
		if command.ExitCode(err) != 1 || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: %v (exit %d), want exit 1 with a no-such-file error", args, err, command.ExitCode(err))
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the tools created %v", entries)
	}
}

// childArgsEnv carries the arguments of run for TestRunChild, separated by
// newlines.
const childArgsEnv = "TALENTREG_TEST_REGISTRY_ARGS"

// TestRunChild is not a test: re-executed by TestRun_PermissionDenied…
// with childArgsEnv set, it calls run with those arguments and exits with
// its exit code, printing its error. Without the variable it returns.
func TestRunChild(t *testing.T) {
	args := os.Getenv(childArgsEnv)
	if args == "" {
		return
	}
	err := run(context.Background(), strings.Split(args, "\n"), func(string) string { return "" }, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
	}
	os.Exit(command.ExitCode(err))
}

// TestRun_PermissionDeniedIsNotCorrupt: a database file the user may not
// open is reported as such by every command, not as a corrupt file. The
// commands run as the unprivileged user nobody (root may open anything).
func TestRun_PermissionDeniedIsNotCorrupt(t *testing.T) {
	dir := commandtest.SharedDir(t)
	path, _ := fixtureDB(t, dir)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--db", path, "--grpc-addr", "127.0.0.1:0", "--admin-addr", ""},
		{"check", "--db", path},
		{"compact", "--db", path, "--out", filepath.Join(dir, "out.db")},
	} {
		out, code := commandtest.RunUnprivileged(t, "TestRunChild", childArgsEnv+"="+strings.Join(args, "\n"))
		if code != 1 || !strings.Contains(out, "permission denied") || strings.Contains(out, "corrupt") {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit 1 saying permission denied, not corrupt", args, code, out)
		}
	}
}
