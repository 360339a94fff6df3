package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/command"
	"talentreg/platform/freeport"
	"talentreg/services/registry"
	"talentreg/services/registry/storage"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
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

func TestRun_ServesHealthAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	addr := freeport.For(t)
	env := map[string]string{"TALENTREG_DB": filepath.Join(dir, "r.db")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- run(ctx, []string{"--grpc-addr", addr, "--admin-addr", ""}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// WaitForReady blocks until the server listens, bounded by the deadline.
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	resp, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{Service: registryv1.RegistryService_ServiceDesc.ServiceName}, grpc.WaitForReady(true))
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; log:\n%s", resp, err, stderr.String())
	}
	// The database came from the environment.
	if _, err := os.Stat(env["TALENTREG_DB"]); err != nil {
		t.Fatalf("TALENTREG_DB not used: %v", err)
	}
	// A watch stream must not hold up the shutdown.
	stream, err := registryv1.NewRegistryServiceClient(conn).WatchChanges(context.Background(), &registryv1.WatchChangesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_ = stream
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v on shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5 s of shutdown with a watch open")
	}
	if !strings.Contains(stderr.String(), `"msg":"serving"`) || !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("log lacks serving/stopped lines:\n%s", stderr.String())
	}
}

func TestRun_RefusesBadDatabaseFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := func() [32]byte {
		b, err := os.ReadFile(garbage)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	err := run(context.Background(), []string{"--db", garbage, "--grpc-addr", freeport.For(t), "--admin-addr", ""}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v, want a corrupt-file error", err)
	}
	if command.ExitCode(err) == 0 {
		t.Fatal("exit code 0 for a corrupt file")
	}
	if sum() != before {
		t.Fatal("the corrupt file was modified")
	}
}

func TestRun_BadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--retain-changes", "0"}, {"--no-such-flag"}, {"--log-level", "loud"}} {
		err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
		if command.ExitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error (exit 2)", args, err)
		}
	}
}

// The served store acknowledges durable writes only (through its
// write-ahead log, on by default): SIGKILL tests cannot tell (the page
// cache survives the process), so the setting itself is checked.
func TestOpenStore_IsDurable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DB = filepath.Join(t.TempDir(), "r.db")
	s, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !storage.Bolt(s).Durable() || !storage.Bolt(s).WAL() {
		t.Fatal("the served store does not log and sync its commits")
	}
}

// copyTree copies the files of folder src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		copyFileT(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
}

func copyFileT(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOfflineTools_ApplyAPendingLog: a copy of a served file and its log
// taken while it runs (a volume snapshot: what a crash leaves) is applied
// by the offline tools before they read it, and refused without its log.
func TestOfflineTools_ApplyAPendingLog(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	cfg := DefaultConfig()
	cfg.DB = db
	cfg.WAL.CheckpointBytes = 1 << 30
	store, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		e := &registry.Entity{ID: fmt.Sprintf("e%d", i), DisplayName: "E", Kind: registry.EntityKindEnterprise}
		if _, _, err := store.CreateEntity(ctx, e, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshot, while the registry still runs: nothing checkpointed
	// since the creates.
	for _, name := range []string{"check.db", "compact.db", "backup.db"} {
		copyFileT(t, db, filepath.Join(dir, name))
		copyTree(t, db+".wal", filepath.Join(dir, name+".wal"))
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	snap := filepath.Join(dir, "check.db")
	var errb bytes.Buffer
	err = run(ctx, []string{"check", "--db", snap, "--wal-dir", filepath.Join(dir, "nowhere")}, noEnv, &bytes.Buffer{}, &errb)
	if err == nil || !strings.Contains(err.Error(), "not closed cleanly") {
		t.Fatalf("check without the log: %v, want a refusal naming the missing log", err)
	}
	// As a power cut may leave them: bbolt's commits since the checkpoint
	// lost, meta pages included. Only the log holds the creates now.
	for _, name := range []string{"check.db", "compact.db", "backup.db"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, 2*os.Getpagesize()), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"check", "--db", snap}, noEnv, &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "consistent at revision 20 ") {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"compact", "--db", filepath.Join(dir, "compact.db"), "--out", filepath.Join(dir, "compacted.db")}, noEnv, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"check", "--db", filepath.Join(dir, "compacted.db")}, noEnv, &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "consistent at revision 20 ") {
		t.Fatalf("check of the compacted copy: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"backup", "--db", filepath.Join(dir, "backup.db"), "--out", filepath.Join(dir, "b.db")}, noEnv, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"check", "--db", filepath.Join(dir, "b.db")}, noEnv, &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "consistent at revision 20 ") {
		t.Fatalf("check of the backup: %v\n%s", err, out.String())
	}
}

// TestCheckAndCompact runs the offline subcommands on a real file: check
// reports the revision and where the space goes, compact writes a copy that
// checks the same, and both refuse a file that is not a registry.
func TestCheckAndCompact(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	store, err := storage.OpenBolt(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"acme", "binhai-u"} {
		e := &registry.Entity{ID: id, DisplayName: id, Kind: registry.EntityKindEnterprise, Region: "Binhai"}
		if _, _, err := store.CreateEntity(ctx, e, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	checkOut := func(path string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, []string{"check", "--db", path}, noEnv, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("check %s: %v", path, err)
		}
		return out.String()
	}
	out := checkOut(db)
	for _, want := range []string{"consistent at revision 2 ", "format talentreg-registry/4\n", "entities ", "entities.idx ", "changes ", "file "} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	copyDB := filepath.Join(dir, "compacted.db")
	var out2 bytes.Buffer
	if err := run(ctx, []string{"compact", "--db", db, "--out", copyDB}, noEnv, &out2, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if out := checkOut(copyDB); !strings.Contains(out, "consistent at revision 2 ") {
		t.Errorf("compacted copy: %s", out)
	}
	// compact never overwrites, and both refuse a foreign file.
	if err := run(ctx, []string{"compact", "--db", db, "--out", copyDB}, noEnv, &bytes.Buffer{}, &bytes.Buffer{}); command.ExitCode(err) != 2 {
		t.Errorf("compact onto an existing file: %v (exit %d), want a usage error", err, command.ExitCode(err))
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "--db", garbage}, {"compact", "--db", garbage, "--out", filepath.Join(dir, "x.db")}} {
		if err := run(ctx, args, noEnv, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || command.ExitCode(err) == 0 {
			t.Errorf("%v on a foreign file: %v, want a non-zero exit", args, err)
		}
	}
}
