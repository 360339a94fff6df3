package kvstore

import (
	"fmt"
	"testing"

	"talentreg/services/registry"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/largest"
	"talentreg/services/registry/kv"
)

// The largest changes validation accepts commit on every engine: on etcd
// within the limits the registry asks for (etcdkv.DefaultLimits), as on
// bbolt. The etcd run of this package (TestConformance_Etcd) holds both
// engines to it.

// TestLimits_LargestBatch: a BatchCreateEntities of registry.MaxBatch
// entities, each as large as validation allows, commits whole, as one
// transaction.
func TestLimits_LargestBatch(t *testing.T) {
	s := openTest(t, testOptions{})
	before := s.Revision()
	es, rev, err := s.BatchCreateEntities(ctx, largest.Entities("batch", registry.MaxBatch))
	if err != nil {
		t.Fatalf("the largest batch validation accepts (%s): %v", engineName(), err)
	}
	if rev != before+registry.MaxBatch {
		t.Fatalf("revision %d after the batch, want %d", rev, before+registry.MaxBatch)
	}
	changes := changesFrom(t, s, before+1)
	if len(changes) != registry.MaxBatch {
		t.Fatalf("%d changes, want %d", len(changes), registry.MaxBatch)
	}
	wantTxn(t, "the largest batch", changes)
	got, err := s.GetEntity(ctx, es[registry.MaxBatch-1].ID)
	if err != nil || len(got.Industries) != registry.MaxIndustries || got.DisplayName != es[registry.MaxBatch-1].DisplayName {
		t.Fatalf("the batch's last entity: %+v, %v", got, err)
	}
}

// TestLimits_LargestImportChunk: an Import of more than registry.MaxBatch
// of the largest entities commits, then again unchanged (a retried import
// is idempotent: nothing written, no revision), then as updates that
// rewrite every industry (each update writes about twice what a create
// does, beyond one etcd transaction for MaxBatch of them: the sub-chunk is
// halved until it fits).
func TestLimits_LargestImportChunk(t *testing.T) {
	s := openTest(t, testOptions{})
	const n = registry.MaxBatch + 1
	items := func(variant int) []registry.ImportItem {
		rs := make([]registry.Resource, n)
		for i := range rs {
			rs[i] = largest.Entity("imp", i, variant)
		}
		return registry.WholeItems(rs)
	}
	counts := func(what string, res registry.ImportResult, err error, created, updated, unchanged int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s (%s): %v", what, engineName(), err)
		}
		c := res.Counts[registry.Entities]
		if res.Processed != n || c.Created != created || c.Updated != updated || c.Unchanged != unchanged || c.Failed != 0 || len(res.Errors) != 0 {
			t.Fatalf("%s: processed %d, %+v, errors %v; want %d processed, %d created, %d updated, %d unchanged", what, res.Processed, *c, res.Errors, n, created, updated, unchanged)
		}
	}
	res, err := s.Import(ctx, items(0), 0)
	counts("the import", res, err, n, 0, 0)
	rev := s.Revision()
	res, err = s.Import(ctx, items(0), 0)
	counts("the same import again", res, err, 0, 0, n)
	if s.Revision() != rev {
		t.Fatalf("revision %d after importing the same items again, was %d", s.Revision(), rev)
	}
	res, err = s.Import(ctx, items(1), 0)
	counts("the import of updates", res, err, 0, n, 0)
	updates := changesFrom(t, s, rev+1)
	if len(updates) != n {
		t.Fatalf("%d changes for the updates, want %d", len(updates), n)
	}
	txns := map[int64]bool{}
	for _, c := range updates {
		txns[c.TxnFirst] = true
		if engine == "etcd" && c.TxnLast-c.TxnFirst >= registry.MaxBatch {
			t.Fatalf("an import transaction of %d changes, want at most %d", c.TxnLast-c.TxnFirst+1, registry.MaxBatch)
		}
	}
	if engine == "etcd" && len(txns) < 3 {
		t.Fatalf("the %d updates in %d transactions: %d of them are too large for one, the sub-chunk was not halved", n, len(txns), registry.MaxBatch)
	}
	t.Logf("the %d largest updates in %d transactions on %s", n, len(txns), engineName())
	got, err := s.GetEntity(ctx, largest.Entity("imp", n-1, 1).ID)
	if err != nil || got.Industries[0] != largest.Industries(1)[0] {
		t.Fatalf("the last updated entity: %+v, %v", got, err)
	}
}

// TestLimits_GuaranteedCascade: a force delete whose cascade takes
// etcdkv.CascadeFits(etcdkv.DefaultLimits) of the largest dependants — a
// programme with that many policies, each with every industry and
// programme it may hold — commits whole on every engine.
func TestLimits_GuaranteedCascade(t *testing.T) {
	s := openTest(t, testOptions{})
	programs := largest.Programs("prog")
	var rs []registry.Resource
	for _, p := range programs {
		rs = append(rs, p)
	}
	deps := etcdkv.CascadeFits(etcdkv.DefaultLimits)
	for i := range deps {
		rs = append(rs, largest.Policy("pol", i, programs))
	}
	if res, err := s.Import(ctx, registry.WholeItems(rs), 0); err != nil || res.Counts[registry.Policies].Created != int64(deps) {
		t.Fatalf("importing %d policies: %+v, %v", deps, res.Counts[registry.Policies], err)
	}
	before := s.Revision()
	rev, err := s.DeleteProgram(ctx, programs[0].ID, "", true)
	if err != nil {
		t.Fatalf("force delete of a programme with %d of the largest policies (%s): %v", deps, engineName(), err)
	}
	if rev != before+int64(deps)+1 {
		t.Fatalf("revision %d after the cascade, want %d", rev, before+int64(deps)+1)
	}
	wantTxn(t, "the cascade", changesFrom(t, s, before+1))
	if _, err := s.GetPolicy(ctx, largest.Policy("pol", deps-1, programs).ID); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Fatalf("a policy of the deleted programme: %v, want NOT_FOUND", err)
	}
	t.Logf("a cascade of %d dependants (etcdkv.CascadeFits) on %s", deps, engineName())
}

func engineName() string {
	if engine == "etcd" {
		return fmt.Sprintf("etcd, limits %+v", etcdkv.DefaultLimits)
	}
	return "bbolt"
}

// TestLimits_CompactionBoundedPerTransaction: compacting the change log
// rides on the transaction of a change; on an engine with limits (etcd) it
// compacts at most kv.CompactPerTxn changes in one, so that the largest
// change still fits, and the log converges to its retention over the
// following changes.
func TestLimits_CompactionBoundedPerTransaction(t *testing.T) {
	const retain = 10
	s := openTest(t, testOptions{RetainChanges: retain})
	var batch []*registry.Entity
	for i := range 200 {
		batch = append(batch, entity(fmt.Sprintf("b%d", i)))
	}
	if _, _, err := s.BatchCreateEntities(ctx, batch); err != nil {
		t.Fatal(err)
	}
	want := int64(200 - retain)
	if engine == "etcd" {
		want = kv.CompactPerTxn
	}
	if got := s.CompactedRevision(); got != want {
		t.Fatalf("compacted up to %d after a batch of 200 with %d retained, want %d", got, retain, want)
	}
	for i := 0; s.CompactedRevision() != s.Revision()-retain; i++ {
		if i == 10 {
			t.Fatalf("compacted up to %d at revision %d after %d more changes: the log does not converge to its retention of %d", s.CompactedRevision(), s.Revision(), i, retain)
		}
		mustCreate(t, s, entity(fmt.Sprintf("e%d", i)))
	}
}
