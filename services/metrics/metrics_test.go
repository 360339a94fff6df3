package metrics_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"talentreg/services/metrics"
)

func TestParseDimension(t *testing.T) {
	for _, d := range metrics.Dimensions {
		got, err := metrics.ParseDimension(string(d))
		if err != nil || got != d {
			t.Errorf("ParseDimension(%q) = %q, %v", d, got, err)
		}
	}
	for _, bad := range []string{"", "EntityKind", "entity_kind", "colour"} {
		_, err := metrics.ParseDimension(bad)
		var e *metrics.Error
		if err == nil || metrics.ErrorCode(err) != metrics.CodeInvalidArgument {
			t.Fatalf("ParseDimension(%q) = %v, want CodeInvalidArgument", bad, err)
		}
		e = err.(*metrics.Error)
		if len(e.Violations) != 1 || e.Violations[0].Field != "dimension" ||
			!strings.Contains(e.Message, "entityKind, region, industry, groupField, program, period") {
			t.Errorf("ParseDimension(%q): %+v does not name the field and the valid values", bad, e)
		}
	}
}

// TestParseDimension_ClipsTheName: a dimension name of a megabyte makes an
// error message of a few hundred bytes (it used to quote it whole).
func TestParseDimension_ClipsTheName(t *testing.T) {
	_, err := metrics.ParseDimension(strings.Repeat("d", 1<<20))
	e, ok := err.(*metrics.Error)
	if !ok || len(e.Message) > 512 || len(e.Violations[0].Description) > 512 || !strings.Contains(e.Message, "(1048576 bytes)") {
		t.Fatalf("error of %d bytes: %.300s", len(err.Error()), err)
	}
}

func figures() metrics.Figures {
	return metrics.Figures{
		Revision: 7,
		Summary:  metrics.Summary{Revision: 7, Entities: 3, EntitiesByKind: map[string]int64{"ENTITY_KIND_UNIVERSITY": 3}},
		Breakdowns: map[metrics.Dimension][]metrics.Row{
			metrics.DimensionRegion: {{Key: "Beijing", Entities: 2}, {Key: "Hebei", Entities: 1}},
		},
		Groups: map[string]metrics.GroupStats{
			"groups/a": {Name: "groups/a", Kind: "GROUP_KIND_ALLIANCE", Members: 2,
				MembersByKind: map[string]int64{"ENTITY_KIND_UNIVERSITY": 2}},
		},
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *metrics.Figures)
		want   []string
	}{
		{"equal", func(*metrics.Figures) {}, nil},
		{"revision", func(f *metrics.Figures) { f.Revision = 8 }, []string{"revision: live 7, recount 8"}},
		{"summary figure", func(f *metrics.Figures) { f.Summary.AllianceMembers = 4 },
			[]string{"summary.alliance_members: live 0, recount 4"}},
		{"summary map", func(f *metrics.Figures) { f.Summary.EntitiesByKind = map[string]int64{"ENTITY_KIND_OTHER": 3} },
			[]string{
				"summary.entities_by_kind[ENTITY_KIND_OTHER]: live 0, recount 3",
				"summary.entities_by_kind[ENTITY_KIND_UNIVERSITY]: live 3, recount 0",
			}},
		{"row value", func(f *metrics.Figures) {
			f.Breakdowns[metrics.DimensionRegion] = []metrics.Row{{Key: "Beijing", Entities: 2}, {Key: "Hebei", Entities: 5}}
		}, []string{`breakdown region["Hebei"].entities: live 1, recount 5`}},
		{"row missing", func(f *metrics.Figures) {
			f.Breakdowns[metrics.DimensionRegion] = []metrics.Row{{Key: "Beijing", Entities: 2}}
		}, []string{`breakdown region["Hebei"].entities: live 1, recount 0`}},
		{"group missing", func(f *metrics.Figures) { f.Groups = nil },
			[]string{"group groups/a: in live, missing from recount"}},
		{"group kind", func(f *metrics.Figures) {
			g := f.Groups["groups/a"]
			g.Kind = "GROUP_KIND_CONSORTIUM"
			f.Groups = map[string]metrics.GroupStats{"groups/a": g}
		}, []string{`group groups/a: live kind GROUP_KIND_ALLIANCE field "", recount kind GROUP_KIND_CONSORTIUM field ""`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recount := figures()
			tc.change(&recount)
			if got := metrics.Diff(figures(), recount); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRow_IsZero(t *testing.T) {
	if !(metrics.Row{Key: "x"}).IsZero() || (metrics.Row{TalentRecords: 1}).IsZero() {
		t.Fatal("IsZero must ignore the key and look at every figure")
	}
}

// ExampleDiff shows what a verification reports when a figure differs.
func ExampleDiff() {
	live := metrics.Figures{Revision: 42, Summary: metrics.Summary{AllianceMembers: 2198}}
	recount := metrics.Figures{Revision: 42, Summary: metrics.Summary{AllianceMembers: 2199}}
	for _, d := range metrics.Diff(live, recount) {
		fmt.Println(d)
	}
	// Output: summary.alliance_members: live 2198, recount 2199
}
