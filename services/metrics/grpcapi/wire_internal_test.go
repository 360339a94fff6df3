package grpcapi

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/services/metrics"
)

// Every field of metrics.Summary changes sameSummary's answer: a field
// added to Summary and left out of sameSummary would make GetSummary serve
// stale figures from its cache.
func TestSameSummary_SeesEveryField(t *testing.T) {
	base := metrics.Summary{EntitiesByKind: map[string]int64{"ENTITY_KIND_UNIVERSITY": 3}}
	if !sameSummary(&base, &metrics.Summary{EntitiesByKind: map[string]int64{"ENTITY_KIND_UNIVERSITY": 3}}) {
		t.Fatal("equal summaries differ")
	}
	typ := reflect.TypeFor[metrics.Summary]()
	for i := range typ.NumField() {
		changed := base
		changed.EntitiesByKind = map[string]int64{"ENTITY_KIND_UNIVERSITY": 3}
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Map:
			changed.EntitiesByKind["ENTITY_KIND_UNIVERSITY"] = 4
		default:
			t.Fatalf("Summary.%s is a %s: teach sameSummary and this test to compare it", typ.Field(i).Name, f.Kind())
		}
		if sameSummary(&base, &changed) {
			t.Errorf("sameSummary does not see Summary.%s", typ.Field(i).Name)
		}
	}
}

// wantSummaryWire is what appendSummary must write: protobuf-go's
// deterministic encoding of the message GetSummary builds.
func wantSummaryWire(t *testing.T, sum *metrics.Summary) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(summaryMessage(sum))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendSummary writes the bytes protobuf-go writes, for summaries of
// every shape: zero and negative figures, no kind map, kinds counted zero.
func TestAppendSummary_MatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	figure := func() int64 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return -r.Int64N(1000) - 1
		case 2:
			return math.MaxInt64 - r.Int64N(10)
		default:
			return r.Int64N(1 << uint(r.IntN(40)+1))
		}
	}
	kinds := []string{"ENTITY_KIND_ENTERPRISE", "ENTITY_KIND_UNIVERSITY", "ENTITY_KIND_RESEARCH_INSTITUTE", "ENTITY_KIND_INCUBATOR", "ENTITY_KIND_UNSPECIFIED", "", "中文"}
	for i := range 2000 {
		var sum metrics.Summary
		v := reflect.ValueOf(&sum).Elem()
		for f := range v.NumField() {
			if v.Field(f).Kind() == reflect.Int64 {
				v.Field(f).SetInt(figure())
			}
		}
		if n := r.IntN(len(kinds) + 1); n > 0 || i%2 == 0 {
			sum.EntitiesByKind = map[string]int64{}
			for _, k := range kinds[:n] {
				sum.EntitiesByKind[k] = figure()
			}
		}
		got, want := appendSummary(nil, &sum), wantSummaryWire(t, &sum)
		if !bytes.Equal(got, want) {
			t.Fatalf("summary %+v:\n got %x\nwant %x", sum, got, want)
		}
		var back metricsv1.GetSummaryResponse
		if err := proto.Unmarshal(got, &back); err != nil || !proto.Equal(&back, summaryMessage(&sum)) {
			t.Fatalf("summary %+v decodes to %v (%v)", sum, &back, err)
		}
	}
}

// Every field of metrics.Summary reaches the wire: a field added to the
// Summary and its message but left out of appendSummary fails here.
func TestAppendSummary_SeesEveryField(t *testing.T) {
	base := metrics.Summary{}
	empty := appendSummary(nil, &base)
	typ := reflect.TypeFor[metrics.Summary]()
	for i := range typ.NumField() {
		changed := base
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int64:
			f.SetInt(7)
		case reflect.Map:
			changed.EntitiesByKind = map[string]int64{"ENTITY_KIND_UNIVERSITY": 7}
		default:
			t.Fatalf("Summary.%s is a %s: teach appendSummary and this test to write it", typ.Field(i).Name, f.Kind())
		}
		got := appendSummary(nil, &changed)
		if bytes.Equal(got, empty) {
			t.Errorf("appendSummary does not write Summary.%s", typ.Field(i).Name)
		}
		if want := wantSummaryWire(t, &changed); !bytes.Equal(got, want) {
			t.Errorf("Summary.%s: got %x, want %x", typ.Field(i).Name, got, want)
		}
	}
}

// BenchmarkEncodeSummary: an as_of answer's encoding, appendSummary
// against proto.Marshal of the message GetSummary builds.
//
//	go test -run '^$' -bench EncodeSummary -benchmem talentreg/services/metrics/grpcapi
func BenchmarkEncodeSummary(b *testing.B) {
	sum := metrics.Summary{Revision: 200023, Entities: 100000, Consortia: 4, Alliances: 19,
		ConsortiumMembers: 1500, AllianceMembers: 2198, TalentsGathered: 18000, TalentsCultivated: 18000,
		LeadingEnterprises: 60, FutureIndustryPlatforms: 40, PlatformsOrLeadingEnterprises: 100, Policies: 52, PilotPolicies: 50,
		EntitiesByKind: map[string]int64{"ENTITY_KIND_ENTERPRISE": 90000, "ENTITY_KIND_UNIVERSITY": 4000,
			"ENTITY_KIND_RESEARCH_INSTITUTE": 5000, "ENTITY_KIND_INCUBATOR": 1000}}
	b.Run("appendSummary", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = encodeSummary(&sum)
		}
	})
	b.Run("proto.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := proto.Marshal(summaryMessage(&sum)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
