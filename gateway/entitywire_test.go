package gateway

import (
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// randomEntities are edge cases and random entities, every field set in
// some of them.
func randomEntities(n int) []*registryv1.Entity {
	ts := func(s int64, n int32) *timestamppb.Timestamp { return &timestamppb.Timestamp{Seconds: s, Nanos: n} }
	es := []*registryv1.Entity{
		{},
		{Name: "entities/tju", DisplayName: "天津大学 Tianjin University", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
			CreditCode: "12100000401359321Q", Region: "nankai", Industries: []string{"ai", "new-materials"},
			LeadingEnterprise: true, FutureIndustryPlatform: true, CreateTime: ts(1733000000, 0), UpdateTime: ts(1733000000, 120000000),
			Etag: "42", Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_WITHDRAWN, EndTime: ts(1764000000, 123456)},
		{Kind: 99, Status: -7, CreateTime: ts(-62135596800, -1), UpdateTime: ts(1<<62, 1<<30), EndTime: ts(0, 0)},
		{Industries: []string{"", "", strings.Repeat("long", 1000)}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range n {
		es = append(es, randomEntity(rng, false))
	}
	return es
}

// randomEntity returns an entity with random fields, some left unset,
// from an alphabet of ASCII, escapes, Chinese and emoji. With
// coarseCreateNanos its create time is whole seconds, milliseconds,
// microseconds or nanoseconds (protojson writes each differently).
func randomEntity(rng *rand.Rand, coarseCreateNanos bool) *registryv1.Entity {
	ts := func(s int64, n int32) *timestamppb.Timestamp { return &timestamppb.Timestamp{Seconds: s, Nanos: n} }
	alphabet := []rune("aZ09-_ 天津\"\\\n\x01é😀")
	str := func() string {
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	e := &registryv1.Entity{Name: "entities/" + str(), DisplayName: str(), Kind: registryv1.EntityKind(rng.IntN(6)),
		CreditCode: str(), Region: str(), LeadingEnterprise: rng.IntN(2) == 0, FutureIndustryPlatform: rng.IntN(2) == 0,
		Etag: str(), Status: registryv1.LifecycleStatus(rng.IntN(4))}
	for range rng.IntN(4) {
		e.Industries = append(e.Industries, str())
	}
	if rng.IntN(3) > 0 {
		secs, nanos := rng.Int64N(4e9), int32(rng.IntN(1e9))
		if coarseCreateNanos {
			nanos /= int32([]int{1, 1000, 1000000, 1000000000}[rng.IntN(4)])
		}
		e.CreateTime = ts(secs, nanos)
		e.UpdateTime = ts(rng.Int64N(4e9), int32(rng.IntN(1e9)))
	}
	if rng.IntN(2) == 0 {
		e.EndTime = ts(rng.Int64N(4e9), 0)
	}
	return e
}

// decodeWire runs decode on b as the registry's answer, the way
// serveGetEntity does, and returns a copy of what it read (nil when it
// declined).
func decodeWire(t testing.TB, b []byte) *registryv1.Entity {
	t.Helper()
	s := getEntityScratch()
	defer putEntityScratch(s)
	// Through the codec, in two pieces, as gRPC may hand it over.
	half := len(b) / 2
	if err := (wireCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b[:half]), mem.SliceBuffer(b[half:])}, &s.wire); err != nil {
		t.Fatal(err)
	}
	e := s.decode()
	if e == nil {
		return nil
	}
	// Copy the strings out of the pooled buffer before it goes back.
	c := proto.Clone(e).(*registryv1.Entity)
	c.Name, c.DisplayName, c.CreditCode = strings.Clone(e.Name), strings.Clone(e.DisplayName), strings.Clone(e.CreditCode)
	c.Region, c.Etag = strings.Clone(e.Region), strings.Clone(e.Etag)
	for i, ind := range e.Industries {
		c.Industries[i] = strings.Clone(ind)
	}
	return c
}

// discardUnknown is proto.Unmarshal without the unknown fields, which
// decode skips (protojson does not write them).
var discardUnknown = proto.UnmarshalOptions{DiscardUnknown: true}

// TestDecodeEntity_MatchesUnmarshal: on what the registry writes, and on
// the same with fields repeated (the last wins), unknown fields added and
// fields out of order, decode reads exactly what proto.Unmarshal reads.
func TestDecodeEntity_MatchesUnmarshal(t *testing.T) {
	for i, e := range randomEntities(500) {
		wire, err := proto.Marshal(&registryv1.GetEntityResponse{Entity: e})
		if err != nil {
			t.Fatal(err)
		}
		entity, _ := protowire.ConsumeBytes(wire[protowire.SizeTag(1):])
		// Out of order, a scalar given twice, unknown fields in the
		// entity, a timestamp and the response.
		odd := protowire.AppendTag(nil, entityDisplayName, protowire.BytesType)
		odd = protowire.AppendString(odd, "first, overwritten")
		odd = protowire.AppendTag(odd, 99, protowire.Fixed64Type)
		odd = protowire.AppendFixed64(odd, 7)
		odd = append(odd, entity...)
		odd = protowire.AppendTag(odd, entityKind, protowire.VarintType)
		odd = protowire.AppendVarint(odd, uint64(i%5))
		odd = protowire.AppendTag(odd, 100, protowire.BytesType)
		odd = protowire.AppendString(odd, "unknown")
		if e.EndTime == nil { // a second one would be merged: declined, see TestDecodeEntity_Declines
			odd = protowire.AppendTag(odd, entityEndTime, protowire.BytesType)
			odd = protowire.AppendBytes(odd, protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 3))
		}
		oddResp := protowire.AppendTag(nil, 2, protowire.Fixed32Type)
		oddResp = protowire.AppendFixed32(oddResp, 1)
		oddResp = protowire.AppendTag(oddResp, getEntityResponseEntity, protowire.BytesType)
		oddResp = protowire.AppendBytes(oddResp, odd)
		for _, b := range [][]byte{wire, oddResp} {
			want := &registryv1.GetEntityResponse{}
			if err := discardUnknown.Unmarshal(b, want); err != nil {
				t.Fatal(err)
			}
			got := decodeWire(t, b)
			if got == nil {
				t.Fatalf("declined %x (%v)", b, want)
			}
			if !proto.Equal(got, want.GetEntity()) {
				t.Fatalf("decoded\n%v\nproto.Unmarshal:\n%v", got, want.GetEntity())
			}
		}
	}
}

// TestDecodeEntity_Declines what proto.Unmarshal refuses or reads
// otherwise: those answers take proto.Unmarshal's path.
func TestDecodeEntity_Declines(t *testing.T) {
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	resp := func(entity []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, getEntityResponseEntity, protowire.BytesType), entity)
	}
	ts := resp(append(str(entityCreateTime, ""), str(entityCreateTime, "")...))
	for name, b := range map[string][]byte{
		"no entity":           {},
		"entity twice":        append(resp(nil), resp(nil)...),
		"not UTF-8":           resp(str(entityDisplayName, "a\xffb")),
		"industry not UTF-8":  resp(str(entityIndustries, "\xc3")),
		"truncated":           resp(str(entityName, "abc"))[:4],
		"string as varint":    resp(protowire.AppendVarint(protowire.AppendTag(nil, entityName, protowire.VarintType), 1)),
		"enum as bytes":       resp(str(entityKind, "x")),
		"timestamp twice":     ts,
		"group":               resp(protowire.AppendTag(nil, 50, protowire.StartGroupType)),
		"field number 0":      {0, 0},
		"entity as varint":    protowire.AppendVarint(protowire.AppendTag(nil, getEntityResponseEntity, protowire.VarintType), 1),
		"bad timestamp field": resp(protowire.AppendBytes(protowire.AppendTag(nil, entityUpdateTime, protowire.BytesType), str(timestampSeconds, "x"))),
	} {
		if e := decodeWire(t, b); e != nil {
			t.Errorf("%s: decoded %v; want it declined", name, e)
		}
	}
}

// FuzzDecodeEntity: whatever decode reads, proto.Unmarshal reads the same.
func FuzzDecodeEntity(f *testing.F) {
	for _, e := range randomEntities(20) {
		b, _ := proto.Marshal(&registryv1.GetEntityResponse{Entity: e})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := decodeWire(t, b)
		if got == nil {
			return
		}
		want := &registryv1.GetEntityResponse{}
		if err := discardUnknown.Unmarshal(b, want); err != nil {
			t.Fatalf("decoded %v; proto.Unmarshal: %v", got, err)
		}
		if !proto.Equal(got, want.GetEntity()) {
			t.Fatalf("decoded\n%v\nproto.Unmarshal:\n%v", got, want.GetEntity())
		}
	})
}

func BenchmarkDecodeEntity(b *testing.B) {
	e := randomEntities(0)[1]
	wire, _ := proto.Marshal(&registryv1.GetEntityResponse{Entity: e})
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := getEntityScratch()
			s.wire.b = append(s.wire.b[:0], wire...)
			if s.decode() == nil {
				b.Fatal("declined")
			}
			putEntityScratch(s)
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var resp registryv1.GetEntityResponse
			if err := proto.Unmarshal(wire, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The in-place decoder skips fields it does not know, so a field added to
// Entity would vanish from the gateway's JSON without a word: this fails
// first, naming the field to teach decodeEntity.
func TestDecodeEntity_KnowsEveryField(t *testing.T) {
	known := map[int32]string{
		entityName: "name", entityDisplayName: "display_name", entityKind: "kind", entityCreditCode: "credit_code",
		entityRegion: "region", entityIndustries: "industries", entityLeadingEnterprise: "leading_enterprise",
		entityFutureIndustryPlatform: "future_industry_platform", entityCreateTime: "create_time",
		entityUpdateTime: "update_time", entityEtag: "etag", entityStatus: "status", entityEndTime: "end_time",
	}
	fields := (&registryv1.Entity{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if name, ok := known[int32(f.Number())]; !ok || name != string(f.Name()) {
			t.Errorf("Entity field %d %s: decodeEntity reads field %d as %q; teach it the field", f.Number(), f.Name(), f.Number(), name)
		}
	}
	if fields.Len() != len(known) {
		t.Errorf("Entity has %d fields, decodeEntity knows %d", fields.Len(), len(known))
	}
}
