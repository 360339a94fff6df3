package gateway

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

// summaryJSONFields are the fields appendSummaryJSON writes. A field added
// to GetSummaryResponse must be written there and named here.
var summaryJSONFields = []string{
	"revision", "entities", "entitiesByKind", "consortia", "alliances",
	"consortiumMembers", "allianceMembers", "talentsGathered", "talentsCultivated",
	"talentsAssessed", "assessingEntities", "consortiumMemberships", "allianceMemberships",
	"leadingEnterprises", "futureIndustryPlatforms", "platformsOrLeadingEnterprises",
	"talentRecords", "programs", "policies", "pilotPolicies", "jingjinjiOrganisations", "targets",
}

func TestSummaryJSON_CoversEveryField(t *testing.T) {
	fields := (&metricsv1.GetSummaryResponse{}).ProtoReflect().Descriptor().Fields()
	var names []string
	for i := range fields.Len() {
		names = append(names, fields.Get(i).JSONName())
	}
	if !reflect.DeepEqual(names, summaryJSONFields) {
		t.Fatalf("GetSummaryResponse's fields are %v; appendSummaryJSON writes %v", names, summaryJSONFields)
	}
	// Each field, given a value of its own, lands under its own name.
	s := &metricsv1.GetSummaryResponse{EntitiesByKind: map[string]int64{"k": -1}}
	m := s.ProtoReflect()
	for i := range fields.Len() {
		if fd := fields.Get(i); !fd.IsMap() {
			m.Set(fd, protoreflect.ValueOfInt64(int64(i+1)))
		}
	}
	assertSummaryMatches(t, newMarshaler(), s)
}

// TestSummaryJSON_MatchesProtojson compares appendSummaryJSON with the
// gateway's protojson marshaler on edge cases and random summaries: both
// must decode to the same JSON value, with keys in the same order.
func TestSummaryJSON_MatchesProtojson(t *testing.T) {
	m := newMarshaler()
	cases := []*metricsv1.GetSummaryResponse{
		{},
		{EntitiesByKind: map[string]int64{}},
		{Revision: 1<<63 - 1, Entities: -1 << 63, EntitiesByKind: map[string]int64{"": 0, "\"\\\n\x01": -5, "天津": 1, "é": 2, "e": 3}},
		{Revision: 200023, Entities: 100000, EntitiesByKind: map[string]int64{"ENTITY_KIND_ENTERPRISE": 60000, "ENTITY_KIND_UNIVERSITY": 20000,
			"ENTITY_KIND_RESEARCH_INSTITUTE": 10000, "ENTITY_KIND_INCUBATOR": 10000},
			Consortia: 4, Alliances: 19, ConsortiumMembers: 514, AllianceMembers: 2198, TalentsGathered: 863000, TalentsCultivated: 18000,
			TalentsAssessed: 150000, AssessingEntities: 3800, Programs: 2, Policies: 50, PilotPolicies: 50, Targets: 1},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("AZ_az09 天\"\\\n\x01é😀")
	for range 500 {
		s := &metricsv1.GetSummaryResponse{}
		fields := s.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.IsMap() {
				if rng.IntN(4) == 0 {
					continue
				}
				s.EntitiesByKind = map[string]int64{}
				for range rng.IntN(20) {
					k := make([]rune, rng.IntN(8))
					for j := range k {
						k[j] = alphabet[rng.IntN(len(alphabet))]
					}
					s.EntitiesByKind[string(k)] = rng.Int64() - rng.Int64()
				}
				continue
			}
			v := int64(0)
			switch rng.IntN(4) {
			case 1:
				v = rng.Int64N(1e6)
			case 2:
				v = rng.Int64() - rng.Int64()
			case 3:
				v = -rng.Int64N(10)
			}
			s.ProtoReflect().Set(fd, protoreflect.ValueOfInt64(v))
		}
		cases = append(cases, s)
	}
	for _, s := range cases {
		assertSummaryMatches(t, m, s)
	}
}

// assertSummaryMatches fails unless appendSummaryJSON writes s as protojson
// does: the same JSON value, the same key order.
func assertSummaryMatches(t *testing.T, m *marshaler, s *metricsv1.GetSummaryResponse) {
	t.Helper()
	got, want, same := encodeBoth(t, m, s, func(b []byte) ([]byte, bool) { return appendSummaryJSON(b, s) })
	if !same {
		t.Fatalf("fast:\n%s\nprotojson:\n%s", got, want)
	}
	if gk, wk := jsonKeyOrder(t, got), jsonKeyOrder(t, want); !reflect.DeepEqual(gk, wk) {
		t.Fatalf("key order: fast %q, protojson %q", gk, wk)
	}
}

// jsonKeyOrder lists the object keys of b in the order they appear.
func jsonKeyOrder(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	expectKey := []bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				expectKey = append(expectKey, true)
			case '}':
				expectKey = expectKey[:len(expectKey)-1]
				if n := len(expectKey); n > 0 {
					expectKey[n-1] = true
				}
			}
			continue
		case string:
			if n := len(expectKey); n > 0 && expectKey[n-1] {
				keys = append(keys, v)
				expectKey[n-1] = false
				continue
			}
		}
		if n := len(expectKey); n > 0 {
			expectKey[n-1] = true
		}
	}
}

// TestSummaryJSON_DeclinesWhatProtojsonRefuses: a map key that is not
// UTF-8 goes to protojson, which refuses it; nothing is appended.
func TestSummaryJSON_DeclinesWhatProtojsonRefuses(t *testing.T) {
	s := &metricsv1.GetSummaryResponse{Revision: 3, EntitiesByKind: map[string]int64{"ok": 1, "a\xffb": 2}}
	if got, ok := appendSummaryJSON([]byte("x"), s); ok || string(got) != "x" {
		t.Errorf("appended %q, %v; want it declined with nothing appended", got, ok)
	}
	if _, err := newMarshaler().Marshal(s); err == nil {
		t.Error("protojson wrote a key that is not UTF-8; the fast encoder should then write it too")
	}
}

func BenchmarkSummaryJSON(b *testing.B) {
	s := &metricsv1.GetSummaryResponse{Revision: 200023, Entities: 100000, EntitiesByKind: map[string]int64{
		"ENTITY_KIND_ENTERPRISE": 60000, "ENTITY_KIND_UNIVERSITY": 20000, "ENTITY_KIND_RESEARCH_INSTITUTE": 10000, "ENTITY_KIND_INCUBATOR": 10000},
		Consortia: 4, Alliances: 19, ConsortiumMembers: 514, AllianceMembers: 2198, TalentsGathered: 863000, TalentsCultivated: 18000,
		TalentsAssessed: 150000, AssessingEntities: 3800, ConsortiumMemberships: 530, AllianceMemberships: 2410, TalentRecords: 12000, Programs: 2}
	m := newMarshaler()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = appendSummaryJSON(buf[:0], s)
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Marshal(s)
		}
	})
}
