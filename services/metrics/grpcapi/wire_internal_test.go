package grpcapi

import (
	"reflect"
	"testing"

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
