package registry

import (
	"strings"
	"testing"
	"time"
)

// TestValidate_OfficeResources: each bad value of a target, a policy or a
// lifecycle is refused naming its field and rule; the good ones pass.
func TestValidate_OfficeResources(t *testing.T) {
	day := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	target := func(f func(*Target)) Resource {
		x := &Target{ID: "t", DisplayName: "T", Metric: TargetMetricPlatformsOrLeadingEnterprises, GoalValue: 100}
		f(x)
		return x
	}
	policy := func(f func(*Policy)) Resource {
		x := &Policy{ID: "p", Title: "P", Level: PolicyLevelDistrict, Programs: []string{"programs/haihe"}}
		f(x)
		return x
	}
	entity := func(f func(*Entity)) Resource {
		x := &Entity{ID: "e", DisplayName: "E", Kind: EntityKindEnterprise}
		f(x)
		return x
	}
	membership := func(f func(*Membership)) Resource {
		x := &Membership{GroupID: "g", EntityID: "e", Role: MembershipRoleMember, JoinTime: day.AddDate(-1, 0, 0)}
		f(x)
		return x
	}
	for _, tc := range []struct {
		name  string
		r     Resource
		field string // "" when valid
		says  string
	}{
		{"a target", target(func(*Target) {}), "", ""},
		{"a scoped target", target(func(x *Target) { x.Scope = "groups/g"; x.Deadline = day }), "", ""},
		{"goal zero", target(func(x *Target) { x.GoalValue = 0 }), "t.goal_value", "between 1 and"},
		{"goal negative", target(func(x *Target) { x.GoalValue = -5 }), "t.goal_value", "between 1 and"},
		{"no metric", target(func(x *Target) { x.Metric = 0 }), "t.metric", "is required: one of TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES"},
		{"unknown metric", target(func(x *Target) { x.Metric = 42 }), "t.metric", "unknown value 42"},
		{"scope of an entity", target(func(x *Target) { x.Scope = "entities/e" }), "t.scope", "groups/{group}"},
		{"scope a bare id", target(func(x *Target) { x.Scope = "g" }), "t.scope", "groups/{group}"},
		{"deadline out of range", target(func(x *Target) { x.Deadline = time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC) }), "t.deadline", "1900-2200"},
		{"a policy", policy(func(*Policy) {}), "", ""},
		{"no title", policy(func(x *Policy) { x.Title = " " }), "t.title", "blank"},
		{"no level", policy(func(x *Policy) { x.Level = 0 }), "t.level", "POLICY_LEVEL_NATIONAL"},
		{"programme not a name", policy(func(x *Policy) { x.Programs = []string{"haihe"} }), "t.programs[0]", "programs/{id}"},
		{"programme twice", policy(func(x *Policy) { x.Programs = []string{"programs/a", "programs/a"} }), "t.programs[1]", "duplicate"},
		{"bad industry", policy(func(x *Policy) { x.Industries = []string{"Aero Space"} }), "t.industries[0]", "industry id"},
		{"an ended entity", entity(func(x *Entity) { x.Status, x.EndTime = LifecycleWithdrawn, day }), "", ""},
		{"ended without a time (the store fills it)", entity(func(x *Entity) { x.Status = LifecycleInactive }), "", ""},
		{"unspecified means active", entity(func(x *Entity) { x.Status = LifecycleUnspecified }), "", ""},
		{"end time while active", entity(func(x *Entity) { x.Status, x.EndTime = LifecycleActive, day }), "t.end_time", "unset while status is LIFECYCLE_STATUS_ACTIVE"},
		{"end time without a status", entity(func(x *Entity) { x.EndTime = day }), "t.end_time", "unset while status"},
		{"unknown status", entity(func(x *Entity) { x.Status = 7 }), "t.status", "unknown value 7"},
		{"negative status", entity(func(x *Entity) { x.Status = -1 }), "t.status", "unknown value -1"},
		{"a withdrawn membership", membership(func(x *Membership) { x.Status, x.EndTime = LifecycleWithdrawn, day }), "", ""},
		{"ended before joining", membership(func(x *Membership) { x.Status, x.EndTime = LifecycleWithdrawn, day.AddDate(-2, 0, 0) }), "t.end_time", "not be before join_time"},
		{"end time out of range", membership(func(x *Membership) {
			x.Status, x.EndTime = LifecycleWithdrawn, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
		}), "t.end_time", "1900-2200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate("t.")
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorCode(err) != CodeInvalidArgument || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want INVALID_ARGUMENT on %s saying %q", err, tc.field, tc.says)
			}
		})
	}
}

// TestLifecycle_Settle: defaults at commit time, and reactivation drops
// the stored end.
func TestLifecycle_Settle(t *testing.T) {
	now := time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC)
	end := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		l    Lifecycle
		prev *Lifecycle
		want Lifecycle
	}{
		{"unspecified is active", Lifecycle{}, nil, Lifecycle{Status: LifecycleActive}},
		{"withdrawn ends now", Lifecycle{Status: LifecycleWithdrawn}, nil, Lifecycle{Status: LifecycleWithdrawn, EndTime: now}},
		{"a given end stays", Lifecycle{Status: LifecycleInactive, EndTime: end}, nil, Lifecycle{Status: LifecycleInactive, EndTime: end}},
		{"reactivated", Lifecycle{Status: LifecycleActive, EndTime: end}, &Lifecycle{Status: LifecycleWithdrawn, EndTime: end}, Lifecycle{Status: LifecycleActive}},
		{"active with a new end is left for Validate", Lifecycle{Status: LifecycleActive, EndTime: now}, &Lifecycle{Status: LifecycleWithdrawn, EndTime: end}, Lifecycle{Status: LifecycleActive, EndTime: now}},
	} {
		l := tc.l
		l.Settle(tc.prev, now)
		if l != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, l, tc.want)
		}
	}
}
