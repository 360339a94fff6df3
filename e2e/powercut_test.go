package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// TestCrash_PowerCutAtLogFaultPoints cuts the registry off — SIGKILL sent
// by the process to itself, through the write-ahead log's fault hook — at
// each point of a log append and of a checkpoint, under concurrent
// creates with checkpoints every few milliseconds. Restarted on the same
// file and log, every acknowledged create is there and `registry check`
// finds the store consistent.
func TestCrash_PowerCutAtLogFaultPoints(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	for _, c := range []struct {
		point string
		n     int
	}{
		{"torn", 150},             // half of a record written
		{"synced", 150},           // the record durable, bbolt not yet committed
		{"committed", 150},        // bbolt committed, the writers not yet answered
		{"checkpoint-pinned", 3},  // a new segment started, bbolt not synced
		{"checkpoint-synced", 3},  // bbolt synced, the checkpoint not written
		{"checkpoint-written", 3}, // the checkpoint written, old segments still there
		{"checkpoint-done", 3},    // old segments removed
	} {
		t.Run(c.point, func(t *testing.T) {
			t.Parallel() // a registry process and files of its own
			testPowerCut(t, c.point, c.n)
		})
	}
}

func testPowerCut(t *testing.T, point string, n int) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	reg := newProc(dir, "registry", "registry", append([]string{
		"--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--db", db,
		"--wal-checkpoint-bytes", "65536", "--wal-checkpoint-interval", "20ms",
	}, serverSecurity("registry")...)...)
	reg.env = []string{fmt.Sprintf("TALENTREG_WAL_CRASH=%s:%d", point, n)}
	if err := reg.start(); err != nil {
		t.Fatal(err)
	}
	client := registryv1.NewRegistryServiceClient(replicasConn(t, reg.grpcAddr))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("pc-%d-%d", w, i)
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := client.CreateEntity(cctx, &registryv1.CreateEntityRequest{EntityId: id, Entity: &registryv1.Entity{
					DisplayName: "Power cut " + id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}})
				ccancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	err := reg.wait(90 * time.Second)
	close(stop)
	wg.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("registry: %v, want killed at %s #%d\n%s", err, point, n, reg.logTail(10))
	}
	t.Logf("killed at %s #%d after %d acknowledged creates", point, n, len(acked))
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the cut")
	}
	restartAndFind(t, ctx, reg, client, db, acked)
}

// restartAndFind restarts the killed registry on its file and log, checks
// that every acknowledged entity is there, stops it cleanly and checks
// the file.
func restartAndFind(t *testing.T, ctx context.Context, reg *proc, client registryv1.RegistryServiceClient, db string, acked []string) {
	t.Helper()
	reg.env = nil
	if err := reg.start(); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for token := ""; ; {
		page, err := client.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 1000, PageToken: token}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, e := range page.GetEntities() {
			stored[e.GetName()] = true
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	lost := 0
	for _, id := range acked {
		if !stored["entities/"+id] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s lost", id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged entities lost", lost, len(acked))
	}
	if err := reg.stop(15 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// A clean stop left an empty log.
	segs, _ := filepath.Glob(filepath.Join(db+".wal", "*.wal"))
	if len(segs) != 0 {
		t.Errorf("segments after a clean stop: %v", segs)
	}
	out, err := exec.Command(filepath.Join(binDir, "registry"), "check", "--db", db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "consistent at revision") {
		t.Fatalf("registry check: %v\n%s", err, out)
	}
}

// TestCrash_PowerCutAtImportChunkPoints cuts the registry off at each
// point of an import chunk's direct commit — committed to bbolt, not yet
// checkpointed; checkpointed, its writers not yet answered — while
// imports stream chunks and creates go through the log beside them.
// Every entity of an acknowledged import or create is there after the
// restart, and the file is consistent.
func TestCrash_PowerCutAtImportChunkPoints(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	for _, c := range []struct {
		point string
		n     int
	}{
		// An import of 25,000 makes three or four direct commits (its
		// first, into an empty bucket, in pieces of 1,000 that mostly go
		// through the log): the 6th falls in a later import, after one
		// was acknowledged.
		{"direct-committed", 6},
		{"direct-checkpointed", 6},
	} {
		t.Run(c.point, func(t *testing.T) {
			t.Parallel()
			testPowerCutImporting(t, c.point, c.n)
		})
	}
}

func testPowerCutImporting(t *testing.T, point string, n int) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	reg := newProc(dir, "registry", "registry", append([]string{
		"--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--db", db,
	}, serverSecurity("registry")...)...)
	reg.env = []string{fmt.Sprintf("TALENTREG_WAL_CRASH=%s:%d", point, n)}
	if err := reg.start(); err != nil {
		t.Fatal(err)
	}
	client := registryv1.NewRegistryServiceClient(replicasConn(t, reg.grpcAddr))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var acked []string
	imports := 0
	var wg sync.WaitGroup
	stop := make(chan struct{})
	entity := func(id string) *registryv1.Entity {
		return &registryv1.Entity{Name: "entities/" + id, DisplayName: "Power cut " + id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}
	}
	wg.Add(1)
	go func() { // imports of 25,000 entities: three chunks
		defer wg.Done()
		for call := 0; ; call++ {
			select {
			case <-stop:
				return
			default:
			}
			stream, err := client.Import(ctx)
			if err != nil {
				return
			}
			var ids []string
			for lo := 0; lo < 25000; lo += 1000 {
				var items []*registryv1.Resource
				for i := lo; i < lo+1000; i++ {
					id := fmt.Sprintf("imp-%d-%d", call, i)
					ids = append(ids, id)
					items = append(items, &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: entity(id)}})
				}
				if stream.Send(&registryv1.ImportRequest{Items: items}) != nil {
					break
				}
			}
			if resp, err := stream.CloseAndRecv(); err == nil && resp.GetEntities().GetCreated() == int64(len(ids)) {
				mu.Lock()
				acked = append(acked, ids...)
				imports++
				mu.Unlock()
			}
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() { // creates, through the log
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("pc-%d-%d", w, i)
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := client.CreateEntity(cctx, &registryv1.CreateEntityRequest{EntityId: id, Entity: entity(id)})
				ccancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	err := reg.wait(90 * time.Second)
	close(stop)
	wg.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("registry: %v, want killed at %s #%d\n%s", err, point, n, reg.logTail(10))
	}
	t.Logf("killed at %s #%d after %d acknowledged entities, %d imports", point, n, len(acked), imports)
	if imports == 0 {
		t.Fatal("no import acknowledged before the cut")
	}
	restartAndFind(t, ctx, reg, client, db, acked)
}
