package grpcapi_test

import (
	"fmt"
	"testing"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/storage"
)

// TestFeed_ChangesCarryTheirTransaction: a 1,000-entity batch is one
// transaction; WatchChanges sends it in more than one message and
// ListChanges in more than one page, and every change says which
// revisions its transaction spans.
func TestFeed_ChangesCarryTheirTransaction(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	e.createEntity(t, "solo", pbEntity("solo"))
	req := &registryv1.BatchCreateEntitiesRequest{}
	for i := range 1000 {
		req.Requests = append(req.Requests, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("b%d", i), Entity: pbEntity("b")})
	}
	if _, err := e.client.BatchCreateEntities(ctx, req); err != nil {
		t.Fatal(err)
	}
	want := func(c *registryv1.Change) (first, last int64) {
		if c.GetRevision() == 1 {
			return 1, 1
		}
		return 2, 1001
	}

	stream, err := e.client.WatchChanges(ctx, &registryv1.WatchChangesRequest{StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	msgs, got := 0, int64(0)
	for got < 1001 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.GetChanges()) > 0 {
			msgs++
		}
		for _, c := range m.GetChanges() {
			if f, l := want(c); c.GetTransactionFirstRevision() != f || c.GetTransactionLastRevision() != l {
				t.Fatalf("watched change %d: transaction %d-%d, want %d-%d", c.GetRevision(), c.GetTransactionFirstRevision(), c.GetTransactionLastRevision(), f, l)
			}
			got = c.GetRevision()
		}
	}
	if msgs < 2 {
		t.Fatalf("1001 changes in %d message: the test proves nothing", msgs)
	}

	page, err := e.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: 1, PageSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	last := page.GetChanges()[len(page.GetChanges())-1]
	if last.GetRevision() != 300 || last.GetTransactionLastRevision() != 1001 || page.GetNextPageToken() == "" {
		t.Fatalf("page ends at %d in transaction %d-%d (next %q); want 300 inside 2-1001, with a next page",
			last.GetRevision(), last.GetTransactionFirstRevision(), last.GetTransactionLastRevision(), page.GetNextPageToken())
	}
}
