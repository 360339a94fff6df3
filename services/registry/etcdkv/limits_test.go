package etcdkv_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"talentreg/services/registry"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/internal/largest"
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
// FAILED_PRECONDITION TRANSACTION_TOO_LARGE, with a message that names the
// dependants and says to delete some of them first, and nothing of it is
// written: the entity, its memberships and the revision stay.
func TestLimits_TooLargeCascadeRefusedWhole(t *testing.T) {
	t.Parallel()
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
	if !errors.As(err, &e) || e.Code != registry.CodeFailedPrecondition || e.Reason != registry.ReasonTransactionTooLarge ||
		!strings.Contains(e.Message, "--max-txn-ops") || !strings.Contains(e.Message, fmt.Sprintf("its %d memberships", groups)) || !strings.Contains(e.Message, "delete some of them first") {
		t.Fatalf("force delete of an entity in %d groups within 100 operations: %v, want FAILED_PRECONDITION %s naming --max-txn-ops, the %d memberships and what to do", groups, err, registry.ReasonTransactionTooLarge, groups)
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

// TestWorstCase_MatchesTheRealTransaction builds the transaction WorstCase
// estimates — the largest batch validation accepts, made by an actor under
// a prefix of MaxPrefix bytes, compacting kv.CompactPerTxn changes that
// each have a request id and an actor — commits it on etcd with
// DefaultLimits, and holds the estimate to the request the store sent: an
// upper bound on its writes, compares and bytes, and within 5 % of its
// bytes (a looser estimate would ask operators for limits nobody needs).
func TestWorstCase_MatchesTheRealTransaction(t *testing.T) {
	// Serial: the largest transactions, which a loaded machine must still
	// commit within the request timeout.
	cluster := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true, SlowApply: true})
	var sent atomic.Pointer[etcdserverpb.TxnRequest]
	watch := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if r, ok := req.(*etcdserverpb.TxnRequest); ok && (sent.Load() == nil || proto.Size(r) > proto.Size(sent.Load())) {
			sent.Store(r)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	prefix := "/" + strings.Repeat("w", etcdkv.MaxPrefix-2) + "/"
	e, err := etcdkv.OpenWithDialOptions(context.Background(), etcdkv.Options{Endpoints: cluster.Endpoints(), Prefix: prefix}, watch)
	if err != nil {
		t.Fatal(err)
	}
	s, err := kvstore.Open(context.Background(), e, kvstore.Options{RetainChanges: kv.CompactPerTxn})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	defer s.Close()
	ctx := registry.WithActor(context.Background(), &registry.Actor{Principal: strings.Repeat("p", 64), Method: registry.AuthMethod(1),
		RequestID: strings.Repeat("r", 64), UserAgent: strings.Repeat("u", 128), Peer: "[2001:db8::1]:65535"})
	for i := range kv.CompactPerTxn {
		rid := fmt.Sprintf("%0*d", registry.MaxRequestID, i)
		if _, _, err := s.CreateGroup(ctx, &registry.Group{ID: fmt.Sprintf("g%d", i), DisplayName: "G", Kind: registry.GroupKindAlliance}, rid); err != nil {
			t.Fatal(err)
		}
	}
	sent.Store(nil)
	if _, _, err := s.BatchCreateEntities(ctx, largest.Entities("worst", registry.MaxBatch)); err != nil {
		t.Fatalf("the largest batch validation accepts, on etcd with DefaultLimits: %v", err)
	}
	if got := s.CompactedRevision(); got < int64(kv.CompactPerTxn) {
		t.Fatalf("compacted up to revision %d, want the batch to compact the %d changes before it", got, kv.CompactPerTxn)
	}
	req := sent.Load()
	measured := etcdkv.TxnSize{Writes: len(req.Success), Compares: len(req.Compare), Bytes: proto.Size(req)}
	est := etcdkv.WorstCase()
	t.Logf("worst case: estimated %+v, measured %+v (%.2f %% of the estimate's bytes); DefaultLimits %+v", est, measured, 100*float64(measured.Bytes)/float64(est.Bytes), etcdkv.DefaultLimits)
	if measured.Writes > est.Writes || measured.Compares > est.Compares || measured.Bytes > est.Bytes {
		t.Errorf("the real transaction %+v exceeds the estimate %+v", measured, est)
	}
	if float64(measured.Bytes) < 0.95*float64(est.Bytes) || measured.Writes < est.Writes-3 {
		t.Errorf("the estimate %+v is loose against the real transaction %+v", est, measured)
	}
}

// TestOpen_CompactEveryCompactsEtcdHistory: with CompactEvery (the
// registry's --etcd-compact-every) a store compacts etcd's MVCC history by
// itself, one interval behind, so the cluster's old revisions are
// reclaimed without etcd's own auto-compaction; the store keeps working.
func TestOpen_CompactEveryCompactsEtcdHistory(t *testing.T) {
	t.Parallel()
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
