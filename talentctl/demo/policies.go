package demo

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// The policies and the target of the data set: the report's "50+ pilot
// talent policies" and its target of 100 future-industry development
// platforms and leading enterprises.
const (
	// Policies is the number of talent policies.
	Policies = 60
	// PilotPolicies is the number of them marked pilot.
	PilotPolicies = 52
	// Targets is the number of targets.
	Targets = 1
	// PlatformsTarget is the target's name.
	PlatformsTarget = "targets/future-industry-platforms"
	// PlatformsGoal is its goal value.
	PlatformsGoal = 100
)

// policyTopics are what the policies are about; each policy takes one, in
// turn, with a future industry.
var policyTopics = []string{
	"Talent Green Card Services",
	"Housing Subsidies for Young Talents",
	"Enterprise-Led Talent Evaluation",
	"Industry-Education Integration Apprenticeships",
	"Overseas Talent Work Permits",
	"Postdoctoral Research Stations",
	"Skilled Craftsman Titles",
	"Start-up Grants for Returnees",
	"Talent Introduction Awards for Leading Enterprises",
	"Joint Appointments between Universities and Enterprises",
	"Children's Schooling for High-Level Talents",
	"Medical Care Services for High-Level Talents",
}

// policyIssuers are who issues policies of each level.
var policyIssuers = map[registryv1.PolicyLevel]string{
	registryv1.PolicyLevel_POLICY_LEVEL_NATIONAL:  "Ministry of Human Resources and Social Security",
	registryv1.PolicyLevel_POLICY_LEVEL_MUNICIPAL: "Tianjin Municipal Talent Work Leading Group",
	registryv1.PolicyLevel_POLICY_LEVEL_DISTRICT:  "Binhai New Area Talent Work Office",
}

// policies returns the data set's policies: the first PilotPolicies are
// the district's pilots (a few of them municipal), the rest national and
// municipal policies applied in the area. They refer to the programmes in
// turn: Kunpeng Plan, Haihe Talent, both, or neither.
func policies() []*registryv1.Policy {
	out := make([]*registryv1.Policy, Policies)
	start := time.Date(2021, 1, 15, 0, 0, 0, 0, time.UTC)
	for i := range out {
		pilot := i < PilotPolicies
		level := registryv1.PolicyLevel_POLICY_LEVEL_DISTRICT
		switch {
		case pilot && i%8 == 7:
			level = registryv1.PolicyLevel_POLICY_LEVEL_MUNICIPAL
		case !pilot && i%2 == 0:
			level = registryv1.PolicyLevel_POLICY_LEVEL_NATIONAL
		case !pilot:
			level = registryv1.PolicyLevel_POLICY_LEVEL_MUNICIPAL
		}
		industry := FutureIndustries[i%len(FutureIndustries)]
		var programs []string
		switch i % 4 {
		case 0:
			programs = []string{KunpengPlan}
		case 1:
			programs = []string{HaiheTalent}
		case 2:
			programs = []string{HaiheTalent, KunpengPlan}
		}
		kind := "Measures"
		if pilot {
			kind = "Pilot Measures"
		}
		out[i] = &registryv1.Policy{
			Name:       fmt.Sprintf("policies/policy-%02d", i+1),
			Title:      fmt.Sprintf("%s on %s (%s)", kind, policyTopics[i%len(policyTopics)], industryLabel(industry)),
			Issuer:     policyIssuers[level],
			Level:      level,
			IssueTime:  timestamppb.New(start.AddDate(0, i, 0)),
			Pilot:      pilot,
			Industries: []string{industry},
			Programs:   programs,
		}
	}
	return out
}

// targets returns the data set's target: 100 future-industry development
// platforms and leading enterprises by the end of 2027, across the whole
// ecosystem.
func targets() []*registryv1.Target {
	return []*registryv1.Target{{
		Name:        PlatformsTarget,
		DisplayName: "Future-industry platforms and leading enterprises",
		Metric:      registryv1.TargetMetric_TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES,
		GoalValue:   PlatformsGoal,
		Deadline:    timestamppb.New(time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)),
	}}
}

// industryLabel returns an industry's label.
func industryLabel(id string) string {
	for _, ind := range industries {
		if ind.id == id {
			return ind.label
		}
	}
	return id
}
