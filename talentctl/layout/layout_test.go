package layout

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/google/go-cmp/cmp"

	"talentreg/talentctl/demo"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// row makes a get function from column=value pairs.
func row(pairs ...string) func(string) (string, bool) {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return func(c string) (string, bool) { v, ok := m[c]; return v, ok }
}

func TestResource_Maps(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  func(string) (string, bool)
		want *registryv1.Resource
	}{
		{"program", row("type=Programme", "id=haihe-talent", "display_name=Haihe Talent", "level=municipal"),
			&registryv1.Resource{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{Name: "programs/haihe-talent", DisplayName: "Haihe Talent", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL}}}},
		{"entity", row("type=entities", "id=entities/acme", "display_name= Acme Co., Ltd. ", "kind=Research Institute", "credit_code=91350100M000100Y43",
			"region=Binhai", "industries=aerospace; deep-sea;", "leading_enterprise=yes", "future_industry_platform=0", "role="),
			&registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{Name: "entities/acme", DisplayName: "Acme Co., Ltd.",
				Kind: registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE, CreditCode: "91350100M000100Y43", Region: "Binhai",
				Industries: []string{"aerospace", "deep-sea"}, LeadingEnterprise: true}}}},
		{"group", row("type=GROUP", "id=alliance-aerospace", "display_name=Aerospace Alliance", "kind=GROUP_KIND_ALLIANCE", "field=aerospace"),
			&registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{Name: "groups/alliance-aerospace", DisplayName: "Aerospace Alliance", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE, Field: "aerospace"}}}},
		{"membership", row("type=membership", "group=alliance-aerospace", "entity=entities/acme", "role=lead", "join_time=2021-03-04"),
			&registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: "groups/alliance-aerospace/memberships/acme", Entity: "entities/acme",
				Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD, JoinTime: mustTime(t, "2021-03-04T00:00:00Z")}}}},
		{"talent record", row("type=talent-record", "id=r1", "subject=groups/alliance-aerospace", "category=Gathered", "count=1200", "program=kunpeng-plan", "period=2024-06"),
			&registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: &registryv1.TalentRecord{Name: "talentRecords/r1", Subject: "groups/alliance-aerospace",
				Category: registryv1.TalentCategory_TALENT_CATEGORY_GATHERED, Count: 1200, Program: "programs/kunpeng-plan", Period: "2024-06"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resource(tc.row)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Resource() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestItem_Masks: an import row sets the fields of the columns it has, an
// empty value included, and no others; the rules of a column it lacks are
// the registry's (a required kind is not demanded here); a row with every
// column of its type is written whole.
func TestItem_Masks(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  func(string) (string, bool)
		mask []string // nil: whole
	}{
		{"a region column alone", row("type=entity", "id=acme", "region=Hebei"), []string{"region"}},
		{"an empty value is present", row("type=entity", "id=acme", "region=", "leading_enterprise="), []string{"region", "leading_enterprise"}},
		{"no field columns", row("type=entity", "id=acme"), []string{}},
		{"columns of other types do not count", row("type=entity", "id=acme", "display_name=A", "role=", "count="), []string{"display_name"}},
		{"every entity column", row("type=entity", "id=acme", "display_name=A", "kind=other", "credit_code=", "region=", "industries=", "leading_enterprise=", "future_industry_platform=", "status=", "end_time="), nil},
		{"a file from before lifecycles keeps the stored status", row("type=entity", "id=acme", "display_name=A", "kind=other", "credit_code=", "region=", "industries=", "leading_enterprise=", "future_industry_platform="),
			[]string{"display_name", "kind", "credit_code", "region", "industries", "leading_enterprise", "future_industry_platform"}},
		{"a membership withdrawn", row("type=membership", "group=g", "entity=acme", "status=withdrawn", "end_time=2024-06-30"), []string{"status", "end_time"}},
		{"a policy's pilot flag", row("type=policy", "id=p1", "pilot=true"), []string{"pilot"}},
		{"a target's goal", row("type=target", "id=t", "goal_value=120"), []string{"goal_value"}},
		{"membership role only", row("type=membership", "group=g", "entity=acme", "role=member"), []string{"role"}},
		{"talent record count only", row("type=talent_record", "id=r1", "count=5"), []string{"count"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, mask, err := Item(tc.row)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mask == nil {
				if mask != nil {
					t.Fatalf("mask %v, want none (whole)", mask.GetPaths())
				}
				return
			}
			if mask == nil || !slices.Equal(mask.GetPaths(), tc.mask) {
				t.Fatalf("mask %v, want %v", mask, tc.mask)
			}
		})
	}
	// A present column still follows its rules; identity columns too.
	for _, r := range []func(string) (string, bool){
		row("type=entity", "id=acme", "kind="),
		row("type=talent_record", "id=r1", "count=many"),
		row("type=membership", "group=g", "role=lead"),
	} {
		if _, _, err := Item(r); err == nil {
			t.Errorf("Item accepted a bad row")
		}
	}
}

func mustTime(t *testing.T, s string) *timestamppb.Timestamp {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return timestamppb.New(tm)
}

func TestResource_Errors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		row    func(string) (string, bool)
		column string
		says   string
	}{
		{"no type", row("id=a"), "type", "required"},
		{"unknown type", row("type=company", "id=a"), "type", "unknown type"},
		{"bad id", row("type=entity", "id=Acme Co", "kind=enterprise"), "id", "not an id"},
		{"wrong collection", row("type=entity", "id=groups/x", "kind=enterprise"), "id", "not an id"},
		{"unknown enum", row("type=entity", "id=a", "kind=company"), "kind", "want one of enterprise, incubator, other, research_institute, university"},
		{"unspecified enum", row("type=entity", "id=a", "kind=unspecified"), "kind", "unknown value"},
		{"missing enum", row("type=group", "id=a"), "kind", "required"},
		{"bad boolean", row("type=entity", "id=a", "kind=other", "leading_enterprise=maybe"), "leading_enterprise", "not a boolean"},
		{"column of another type", row("type=entity", "id=a", "kind=other", "role=lead"), "role", "does not apply to type entity"},
		{"count not a number", row("type=talent_record", "id=r", "subject=entities/a", "category=assessed", "count=1,200"), "count", "not a whole number"},
		{"count missing", row("type=talent_record", "id=r", "subject=entities/a", "category=assessed"), "count", "required"},
		{"bare subject", row("type=talent_record", "id=r", "subject=acme", "category=assessed", "count=1"), "subject", "want entities/{id} or groups/{id}"},
		{"membership id differs", row("type=membership", "id=b", "group=g", "entity=a", "role=member"), "id", "its entity's id"},
		{"membership without group", row("type=membership", "entity=a", "role=member"), "group", "required"},
		{"bad join time", row("type=membership", "group=g", "entity=a", "role=member", "join_time=March 2021"), "join_time", "not a date"},
		{"unknown status", row("type=entity", "id=a", "kind=other", "status=closed"), "status", "want one of active, inactive, withdrawn"},
		{"bad end time", row("type=membership", "group=g", "entity=a", "role=member", "status=withdrawn", "end_time=last year"), "end_time", "not a date"},
		{"status of a group", row("type=group", "id=g", "kind=alliance", "status=withdrawn"), "status", "does not apply to type group"},
		{"unknown metric", row("type=target", "id=t", "display_name=T", "metric=talents", "goal_value=1"), "metric", "want one of"},
		{"goal not a number", row("type=target", "id=t", "display_name=T", "metric=entities", "goal_value=lots"), "goal_value", "not a whole number"},
		{"bad scope", row("type=target", "id=t", "display_name=T", "metric=entities", "goal_value=1", "scope=entities/x"), "scope", "not an id"},
		{"bad programme", row("type=policy", "id=p", "title=P", "level=district", "programs=haihe;Kunpeng Plan"), "programs", "not an id"},
		{"programme level for a policy", row("type=policy", "id=p", "title=P", "level=province"), "level", "want one of district, municipal, national"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resource(tc.row)
			fe, ok := err.(*FieldError)
			if !ok || fe.Column != tc.column || !strings.Contains(fe.Message, tc.says) {
				t.Errorf("err = %v, want a FieldError on %s saying %q", err, tc.column, tc.says)
			}
		})
	}
}

// TestValues_RoundTripsTheDemo writes every demo resource as a row and
// reads it back: export and import agree on every field.
func TestValues_RoundTripsTheDemo(t *testing.T) {
	for i, want := range demo.Generate().Resources() {
		vals := Values(want)
		got, err := Resource(func(col string) (string, bool) {
			for j, c := range Columns {
				if c == col {
					return vals[j], true
				}
			}
			return "", false
		})
		if err != nil {
			t.Fatalf("item %d (%v): %v", i, want, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("item %d: round trip\n got %v\nwant %v", i, got, want)
		}
	}
}

// TestValues_RoundTripsLifecycles: ended entities and memberships, to the
// nanosecond, and policies and targets with every field.
func TestValues_RoundTripsLifecycles(t *testing.T) {
	end := timestamppb.New(time.Date(2024, 6, 30, 12, 0, 0, 123456789, time.UTC))
	for _, want := range []*registryv1.Resource{
		{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{Name: "entities/a", DisplayName: "A", Kind: registryv1.EntityKind_ENTITY_KIND_OTHER,
			Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_INACTIVE, EndTime: end}}},
		{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: "groups/g/memberships/a", Entity: "entities/a",
			Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER, JoinTime: mustTime(t, "2020-01-01T00:00:00Z"),
			Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_WITHDRAWN, EndTime: end}}},
		{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{Name: "policies/p", Title: "P", Issuer: "Office",
			Level: registryv1.PolicyLevel_POLICY_LEVEL_NATIONAL, IssueTime: end, Pilot: true, Industries: []string{"aerospace", "deep-sea"},
			Programs: []string{"programs/haihe", "programs/kunpeng"}}}},
		{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{Name: "targets/t", DisplayName: "T",
			Metric: registryv1.TargetMetric_TARGET_METRIC_GROUP_MEMBERS, GoalValue: 100, Scope: "groups/g", Deadline: end}}},
	} {
		vals := Values(want)
		got, err := Resource(func(col string) (string, bool) {
			return vals[slices.Index(Columns, col)], true
		})
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("round trip of %v: %v, %v", want, got, err)
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"program": Program, "Programmes": Program, "ENTITY": Entity, "entities": Entity, "group": Group,
		"Memberships": Membership, "talent_record": TalentRecord, "Talent Records": TalentRecord, "talentRecord": TalentRecord} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "acme-2": true, strings.Repeat("a", 63): true,
		"": false, "2a": false, "-a": false, "Acme": false, "a_b": false, "a b": false, strings.Repeat("a", 64): false} {
		if got := validID(s); got != want {
			t.Errorf("validID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestColumnOf(t *testing.T) {
	for in, want := range map[string]string{
		"items[3].entity.credit_code": "credit_code",
		"entity.credit_code":          "credit_code",
		"talent_record.name":          "id",
		"entity.industries[2]":        "industries",
		"membership.entity":           "entity",
		"":                            "",
		"something.odd":               "something.odd",
	} {
		if got := ColumnOf(in); got != want {
			t.Errorf("ColumnOf(%q) = %q, want %q", in, got, want)
		}
	}
}
