package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMigrate_BoltStackOntoEtcd moves a running stack's registry from its
// bbolt file onto a 3-member etcd cluster as the README says: stop the
// registry, `registry migrate --from bolt:FILE --to etcd:…`, `registry
// check --store etcd`, start the registry on etcd where it served. The
// metrics replica carries on from its checkpoint without a reload (same
// registry id and revisions), `metrics verify` finds no difference, and the
// next write takes the next revision and reaches the figures.
func TestMigrate_BoltStackOntoEtcd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts etcd and the whole stack")
	}
	s := startStack(t, stackOptions{})
	cluster := startEtcd(t, 3)
	// The stack stops before etcd, as in the other etcd tests (processes
	// started after the cluster): with the registry's watch still open, a
	// member's graceful stop waits for the stream, ~13 s for the cluster.
	t.Cleanup(s.close)
	var last int64
	for i := range 8 {
		_, r := s.must(t, "POST", "/v1/entities?entityId=moved-"+strconv.Itoa(i), map[string]any{"displayName": "Moved " + strconv.Itoa(i), "kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai"})
		last = r.revision(t)
	}
	summaryAt := func(rev int64) map[string]any {
		m, _ := s.must(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(rev, 10), nil)
		return m
	}
	before := summaryAt(last)
	m := s.metrics[0]
	loads := sample(t, m, "talentreg_metrics_snapshot_loads_total")

	if err := s.registry.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	etcdFlags := []string{"--etcd-endpoints", cluster.endpoints(), "--etcd-prefix", "/talentreg/"}
	tool := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "registry"), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("registry %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	tool(append([]string{"migrate", "--from", "bolt:" + filepath.Join(s.dir, "registry.db"), "--to", "etcd:" + cluster.endpoints()}, etcdFlags[2:]...)...)
	if out := tool(append([]string{"check", "--store", "etcd"}, etcdFlags...)...); !strings.Contains(out, strconv.FormatInt(last, 10)) {
		t.Fatalf("registry check --store etcd does not name revision %d:\n%s", last, out)
	}

	// The same process arguments on etcd: the later flags win.
	s.registry.args = append(s.registry.args, append([]string{"--store", "etcd"}, etcdFlags...)...)
	if err := s.registry.start(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, r := s.must(t, "POST", "/v1/entities?entityId=after-move", map[string]any{"displayName": "After the move", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Binhai"})
	if rev := r.revision(t); rev != last+1 {
		t.Fatalf("first write on etcd at revision %d, want %d: the copy must continue the revisions", rev, last+1)
	}
	// The metrics replica reconnects with its backoff (seconds, after the
	// registry was down through the copy): wait for it with a deadline.
	eventually(t, 60*time.Second, func() error {
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(last+1, 10), nil)
		if r.Status != 200 {
			return fmt.Errorf("summary at revision %d: %v", last+1, r)
		}
		return nil
	})
	after := summaryAt(last + 1)
	if fmt.Sprint(after["entities"]) != fmt.Sprint(toInt(t, before["entities"])+1) {
		t.Fatalf("summary after the move: %v entities, want %v + 1", after["entities"], before["entities"])
	}
	if got := sample(t, m, "talentreg_metrics_snapshot_loads_total"); got != loads {
		t.Errorf("the metrics replica loaded a snapshot (%v loads, was %v): a migrated registry keeps its id and revisions, so it must carry on from its checkpoint", got, loads)
	}
	verifyProjection(t, m)
	if r := s.call(t, "GET", "/v1/entities/moved-3", nil); r.Status != 200 {
		t.Fatalf("an entity written on bbolt, read on etcd: %v", r)
	}
}

func toInt(t *testing.T, v any) int64 {
	t.Helper()
	n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil {
		t.Fatalf("%v is not a number", v)
	}
	return n
}
