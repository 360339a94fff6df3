package grpcapi

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"talentreg/services/registry"
)

// A metrics replica bootstraps from a snapshot of millions of resources.
// Building a protobuf message tree per resource and marshalling it costs
// more than reading the resource from bbolt, so the aggregate snapshot view
// is encoded straight to the wire: the field numbers below mirror
// registry_service.proto and resources.proto, and TestAggregateWire proves
// the bytes decode to exactly what aggregateView builds.

// preEncoded is a message already in protobuf wire form.
type preEncoded struct{ b []byte }

// codec is gRPC's proto codec that also sends preEncoded messages as they
// are.
type codec struct{ encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if p, ok := v.(*preEncoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(p.b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// ServerOptions returns the options a gRPC server hosting this service
// needs: the codec that sends pre-encoded snapshot messages.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ForceServerCodecV2(codec{encoding.GetCodecV2("proto")})}
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

	fieldName = 1 // .name in every resource

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
)

// wireBuilder appends aggregate-view resources to a StreamSnapshotResponse
// in wire form, reusing its scratch buffers.
type wireBuilder struct {
	registryID      string
	msg, res, inner []byte
	n               int
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarint(b, num, 1)
}

func appendEnum(b []byte, num protowire.Number, v int32) []byte {
	return appendVarint(b, num, uint64(int64(v)))
}

// add appends r in the aggregate view.
func (w *wireBuilder) add(r registry.Resource) {
	in := w.inner[:0]
	var which protowire.Number
	switch r := r.(type) {
	case *registry.Entity:
		which = resourceEntity
		in = appendString(in, fieldName, "entities/"+r.ID)
		in = appendEnum(in, entityKind, int32(r.Kind))
		in = appendString(in, entityRegion, r.Region)
		for _, ind := range r.Industries {
			in = protowire.AppendTag(in, entityIndustries, protowire.BytesType)
			in = protowire.AppendString(in, ind)
		}
		in = appendBool(in, entityLeading, r.LeadingEnterprise)
		in = appendBool(in, entityPlatform, r.FutureIndustryPlatform)
	case *registry.Group:
		which = resourceGroup
		in = appendString(in, fieldName, "groups/"+r.ID)
		in = appendEnum(in, groupKind, int32(r.Kind))
		in = appendString(in, groupField, r.Field)
	case *registry.Membership:
		which = resourceMembership
		// groups/{g}/memberships/{e}, written in place.
		in = protowire.AppendTag(in, fieldName, protowire.BytesType)
		in = protowire.AppendVarint(in, uint64(len("groups/")+len(r.GroupID)+len("/memberships/")+len(r.EntityID)))
		in = append(in, "groups/"...)
		in = append(in, r.GroupID...)
		in = append(in, "/memberships/"...)
		in = append(in, r.EntityID...)
		in = appendEnum(in, membershipRole, int32(r.Role))
	case *registry.TalentRecord:
		which = resourceTalentRecord
		in = appendString(in, fieldName, "talentRecords/"+r.ID)
		in = appendString(in, recordSubject, r.Subject)
		in = appendEnum(in, recordCategory, int32(r.Category))
		in = appendVarint(in, recordCount, uint64(r.Count))
		in = appendString(in, recordProgram, r.Program)
		in = appendString(in, recordPeriod, r.Period)
	case *registry.Program:
		which = resourceProgram
		in = appendString(in, fieldName, "programs/"+r.ID)
		in = appendEnum(in, programLevel, int32(r.Level))
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
func (w *wireBuilder) take(revision int64, complete bool) *preEncoded {
	b := appendVarint(w.msg, snapshotRevision, uint64(revision))
	b = appendBool(b, snapshotComplete, complete)
	b = appendString(b, snapshotID, w.registryID)
	w.msg = make([]byte, 0, cap(b))
	w.n = 0
	return &preEncoded{b: b}
}
