package gateway

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// entityJSONFields are the fields appendEntityJSON writes. A field added
// to Entity must be written there and named here.
var entityJSONFields = []string{
	"name", "displayName", "kind", "creditCode", "region", "industries",
	"leadingEnterprise", "futureIndustryPlatform", "createTime", "updateTime",
	"etag", "status", "endTime",
}

func TestEntityJSON_CoversEveryField(t *testing.T) {
	fields := (&registryv1.Entity{}).ProtoReflect().Descriptor().Fields()
	var names []string
	for i := range fields.Len() {
		names = append(names, fields.Get(i).JSONName())
	}
	if !reflect.DeepEqual(names, entityJSONFields) {
		t.Fatalf("Entity's fields are %v; appendEntityJSON writes %v", names, entityJSONFields)
	}
}

// TestEntityJSON_MatchesProtojson compares appendEntityJSON with the
// gateway's protojson marshaler on edge cases and random entities: both
// must decode to the same JSON value, or the fast encoder must decline.
func TestEntityJSON_MatchesProtojson(t *testing.T) {
	m := newMarshaler()
	ts := func(s int64, n int32) *timestamppb.Timestamp { return &timestamppb.Timestamp{Seconds: s, Nanos: n} }
	cases := []*registryv1.Entity{
		{},
		{Name: "entities/tju", DisplayName: "天津大学 Tianjin University", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
			CreditCode: "12100000401359321Q", Region: "nankai", Industries: []string{"ai", "new-materials"},
			LeadingEnterprise: true, FutureIndustryPlatform: true, CreateTime: ts(1733000000, 0), UpdateTime: ts(1733000000, 120000000),
			Etag: "42", Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_WITHDRAWN, EndTime: ts(1764000000, 123456)},
		{DisplayName: "quote \" backslash \\ newline \n tab \t nul \x00 bell \x07 del \x7f <>&\u2028", CreateTime: ts(0, 1)},
		{CreateTime: ts(-62135596800, 0), UpdateTime: ts(253402300799, 999999999)},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		cases = append(cases, randomEntity(rng, true))
	}
	for _, e := range cases {
		got, want, same := encodeBoth(t, m, e, func(b []byte) ([]byte, bool) { return appendEntityJSON(b, e) })
		if !same {
			t.Errorf("fast:\n%s\nprotojson:\n%s", got, want)
		}
	}
}

// TestEntityJSON_DeclinesWhatProtojsonWritesOtherwise: an enum value
// without a name, a string that is not UTF-8 and a time out of range go to
// protojson, which writes or refuses them.
func TestEntityJSON_DeclinesWhatProtojsonWritesOtherwise(t *testing.T) {
	for name, e := range map[string]*registryv1.Entity{
		"unnamed kind":    {Kind: 99},
		"unnamed status":  {Status: 99},
		"invalid UTF-8":   {DisplayName: "a\xffb"},
		"year 10000":      {CreateTime: &timestamppb.Timestamp{Seconds: 253402300800}},
		"negative nanos":  {UpdateTime: &timestamppb.Timestamp{Nanos: -1}},
		"industry UTF-8":  {Industries: []string{"ok", "\xc3"}},
		"end time nanos":  {EndTime: &timestamppb.Timestamp{Nanos: 1e9}},
		"etag not UTF-8":  {Etag: "\xff"},
		"region not UTF8": {Region: "\xfe"},
	} {
		if got, ok := appendEntityJSON([]byte("x"), e); ok || string(got) != "x" {
			t.Errorf("%s: appended %q, %v; want it declined with nothing appended", name, got, ok)
		}
	}
	// protojson itself writes an unnamed enum as its number.
	if b, err := protojson.Marshal(&registryv1.Entity{Kind: 99}); err != nil || !strings.Contains(string(b), "99") {
		t.Errorf("protojson: %s %v", b, err)
	}
}

func BenchmarkEntityJSON(b *testing.B) {
	e := &registryv1.Entity{Name: "entities/tju", DisplayName: "天津大学 Tianjin University", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
		CreditCode: "12100000401359321Q", Region: "nankai", Industries: []string{"ai", "new-materials"},
		CreateTime: timestamppb.Now(), UpdateTime: timestamppb.Now(), Etag: "42", Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE}
	m := newMarshaler()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = appendEntityJSON(make([]byte, 0, 512), e)
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Marshal(e)
		}
	})
}

// encodeBoth writes msg with a fast path's encoder and with protojson and
// reports both and whether they are the same JSON value. It fails the test
// when the encoder declines or writes something that is not JSON.
func encodeBoth(t *testing.T, m *marshaler, msg proto.Message, encode func([]byte) ([]byte, bool)) (got, want []byte, same bool) {
	t.Helper()
	want, err := m.Marshal(msg)
	if err != nil {
		t.Fatalf("protojson: %v", err)
	}
	got, ok := encode(nil)
	if !ok {
		t.Fatalf("declined %v, which protojson writes", msg)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: not JSON: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	return got, want, reflect.DeepEqual(g, w)
}
