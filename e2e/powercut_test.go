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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

	reg.env = nil
	if err := reg.start(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, id := range acked {
		_, err := client.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/" + id}, grpc.WaitForReady(true))
		if status.Code(err) == codes.NotFound {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s lost", id)
			}
		} else if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged creates lost", lost, len(acked))
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
