package grpcapi_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/storage"
)

// rawCodec sends proto requests and keeps each answer's bytes as they
// arrived (into a *[]byte).
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.CodecV2 = rawCodec{}

// TestGRPC_ListEntitiesWireIsMarshal proves that the ListEntities answer
// served over gRPC (pre-encoded, see Register) is byte for byte what
// proto.Marshal writes for the answer of the typed ListEntities method,
// page after page, for filters of one to three conditions, page sizes
// from 1 to past the data set, and entities with and without every
// optional field; and that both fail alike on bad requests.
func TestGRPC_ListEntitiesWireIsMarshal(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	kinds := []registry.EntityKind{registry.EntityKindEnterprise, registry.EntityKindUniversity, registry.EntityKindResearchInstitute, registry.EntityKindOther}
	regions := []string{"Beijing", "Binhai", "Hebei"}
	industries := []string{"aerospace", "biomedicine", "deep-sea", "new-materials"}
	var batch []*registry.Entity
	for i := range 230 {
		x := &registry.Entity{
			ID:                     fmt.Sprintf("e-%04d", i),
			DisplayName:            fmt.Sprintf("Entity %d 天津滨海", i),
			Kind:                   kinds[i%len(kinds)],
			Region:                 regions[(i/4)%len(regions)],
			LeadingEnterprise:      i%5 == 0,
			FutureIndustryPlatform: i%7 == 0,
		}
		for j, ind := range industries {
			if (i>>j)&1 == 1 {
				x.Industries = append(x.Industries, ind)
			}
		}
		switch {
		case i%11 == 0:
			x.DisplayName, x.Region, x.Industries = "x", "", nil // under 128 bytes: a length prefix of one byte
		case i%13 == 0:
			x.DisplayName = strings.Repeat("长", 50+i%150) // of two
		}
		if i%9 == 0 {
			x.CreditCode = creditCode(fmt.Sprintf("91120116MA05J%04d", i))
		}
		batch = append(batch, x)
	}
	if _, _, err := e.store.BatchCreateEntities(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(batch); i += 10 { // ended entities carry a status and an end time
		if _, _, err := e.store.UpdateEntity(ctx, batch[i].ID, "", func(x *registry.Entity) {
			x.Status, x.EndTime = registry.LifecycleWithdrawn, time.Date(2025, 3, 1, 12, 0, 0, 987654321, time.UTC)
		}); err != nil {
			t.Fatal(err)
		}
	}
	filters := []string{
		``,
		`kind = ENTITY_KIND_UNIVERSITY`,
		`kind = ENTITY_KIND_UNIVERSITY AND region = "Beijing"`,
		`industries:"aerospace"`,
		`industries:"aerospace" AND industries:"deep-sea" AND region = "Hebei"`,
		`leadingEnterprise = true`,
		`leading_enterprise = false AND kind = ENTITY_KIND_OTHER`,
		`futureIndustryPlatform = true`,
		`status = LIFECYCLE_STATUS_WITHDRAWN`,
		`status = LIFECYCLE_STATUS_ACTIVE AND industries:"biomedicine"`,
		`region = "Nowhere"`,
	}
	pages := 0
	for _, filter := range filters {
		for _, size := range []int32{1, 7, 50, 0, 1000} {
			token := ""
			for {
				req := &registryv1.ListEntitiesRequest{Filter: filter, PageSize: size, PageToken: token}
				var got []byte
				if err := e.conn.Invoke(ctx, registryv1.RegistryService_ListEntities_FullMethodName, req, &got, grpc.ForceCodecV2(rawCodec{})); err != nil {
					t.Fatalf("filter %q, size %d: %v", filter, size, err)
				}
				typed, err := e.api.ListEntities(ctx, req)
				if err != nil {
					t.Fatalf("filter %q, size %d: typed method: %v", filter, size, err)
				}
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(typed)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("filter %q, size %d, token %q: wire answer\n%x\nwant proto.Marshal's\n%x", filter, size, token, got, want)
				}
				pages++
				if token = typed.GetNextPageToken(); token == "" {
					break
				}
			}
		}
	}
	if pages < 500 {
		t.Fatalf("compared %d pages; the data set should give more", pages)
	}
	// Bad requests fail with the same status either way.
	for _, req := range []*registryv1.ListEntitiesRequest{
		{Filter: `colour = "red"`},
		{Filter: `kind = `},
		{PageSize: -1},
		{PageToken: "not-a-token"},
	} {
		var got []byte
		errWire := e.conn.Invoke(ctx, registryv1.RegistryService_ListEntities_FullMethodName, req, &got, grpc.ForceCodecV2(rawCodec{}))
		_, errTyped := e.api.ListEntities(ctx, req)
		sw, st := status.Convert(errWire), status.Convert(errTyped)
		if errWire == nil || !proto.Equal(sw.Proto(), st.Proto()) {
			t.Errorf("request %v: wire error %v, typed method's %v", req, sw.Proto(), st.Proto())
		}
	}
}
