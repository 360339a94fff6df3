package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/kvstore"
	"talentreg/services/registry/storage"
)

// importOnce sends one message and returns the response.
func importOnce(t *testing.T, c registryv1.RegistryServiceClient, req *registryv1.ImportRequest) *registryv1.ImportResponse {
	t.Helper()
	stream, err := c.Import(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func entityItem(e *registryv1.Entity) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: e}}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestGRPC_ImportUpdateMasks: with update masks an item writes only the
// fields its mask names; the others keep their stored values (an omitted
// column must not erase a field), a named field sent empty is cleared, a
// new resource must name its required fields, and a bad mask rejects its
// item alone.
func TestGRPC_ImportUpdateMasks(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	e.createEntity(t, "acme", &registryv1.Entity{
		DisplayName: "Acme", Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, Region: "Binhai",
		Industries: []string{"aerospace"}, LeadingEnterprise: true,
	})
	resp := importOnce(t, e.client, &registryv1.ImportRequest{
		Items: []*registryv1.Resource{
			entityItem(&registryv1.Entity{Name: "entities/acme", DisplayName: "Acme Aerospace"}),                                    // 0: rename only
			entityItem(&registryv1.Entity{Name: "entities/new", DisplayName: "New"}),                                                // 1: new, no kind
			entityItem(&registryv1.Entity{Name: "entities/acme", DisplayName: "ignored"}),                                           // 2: bad mask
			entityItem(&registryv1.Entity{Name: "entities/acme", DisplayName: "Acme Aerospace"}),                                    // 3: unchanged
			entityItem(&registryv1.Entity{Name: "entities/acme", LeadingEnterprise: false}),                                         // 4: clear a flag
			entityItem(&registryv1.Entity{Name: "entities/whole", DisplayName: "W", Kind: registryv1.EntityKind_ENTITY_KIND_OTHER}), // 5: "*"
		},
		UpdateMasks: []*fieldmaskpb.FieldMask{
			mask("display_name"), mask("displayName"), mask("no_such_field"), mask("display_name", "etag"), mask("leadingEnterprise"), mask("*"),
		},
	})
	var got []string
	for _, ie := range resp.GetErrors() {
		got = append(got, fmt.Sprintf("%d %s", ie.GetIndex(), ie.GetField()))
	}
	if want := []string{"1 items[1].entity.kind", "2 update_masks[2]"}; !slices.Equal(got, want) {
		t.Fatalf("errors %q (%v), want %q", got, resp.GetErrors(), want)
	}
	if c := resp.GetEntities(); c.GetCreated() != 1 || c.GetUpdated() != 2 || c.GetUnchanged() != 1 || c.GetFailed() != 2 {
		t.Fatalf("counts %v", c)
	}
	acme, err := e.client.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/acme"})
	if err != nil {
		t.Fatal(err)
	}
	if a := acme.GetEntity(); a.GetDisplayName() != "Acme Aerospace" || a.GetRegion() != "Binhai" || !slices.Equal(a.GetIndustries(), []string{"aerospace"}) ||
		a.GetKind() != registryv1.EntityKind_ENTITY_KIND_ENTERPRISE || a.GetLeadingEnterprise() {
		t.Fatalf("acme after the import: %v; want the new name, leading_enterprise cleared, the rest kept", a)
	}

	// Masks must match the items one to one.
	resp = importOnce(t, e.client, &registryv1.ImportRequest{
		Items:       []*registryv1.Resource{entityItem(&registryv1.Entity{Name: "entities/acme"}), entityItem(&registryv1.Entity{Name: "entities/acme"})},
		UpdateMasks: []*fieldmaskpb.FieldMask{mask("region")},
	})
	if errs := resp.GetErrors(); len(errs) != 2 || errs[0].GetField() != "update_masks" || !strings.Contains(errs[0].GetMessage(), "1 masks for 2 items") {
		t.Fatalf("errors %v", errs)
	}
}

// failingStore fails the failAt-th Import call, as a full disk would.
type failingStore struct {
	*kvstore.Store
	calls, failAt atomic.Int32
}

func (f *failingStore) Import(ctx context.Context, items []registry.ImportItem, base int64) (registry.ImportResult, error) {
	if f.calls.Add(1) == f.failAt.Load() {
		return registry.ImportResult{}, errors.New("no space left on device")
	}
	return f.Store.Import(ctx, items, base)
}

// TestGRPC_ImportFailingMidwaySaysWhatWasCommitted: when a chunk fails to
// commit, the status carries an ImportResponse detail with the items dealt
// with so far (count and last name) and their counts and errors, so that a
// client can resume from there.
func TestGRPC_ImportFailingMidwaySaysWhatWasCommitted(t *testing.T) {
	var fs *failingStore
	e := startWrapped(t, storage.Options{}, grpcapi.Options{}, func(s *kvstore.Store) registry.Store {
		fs = &failingStore{Store: s}
		fs.failAt.Store(2)
		return fs
	})
	stream, err := e.client.Import(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 25000 // three chunks of the server's 10,000; the second fails
	for lo := 0; lo < n; lo += 1000 {
		var items []*registryv1.Resource
		for i := lo; i < lo+1000; i++ {
			name := fmt.Sprintf("e%05d", i)
			if i == 7 {
				name = "BAD" // fails conversion: counted and listed
			}
			items = append(items, entityItem(&registryv1.Entity{Name: "entities/" + name, DisplayName: "E", Kind: registryv1.EntityKind_ENTITY_KIND_OTHER}))
		}
		if err := stream.Send(&registryv1.ImportRequest{Items: items}); err != nil {
			break // the server may end the call before all is sent
		}
	}
	_, err = stream.CloseAndRecv()
	st := status.Convert(err)
	if st.Code() != codes.Internal {
		t.Fatalf("status %v, want INTERNAL", st)
	}
	var progress *registryv1.ImportResponse
	for _, d := range st.Details() {
		if r, ok := d.(*registryv1.ImportResponse); ok {
			progress = r
		}
	}
	if progress == nil {
		t.Fatalf("status %v carries no ImportResponse", st)
	}
	if progress.GetCommittedItems() != 10000 || progress.GetLastCommittedItem() != "entities/e09999" {
		t.Fatalf("committed %d up to %q, want 10000 up to entities/e09999", progress.GetCommittedItems(), progress.GetLastCommittedItem())
	}
	if c := progress.GetEntities(); c.GetCreated() != 9999 || c.GetFailed() != 1 || len(progress.GetErrors()) != 1 || progress.GetErrors()[0].GetIndex() != 7 {
		t.Fatalf("counts %v, errors %v", c, progress.GetErrors())
	}
	if got := e.store.Revision(); got != 9999 || progress.GetRevision() != got {
		t.Fatalf("store revision %d, response %d; want 9999", got, progress.GetRevision())
	}
}

// TestGRPC_ImportClipsEchoedNames: an item whose name is a megabyte is
// reported with its name and message shortened, not echoed whole (up to
// 10,000 times in one response).
func TestGRPC_ImportClipsEchoedNames(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	huge := "entities/" + strings.Repeat("x", 1<<20)
	resp := importOnce(t, e.client, &registryv1.ImportRequest{Items: []*registryv1.Resource{entityItem(&registryv1.Entity{Name: huge})}})
	errs := resp.GetErrors()
	if len(errs) != 1 || len(errs[0].GetName()) > 256 || len(errs[0].GetMessage()) > 512 || !strings.HasPrefix(errs[0].GetName(), "entities/xxx") {
		t.Fatalf("errors: %d, name of %d bytes, message of %d bytes", len(errs), len(errs[0].GetName()), len(errs[0].GetMessage()))
	}
}
