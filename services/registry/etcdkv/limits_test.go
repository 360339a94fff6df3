package etcdkv_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"talentreg/services/registry"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kvstore"
)

// openRegistry opens a registry store on the cluster under a prefix of its
// own, sending transactions of at most limits.
func openRegistry(t *testing.T, c *etcdtest.Cluster, prefix string, limits etcdkv.Options) *kvstore.Store {
	t.Helper()
	limits.Endpoints, limits.Prefix = c.Endpoints(), prefix
	e, err := etcdkv.Open(context.Background(), limits)
	if err != nil {
		t.Fatal(err)
	}
	s, err := kvstore.Open(context.Background(), e, kvstore.Options{})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
	})
	return s
}

// TestLimits_TooLargeCascadeRefusedWhole: a force delete whose cascade
// needs more operations than one etcd transaction may hold is refused
// FAILED_PRECONDITION TRANSACTION_TOO_LARGE, and nothing of it is
// written: the entity, its memberships and the revision stay.
func TestLimits_TooLargeCascadeRefusedWhole(t *testing.T) {
	cluster := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	s := openRegistry(t, cluster, "/limits/", etcdkv.Options{Limits: kv.Limits{Ops: 100, Bytes: etcdkv.DefaultLimits.Bytes}})
	ctx := context.Background()
	if _, _, err := s.CreateEntity(ctx, &registry.Entity{ID: "hub", DisplayName: "Hub", Kind: registry.EntityKindEnterprise}, ""); err != nil {
		t.Fatal(err)
	}
	const groups = 40
	for i := range groups {
		id := fmt.Sprintf("g%d", i)
		if _, _, err := s.CreateGroup(ctx, &registry.Group{ID: id, DisplayName: "Group " + id, Kind: registry.GroupKindAlliance, Field: "aerospace"}, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateMembership(ctx, &registry.Membership{GroupID: id, EntityID: "hub", Role: registry.MembershipRoleMember}, ""); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.ListChanges(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}

	_, err = s.DeleteEntity(ctx, "hub", "", true)
	var e *registry.Error
	if !errors.As(err, &e) || e.Code != registry.CodeFailedPrecondition || e.Reason != registry.ReasonTransactionTooLarge || !strings.Contains(e.Message, "--max-txn-ops") {
		t.Fatalf("force delete of an entity in %d groups within 100 operations: %v, want FAILED_PRECONDITION %s naming --max-txn-ops", groups, err, registry.ReasonTransactionTooLarge)
	}
	if _, err := s.GetEntity(ctx, "hub"); err != nil {
		t.Errorf("the refused cascade deleted the entity: %v", err)
	}
	for i := range groups {
		if _, err := s.GetMembership(ctx, fmt.Sprintf("g%d", i), "hub"); err != nil {
			t.Fatalf("the refused cascade deleted membership %d: %v", i, err)
		}
	}
	after, err := s.ListChanges(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision {
		t.Errorf("revision %d after the refused cascade, was %d", after.Revision, before.Revision)
	}
	// The same cascade fits the limits the registry asks etcd for.
	big := openRegistry(t, cluster, "/limits-default/", etcdkv.Options{})
	if _, _, err := big.CreateEntity(ctx, &registry.Entity{ID: "hub", DisplayName: "Hub", Kind: registry.EntityKindEnterprise}, ""); err != nil {
		t.Fatal(err)
	}
	for i := range groups {
		id := fmt.Sprintf("g%d", i)
		if _, _, err := big.CreateGroup(ctx, &registry.Group{ID: id, DisplayName: "Group " + id, Kind: registry.GroupKindAlliance, Field: "aerospace"}, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := big.CreateMembership(ctx, &registry.Membership{GroupID: id, EntityID: "hub", Role: registry.MembershipRoleMember}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := big.DeleteEntity(ctx, "hub", "", true); err != nil {
		t.Fatalf("the cascade within the default limits: %v", err)
	}
}

// TestLimits_LargestBatch: a BatchCreateEntities of the most entities a
// request may hold is one etcd transaction. With entities like the demo's
// it fits the limits the registry asks etcd for (DefaultLimits). With each
// entity as large as validation allows (longest name, a credit code, every
// flag, the most industries) it needs about 40,000 operations and 10.8 MB,
// beyond those limits: it is then refused whole, TRANSACTION_TOO_LARGE,
// with nothing written. (That such a batch works on bbolt and not on etcd
// is a known gap: see docs/review/issues-11-12-13-15.md, issue 13.)
func TestLimits_LargestBatch(t *testing.T) {
	cluster := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	s := openRegistry(t, cluster, "/batch/", etcdkv.Options{})
	ctx := context.Background()
	batch := func(prefix string, industries []string, name string) []*registry.Entity {
		var es []*registry.Entity
		for i := range registry.MaxBatch {
			first17 := fmt.Sprintf("9112011%d%09d", len(prefix), i)
			es = append(es, &registry.Entity{
				ID: fmt.Sprintf("%s%04d", prefix, i), DisplayName: name, Kind: registry.EntityKindEnterprise,
				CreditCode: first17 + string(registry.CreditCodeCheckChar(first17)), Region: "Binhai",
				Industries: industries, LeadingEnterprise: true, FutureIndustryPlatform: true,
			})
		}
		return es
	}
	if _, _, err := s.BatchCreateEntities(ctx, batch("demo-", []string{"aerospace", "biomanufacturing", "new-materials"}, "Tianjin Binhai Aerospace Technology Co., Ltd.")); err != nil {
		t.Fatalf("a batch of %d demo-like entities: %v", registry.MaxBatch, err)
	}
	head, err := s.ListChanges(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var industries []string
	for i := range registry.MaxIndustries {
		industries = append(industries, fmt.Sprintf("industry-%02d-%s", i, strings.Repeat("x", 50)))
	}
	_, _, err = s.BatchCreateEntities(ctx, batch("largest-", industries, strings.Repeat("天", registry.MaxDisplayName)))
	if err == nil {
		t.Log("the largest batch fits: the gap noted above is closed, tighten this test")
		return
	}
	var e *registry.Error
	if !errors.As(err, &e) || e.Code != registry.CodeFailedPrecondition || e.Reason != registry.ReasonTransactionTooLarge {
		t.Fatalf("the largest batch: %v, want it committed or refused FAILED_PRECONDITION %s", err, registry.ReasonTransactionTooLarge)
	}
	after, err := s.ListChanges(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != head.Revision {
		t.Errorf("revision %d after the refused batch, was %d: something was written", after.Revision, head.Revision)
	}
	if _, err := s.GetEntity(ctx, "largest-0000"); registry.ErrorCode(err) != registry.CodeNotFound {
		t.Errorf("an entity of the refused batch: %v, want NOT_FOUND", err)
	}
}

// TestOpen_CompactEveryCompactsEtcdHistory: with CompactEvery (the
// registry's --etcd-compact-every) a store compacts etcd's MVCC history by
// itself, one interval behind, so the cluster's old revisions are
// reclaimed without etcd's own auto-compaction; the store keeps working.
func TestOpen_CompactEveryCompactsEtcdHistory(t *testing.T) {
	cluster := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints(), Prefix: "/compact/", CompactEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(i int) {
		t.Helper()
		if err := s.Update(context.Background(), func(tx kv.Txn) error {
			return tx.Put("b", []byte("k"), []byte(strconv.Itoa(i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	first, err := s.Client().Get(context.Background(), "/compact/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	old := first.Header.Revision
	deadline := time.Now().Add(30 * time.Second)
	for i := 1; ; i++ {
		put(i) // history grows while the store compacts
		_, err := s.Client().Get(context.Background(), "/compact/", clientv3.WithPrefix(), clientv3.WithRev(old))
		if errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd revision %d still readable 30 s later: the history is not compacted", old)
		}
		time.Sleep(20 * time.Millisecond)
	}
	put(-1)
	if err := s.View(context.Background(), func(r kv.Reader) error {
		v, err := r.Get("b", []byte("k"))
		if err == nil && string(v) != "-1" {
			err = fmt.Errorf("read %q after compaction, want -1", v)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
