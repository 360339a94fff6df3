package grpcapi

import (
	"context"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcserver"
	"talentreg/platform/pbwire"
	"talentreg/services/registry"
)

// A metrics replica bootstraps from a snapshot of millions of resources.
// Building a protobuf message tree per resource and marshalling it costs
// more than reading the resource from bbolt, so the aggregate snapshot view
// is encoded straight to the wire: the field numbers below mirror
// registry_service.proto and resources.proto, and TestAggregateWire proves
// the bytes decode to exactly what aggregateView builds.

// ServerOptions returns the options a gRPC server hosting this service
// needs, for grpcserver.New: the interceptors that record who acts.
// (grpcserver's codec sends the grpcserver.Encoded answers of the wire
// handlers as they are.)
func ServerOptions() []grpc.ServerOption {
	return actorInterceptors()
}

// Field numbers of the messages encoded here.
const (
	snapshotResources = 1 // StreamSnapshotResponse.resources
	snapshotRevision  = 2 // StreamSnapshotResponse.revision
	snapshotComplete  = 3 // StreamSnapshotResponse.complete
	snapshotID        = 4 // StreamSnapshotResponse.registry_id

	resourceEntity       = 1 // Resource.entity
	resourceGroup        = 2
	resourceMembership   = 3
	resourceTalentRecord = 4
	resourceProgram      = 5
	resourceTarget       = 6
	resourcePolicy       = 7

	fieldName   = 1 // .name in every resource
	displayName = 2 // .display_name of entities, groups, programmes, targets

	entityKind       = 3
	entityRegion     = 5
	entityIndustries = 6
	entityLeading    = 7
	entityPlatform   = 8
	groupKind        = 3
	groupField       = 4
	membershipRole   = 3
	recordSubject    = 2
	recordCategory   = 3
	recordCount      = 4
	recordProgram    = 5
	recordPeriod     = 6
	programLevel     = 3

	entityStatus       = 12
	entityEndTime      = 13
	membershipJoinTime = 4
	membershipStatus   = 8
	membershipEndTime  = 9
	targetMetric       = 3
	targetGoalValue    = 4
	targetScope        = 5
	targetDeadline     = 6
	policyLevel        = 4
	policyIssueTime    = 5
	policyPilot        = 6
	policyIndustries   = 7
	policyPrograms     = 8
)

// wireBuilder appends aggregate-view resources to a StreamSnapshotResponse
// in wire form, reusing its scratch buffers; with names, in the named
// view (SNAPSHOT_VIEW_NAMED).
type wireBuilder struct {
	registryID      string
	names           bool
	msg, res, inner []byte
	n               int
}

// appendStrings appends a repeated string field.
func appendStrings(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

// appendName appends the name field, prefix + id, without concatenating.
func appendName(b []byte, prefix, id string) []byte {
	b = protowire.AppendTag(b, fieldName, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(prefix)+len(id)))
	b = append(b, prefix...)
	return append(b, id...)
}

// add appends r in the aggregate view.
func (w *wireBuilder) add(r registry.Resource) {
	in := w.inner[:0]
	var which protowire.Number
	switch r := r.(type) {
	case *registry.Entity:
		which = resourceEntity
		in = appendName(in, "entities/", r.ID)
		if w.names {
			in = pbwire.AppendStringField(in, displayName, r.DisplayName)
		}
		in = pbwire.AppendEnumField(in, entityKind, int32(r.Kind))
		if w.names {
			in = pbwire.AppendStringField(in, entityCreditCode, r.CreditCode)
		}
		in = pbwire.AppendStringField(in, entityRegion, r.Region)
		in = appendStrings(in, entityIndustries, r.Industries)
		in = pbwire.AppendBoolField(in, entityLeading, r.LeadingEnterprise)
		in = pbwire.AppendBoolField(in, entityPlatform, r.FutureIndustryPlatform)
		in = pbwire.AppendEnumField(in, entityStatus, int32(r.Status))
		in = appendTimestamp(in, entityEndTime, r.EndTime)
	case *registry.Group:
		which = resourceGroup
		in = appendName(in, "groups/", r.ID)
		if w.names {
			in = pbwire.AppendStringField(in, displayName, r.DisplayName)
		}
		in = pbwire.AppendEnumField(in, groupKind, int32(r.Kind))
		in = pbwire.AppendStringField(in, groupField, r.Field)
	case *registry.Membership:
		which = resourceMembership
		// groups/{g}/memberships/{e}, written in place.
		in = protowire.AppendTag(in, fieldName, protowire.BytesType)
		in = protowire.AppendVarint(in, uint64(len("groups/")+len(r.GroupID)+len("/memberships/")+len(r.EntityID)))
		in = append(in, "groups/"...)
		in = append(in, r.GroupID...)
		in = append(in, "/memberships/"...)
		in = append(in, r.EntityID...)
		in = pbwire.AppendEnumField(in, membershipRole, int32(r.Role))
		in = appendTimestamp(in, membershipJoinTime, r.JoinTime)
		in = pbwire.AppendEnumField(in, membershipStatus, int32(r.Status))
		in = appendTimestamp(in, membershipEndTime, r.EndTime)
	case *registry.TalentRecord:
		which = resourceTalentRecord
		in = appendName(in, "talentRecords/", r.ID)
		in = pbwire.AppendStringField(in, recordSubject, r.Subject)
		in = pbwire.AppendEnumField(in, recordCategory, int32(r.Category))
		in = pbwire.AppendVarintField(in, recordCount, uint64(r.Count))
		in = pbwire.AppendStringField(in, recordProgram, r.Program)
		in = pbwire.AppendStringField(in, recordPeriod, r.Period)
	case *registry.Program:
		which = resourceProgram
		in = appendName(in, "programs/", r.ID)
		if w.names {
			in = pbwire.AppendStringField(in, displayName, r.DisplayName)
		}
		in = pbwire.AppendEnumField(in, programLevel, int32(r.Level))
	case *registry.Target:
		which = resourceTarget
		in = appendName(in, "targets/", r.ID)
		in = pbwire.AppendStringField(in, displayName, r.DisplayName)
		in = pbwire.AppendEnumField(in, targetMetric, int32(r.Metric))
		in = pbwire.AppendVarintField(in, targetGoalValue, uint64(r.GoalValue))
		in = pbwire.AppendStringField(in, targetScope, r.Scope)
		in = appendTimestamp(in, targetDeadline, r.Deadline)
	case *registry.Policy:
		which = resourcePolicy
		in = appendName(in, "policies/", r.ID)
		in = pbwire.AppendEnumField(in, policyLevel, int32(r.Level))
		in = appendTimestamp(in, policyIssueTime, r.IssueTime)
		in = pbwire.AppendBoolField(in, policyPilot, r.Pilot)
		in = appendStrings(in, policyIndustries, r.Industries)
		in = appendStrings(in, policyPrograms, r.Programs)
	}
	w.inner = in
	res := protowire.AppendTag(w.res[:0], which, protowire.BytesType)
	res = protowire.AppendBytes(res, in)
	w.res = res
	w.msg = protowire.AppendTag(w.msg, snapshotResources, protowire.BytesType)
	w.msg = protowire.AppendBytes(w.msg, res)
	w.n++
}

// take returns the message so far with its revision (and completion) and
// starts a new one. The returned bytes stay valid: the next message gets a
// fresh buffer, since gRPC may still hold this one.
func (w *wireBuilder) take(revision int64, complete bool) *grpcserver.Encoded {
	b := pbwire.AppendVarintField(w.msg, snapshotRevision, uint64(revision))
	b = pbwire.AppendBoolField(b, snapshotComplete, complete)
	b = pbwire.AppendStringField(b, snapshotID, w.registryID)
	w.msg = make([]byte, 0, cap(b))
	w.n = 0
	return &grpcserver.Encoded{B: b}
}

// Field numbers of the full Entity and of ListEntitiesResponse.
const (
	entityDisplayName = 2
	entityCreditCode  = 4
	entityCreateTime  = 9
	entityUpdateTime  = 10
	entityEtag        = 11

	timestampSeconds = 1
	timestampNanos   = 2

	listEntitiesEntities = 1
	listEntitiesNext     = 2
	getEntityEntity      = 1 // GetEntityResponse.entity
)

// listPage builds a ListEntitiesResponse in wire form an entity at a
// time, as entityToProto converts them, for a page of up to limit.
type listPage struct {
	b     []byte
	limit int
}

// add appends e.
func (p *listPage) add(e *registry.Entity) {
	if p.b == nil {
		// Size the buffer once, from the first entity: growing it by
		// appends copied every page several times.
		p.b = make([]byte, 0, max(p.limit, 1)*(entitySizeHint(e)+8))
	}
	p.b = appendEntityField(p.b, listEntitiesEntities, e)
}

// finish appends next and returns the message.
func (p *listPage) finish(next string) []byte {
	return pbwire.AppendStringField(p.b, listEntitiesNext, next)
}

// appendGetEntityResponse appends a GetEntityResponse holding e (as
// entityToProto converts it).
func appendGetEntityResponse(b []byte, e *registry.Entity) []byte {
	b = slices.Grow(b, entitySizeHint(e))
	return appendEntityField(b, getEntityEntity, e)
}

// entitySizeHint is a bound on the wire size of e as a field, barring
// a huge revision or unusual times.
func entitySizeHint(e *registry.Entity) int {
	size := len(e.ID) + len(e.DisplayName) + len(e.CreditCode) + len(e.Region) + 104
	for _, ind := range e.Industries {
		size += len(ind) + 2
	}
	return size
}

// appendEntityField appends e (as entityToProto converts it) as message
// field num.
func appendEntityField(b []byte, num protowire.Number, e *registry.Entity) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	// The entity's length prefix is a varint whose size is known only once
	// the entity is written: reserve two bytes, the size of an entity of
	// 128 B to 16 KiB, and move the entity by what it needed otherwise
	// (writing it to a scratch buffer and copying it cost a copy of every
	// entity).
	const reserve = 2
	lenAt := len(b)
	b = append(b, 0, 0)
	b = appendEntity(b, e)
	n := len(b) - lenAt - reserve
	if need := protowire.SizeVarint(uint64(n)); need != reserve {
		if need > reserve {
			b = slices.Grow(b, need-reserve)[:len(b)+need-reserve]
		}
		copy(b[lenAt+need:], b[lenAt+reserve:lenAt+reserve+n])
		b = b[:lenAt+need+n]
	}
	protowire.AppendVarint(b[lenAt:lenAt], uint64(n))
	return b
}

// appendEntity appends the fields of entityToProto(e).
func appendEntity(b []byte, e *registry.Entity) []byte {
	b = appendName(b, "entities/", e.ID)
	b = pbwire.AppendStringField(b, entityDisplayName, e.DisplayName)
	b = pbwire.AppendEnumField(b, entityKind, int32(e.Kind))
	b = pbwire.AppendStringField(b, entityCreditCode, e.CreditCode)
	b = pbwire.AppendStringField(b, entityRegion, e.Region)
	b = appendStrings(b, entityIndustries, e.Industries)
	b = pbwire.AppendBoolField(b, entityLeading, e.LeadingEnterprise)
	b = pbwire.AppendBoolField(b, entityPlatform, e.FutureIndustryPlatform)
	b = appendTimestamp(b, entityCreateTime, e.CreateTime)
	b = appendTimestamp(b, entityUpdateTime, e.UpdateTime)
	// Etag (11) before status (12) and end_time (13): field order, as
	// proto.Marshal writes it.
	b = appendEtag(b, e.Revision)
	b = pbwire.AppendEnumField(b, entityStatus, int32(e.Status))
	return appendTimestamp(b, entityEndTime, e.EndTime)
}

// appendEtag appends the etag field.
func appendEtag(b []byte, revision int64) []byte {
	// Etag is the revision in decimal (registry.Meta.Etag), written without
	// the string conversion.
	b = protowire.AppendTag(b, entityEtag, protowire.BytesType)
	var digits [20]byte
	etag := strconv.AppendInt(digits[:0], revision, 10)
	return protowire.AppendBytes(b, etag)
}

// appendTimestamp appends t as a google.protobuf.Timestamp field, as ts
// converts it: absent when t is zero.
func appendTimestamp(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	secs, nanos := uint64(t.Unix()), uint64(int64(int32(t.Nanosecond())))
	size := 0
	if secs != 0 {
		size += protowire.SizeTag(timestampSeconds) + protowire.SizeVarint(secs)
	}
	if nanos != 0 {
		size += protowire.SizeTag(timestampNanos) + protowire.SizeVarint(nanos)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = pbwire.AppendVarintField(b, timestampSeconds, secs)
	return pbwire.AppendVarintField(b, timestampNanos, nanos)
}

// Register registers srv on s, routing ListEntities and GetEntity to
// their pre-encoding twins (grpcserver's codec sends what they encode as
// it is).
func Register(s grpc.ServiceRegistrar, srv *Server) {
	s.RegisterService(grpcserver.Rerouted(&registryv1.RegistryService_ServiceDesc, map[string]grpc.MethodHandler{
		// GetEntity is the hottest read (every GET /v1/entities/{id}), and
		// the message tree entityToProto builds costs more allocations
		// than the read from bbolt.
		"GetEntity": grpcserver.UnaryHandler(registryv1.RegistryService_GetEntity_FullMethodName,
			func(s *Server, ctx context.Context, req *registryv1.GetEntityRequest) (any, error) {
				return s.getEntityWire(ctx, req)
			}),
		"ListEntities": grpcserver.UnaryHandler(registryv1.RegistryService_ListEntities_FullMethodName,
			func(s *Server, ctx context.Context, req *registryv1.ListEntitiesRequest) (any, error) {
				return s.listEntitiesWire(ctx, req)
			}),
	}), srv)
}
