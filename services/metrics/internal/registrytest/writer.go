package registrytest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Writer makes registry mutations and returns the revision each committed
// at (its x-revision header).
type Writer struct {
	C registryv1.RegistryServiceClient
}

// Entity describes an entity to create or replace.
type Entity struct {
	ID         string
	Kind       registryv1.EntityKind
	Region     string
	Industries []string
	Leading    bool
	Platform   bool
}

func (e Entity) proto() *registryv1.Entity {
	return &registryv1.Entity{
		Name: "entities/" + e.ID, DisplayName: "Entity " + e.ID, Kind: e.Kind, Region: e.Region,
		Industries: e.Industries, LeadingEnterprise: e.Leading, FutureIndustryPlatform: e.Platform,
	}
}

// call runs fn with a header capture and returns x-revision.
func call(fn func(opt grpc.CallOption) error) (int64, error) {
	var md metadata.MD
	if err := fn(grpc.Header(&md)); err != nil {
		return 0, err
	}
	v := md.Get("x-revision")
	if len(v) == 0 {
		return 0, fmt.Errorf("no x-revision header")
	}
	return strconv.ParseInt(v[0], 10, 64)
}

var replaceAll = &fieldmaskpb.FieldMask{Paths: []string{"*"}}

// CreateEntity creates e.
func (w Writer) CreateEntity(ctx context.Context, e Entity) (int64, error) {
	return call(func(o grpc.CallOption) error {
		_, err := w.C.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: e.ID, Entity: e.proto()}, o)
		return err
	})
}

// UpdateEntity replaces every field of e.
func (w Writer) UpdateEntity(ctx context.Context, e Entity) (int64, error) {
	return call(func(o grpc.CallOption) error {
		_, err := w.C.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: e.proto(), UpdateMask: replaceAll}, o)
		return err
	})
}

// Delete deletes the resource named name with force (cascading).
func (w Writer) Delete(ctx context.Context, name string) (int64, error) {
	return call(func(o grpc.CallOption) error {
		var err error
		switch {
		case strings.HasPrefix(name, "entities/"):
			_, err = w.C.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: name, Force: true}, o)
		case strings.Contains(name, "/memberships/"):
			_, err = w.C.DeleteMembership(ctx, &registryv1.DeleteMembershipRequest{Name: name}, o)
		case strings.HasPrefix(name, "groups/"):
			_, err = w.C.DeleteGroup(ctx, &registryv1.DeleteGroupRequest{Name: name, Force: true}, o)
		case strings.HasPrefix(name, "talentRecords/"):
			_, err = w.C.DeleteTalentRecord(ctx, &registryv1.DeleteTalentRecordRequest{Name: name}, o)
		case strings.HasPrefix(name, "programs/"):
			_, err = w.C.DeleteProgram(ctx, &registryv1.DeleteProgramRequest{Name: name, Force: true}, o)
		default:
			err = fmt.Errorf("cannot delete %q", name)
		}
		return err
	})
}

// PutGroup creates the group, or replaces its kind and field.
func (w Writer) PutGroup(ctx context.Context, id string, kind registryv1.GroupKind, field string, create bool) (int64, error) {
	g := &registryv1.Group{Name: "groups/" + id, DisplayName: "Group " + id, Kind: kind, Field: field}
	return call(func(o grpc.CallOption) error {
		var err error
		if create {
			_, err = w.C.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: id, Group: g}, o)
		} else {
			_, err = w.C.UpdateGroup(ctx, &registryv1.UpdateGroupRequest{Group: g, UpdateMask: replaceAll}, o)
		}
		return err
	})
}

// CreateMembership adds entity to group.
func (w Writer) CreateMembership(ctx context.Context, group, entity string, role registryv1.MembershipRole) (int64, error) {
	return call(func(o grpc.CallOption) error {
		_, err := w.C.CreateMembership(ctx, &registryv1.CreateMembershipRequest{
			Parent:     "groups/" + group,
			Membership: &registryv1.Membership{Entity: "entities/" + entity, Role: role},
		}, o)
		return err
	})
}

// UpdateMembershipRole changes a membership's role.
func (w Writer) UpdateMembershipRole(ctx context.Context, name string, role registryv1.MembershipRole) (int64, error) {
	return call(func(o grpc.CallOption) error {
		_, err := w.C.UpdateMembership(ctx, &registryv1.UpdateMembershipRequest{
			Membership: &registryv1.Membership{Name: name, Role: role},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role"}},
		}, o)
		return err
	})
}

// Record describes a talent record; Subject and Program are resource
// names.
type Record struct {
	ID       string
	Subject  string
	Category registryv1.TalentCategory
	Count    int64
	Program  string
	Period   string
}

// PutRecord creates the record or replaces every field of it.
func (w Writer) PutRecord(ctx context.Context, r Record, create bool) (int64, error) {
	p := &registryv1.TalentRecord{Name: "talentRecords/" + r.ID, Subject: r.Subject, Category: r.Category,
		Count: r.Count, Program: r.Program, Period: r.Period}
	return call(func(o grpc.CallOption) error {
		var err error
		if create {
			_, err = w.C.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecordId: r.ID, TalentRecord: p}, o)
		} else {
			_, err = w.C.UpdateTalentRecord(ctx, &registryv1.UpdateTalentRecordRequest{TalentRecord: p, UpdateMask: replaceAll}, o)
		}
		return err
	})
}

// CreateProgram creates a programme.
func (w Writer) CreateProgram(ctx context.Context, id string) (int64, error) {
	return call(func(o grpc.CallOption) error {
		_, err := w.C.CreateProgram(ctx, &registryv1.CreateProgramRequest{ProgramId: id, Program: &registryv1.Program{
			DisplayName: "Programme " + id, Level: registryv1.ProgramLevel_PROGRAM_LEVEL_DISTRICT}}, o)
		return err
	})
}

// Head returns the registry's current revision.
func (w Writer) Head(ctx context.Context) (int64, error) {
	resp, err := w.C.ListChanges(ctx, &registryv1.ListChangesRequest{PageSize: 1, StartRevision: 0})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// Snapshot reads every resource and the snapshot's revision.
func (w Writer) Snapshot(ctx context.Context) (int64, []*registryv1.Resource, error) {
	stream, err := w.C.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{})
	if err != nil {
		return 0, nil, err
	}
	var out []*registryv1.Resource
	for {
		msg, err := stream.Recv()
		if err != nil {
			return 0, nil, err
		}
		out = append(out, msg.GetResources()...)
		if msg.GetComplete() {
			return msg.GetRevision(), out, nil
		}
	}
}
