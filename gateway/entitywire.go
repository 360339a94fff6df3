package gateway

import (
	"sync"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// GET /v1/entities/{id} reads the registry's answer without building a
// message: proto.Unmarshal allocated the response, the entity, its three
// timestamps and every string (≈ 14 allocations per request, 5% of the
// gateway's CPU with the garbage they make). The answer is copied into a
// pooled buffer as it arrives (wireCodec), and decodeEntity fills a
// pooled Entity whose strings point into that buffer, which
// appendEntityJSON then writes. Whatever decodeEntity does not read
// exactly as proto.Unmarshal does (FuzzDecodeEntity holds it to that), it
// declines, and the answer goes through proto.Unmarshal.

// wireMessage is a message kept in protobuf wire form.
type wireMessage struct{ b []byte }

// wireCodec is gRPC's proto codec, except that an answer received into a
// *wireMessage is copied as it is, undecoded.
type wireCodec struct{ encoding.CodecV2 }

// Unmarshal implements encoding.CodecV2.
func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if w, ok := v.(*wireMessage); ok {
		w.b = w.b[:0]
		for _, buf := range data {
			w.b = append(w.b, buf.ReadOnlyData()...)
		}
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// Name implements encoding.CodecV2. It is empty so that a call forcing
// this codec keeps the content type application/grpc: gRPC adds a
// codec's name as the subtype.
func (wireCodec) Name() string { return "" }

// wireCall receives a call's answer into a *wireMessage.
var wireCall = []grpc.CallOption{grpc.ForceCodecV2(wireCodec{encoding.GetCodecV2("proto")})}

// entityScratch is the pooled space of one GET /v1/entities/{id}: the
// registry's answer as it arrived and an Entity read from it in place.
type entityScratch struct {
	wire       wireMessage
	entity     registryv1.Entity
	times      [3]timestamppb.Timestamp
	industries []string
}

var entityScratchPool = sync.Pool{New: func() any {
	return &entityScratch{wire: wireMessage{b: make([]byte, 0, 1024)}}
}}

func getEntityScratch() *entityScratch { return entityScratchPool.Get().(*entityScratch) }

// putEntityScratch returns s to the pool, unless an unusual answer grew
// it; nothing it held may be used afterwards.
func putEntityScratch(s *entityScratch) {
	s.entity.Reset()
	clear(s.industries)
	if cap(s.wire.b) <= 16<<10 && cap(s.industries) <= 64 {
		entityScratchPool.Put(s)
	}
}

// Field numbers of GetEntityResponse, Entity and Timestamp, as in
// registry_service.proto, resources.proto and timestamp.proto
// (TestDecodeEntity_MatchesUnmarshal fails if one changes).
const (
	getEntityResponseEntity = 1

	entityName                   = 1
	entityDisplayName            = 2
	entityKind                   = 3
	entityCreditCode             = 4
	entityRegion                 = 5
	entityIndustries             = 6
	entityLeadingEnterprise      = 7
	entityFutureIndustryPlatform = 8
	entityCreateTime             = 9
	entityUpdateTime             = 10
	entityEtag                   = 11
	entityStatus                 = 12
	entityEndTime                = 13

	timestampSeconds = 1
	timestampNanos   = 2
)

// decodeEntity reads the GetEntityResponse in s.wire into s.entity and
// returns it, its strings pointing into s.wire (valid until s goes back to
// the pool), or returns nil for anything it does not read as
// proto.Unmarshal would: malformed or non-UTF-8 input (which
// proto.Unmarshal refuses), a field of the wrong wire type, a message
// field given twice (which proto.Unmarshal merges), groups, or an answer
// without an entity.
func (s *entityScratch) decode() *registryv1.Entity {
	var entity []byte
	found := false
	for b := s.wire.b; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == getEntityResponseEntity {
			if typ != protowire.BytesType || found {
				return nil
			}
			if entity, n = protowire.ConsumeBytes(b); n < 0 {
				return nil
			}
			found = true
		} else if n = skipField(num, typ, b); n < 0 {
			return nil
		}
		b = b[n:]
	}
	if !found {
		return nil
	}
	e := &s.entity
	industries := s.industries[:0]
	var timeSet [3]bool
	for b := entity; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		switch num {
		case entityName, entityDisplayName, entityCreditCode, entityRegion, entityIndustries, entityEtag:
			if typ != protowire.BytesType {
				return nil
			}
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 || !utf8.Valid(v) {
				return nil
			}
			str := bytesString(v)
			switch num {
			case entityName:
				e.Name = str
			case entityDisplayName:
				e.DisplayName = str
			case entityCreditCode:
				e.CreditCode = str
			case entityRegion:
				e.Region = str
			case entityIndustries:
				industries = append(industries, str)
			case entityEtag:
				e.Etag = str
			}
		case entityKind, entityStatus, entityLeadingEnterprise, entityFutureIndustryPlatform:
			if typ != protowire.VarintType {
				return nil
			}
			var v uint64
			if v, n = protowire.ConsumeVarint(b); n < 0 {
				return nil
			}
			switch num {
			case entityKind:
				e.Kind = registryv1.EntityKind(int32(v))
			case entityStatus:
				e.Status = registryv1.LifecycleStatus(int32(v))
			case entityLeadingEnterprise:
				e.LeadingEnterprise = v != 0
			case entityFutureIndustryPlatform:
				e.FutureIndustryPlatform = v != 0
			}
		case entityCreateTime, entityUpdateTime, entityEndTime:
			i := int(num - entityCreateTime)
			if num == entityEndTime {
				i = 2
			}
			if typ != protowire.BytesType || timeSet[i] {
				return nil
			}
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return nil
			}
			t := &s.times[i]
			if !decodeTimestamp(t, v) {
				return nil
			}
			timeSet[i] = true
			switch num {
			case entityCreateTime:
				e.CreateTime = t
			case entityUpdateTime:
				e.UpdateTime = t
			case entityEndTime:
				e.EndTime = t
			}
		default:
			if n = skipField(num, typ, b); n < 0 {
				return nil
			}
		}
		b = b[n:]
	}
	if len(industries) > 0 {
		e.Industries = industries
	}
	s.industries = industries
	return e
}

// decodeTimestamp reads a Timestamp's wire form into t.
func decodeTimestamp(t *timestamppb.Timestamp, b []byte) bool {
	t.Seconds, t.Nanos = 0, 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case timestampSeconds, timestampNanos:
			if typ != protowire.VarintType {
				return false
			}
			var v uint64
			if v, n = protowire.ConsumeVarint(b); n < 0 {
				return false
			}
			if num == timestampSeconds {
				t.Seconds = int64(v)
			} else {
				t.Nanos = int32(v)
			}
		default:
			if n = skipField(num, typ, b); n < 0 {
				return false
			}
		}
		b = b[n:]
	}
	return true
}

// skipField skips the value of a field decodeEntity does not know, of one
// of the four plain wire types, and returns its length; -1 for a group or
// a malformed value.
func skipField(num protowire.Number, typ protowire.Type, b []byte) int {
	switch typ {
	case protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType:
		return protowire.ConsumeFieldValue(num, typ, b)
	}
	return -1
}

// bytesString returns b's bytes as a string without copying them: b must
// not change while the string is in use (the answer's buffer is not
// written to until it goes back to the pool).
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
