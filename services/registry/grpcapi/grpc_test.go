package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcserver"
	"talentreg/services/registry"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/kvstore"
	"talentreg/services/registry/storage"
)

// testEnv is a real gRPC server on a loopback port over a real bbolt
// store, and a real client.
type testEnv struct {
	api    *grpcapi.Server
	store  *kvstore.Store
	client registryv1.RegistryServiceClient
	admin  registryv1.RegistryAdminServiceClient
	conn   *grpc.ClientConn
}

// start serves a fresh store on 127.0.0.1:0; cleanup stops everything and
// checks the store's consistency.
func start(t *testing.T, sopts storage.Options, gopts grpcapi.Options) *testEnv {
	t.Helper()
	return startWrapped(t, sopts, gopts, func(s *kvstore.Store) registry.Store { return s })
}

// startWrapped is start with the store the API sees wrapped by wrap.
func startWrapped(t *testing.T, sopts storage.Options, gopts grpcapi.Options, wrap func(*kvstore.Store) registry.Store) *testEnv {
	t.Helper()
	store, err := storage.OpenBolt(filepath.Join(t.TempDir(), "registry.db"), sopts)
	if err != nil {
		t.Fatal(err)
	}
	gopts.TokenKey = store.TokenKey()
	api := grpcapi.New(wrap(store), gopts)
	// The production server: interceptors, codec and all.
	srv := grpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), grpcserver.Options{}, grpcapi.ServerOptions()...).Server
	grpcapi.Register(srv, api)
	grpcapi.RegisterAdmin(srv, grpcapi.NewAdmin(store, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		api.Shutdown() // ends open watches, so the graceful stop does not wait for them
		srv.GracefulStop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := store.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testEnv{api: api, store: store, client: registryv1.NewRegistryServiceClient(conn), admin: registryv1.NewRegistryAdminServiceClient(conn), conn: conn}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func creditCode(first17 string) string {
	return first17 + string(registry.CreditCodeCheckChar(first17))
}

func pbEntity(name string) *registryv1.Entity {
	return &registryv1.Entity{DisplayName: "Entity " + name, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, Region: "Binhai"}
}

// revisionOf returns the x-revision header, failing if it is missing.
func revisionOf(t *testing.T, hdr metadata.MD) int64 {
	t.Helper()
	v := hdr.Get(grpcapi.RevisionHeader)
	if len(v) != 1 {
		t.Fatalf("x-revision header = %q, want one value", v)
	}
	rev, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// wantHead asserts that a mutation's x-revision is the store's last
// revision and equals want.
func (e *testEnv) wantHead(t *testing.T, hdr metadata.MD, want int64) {
	t.Helper()
	if got := revisionOf(t, hdr); got != want || got != e.store.Revision() {
		t.Fatalf("x-revision = %d, want %d (store revision %d)", got, want, e.store.Revision())
	}
}

func (e *testEnv) createEntity(t *testing.T, id string, ent *registryv1.Entity) *registryv1.Entity {
	t.Helper()
	var hdr metadata.MD
	want := e.store.Revision() + 1
	resp, err := e.client.CreateEntity(testCtx(t), &registryv1.CreateEntityRequest{EntityId: id, Entity: ent}, grpc.Header(&hdr))
	if err != nil {
		t.Fatalf("create entity %s: %v", id, err)
	}
	e.wantHead(t, hdr, want)
	return resp.GetEntity()
}

// errorDetails unpacks a status error: its code, ErrorInfo and BadRequest.
func errorDetails(t *testing.T, err error) (*status.Status, *errdetails.ErrorInfo, *errdetails.BadRequest) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded, want an error")
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	var info *errdetails.ErrorInfo
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		switch x := d.(type) {
		case *errdetails.ErrorInfo:
			info = x
		case *errdetails.BadRequest:
			br = x
		}
	}
	return st, info, br
}

// wantStatus asserts the code, the ErrorInfo reason (domain talentreg)
// and, for INVALID_ARGUMENT, a BadRequest violation naming field.
func wantStatus(t *testing.T, err error, code codes.Code, reason, field string) *errdetails.ErrorInfo {
	t.Helper()
	st, info, br := errorDetails(t, err)
	if st.Code() != code {
		t.Fatalf("code %v (%v), want %v", st.Code(), err, code)
	}
	if info == nil || info.GetDomain() != grpcapi.Domain || (reason != "" && info.GetReason() != reason) {
		t.Fatalf("ErrorInfo %v, want domain %s reason %s (%v)", info, grpcapi.Domain, reason, err)
	}
	if field != "" {
		var fields []string
		for _, v := range br.GetFieldViolations() {
			fields = append(fields, v.GetField())
			if v.GetDescription() == "" {
				t.Fatalf("violation of %s has no description", v.GetField())
			}
		}
		if !slices.Contains(fields, field) || !strings.Contains(st.Message(), field) {
			t.Fatalf("violations %q, message %q; want field %q named in both", fields, st.Message(), field)
		}
	}
	return info
}

func TestGRPC_InvalidArgument(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	e.createEntity(t, "acme", pbEntity("acme"))
	e.createEntity(t, "beta", pbEntity("beta"))
	first, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 1, Filter: `region = "Binhai"`})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, token %q", err, first.GetNextPageToken())
	}
	token := first.GetNextPageToken()
	tampered := []byte(token)
	if mid := len(tampered) / 2; tampered[mid] == 'A' {
		tampered[mid] = 'B'
	} else {
		tampered[mid] = 'A'
	}
	good := pbEntity("x")
	withEntity := func(f func(*registryv1.Entity)) *registryv1.Entity {
		x := pbEntity("x")
		f(x)
		return x
	}
	record := func(f func(*registryv1.TalentRecord)) *registryv1.TalentRecord {
		r := &registryv1.TalentRecord{Subject: "entities/acme", Category: registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, Count: 5, Period: "2024"}
		f(r)
		return r
	}
	badCode := creditCode("91120116MA05JQ3X0")
	badCode = badCode[:17] + map[bool]string{true: "1", false: "0"}[badCode[17] == '0']

	tests := []struct {
		name, field, reason string
		call                func() error
	}{
		{"bad entity_id", "entity_id", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "Bad_ID", Entity: good})
			return err
		}},
		// A malformed etag can never match: the client's mistake (400), not a
		// stale read (409).
		{"garbage etag on update", "entity.etag", registry.ReasonInvalidField, func() error {
			_, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: &registryv1.Entity{Name: "entities/acme", DisplayName: "A", Etag: "W/\"xyz\""}})
			return err
		}},
		{"etag with a leading zero on delete", "etag", registry.ReasonInvalidField, func() error {
			_, err := c.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: "entities/acme", Etag: "01"})
			return err
		}},
		{"negative etag on a membership delete", "etag", registry.ReasonInvalidField, func() error {
			_, err := c.DeleteMembership(ctx, &registryv1.DeleteMembershipRequest{Name: "groups/g/memberships/acme", Etag: "-3"})
			return err
		}},
		{"bad resource name", "name", registry.ReasonInvalidField, func() error {
			_, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/NOT-VALID"})
			return err
		}},
		{"name of another collection", "name", registry.ReasonInvalidField, func() error {
			_, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "groups/acme"})
			return err
		}},
		{"missing entity", "entity", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x"})
			return err
		}},
		{"display name too long", "entity.display_name", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x", Entity: withEntity(func(x *registryv1.Entity) {
				x.DisplayName = strings.Repeat("名", registry.MaxDisplayName+1)
			})})
			return err
		}},
		{"empty display name", "entity.display_name", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x", Entity: withEntity(func(x *registryv1.Entity) { x.DisplayName = "" })})
			return err
		}},
		{"missing kind", "entity.kind", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x", Entity: withEntity(func(x *registryv1.Entity) { x.Kind = 0 })})
			return err
		}},
		{"bad credit code check character", "entity.credit_code", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x", Entity: withEntity(func(x *registryv1.Entity) { x.CreditCode = badCode })})
			return err
		}},
		{"bad industry id", "entity.industries[1]", registry.ReasonInvalidField, func() error {
			_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x", Entity: withEntity(func(x *registryv1.Entity) {
				x.Industries = []string{"aerospace", "Deep Sea"}
			})})
			return err
		}},
		{"count zero", "talent_record.count", registry.ReasonInvalidField, func() error {
			_, err := c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecord: record(func(r *registryv1.TalentRecord) { r.Count = 0 })})
			return err
		}},
		{"count negative", "talent_record.count", registry.ReasonInvalidField, func() error {
			_, err := c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecord: record(func(r *registryv1.TalentRecord) { r.Count = -3 })})
			return err
		}},
		{"bad period", "talent_record.period", registry.ReasonInvalidField, func() error {
			_, err := c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecord: record(func(r *registryv1.TalentRecord) { r.Period = "2024-13" })})
			return err
		}},
		{"bad subject", "talent_record.subject", registry.ReasonInvalidField, func() error {
			_, err := c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecord: record(func(r *registryv1.TalentRecord) { r.Subject = "programs/x" })})
			return err
		}},
		{"unknown filter field", "filter", registry.ReasonInvalidFilter, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `colour = "red"`})
			return err
		}},
		{"filter syntax", "filter", registry.ReasonInvalidFilter, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `kind = `})
			return err
		}},
		{"filter with OR", "filter", registry.ReasonInvalidFilter, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `region = "Beijing" OR region = "Hebei"`})
			return err
		}},
		{"presence test on a list", "filter", registry.ReasonInvalidFilter, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `industries:*`})
			return err
		}},
		{"enum compared with a number", "filter", registry.ReasonInvalidFilter, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `kind = 5`})
			return err
		}},
		{"filter with an unknown enum value", "filter", registry.ReasonInvalidFilter, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `kind = ENTITY_KIND_SPACESHIP`})
			return err
		}},
		{"bad update mask path", "update_mask", registry.ReasonInvalidUpdateMask, func() error {
			_, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{
				Entity:     &registryv1.Entity{Name: "entities/acme", DisplayName: "New"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"colour"}},
			})
			return err
		}},
		{"star with other paths", "update_mask", registry.ReasonInvalidUpdateMask, func() error {
			_, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{
				Entity:     &registryv1.Entity{Name: "entities/acme", DisplayName: "New"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*", "display_name"}},
			})
			return err
		}},
		{"tampered page token", "page_token", registry.ReasonInvalidPageToken, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 1, Filter: `region = "Binhai"`, PageToken: string(tampered)})
			return err
		}},
		{"page token of another filter", "page_token", registry.ReasonInvalidPageToken, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 1, Filter: `region = "Beijing"`, PageToken: token})
			return err
		}},
		{"page token of another collection", "page_token", registry.ReasonInvalidPageToken, func() error {
			_, err := c.ListGroups(ctx, &registryv1.ListGroupsRequest{PageSize: 1, PageToken: token})
			return err
		}},
		{"negative page size", "page_size", registry.ReasonInvalidField, func() error {
			_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: -1})
			return err
		}},
		{"negative start revision", "start_revision", registry.ReasonInvalidField, func() error {
			_, err := c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: -1})
			return err
		}},
		{"empty batch", "requests", registry.ReasonBatchTooLarge, func() error {
			_, err := c.BatchCreateEntities(ctx, &registryv1.BatchCreateEntitiesRequest{})
			return err
		}},
		{"batch with a duplicate id", "requests[1].entity.name", registry.ReasonInvalidField, func() error {
			_, err := c.BatchCreateEntities(ctx, &registryv1.BatchCreateEntitiesRequest{Requests: []*registryv1.CreateEntityRequest{
				{EntityId: "dup", Entity: pbEntity("a")}, {EntityId: "dup", Entity: pbEntity("b")},
			}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.store.Revision()
			wantStatus(t, tt.call(), codes.InvalidArgument, tt.reason, tt.field)
			if e.store.Revision() != before {
				t.Fatalf("a rejected request moved the revision from %d to %d", before, e.store.Revision())
			}
		})
	}
	// The rule in words, not the checker's internal type names.
	for filter, want := range map[string]string{
		`kind = 5`:     "ENTITY_KIND_UNIVERSITY",
		`industries:*`: `industries:"id"`,
	} {
		_, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: filter})
		if msg := status.Convert(err).Message(); !strings.Contains(msg, want) || strings.Contains(msg, "overload") {
			t.Errorf("filter %q: message %q; want it to say %q", filter, msg, want)
		}
	}
	// The untampered token still works with its own filter.
	if _, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 1, Filter: `region = "Binhai"`, PageToken: token}); err != nil {
		t.Fatalf("genuine token: %v", err)
	}
}

func TestGRPC_NotFoundAlreadyExistsAbortedFailedPrecondition(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	code := creditCode("91120116MA05JQ3X0")
	withCode := pbEntity("acme")
	withCode.CreditCode = code
	acme := e.createEntity(t, "acme", withCode)
	if _, err := c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "g", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}}); err != nil {
		t.Fatal(err)
	}
	membership := &registryv1.CreateMembershipRequest{Parent: "groups/g", Membership: &registryv1.Membership{Entity: "entities/acme", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}
	if _, err := c.CreateMembership(ctx, membership); err != nil {
		t.Fatal(err)
	}

	t.Run("NOT_FOUND", func(t *testing.T) {
		_, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/ghost"})
		info := wantStatus(t, err, codes.NotFound, registry.ReasonNotFound, "")
		if info.GetMetadata()["resource"] != "entities/ghost" {
			t.Fatalf("metadata %v", info.GetMetadata())
		}
		_, err = c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/g", Membership: &registryv1.Membership{Entity: "entities/ghost", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}})
		info = wantStatus(t, err, codes.NotFound, registry.ReasonReferenceNotFound, "")
		if info.GetMetadata()["resource"] != "entities/ghost" || info.GetMetadata()["field"] != "membership.entity" {
			t.Fatalf("metadata %v", info.GetMetadata())
		}
		_, err = c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecord: &registryv1.TalentRecord{
			Subject: "entities/acme", Category: registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, Count: 1, Program: "programs/ghost",
		}})
		info = wantStatus(t, err, codes.NotFound, registry.ReasonReferenceNotFound, "")
		if info.GetMetadata()["resource"] != "programs/ghost" || info.GetMetadata()["field"] != "talent_record.program" {
			t.Fatalf("metadata %v", info.GetMetadata())
		}
		_, err = c.ListMemberships(ctx, &registryv1.ListMembershipsRequest{Parent: "groups/ghost"})
		wantStatus(t, err, codes.NotFound, registry.ReasonNotFound, "")
		_, err = c.DeleteGroup(ctx, &registryv1.DeleteGroupRequest{Name: "groups/ghost"})
		wantStatus(t, err, codes.NotFound, registry.ReasonNotFound, "")
	})
	t.Run("ALREADY_EXISTS", func(t *testing.T) {
		_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "acme", Entity: pbEntity("again")})
		wantStatus(t, err, codes.AlreadyExists, registry.ReasonAlreadyExists, "")
		sameCode := pbEntity("other")
		sameCode.CreditCode = code
		_, err = c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "other", Entity: sameCode})
		info := wantStatus(t, err, codes.AlreadyExists, registry.ReasonCreditCodeTaken, "")
		if info.GetMetadata()["resource"] != "entities/acme" || info.GetMetadata()["field"] != "entity.credit_code" {
			t.Fatalf("metadata %v", info.GetMetadata())
		}
		// In a batch the field says which request holds the taken code.
		_, err = c.BatchCreateEntities(ctx, &registryv1.BatchCreateEntitiesRequest{Requests: []*registryv1.CreateEntityRequest{
			{EntityId: "fresh", Entity: pbEntity("fresh")}, {EntityId: "other", Entity: sameCode}}})
		info = wantStatus(t, err, codes.AlreadyExists, registry.ReasonCreditCodeTaken, "")
		if info.GetMetadata()["field"] != "requests[1].entity.credit_code" || !strings.HasPrefix(status.Convert(err).Message(), "requests[1].entity.credit_code:") {
			t.Fatalf("batch: metadata %v, message %q; want requests[1].entity.credit_code", info.GetMetadata(), status.Convert(err).Message())
		}
		_, err = c.CreateMembership(ctx, membership)
		wantStatus(t, err, codes.AlreadyExists, registry.ReasonAlreadyExists, "")
	})
	t.Run("ABORTED", func(t *testing.T) {
		stale := acme.GetEtag()
		fresh, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: &registryv1.Entity{Name: "entities/acme", DisplayName: "Acme 2", Etag: stale}})
		if err != nil || fresh.GetEntity().GetEtag() == stale {
			t.Fatalf("update with the current etag: %v, etag %q → %q", err, stale, fresh.GetEntity().GetEtag())
		}
		_, err = c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: &registryv1.Entity{Name: "entities/acme", DisplayName: "Acme 3", Etag: stale}})
		info := wantStatus(t, err, codes.Aborted, registry.ReasonEtagMismatch, "")
		if info.GetMetadata()["current_etag"] != fresh.GetEntity().GetEtag() {
			t.Fatalf("metadata %v, want current etag %s", info.GetMetadata(), fresh.GetEntity().GetEtag())
		}
		_, err = c.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: "entities/acme", Etag: stale, Force: true})
		wantStatus(t, err, codes.Aborted, registry.ReasonEtagMismatch, "")
		if got, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/acme"}); err != nil || got.GetEntity().GetDisplayName() != "Acme 2" {
			t.Fatalf("after stale writes: %v %v", got, err)
		}
	})
	t.Run("FAILED_PRECONDITION", func(t *testing.T) {
		_, err := c.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: "entities/acme"})
		wantStatus(t, err, codes.FailedPrecondition, registry.ReasonHasDependants, "")
		_, err = c.DeleteGroup(ctx, &registryv1.DeleteGroupRequest{Name: "groups/g"})
		wantStatus(t, err, codes.FailedPrecondition, registry.ReasonHasDependants, "")
		if _, err := c.GetMembership(ctx, &registryv1.GetMembershipRequest{Name: "groups/g/memberships/acme"}); err != nil {
			t.Fatalf("the membership went away: %v", err)
		}
	})
}

func TestGRPC_OutOfRangeForCompactedRevisions(t *testing.T) {
	e := start(t, storage.Options{RetainChanges: 5}, grpcapi.Options{})
	ctx := testCtx(t)
	for i := 0; i < 20; i++ {
		e.createEntity(t, fmt.Sprintf("e%d", i), pbEntity("e"))
	}
	compacted := e.store.CompactedRevision()
	if compacted < 10 {
		t.Fatalf("compacted revision %d after 20 writes retaining 5", compacted)
	}
	wantCompacted := func(err error) {
		t.Helper()
		info := wantStatus(t, err, codes.OutOfRange, registry.ReasonRevisionCompacted, "")
		if got := info.GetMetadata()[registry.MetadataCompactedRevision]; got != strconv.FormatInt(compacted, 10) {
			t.Fatalf("compacted_revision %q, want %d", got, compacted)
		}
	}
	_, err := e.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: 3})
	wantCompacted(err)
	_, err = e.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: compacted})
	wantCompacted(err)
	stream, err := e.client.WatchChanges(ctx, &registryv1.WatchChangesRequest{StartRevision: 3})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCompacted(err)
	// The oldest retained revision, and "from the oldest" (0), both work.
	for _, from := range []int64{compacted + 1, 0} {
		page, err := e.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: from})
		if err != nil || len(page.GetChanges()) == 0 || page.GetChanges()[0].GetRevision() != compacted+1 || page.GetRevision() != 20 {
			t.Fatalf("ListChanges(%d): %v, %d changes", from, err, len(page.GetChanges()))
		}
	}
}

// TestGRPC_RevisionHeaderOnEveryMutation: every mutation returns its last
// revision as x-revision; a cascade delete with k dependants takes k+1.
func TestGRPC_RevisionHeaderOnEveryMutation(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	var hdr metadata.MD
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		e.wantHead(t, hdr, e.store.Revision())
		hdr = nil
	}
	head := func() int64 { return e.store.Revision() }

	r0 := head()
	_, err := c.CreateProgram(ctx, &registryv1.CreateProgramRequest{ProgramId: "p", Program: &registryv1.Program{DisplayName: "P", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_DISTRICT}}, grpc.Header(&hdr))
	step(err)
	_, err = c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "x", Entity: pbEntity("x")}, grpc.Header(&hdr))
	step(err)
	_, err = c.BatchCreateEntities(ctx, &registryv1.BatchCreateEntitiesRequest{Requests: []*registryv1.CreateEntityRequest{
		{EntityId: "y", Entity: pbEntity("y")}, {EntityId: "z", Entity: pbEntity("z")},
	}}, grpc.Header(&hdr))
	if err == nil && revisionOf(t, hdr) != r0+4 {
		t.Fatalf("batch of 2 after 2 writes: x-revision %d, want %d", revisionOf(t, hdr), r0+4)
	}
	step(err)
	for _, g := range []string{"g1", "g2"} {
		_, err = c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: g, Group: &registryv1.Group{DisplayName: g, Kind: registryv1.GroupKind_GROUP_KIND_CONSORTIUM, Field: "aerospace"}}, grpc.Header(&hdr))
		step(err)
		_, err = c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/" + g, Membership: &registryv1.Membership{Entity: "entities/x", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD}}, grpc.Header(&hdr))
		step(err)
	}
	_, err = c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecordId: "t", TalentRecord: &registryv1.TalentRecord{
		Subject: "entities/x", Category: registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED, Count: 7, Program: "programs/p", Period: "2024-06",
	}}, grpc.Header(&hdr))
	step(err)
	_, err = c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: &registryv1.Entity{Name: "entities/y", Region: "Hebei"}}, grpc.Header(&hdr))
	step(err)
	_, err = c.UpdateGroup(ctx, &registryv1.UpdateGroupRequest{Group: &registryv1.Group{Name: "groups/g2", Field: "deep-sea"}}, grpc.Header(&hdr))
	step(err)
	_, err = c.UpdateMembership(ctx, &registryv1.UpdateMembershipRequest{Membership: &registryv1.Membership{Name: "groups/g2/memberships/x", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}, grpc.Header(&hdr))
	step(err)
	_, err = c.UpdateTalentRecord(ctx, &registryv1.UpdateTalentRecordRequest{TalentRecord: &registryv1.TalentRecord{Name: "talentRecords/t", Count: 8}}, grpc.Header(&hdr))
	step(err)
	_, err = c.UpdateProgram(ctx, &registryv1.UpdateProgramRequest{Program: &registryv1.Program{Name: "programs/p", DisplayName: "P2"}}, grpc.Header(&hdr))
	step(err)
	// An update that changes nothing commits nothing and reports the head.
	before := head()
	_, err = c.UpdateProgram(ctx, &registryv1.UpdateProgramRequest{Program: &registryv1.Program{Name: "programs/p", DisplayName: "P2"}}, grpc.Header(&hdr))
	if head() != before {
		t.Fatalf("a no-op update moved the revision to %d", head())
	}
	step(err)

	// Cascade: x has two memberships and one talent record.
	before = head()
	_, err = c.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: "entities/x", Force: true}, grpc.Header(&hdr))
	if err == nil && revisionOf(t, hdr) != before+3+1 {
		t.Fatalf("cascade delete with 3 dependants: x-revision %d, want %d", revisionOf(t, hdr), before+4)
	}
	step(err)
	page, err := c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: before + 1})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, ch := range page.GetChanges() {
		if ch.GetType() != registryv1.ChangeType_CHANGE_TYPE_DELETED || ch.GetBefore() == nil || ch.GetAfter() != nil {
			t.Fatalf("cascade change %v", ch)
		}
		deleted = append(deleted, ch.GetName())
	}
	slices.Sort(deleted)
	if want := []string{"entities/x", "groups/g1/memberships/x", "groups/g2/memberships/x", "talentRecords/t"}; !slices.Equal(deleted, want) {
		t.Fatalf("cascade deleted %v, want %v", deleted, want)
	}

	_, err = c.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: "entities/z"}, grpc.Header(&hdr))
	step(err)
	_, err = c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/g1", Membership: &registryv1.Membership{Entity: "entities/y", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD}}, grpc.Header(&hdr))
	step(err)
	_, err = c.DeleteMembership(ctx, &registryv1.DeleteMembershipRequest{Name: "groups/g1/memberships/y"}, grpc.Header(&hdr))
	step(err)
	_, err = c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecordId: "t2", TalentRecord: &registryv1.TalentRecord{
		Subject: "groups/g1", Category: registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, Count: 1,
	}}, grpc.Header(&hdr))
	step(err)
	_, err = c.DeleteTalentRecord(ctx, &registryv1.DeleteTalentRecordRequest{Name: "talentRecords/t2"}, grpc.Header(&hdr))
	step(err)
	_, err = c.DeleteGroup(ctx, &registryv1.DeleteGroupRequest{Name: "groups/g2"}, grpc.Header(&hdr))
	step(err)
	_, err = c.DeleteProgram(ctx, &registryv1.DeleteProgramRequest{Name: "programs/p"}, grpc.Header(&hdr))
	step(err)
	imp, err := c.Import(ctx, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Send(&registryv1.ImportRequest{Items: []*registryv1.Resource{{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{Name: "programs/q", DisplayName: "Q", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL}}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = imp.CloseAndRecv()
	step(err)

	// The whole log pages through with tokens: 1..head, no gap.
	next, token := int64(1), ""
	for {
		page, err := c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: 1, PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.GetChanges() {
			if ch.GetRevision() != next {
				t.Fatalf("change log page: revision %d, want %d", ch.GetRevision(), next)
			}
			next++
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if next-1 != head() {
		t.Fatalf("change log ends at %d, head %d", next-1, head())
	}
	// A token belongs to its listing: reused with another start revision it
	// is refused, not silently followed.
	page, err = c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: 1, PageSize: 2})
	if err != nil || page.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", page, err)
	}
	_, err = c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: 2, PageSize: 2, PageToken: page.GetNextPageToken()})
	wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidPageToken, "page_token")
}

func TestGRPC_UpdateMasks(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	orig := &registryv1.Entity{
		DisplayName: "Acme", Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, CreditCode: creditCode("91120116MA05JQ3X0"),
		Region: "Binhai", Industries: []string{"aerospace", "biomedicine"}, LeadingEnterprise: true,
	}
	created := e.createEntity(t, "acme", orig)
	update := func(ent *registryv1.Entity, paths ...string) *registryv1.Entity {
		t.Helper()
		ent.Name = "entities/acme"
		req := &registryv1.UpdateEntityRequest{Entity: ent}
		if paths != nil {
			req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
		}
		resp, err := c.UpdateEntity(ctx, req)
		if err != nil {
			t.Fatalf("update %v: %v", paths, err)
		}
		got, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/acme"})
		if err != nil || got.GetEntity().GetEtag() != resp.GetEntity().GetEtag() {
			t.Fatalf("read back: %v / %v", got, err)
		}
		if !got.GetEntity().GetCreateTime().AsTime().Equal(created.GetCreateTime().AsTime()) {
			t.Fatalf("create_time changed to %v", got.GetEntity().GetCreateTime())
		}
		return got.GetEntity()
	}

	// Proto spelling: only display_name changes, though region is sent.
	got := update(&registryv1.Entity{DisplayName: "Acme 2", Region: "Tianjin"}, "display_name")
	if got.GetDisplayName() != "Acme 2" || got.GetRegion() != "Binhai" || len(got.GetIndustries()) != 2 || !got.GetLeadingEnterprise() {
		t.Fatalf("display_name mask: %v", got)
	}
	// JSON spelling.
	got = update(&registryv1.Entity{DisplayName: "Acme 3", Region: "Tianjin"}, "displayName")
	if got.GetDisplayName() != "Acme 3" || got.GetRegion() != "Binhai" {
		t.Fatalf("displayName mask: %v", got)
	}
	// Output-only paths are ignored, not rejected, and never written.
	got = update(&registryv1.Entity{DisplayName: "Acme 4", CreateTime: timestamppb.New(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), Etag: ""},
		"display_name", "create_time", "update_time", "etag", "name")
	if got.GetDisplayName() != "Acme 4" {
		t.Fatalf("mask with output-only paths: %v", got)
	}
	// No mask: the populated fields of the body (a resource read back with
	// its output-only fields may be sent as is).
	body := got
	body.Region = "Beijing"
	body.DisplayName = ""
	body.CreateTime = timestamppb.New(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	body.Industries = nil
	got = update(body)
	if got.GetRegion() != "Beijing" || got.GetDisplayName() != "Acme 4" || len(got.GetIndustries()) != 2 || got.GetCreditCode() != orig.CreditCode {
		t.Fatalf("empty mask: %v", got)
	}
	// An empty mask list also means the populated fields.
	got = update(&registryv1.Entity{FutureIndustryPlatform: true}, []string{}...)
	if !got.GetFutureIndustryPlatform() || got.GetRegion() != "Beijing" || got.GetDisplayName() != "Acme 4" {
		t.Fatalf("empty path list: %v", got)
	}
	// "*" replaces every field, clearing what the body leaves unset.
	got = update(&registryv1.Entity{DisplayName: "Acme 5", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY}, "*")
	if got.GetDisplayName() != "Acme 5" || got.GetKind() != registryv1.EntityKind_ENTITY_KIND_UNIVERSITY || got.GetRegion() != "" ||
		len(got.GetIndustries()) != 0 || got.GetCreditCode() != "" || got.GetLeadingEnterprise() || got.GetFutureIndustryPlatform() {
		t.Fatalf("* mask: %v", got)
	}
	// "*" with a body lacking a required field is refused.
	_, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: &registryv1.Entity{Name: "entities/acme", DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}}})
	wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidField, "entity.kind")
	// The index follows the updates: the old credit code is free again.
	e.createEntity(t, "reuse", &registryv1.Entity{DisplayName: "Reuse", Kind: registryv1.EntityKind_ENTITY_KIND_OTHER, CreditCode: orig.CreditCode})
	list, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: `kind = ENTITY_KIND_UNIVERSITY`})
	if err != nil || len(list.GetEntities()) != 1 || list.GetEntities()[0].GetName() != "entities/acme" {
		t.Fatalf("kind filter after update: %v %v", list, err)
	}
}

func TestGRPC_RequestIDMakesCreateIdempotent(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	req := &registryv1.CreateEntityRequest{Entity: pbEntity("auto"), RequestId: "5b4b7c1e-retry"} // server-chosen id
	var h1, h2 metadata.MD
	first, err := e.client.CreateEntity(ctx, req, grpc.Header(&h1))
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.client.CreateEntity(ctx, req, grpc.Header(&h2))
	if err != nil {
		t.Fatal(err)
	}
	if first.GetEntity().GetName() != second.GetEntity().GetName() || first.GetEntity().GetEtag() != second.GetEntity().GetEtag() ||
		revisionOf(t, h1) != revisionOf(t, h2) || e.store.Revision() != 1 {
		t.Fatalf("retry: %s@%s rev %d, first %s@%s rev %d, store at %d", second.GetEntity().GetName(), second.GetEntity().GetEtag(), revisionOf(t, h2),
			first.GetEntity().GetName(), first.GetEntity().GetEtag(), revisionOf(t, h1), e.store.Revision())
	}
	// Another request id is another create.
	req.RequestId = "another"
	third, err := e.client.CreateEntity(ctx, req)
	if err != nil || third.GetEntity().GetName() == first.GetEntity().GetName() {
		t.Fatalf("new request id: %v %v", third, err)
	}
	page, err := e.client.ListChanges(ctx, &registryv1.ListChangesRequest{})
	if err != nil || len(page.GetChanges()) != 2 || page.GetChanges()[0].GetName() != first.GetEntity().GetName() {
		t.Fatalf("change log: %v %v; want one event per distinct request", page, err)
	}
}

// TestGRPC_RequestIDReusedByAnotherRequest: a request id names one request.
// Reused for a different write it is refused, for every collection, instead
// of answering with the first result as if the new write had happened; the
// same request retried (a membership without join time, whose default the
// first call chose) still gets the first result.
func TestGRPC_RequestIDReusedByAnotherRequest(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	e.createEntity(t, "x", pbEntity("x"))
	rev := func() int64 { return e.store.Revision() }
	reused := func(what string, err error, before int64) {
		t.Helper()
		wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidField, "request_id")
		if rev() != before {
			t.Errorf("%s: revision moved %d → %d", what, before, rev())
		}
	}
	if _, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "rq1", Entity: pbEntity("One"), RequestId: "r-ent"}); err != nil {
		t.Fatal(err)
	}
	before := rev()
	_, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "rq2", Entity: pbEntity("One"), RequestId: "r-ent"})
	reused("entity, other id", err, before)
	_, err = c.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "rq1", Entity: pbEntity("Two"), RequestId: "r-ent"})
	reused("entity, other body", err, before)
	_, err = c.CreateEntity(ctx, &registryv1.CreateEntityRequest{Entity: pbEntity("Two"), RequestId: "r-ent"})
	reused("entity, server-chosen id, other body", err, before)

	if _, err := c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "g", RequestId: "r-grp", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "h", RequestId: "r-grp", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}})
	reused("group", err, rev())

	member := &registryv1.CreateMembershipRequest{Parent: "groups/g", RequestId: "r-mem", Membership: &registryv1.Membership{
		Entity: "entities/x", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}
	first, err := c.CreateMembership(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	before = rev()
	again, err := c.CreateMembership(ctx, member)
	if err != nil || !proto.Equal(again.GetMembership(), first.GetMembership()) || rev() != before {
		t.Fatalf("same membership request retried: %v, %v; want the first result %v", again, err, first)
	}
	member.Membership.Role = registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD
	_, err = c.CreateMembership(ctx, member)
	reused("membership", err, before)

	if _, err := c.CreateProgram(ctx, &registryv1.CreateProgramRequest{ProgramId: "p", RequestId: "r-prg", Program: &registryv1.Program{DisplayName: "P", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_DISTRICT}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateProgram(ctx, &registryv1.CreateProgramRequest{ProgramId: "p", RequestId: "r-prg", Program: &registryv1.Program{DisplayName: "P", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL}})
	reused("program", err, rev())

	record := &registryv1.CreateTalentRecordRequest{RequestId: "r-rec", TalentRecord: &registryv1.TalentRecord{
		Subject: "entities/x", Category: registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, Count: 10, Period: "2024"}}
	if _, err := c.CreateTalentRecord(ctx, record); err != nil {
		t.Fatal(err)
	}
	record.TalentRecord.Count = 11
	_, err = c.CreateTalentRecord(ctx, record)
	reused("talent record", err, rev())
}

func TestGRPC_Pagination(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	batch := func(prefix string, n int) {
		t.Helper()
		req := &registryv1.BatchCreateEntitiesRequest{}
		for i := 0; i < n; i++ {
			req.Requests = append(req.Requests, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("%s%04d", prefix, i), Entity: pbEntity("e")})
		}
		var hdr metadata.MD
		want := e.store.Revision() + int64(n)
		if _, err := c.BatchCreateEntities(ctx, req, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		e.wantHead(t, hdr, want)
	}
	batch("e", 120)
	var names []string
	var sizes []int
	token := ""
	for {
		resp, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 50, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(resp.GetEntities()))
		for _, x := range resp.GetEntities() {
			names = append(names, x.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if len(sizes) > 5 {
			t.Fatal("too many pages")
		}
	}
	if !slices.Equal(sizes, []int{50, 50, 20}) || len(names) != 120 || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != 120 {
		t.Fatalf("pages of %v, %d names", sizes, len(names))
	}
	resp, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{})
	if err != nil || len(resp.GetEntities()) != registry.DefaultPageSize || resp.GetNextPageToken() == "" {
		t.Fatalf("default page: %d entities, %v", len(resp.GetEntities()), err)
	}
	batch("f", 1000)
	resp, err = c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 5000})
	if err != nil || len(resp.GetEntities()) != registry.MaxPageSize || resp.GetNextPageToken() == "" {
		t.Fatalf("page size 5000 over 1120 entities: %d entities, token %q, %v", len(resp.GetEntities()), resp.GetNextPageToken(), err)
	}
	resp, err = c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: 5000, PageToken: resp.GetNextPageToken()})
	if err != nil || len(resp.GetEntities()) != 120 || resp.GetNextPageToken() != "" {
		t.Fatalf("second clamped page: %d entities, token %q, %v", len(resp.GetEntities()), resp.GetNextPageToken(), err)
	}
}

func TestGRPC_Filters(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	type spec struct {
		id      string
		kind    registryv1.EntityKind
		region  string
		ind     []string
		leading bool
	}
	uni, ent := registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, registryv1.EntityKind_ENTITY_KIND_ENTERPRISE
	specs := []spec{
		{"pku", uni, "Beijing", []string{"biomedicine"}, false},
		{"thu", uni, "Beijing", []string{"aerospace"}, false},
		{"tju", uni, "Tianjin", []string{"biomedicine", "new-materials"}, false},
		{"bio", ent, "Beijing", []string{"biomedicine"}, true},
		{"sat", ent, "Binhai", []string{"aerospace"}, true},
		{"lab", registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE, "Hebei", nil, false},
	}
	for _, s := range specs {
		e.createEntity(t, s.id, &registryv1.Entity{DisplayName: s.id, Kind: s.kind, Region: s.region, Industries: s.ind, LeadingEnterprise: s.leading})
	}
	for _, g := range []string{"g1", "g2", "g3"} {
		if _, err := c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: g, Group: &registryv1.Group{DisplayName: g, Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{"g1", "pku"}, {"g1", "bio"}, {"g2", "pku"}, {"g3", "pku"}, {"g3", "sat"}} {
		if _, err := c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/" + m[0], Membership: &registryv1.Membership{Entity: "entities/" + m[1], Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}); err != nil {
			t.Fatal(err)
		}
	}
	listAll := func(filter string, size int32) []string {
		t.Helper()
		var out []string
		token := ""
		for i := 0; ; i++ {
			resp, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{Filter: filter, PageSize: size, PageToken: token})
			if err != nil {
				t.Fatalf("filter %s: %v", filter, err)
			}
			for _, x := range resp.GetEntities() {
				out = append(out, strings.TrimPrefix(x.GetName(), "entities/"))
			}
			if token = resp.GetNextPageToken(); token == "" || i > 10 {
				return out
			}
		}
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{`kind = ENTITY_KIND_UNIVERSITY AND region = "Beijing"`, []string{"pku", "thu"}},
		{`industries:"biomedicine"`, []string{"bio", "pku", "tju"}},
		{`leadingEnterprise = true`, []string{"bio", "sat"}},
		{`leading_enterprise = false AND industries:"biomedicine"`, []string{"pku", "tju"}},
		{`region = "Beijing" AND industries:"biomedicine" AND kind = ENTITY_KIND_ENTERPRISE`, []string{"bio"}},
		{`region = "Nowhere"`, nil},
		{`kind = ENTITY_KIND_INCUBATOR`, nil},
	}
	for _, tt := range tests {
		for _, size := range []int32{1, 2, 0} {
			if got := listAll(tt.filter, size); !slices.Equal(got, tt.want) {
				t.Errorf("filter %s (page size %d) = %v, want %v", tt.filter, size, got, tt.want)
			}
		}
	}
	// Reverse membership lookup across groups.
	var groups []string
	token := ""
	for {
		resp, err := c.ListMemberships(ctx, &registryv1.ListMembershipsRequest{Parent: "groups/-", Filter: `entity = "entities/pku"`, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.GetMemberships() {
			if m.GetEntity() != "entities/pku" {
				t.Fatalf("reverse lookup returned %v", m)
			}
			groups = append(groups, m.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{"groups/g1/memberships/pku", "groups/g2/memberships/pku", "groups/g3/memberships/pku"}; !slices.Equal(groups, want) {
		t.Fatalf("groups of pku = %v, want %v", groups, want)
	}
	// A NUL in an entity name is not a name: the filter is rejected rather
	// than reaching into the index key behind the value.
	for _, f := range []string{`entity = "entities/pku\x00g1"`, "entity = \"entities/pku\x00g1\""} {
		_, err := c.ListMemberships(ctx, &registryv1.ListMembershipsRequest{Parent: "groups/-", Filter: f})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("filter %q: %v; want INVALID_ARGUMENT", f, err)
		}
	}
	if got := listAll(`region = "Beijing\x00pku"`, 0); len(got) != 0 {
		t.Fatalf("NUL in a region filter: %v", got)
	}
	one, err := c.ListMemberships(ctx, &registryv1.ListMembershipsRequest{Parent: "groups/g3"})
	if err != nil || len(one.GetMemberships()) != 2 {
		t.Fatalf("members of g3: %v %v", one, err)
	}
}

// watcher collects what a WatchChanges stream delivers, in order: each
// change's revision, and each progress message's revision.
type watcher struct {
	msgs chan watchMsg
	errc chan error
}

type watchMsg struct {
	rev      int64
	progress bool
}

func watch(t *testing.T, ctx context.Context, c registryv1.RegistryServiceClient, from int64) *watcher {
	t.Helper()
	stream, err := c.WatchChanges(ctx, &registryv1.WatchChangesRequest{StartRevision: from})
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{msgs: make(chan watchMsg, 100000), errc: make(chan error, 1)}
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				w.errc <- err
				return
			}
			if len(msg.GetChanges()) == 0 {
				w.msgs <- watchMsg{rev: msg.GetRevision(), progress: true}
				continue
			}
			if last := msg.GetChanges()[len(msg.GetChanges())-1].GetRevision(); msg.GetRevision() != last {
				w.errc <- fmt.Errorf("message revision %d, last change %d", msg.GetRevision(), last)
				return
			}
			for _, ch := range msg.GetChanges() {
				w.msgs <- watchMsg{rev: ch.GetRevision()}
			}
		}
	}()
	return w
}

// next returns the next message, failing on a stream error or after 10 s.
// Messages delivered before the stream ended come first: the reader
// queues them before its error, but a select picks among ready cases at
// random.
func (w *watcher) next(t *testing.T) watchMsg {
	t.Helper()
	select {
	case m := <-w.msgs:
		return m
	case err := <-w.errc:
		select {
		case m := <-w.msgs:
			w.errc <- err // for a later next
			return m
		default:
		}
		t.Fatalf("watch ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch: nothing within 10 s")
	}
	return watchMsg{}
}

// until receives revisions first..last, failing on a gap or a repeat. A
// progress message in between must report the last revision delivered.
func (w *watcher) until(t *testing.T, first, last int64) {
	t.Helper()
	for want := first; want <= last; {
		switch m := w.next(t); {
		case m.progress && m.rev != want-1:
			t.Fatalf("progress at revision %d after revision %d was delivered", m.rev, want-1)
		case m.progress:
		case m.rev != want:
			t.Fatalf("watch delivered revision %d, want %d", m.rev, want)
		default:
			want++
		}
	}
}

// progress requires the next message to be a progress message at rev.
func (w *watcher) progress(t *testing.T, rev int64) {
	t.Helper()
	if m := w.next(t); !m.progress || m.rev != rev {
		t.Fatalf("got %+v, want progress at revision %d", m, rev)
	}
}

// waitRevision blocks until the store has committed rev, without polling.
func waitRevision(t *testing.T, s *kvstore.Store, rev int64) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		committed := s.Committed()
		if s.Revision() >= rev {
			return
		}
		select {
		case <-committed:
		case <-deadline:
			t.Fatalf("revision %d not reached (at %d)", rev, s.Revision())
		}
	}
}

// TestGRPC_WatchFromMidStreamSeesEveryRevisionOnce: 8 writers × 50 creates;
// a watcher starting at a revision already committed while the writers run
// gets every revision from it to the last exactly once, in order.
func TestGRPC_WatchFromMidStreamSeesEveryRevisionOnce(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	resume := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if i == each/2 {
					<-resume // the second half runs while the watch replays and tails
				}
				_, err := e.client.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("w%d-%d", w, i), Entity: pbEntity("w")})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitRevision(t, e.store, writers*each/2)
	from := e.store.Revision() - 30 // some history to replay, then the live tail
	w := watch(t, ctx, e.client, from)
	close(resume)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := e.store.Revision()
	if last != writers*each {
		t.Fatalf("revision %d after %d creates", last, writers*each)
	}
	w.until(t, from, last)
	// Nothing more: a repeat would show up before the next write.
	e.createEntity(t, "after", pbEntity("after"))
	w.until(t, last+1, last+1)
}

// TestGRPC_WatchProgressAndFuture: a quiet stream gets progress messages
// carrying the head revision; start_revision 0 means only future changes.
func TestGRPC_WatchProgressAndFuture(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{ProgressInterval: 50 * time.Millisecond})
	ctx := testCtx(t)
	for i := 0; i < 3; i++ {
		e.createEntity(t, fmt.Sprintf("e%d", i), pbEntity("e"))
	}
	t.Run("replay then progress", func(t *testing.T) {
		w := watch(t, ctx, e.client, 1)
		w.until(t, 1, 3)
		w.progress(t, 3)
		w.progress(t, 3)
	})
	t.Run("start 0 gets only future changes", func(t *testing.T) {
		w := watch(t, ctx, e.client, 0)
		w.progress(t, 3) // the stream is live and positioned after revision 3
		e.createEntity(t, "future", pbEntity("future"))
		w.until(t, 4, 4)
		w.progress(t, 4)
	})
	t.Run("start at head+1 waits", func(t *testing.T) {
		head := e.store.Revision()
		w := watch(t, ctx, e.client, head+1)
		w.progress(t, head)
		e.createEntity(t, "next", pbEntity("next"))
		w.until(t, head+1, head+1)
	})
}

func snapshot(t *testing.T, ctx context.Context, c registryv1.RegistryServiceClient) (int64, []*registryv1.Resource) {
	return snapshotView(t, ctx, c, registryv1.SnapshotView_SNAPSHOT_VIEW_UNSPECIFIED)
}

func snapshotView(t *testing.T, ctx context.Context, c registryv1.RegistryServiceClient, view registryv1.SnapshotView) (int64, []*registryv1.Resource) {
	t.Helper()
	stream, err := c.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{View: view})
	if err != nil {
		t.Fatal(err)
	}
	var rev int64 = -1
	var all []*registryv1.Resource
	complete := false
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if complete {
			t.Fatal("a message after the complete one")
		}
		if rev >= 0 && msg.GetRevision() != rev {
			t.Fatalf("snapshot messages at revisions %d and %d", rev, msg.GetRevision())
		}
		rev, complete = msg.GetRevision(), msg.GetComplete()
		all = append(all, msg.GetResources()...)
	}
	if !complete {
		t.Fatal("the last snapshot message is not complete")
	}
	return rev, all
}

func resourceName(r *registryv1.Resource) (string, string) {
	switch x := r.GetResource().(type) {
	case *registryv1.Resource_Entity:
		return x.Entity.GetName(), x.Entity.GetEtag()
	case *registryv1.Resource_Group:
		return x.Group.GetName(), x.Group.GetEtag()
	case *registryv1.Resource_Membership:
		return x.Membership.GetName(), x.Membership.GetEtag()
	case *registryv1.Resource_TalentRecord:
		return x.TalentRecord.GetName(), x.TalentRecord.GetEtag()
	case *registryv1.Resource_Program:
		return x.Program.GetName(), x.Program.GetEtag()
	}
	return "", ""
}

// TestGRPC_SnapshotThenWatch: a snapshot holds every kind at one revision
// (the store's), complete only at the end; watching from the next revision
// sees the later writes. Under concurrent writes, the snapshot equals the
// change log replayed up to its revision.
func TestGRPC_SnapshotThenWatch(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CreateProgram(ctx, &registryv1.CreateProgramRequest{ProgramId: "p", Program: &registryv1.Program{DisplayName: "P", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL}}))
	e.createEntity(t, "a", pbEntity("a"))
	must(c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "g", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_CONSORTIUM}}))
	must(c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/g", Membership: &registryv1.Membership{Entity: "entities/a", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD}}))
	must(c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecordId: "t", TalentRecord: &registryv1.TalentRecord{
		Subject: "groups/g", Category: registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, Count: 9, Program: "programs/p"}}))
	head := e.store.Revision()
	rev, all := snapshot(t, ctx, c)
	var names []string
	for _, r := range all {
		n, _ := resourceName(r)
		names = append(names, n)
	}
	if want := []string{"programs/p", "entities/a", "groups/g", "groups/g/memberships/a", "talentRecords/t"}; rev != head || !slices.Equal(names, want) {
		t.Fatalf("snapshot at %d: %v; want %d: %v", rev, names, head, want)
	}
	w := watch(t, ctx, c, rev+1)
	e.createEntity(t, "later", pbEntity("later"))
	w.until(t, rev+1, rev+1)

	// Many resources (several messages) while writers run.
	req := &registryv1.BatchCreateEntitiesRequest{}
	for i := 0; i < 1000; i++ {
		req.Requests = append(req.Requests, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("bulk%04d", i), Entity: pbEntity("b")})
	}
	must(c.BatchCreateEntities(ctx, req))
	req.Requests = req.Requests[:500]
	for i := range req.Requests {
		req.Requests[i] = &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("more%04d", i), Entity: pbEntity("m")}
	}
	must(c.BatchCreateEntities(ctx, req))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("entities/more%04d", (w*97+i)%500)
				if _, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: &registryv1.Entity{Name: name, DisplayName: fmt.Sprintf("v%d", i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	waitRevision(t, e.store, e.store.Revision()+20)
	rev, all = snapshot(t, ctx, c)
	close(stop)
	wg.Wait()
	got := map[string]string{}
	for _, r := range all {
		n, etag := resourceName(r)
		got[n] = etag
	}
	// Replay the log up to the snapshot's revision.
	want := map[string]string{}
	for from := int64(1); from <= rev; {
		page, err := c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: from, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.GetChanges()) == 0 {
			t.Fatalf("no changes from %d up to %d", from, rev)
		}
		for _, ch := range page.GetChanges() {
			if ch.GetRevision() > rev {
				break
			}
			if ch.GetAfter() == nil {
				delete(want, ch.GetName())
			} else {
				_, etag := resourceName(ch.GetAfter())
				want[ch.GetName()] = etag
			}
			from = ch.GetRevision() + 1
		}
	}
	if len(got) != len(want) || len(got) < 1500 {
		t.Fatalf("snapshot at %d has %d resources, the log up to it %d", rev, len(got), len(want))
	}
	for n, etag := range want {
		if got[n] != etag {
			t.Fatalf("snapshot at %d: %s has etag %q, log says %q", rev, n, got[n], etag)
		}
	}
}

func TestGRPC_Import(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	goodCode := creditCode("91120116MA05JQ3X0")
	badCode := goodCode[:17] + map[bool]string{true: "1", false: "0"}[goodCode[17] == '0']
	ent := func(id, code string) *registryv1.Resource {
		return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{
			Name: "entities/" + id, DisplayName: id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, CreditCode: code, Industries: []string{"aerospace"},
		}}}
	}
	messages := [][]*registryv1.Resource{
		{
			{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{Name: "programs/p", DisplayName: "P", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_DISTRICT}}},
			ent("good", goodCode),
			ent("bad", badCode),
		},
		{
			{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{Name: "groups/g", DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE, Field: "aerospace"}}},
			{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: "groups/g/memberships/good", Entity: "entities/good", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD}}},
			{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: "groups/g/memberships/ghost", Entity: "entities/ghost", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}},
			{Resource: &registryv1.Resource_TalentRecord{TalentRecord: &registryv1.TalentRecord{
				Name: "talentRecords/t", Subject: "entities/good", Category: registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, Count: 12, Program: "programs/p", Period: "2024"}}},
		},
	}
	run := func() (*registryv1.ImportResponse, int64) {
		t.Helper()
		var hdr metadata.MD
		stream, err := e.client.Import(ctx, grpc.Header(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		for _, items := range messages {
			if err := stream.Send(&registryv1.ImportRequest{Items: items}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		return resp, revisionOf(t, hdr)
	}
	type counts struct{ created, updated, unchanged, failed int64 }
	of := func(c *registryv1.ImportCounts) counts {
		return counts{c.GetCreated(), c.GetUpdated(), c.GetUnchanged(), c.GetFailed()}
	}
	check := func(resp *registryv1.ImportResponse, want map[string]counts) {
		t.Helper()
		got := map[string]counts{
			"programs": of(resp.GetPrograms()), "entities": of(resp.GetEntities()), "groups": of(resp.GetGroups()),
			"memberships": of(resp.GetMemberships()), "talentRecords": of(resp.GetTalentRecords()),
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %+v, want %+v", k, got[k], w)
			}
		}
		errs := resp.GetErrors()
		slices.SortFunc(errs, func(a, b *registryv1.ImportError) int { return int(a.GetIndex() - b.GetIndex()) })
		if len(errs) != 2 ||
			errs[0].GetIndex() != 2 || errs[0].GetName() != "entities/bad" || errs[0].GetField() != "items[2].entity.credit_code" || !strings.Contains(errs[0].GetMessage(), "check character") ||
			errs[1].GetIndex() != 5 || errs[1].GetName() != "groups/g/memberships/ghost" || errs[1].GetField() != "items[5].membership.entity" || !strings.Contains(errs[1].GetMessage(), "entities/ghost") {
			t.Fatalf("errors %v", errs)
		}
	}
	resp, hdrRev := run()
	check(resp, map[string]counts{
		"programs": {1, 0, 0, 0}, "entities": {1, 0, 0, 1}, "groups": {1, 0, 0, 0}, "memberships": {1, 0, 0, 1}, "talentRecords": {1, 0, 0, 0},
	})
	if resp.GetRevision() != 5 || hdrRev != 5 || e.store.Revision() != 5 {
		t.Fatalf("revision %d, header %d, store %d; want 5 (five creates)", resp.GetRevision(), hdrRev, e.store.Revision())
	}
	if m, err := e.client.GetMembership(ctx, &registryv1.GetMembershipRequest{Name: "groups/g/memberships/good"}); err != nil || m.GetMembership().GetJoinTime() == nil {
		t.Fatalf("imported membership: %v %v", m, err)
	}
	resp, hdrRev = run()
	check(resp, map[string]counts{
		"programs": {0, 0, 1, 0}, "entities": {0, 0, 1, 1}, "groups": {0, 0, 1, 0}, "memberships": {0, 0, 1, 1}, "talentRecords": {0, 0, 1, 0},
	})
	if resp.GetRevision() != 5 || hdrRev != 5 || e.store.Revision() != 5 {
		t.Fatalf("identical import moved the revision: %d, header %d, store %d", resp.GetRevision(), hdrRev, e.store.Revision())
	}

	// An item that cannot even be converted (a bad name) does not shift the
	// indexes of the items after it.
	messages = [][]*registryv1.Resource{{
		ent("fine", ""),
		ent("NOT-AN-ID", ""),
		{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: "groups/g/memberships/ghost", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}},
		ent("also-fine", badCode),
		{},
		ent("last", ""),
	}}
	resp, _ = run()
	errs := resp.GetErrors()
	slices.SortFunc(errs, func(a, b *registryv1.ImportError) int { return int(a.GetIndex() - b.GetIndex()) })
	var got []string
	for _, ie := range errs {
		got = append(got, fmt.Sprintf("%d %s %s", ie.GetIndex(), ie.GetName(), ie.GetField()))
	}
	want := []string{
		"1 entities/NOT-AN-ID items[1].entity.name",
		"2 groups/g/memberships/ghost items[2].membership.entity",
		"3 entities/also-fine items[3].entity.credit_code",
		"4  items[4]",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("errors\n  %q\nwant\n  %q", got, want)
	}
	if c := resp.GetEntities(); c.GetCreated() != 2 || c.GetFailed() != 2 {
		t.Fatalf("entity counts %v", c)
	}
}

// TestGRPC_MembershipJoinTime: a join time round-trips exactly, and one the
// store cannot represent is refused rather than silently changed.
func TestGRPC_MembershipJoinTime(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	e.createEntity(t, "x", pbEntity("x"))
	if _, err := c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "g", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}}); err != nil {
		t.Fatal(err)
	}
	create := func(jt time.Time) error {
		_, err := c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/g", Membership: &registryv1.Membership{
			Entity: "entities/x", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER, JoinTime: timestamppb.New(jt)}})
		return err
	}
	for _, jt := range []time.Time{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), {}} {
		wantStatus(t, create(jt), codes.InvalidArgument, registry.ReasonInvalidField, "membership.join_time")
	}
	// Malformed timestamps are refused, not normalised.
	for _, bad := range []*timestamppb.Timestamp{{Seconds: 1718357415, Nanos: -5}, {Seconds: 1718357415, Nanos: 2e9}, {Seconds: 1 << 62}} {
		_, err := c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/g", Membership: &registryv1.Membership{
			Entity: "entities/x", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER, JoinTime: bad}})
		wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidField, "membership.join_time")
		stream, err := c.Import(ctx)
		if err != nil {
			t.Fatal(err)
		}
		item := &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{
			Name: "groups/g/memberships/x", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER, JoinTime: bad}}}
		if err := stream.Send(&registryv1.ImportRequest{Items: []*registryv1.Resource{item}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.CloseAndRecv()
		if err != nil || len(resp.GetErrors()) != 1 || resp.GetErrors()[0].GetField() != "items[0].membership.join_time" || resp.GetMemberships().GetCreated() != 0 {
			t.Fatalf("import of join time %v: %v, %v; want one error on items[0].membership.join_time", bad, resp, err)
		}
	}
	jt := time.Date(2024, 6, 14, 9, 30, 15, 123456789, time.UTC)
	if err := create(jt); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetMembership(ctx, &registryv1.GetMembershipRequest{Name: "groups/g/memberships/x"})
	if err != nil || !got.GetMembership().GetJoinTime().AsTime().Equal(jt) {
		t.Fatalf("join time read back as %v (%v), want %v", got.GetMembership().GetJoinTime().AsTime(), err, jt)
	}
	_, err = c.UpdateMembership(ctx, &registryv1.UpdateMembershipRequest{Membership: &registryv1.Membership{
		Name: "groups/g/memberships/x", JoinTime: timestamppb.New(time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC))}})
	wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidField, "membership.join_time")
}

// A watch that starts caught up reports the head at once, not after the
// first progress interval (an hour here).
func TestGRPC_WatchStartsWithProgressWhenCaughtUp(t *testing.T) {
	env := start(t, storage.Options{}, grpcapi.Options{ProgressInterval: time.Hour})
	env.createEntity(t, "a", pbEntity("a"))
	env.createEntity(t, "b", pbEntity("b"))
	ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
	defer cancel()
	stream, err := env.client.WatchChanges(ctx, &registryv1.WatchChangesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("no message within 5 s: %v", err)
	}
	if len(msg.GetChanges()) != 0 || msg.GetRevision() != 2 {
		t.Fatalf("first message = %v, want a progress message at revision 2", msg)
	}
}

// The aggregate view, encoded straight to the wire, carries the same
// resources as the full one with only the aggregate fields, across
// several messages.
func TestGRPC_SnapshotAggregateView(t *testing.T) {
	env := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	var batch []*registryv1.CreateEntityRequest
	for i := 0; i < 1500; i++ {
		e := pbEntity(fmt.Sprintf("e%04d", i))
		e.Industries = []string{"aerospace"}
		e.LeadingEnterprise = i%7 == 0
		batch = append(batch, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("e%04d", i), Entity: e})
		if len(batch) == 500 {
			if _, err := env.client.BatchCreateEntities(ctx, &registryv1.BatchCreateEntitiesRequest{Requests: batch}); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	if _, err := env.client.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "g", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE, Field: "aerospace"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: "groups/g", Membership: &registryv1.Membership{Entity: "entities/e0001", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}}); err != nil {
		t.Fatal(err)
	}
	fullRev, full := snapshotView(t, ctx, env.client, registryv1.SnapshotView_SNAPSHOT_VIEW_FULL)
	aggRev, agg := snapshotView(t, ctx, env.client, registryv1.SnapshotView_SNAPSHOT_VIEW_AGGREGATE)
	if aggRev != fullRev || len(agg) != len(full) || len(agg) != 1502 {
		t.Fatalf("aggregate: %d resources at %d; full: %d at %d", len(agg), aggRev, len(full), fullRev)
	}
	for i := range full {
		want := proto.Clone(full[i]).(*registryv1.Resource)
		switch x := want.GetResource().(type) {
		case *registryv1.Resource_Entity:
			x.Entity.DisplayName, x.Entity.CreditCode, x.Entity.CreateTime, x.Entity.UpdateTime, x.Entity.Etag = "", "", nil, nil, ""
		case *registryv1.Resource_Group:
			x.Group.DisplayName, x.Group.CreateTime, x.Group.UpdateTime, x.Group.Etag = "", nil, nil, ""
		case *registryv1.Resource_Membership:
			x.Membership.Entity, x.Membership.CreateTime, x.Membership.UpdateTime, x.Membership.Etag = "", nil, nil, ""
		}
		if !proto.Equal(agg[i], want) {
			t.Fatalf("resource %d: aggregate view %v, want %v", i, agg[i], want)
		}
	}
	namedRev, named := snapshotView(t, ctx, env.client, registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED)
	if namedRev != fullRev || len(named) != len(full) {
		t.Fatalf("named: %d resources at %d; full: %d at %d", len(named), namedRev, len(full), fullRev)
	}
	for i := range full {
		want := proto.Clone(full[i]).(*registryv1.Resource)
		switch x := want.GetResource().(type) {
		case *registryv1.Resource_Entity:
			x.Entity.CreateTime, x.Entity.UpdateTime, x.Entity.Etag = nil, nil, ""
		case *registryv1.Resource_Group:
			x.Group.CreateTime, x.Group.UpdateTime, x.Group.Etag = nil, nil, ""
		case *registryv1.Resource_Membership:
			x.Membership.Entity, x.Membership.CreateTime, x.Membership.UpdateTime, x.Membership.Etag = "", nil, nil, ""
		}
		if !proto.Equal(named[i], want) {
			t.Fatalf("resource %d: named view %v, want %v", i, named[i], want)
		}
	}
	stream, err := env.client.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{View: 99})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown view: %v, want INVALID_ARGUMENT", err)
	}
}

// Every feed answer names the database, so a consumer notices when the
// registry it follows was replaced.
func TestGRPC_FeedCarriesTheRegistryID(t *testing.T) {
	env := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	env.createEntity(t, "a", pbEntity("a"))
	want := env.store.ID()
	list, err := env.client.ListChanges(ctx, &registryv1.ListChangesRequest{})
	if err != nil || list.GetRegistryId() != want {
		t.Fatalf("ListChanges registry id %q (err %v), want %q", list.GetRegistryId(), err, want)
	}
	w, err := env.client.WatchChanges(ctx, &registryv1.WatchChangesRequest{StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Recv(); err != nil || m.GetRegistryId() != want {
		t.Fatalf("WatchChanges registry id %q (err %v), want %q", m.GetRegistryId(), err, want)
	}
	for _, view := range []registryv1.SnapshotView{registryv1.SnapshotView_SNAPSHOT_VIEW_FULL, registryv1.SnapshotView_SNAPSHOT_VIEW_AGGREGATE, registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED} {
		s, err := env.client.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{View: view})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Recv(); err != nil || m.GetRegistryId() != want {
			t.Fatalf("%v snapshot registry id %q (err %v), want %q", view, m.GetRegistryId(), err, want)
		}
	}
}

// TestGRPC_MalformedMessages: bytes a generated client would never send
// (here a string field that is not UTF-8, on a unary call and on the
// Import stream) are INVALID_ARGUMENT, not grpc-go's INTERNAL.
func TestGRPC_MalformedMessages(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	notUTF8 := &wrapperspb.BytesValue{Value: []byte{0xff, 0xfe}} // field 1: GetEntityRequest.name, a string
	err := e.conn.Invoke(ctx, registryv1.RegistryService_GetEntity_FullMethodName, notUTF8, &registryv1.GetEntityResponse{})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("GetEntity with a name that is not UTF-8: %v, want INVALID_ARGUMENT", err)
	}
	stream, err := e.conn.NewStream(ctx, &registryv1.RegistryService_ServiceDesc.Streams[2], registryv1.RegistryService_Import_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	// ImportRequest.items[0] holding field 1 (Resource.entity) with name
	// (field 1) not UTF-8.
	item := []byte{0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe}
	if err := stream.SendMsg(&wrapperspb.BytesValue{Value: item}); err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	if err := stream.RecvMsg(&registryv1.ImportResponse{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Import with an item name that is not UTF-8: %v, want INVALID_ARGUMENT", err)
	}
	if e.store.Revision() != 0 {
		t.Fatalf("revision %d after malformed requests", e.store.Revision())
	}
}

// TestGRPC_MutationRequestIDReachesItsChange: a mutation without an
// x-request-id is given one, echoed in the response header, and its change
// event's actor carries that id; one sent by the caller is kept as sent.
func TestGRPC_MutationRequestIDReachesItsChange(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	actorOf := func(rev int64) *registryv1.Actor {
		t.Helper()
		resp, err := e.client.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: rev, PageSize: 1})
		if err != nil || len(resp.GetChanges()) != 1 {
			t.Fatalf("change at %d: %v %v", rev, resp, err)
		}
		return resp.GetChanges()[0].GetActor()
	}

	var hdr metadata.MD
	if _, err := e.client.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "given", Entity: pbEntity("given")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	ids := hdr.Get("x-request-id")
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("response x-request-id %q, want one given by the server", ids)
	}
	if got := actorOf(e.store.Revision()).GetRequestId(); got != ids[0] {
		t.Errorf("change's request_id %q, want the echoed %q", got, ids[0])
	}

	sent := metadata.AppendToOutgoingContext(ctx, "x-request-id", "caller-7")
	if _, err := e.client.CreateEntity(sent, &registryv1.CreateEntityRequest{EntityId: "sent", Entity: pbEntity("sent")}); err != nil {
		t.Fatal(err)
	}
	if got := actorOf(e.store.Revision()).GetRequestId(); got != "caller-7" {
		t.Errorf("change's request_id %q, want the caller's caller-7", got)
	}
}
