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
	atFaultPoints(t, testPowerCut, []faultPoint{
		{"torn", 150},             // half of a record written
		{"synced", 150},           // the record durable, bbolt not yet committed
		{"committed", 150},        // bbolt committed, the writers not yet answered
		{"checkpoint-pinned", 3},  // a new segment started, bbolt not synced
		{"checkpoint-synced", 3},  // bbolt synced, the checkpoint not written
		{"checkpoint-written", 3}, // the checkpoint written, old segments still there
		{"checkpoint-done", 3},    // old segments removed
	})
}

// faultPoint is the n-th passage through a point of the log's fault hook.
type faultPoint struct {
	point string
	n     int
}

// atFaultPoints runs test at each point, in parallel: each starts a
// registry process with files of its own.
func atFaultPoints(t *testing.T, test func(t *testing.T, point string, n int), points []faultPoint) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	for _, c := range points {
		t.Run(c.point, func(t *testing.T) {
			t.Parallel()
			test(t, c.point, c.n)
		})
	}
}

func testPowerCut(t *testing.T, point string, n int) {
	c := startCut(t, point, n, "--wal-checkpoint-bytes", "65536", "--wal-checkpoint-interval", "20ms")
	c.creates(8)
	acked := c.awaitKill()
	t.Logf("killed at %s #%d after %d acknowledged creates", point, n, len(acked))
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the cut")
	}
	restartAndFind(t, c.ctx, c.reg, c.client, c.db, acked)
}

// cutRun is a registry started to kill itself (SIGKILL) at the n-th
// passage through a fault point of its log, with the writers run
// against it and the entities it acknowledged.
type cutRun struct {
	t        *testing.T
	point    string
	n        int
	reg      *proc
	db       string
	client   registryv1.RegistryServiceClient
	ctx      context.Context
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	acked    []string
	finished int // writers' batches acknowledged whole (imports)
}

func startCut(t *testing.T, point string, n int, flags ...string) *cutRun {
	dir := t.TempDir()
	c := &cutRun{t: t, point: point, n: n, db: filepath.Join(dir, "registry.db"), stop: make(chan struct{})}
	c.reg = newProc(dir, "registry", "registry", append(append([]string{
		"--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--db", c.db,
	}, flags...), serverSecurity("registry")...)...)
	c.reg.env = []string{fmt.Sprintf("TALENTREG_WAL_CRASH=%s:%d", point, n)}
	if err := c.reg.start(); err != nil {
		t.Fatal(err)
	}
	c.client = registryv1.NewRegistryServiceClient(replicasConn(t, c.reg.grpcAddr))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c.ctx = ctx
	return c
}

// ack records entities acknowledged by the registry.
func (c *cutRun) ack(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked = append(c.acked, ids...)
}

// writer runs fn(i) for i = 0, 1, … until the cut.
func (c *cutRun) writer(fn func(i int)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			default:
			}
			fn(i)
		}
	}()
}

// creates starts writers of one entity per CreateEntity (through the log).
func (c *cutRun) creates(writers int) {
	for w := range writers {
		c.writer(func(i int) {
			id := fmt.Sprintf("pc-%d-%d", w, i)
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			defer cancel()
			if _, err := c.client.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: id, Entity: powerCutEntity(id)}); err == nil {
				c.ack(id)
			}
		})
	}
}

// awaitKill waits for the registry to kill itself at the fault point,
// stops the writers and returns what was acknowledged.
func (c *cutRun) awaitKill() []string {
	c.t.Helper()
	err := c.reg.wait(90 * time.Second)
	close(c.stop)
	c.wg.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		c.t.Fatalf("registry: %v, want killed at %s #%d\n%s", err, c.point, c.n, c.reg.logTail(10))
	}
	return c.acked
}

func powerCutEntity(id string) *registryv1.Entity {
	return &registryv1.Entity{Name: "entities/" + id, DisplayName: "Power cut " + id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}
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
	atFaultPoints(t, testPowerCutImporting, []faultPoint{
		// An import of 25,000 makes three or four direct commits (its
		// first, into an empty bucket, in pieces of 1,000 that mostly go
		// through the log): the 6th falls in a later import, after one
		// was acknowledged.
		{"direct-committed", 6},
		{"direct-checkpointed", 6},
	})
}

func testPowerCutImporting(t *testing.T, point string, n int) {
	c := startCut(t, point, n)
	c.writer(func(call int) { // imports of 25,000 entities: three chunks
		stream, err := c.client.Import(c.ctx)
		if err != nil {
			return
		}
		var ids []string
		for lo := 0; lo < 25000; lo += 1000 {
			var items []*registryv1.Resource
			for i := lo; i < lo+1000; i++ {
				id := fmt.Sprintf("imp-%d-%d", call, i)
				ids = append(ids, id)
				items = append(items, &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: powerCutEntity(id)}})
			}
			if stream.Send(&registryv1.ImportRequest{Items: items}) != nil {
				break
			}
		}
		if resp, err := stream.CloseAndRecv(); err == nil && resp.GetEntities().GetCreated() == int64(len(ids)) {
			c.ack(ids...)
			c.mu.Lock()
			c.finished++
			c.mu.Unlock()
		}
	})
	c.creates(4)
	acked := c.awaitKill()
	t.Logf("killed at %s #%d after %d acknowledged entities, %d imports", point, n, len(acked), c.finished)
	if c.finished == 0 {
		t.Fatal("no import acknowledged before the cut")
	}
	restartAndFind(t, c.ctx, c.reg, c.client, c.db, acked)
}
