package demo

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
)

// figures are the summary figures recounted by hand from the resources, the
// way the metrics service must count them.
type figures struct {
	talentsGathered, talentsAssessed, talentsCultivated int64
	assessingEntities                                   int
	consortia, alliances                                int
	consortiumMembers, allianceMembers                  int
	consortiumMemberships, allianceMemberships          int
	sharedMembers                                       int
	maxAlliancesOfOneEntity                             int
}

func recount(d *Dataset) figures {
	var f figures
	kinds := map[string]registryv1.GroupKind{}
	for _, g := range d.Groups {
		kinds[g.Name] = g.Kind
		switch g.Kind {
		case registryv1.GroupKind_GROUP_KIND_CONSORTIUM:
			f.consortia++
		case registryv1.GroupKind_GROUP_KIND_ALLIANCE:
			f.alliances++
		}
	}
	inConsortium := map[string]bool{}
	alliancesOf := map[string]int{}
	for _, m := range d.Memberships {
		group := m.Name[:strings.Index(m.Name, "/memberships/")]
		switch kinds[group] {
		case registryv1.GroupKind_GROUP_KIND_CONSORTIUM:
			f.consortiumMemberships++
			inConsortium[m.Entity] = true
		case registryv1.GroupKind_GROUP_KIND_ALLIANCE:
			f.allianceMemberships++
			alliancesOf[m.Entity]++
		}
	}
	f.consortiumMembers = len(inConsortium)
	f.allianceMembers = len(alliancesOf)
	for e, n := range alliancesOf {
		f.maxAlliancesOfOneEntity = max(f.maxAlliancesOfOneEntity, n)
		if inConsortium[e] {
			f.sharedMembers++
		}
	}
	assessing := map[string]bool{}
	for _, r := range d.TalentRecords {
		switch r.Category {
		case registryv1.TalentCategory_TALENT_CATEGORY_GATHERED:
			f.talentsGathered += r.Count
		case registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED:
			f.talentsCultivated += r.Count
		case registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED:
			f.talentsAssessed += r.Count
			if strings.HasPrefix(r.Subject, "entities/") {
				assessing[r.Subject] = true
			}
		}
	}
	f.assessingEntities = len(assessing)
	return f
}

func TestGenerate_ReproducesTheReportFigures(t *testing.T) {
	got := recount(Generate())
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"talentsGathered", got.talentsGathered, 863_000},
		{"assessingEntities", int64(got.assessingEntities), 3_800},
		{"talentsAssessed", got.talentsAssessed, 150_000},
		{"consortia", int64(got.consortia), 4},
		{"consortiumMembers", int64(got.consortiumMembers), 514},
		{"talentsCultivated", got.talentsCultivated, 18_000},
		{"alliances", int64(got.alliances), 19},
		{"allianceMembers", int64(got.allianceMembers), 2_198},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// The exported constants are what the lead and the integration tests
	// assert against: they must be the report's figures.
	consts := []int64{TalentsGathered, AssessingEntities, TalentsAssessed, Consortia, ConsortiumMembers, TalentsCultivated, Alliances, AllianceMembers}
	if want := []int64{863_000, 3_800, 150_000, 4, 514, 18_000, 19, 2_198}; !slices.Equal(consts, want) {
		t.Errorf("figure constants = %v, want %v", consts, want)
	}
}

func TestGenerate_MembershipsExerciseDistinctness(t *testing.T) {
	got := recount(Generate())
	if got.consortiumMemberships == got.consortiumMembers {
		t.Errorf("consortium memberships = members = %d: no entity sits in two consortia", got.consortiumMembers)
	}
	if got.allianceMemberships == got.allianceMembers {
		t.Errorf("alliance memberships = members = %d: no entity sits in two alliances", got.allianceMembers)
	}
	if got.consortiumMemberships != ConsortiumMemberships || got.allianceMemberships != AllianceMemberships {
		t.Errorf("memberships = %d consortium, %d alliance; want %d, %d", got.consortiumMemberships, got.allianceMemberships, ConsortiumMemberships, AllianceMemberships)
	}
	if got.sharedMembers != SharedMembers || got.sharedMembers == 0 {
		t.Errorf("entities in both a consortium and an alliance = %d, want %d", got.sharedMembers, SharedMembers)
	}
	if got.maxAlliancesOfOneEntity < 3 {
		t.Errorf("the most alliances one entity is in = %d, want several (≥ 3)", got.maxAlliancesOfOneEntity)
	}
}

func TestGenerate_DerivedCounts(t *testing.T) {
	d := Generate()
	byKind := map[registryv1.EntityKind]int{}
	var leading, platform, either int
	for _, e := range d.Entities {
		byKind[e.Kind]++
		if e.LeadingEnterprise {
			leading++
		}
		if e.FutureIndustryPlatform {
			platform++
		}
		if e.LeadingEnterprise || e.FutureIndustryPlatform {
			either++
		}
	}
	records := map[registryv1.TalentCategory]int{}
	for _, r := range d.TalentRecords {
		records[r.Category]++
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"programs", len(d.Programs), Programs},
		{"entities", len(d.Entities), Entities},
		{"universities", byKind[registryv1.EntityKind_ENTITY_KIND_UNIVERSITY], Universities},
		{"research institutes", byKind[registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE], ResearchInstitutes},
		{"incubators", byKind[registryv1.EntityKind_ENTITY_KIND_INCUBATOR], Incubators},
		{"enterprises", byKind[registryv1.EntityKind_ENTITY_KIND_ENTERPRISE], Enterprises},
		{"groups", len(d.Groups), Groups},
		{"memberships", len(d.Memberships), Memberships},
		{"leading enterprises", leading, LeadingEnterprises},
		{"future-industry platforms", platform, FutureIndustryPlatforms},
		{"platforms or leading enterprises", either, PlatformsOrLeadingEnterprises},
		{"gathered records", records[registryv1.TalentCategory_TALENT_CATEGORY_GATHERED], GatheredRecords},
		{"assessed records", records[registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED], AssessedRecords},
		{"cultivated records", records[registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED], CultivatedRecords},
		{"talent records", len(d.TalentRecords), TalentRecords},
		{"items", len(d.Resources()), Items},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if both := leading + platform - either; both == 0 || both == platform {
		t.Errorf("%d entities are both leading and a platform; want some, not all", both)
	}
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// TestGenerate_Valid checks every rule the registry enforces on input, and
// that every reference resolves, so the whole set imports without errors.
func TestGenerate_Valid(t *testing.T) {
	d := Generate()
	id := func(name, collection string) string {
		rest, ok := strings.CutPrefix(name, collection+"/")
		if !ok || !idPattern.MatchString(rest) {
			t.Errorf("name %q: want %s/{id} with id matching %s", name, collection, idPattern)
		}
		return rest
	}
	programs := map[string]bool{}
	for _, p := range d.Programs {
		id(p.Name, "programs")
		programs[p.Name] = true
	}
	entities, codes, displayNames := map[string]bool{}, map[string]bool{}, map[string]bool{}
	regions := map[string]int{}
	industriesUsed := map[string]bool{}
	for _, e := range d.Entities {
		id(e.Name, "entities")
		if entities[e.Name] {
			t.Errorf("duplicate entity %s", e.Name)
		}
		entities[e.Name] = true
		if n := len(e.DisplayName); n < 1 || n > 200 || displayNames[e.DisplayName] {
			t.Errorf("%s: display name %q empty, too long or not unique", e.Name, e.DisplayName)
		}
		displayNames[e.DisplayName] = true
		if err := registry.CheckCreditCode(e.CreditCode); err != nil || codes[e.CreditCode] {
			t.Errorf("%s: credit code %q invalid (%v) or not unique", e.Name, e.CreditCode, err)
		}
		codes[e.CreditCode] = true
		if !slices.Contains(Regions, e.Region) {
			t.Errorf("%s: region %q not one of %v", e.Name, e.Region, Regions)
		}
		regions[e.Region]++
		// The code's administrative division lies in the entity's region.
		if division := map[string]string{"Binhai": "120116", "Tianjin": "12", "Beijing": "11", "Hebei": "13"}[e.Region]; !strings.HasPrefix(e.CreditCode[2:], division) {
			t.Errorf("%s in %s: credit code %s has division %s", e.Name, e.Region, e.CreditCode, e.CreditCode[2:8])
		}
		if len(e.Industries) == 0 || len(e.Industries) > 32 {
			t.Errorf("%s: %d industries, want 1-32", e.Name, len(e.Industries))
		}
		seen := map[string]bool{}
		for _, ind := range e.Industries {
			if !idPattern.MatchString(ind) || seen[ind] {
				t.Errorf("%s: industry %q malformed or repeated", e.Name, ind)
			}
			seen[ind] = true
			industriesUsed[ind] = true
		}
		if e.Kind == registryv1.EntityKind_ENTITY_KIND_UNSPECIFIED {
			t.Errorf("%s: kind unspecified", e.Name)
		}
	}
	for _, r := range Regions {
		if regions[r] == 0 {
			t.Errorf("no entity in region %s", r)
		}
	}
	for _, f := range FutureIndustries {
		if !industriesUsed[f] {
			t.Errorf("no entity in future industry %s", f)
		}
	}
	groups := map[string]*registryv1.Group{}
	for _, g := range d.Groups {
		id(g.Name, "groups")
		if !idPattern.MatchString(g.Field) {
			t.Errorf("%s: field %q malformed", g.Name, g.Field)
		}
		groups[g.Name] = g
	}
	for _, want := range []string{"groups/consortium-information-innovation", "groups/consortium-biomedicine", "groups/consortium-high-end-equipment", "groups/consortium-digital-economy"} {
		if g := groups[want]; g == nil || g.Kind != registryv1.GroupKind_GROUP_KIND_CONSORTIUM {
			t.Errorf("consortium %s missing", want)
		}
	}
	for _, want := range []string{"groups/alliance-aerospace", "groups/alliance-financial-leasing"} {
		if g := groups[want]; g == nil || g.Kind != registryv1.GroupKind_GROUP_KIND_ALLIANCE {
			t.Errorf("alliance %s missing", want)
		}
	}
	leads, members := map[string]int{}, map[string]int{}
	names := map[string]bool{}
	for _, m := range d.Memberships {
		group, entity, ok := strings.Cut(m.Name, "/memberships/")
		if !ok || groups[group] == nil || m.Entity != "entities/"+entity || !entities[m.Entity] || names[m.Name] {
			t.Errorf("membership %s (entity %s): bad name, dangling reference or duplicate", m.Name, m.Entity)
		}
		names[m.Name] = true
		members[group]++
		if m.Role == registryv1.MembershipRole_MEMBERSHIP_ROLE_LEAD {
			leads[group]++
		}
		if m.JoinTime == nil {
			t.Errorf("%s: no join time", m.Name)
		}
	}
	for g := range groups {
		if members[g] == 0 || leads[g] != 1 {
			t.Errorf("%s: %d members, %d leads; want some members and one lead", g, members[g], leads[g])
		}
	}
	period := regexp.MustCompile(`^2024(-0[1-6])?$`)
	programUsed := map[string]bool{}
	for _, r := range d.TalentRecords {
		id(r.Name, "talentRecords")
		if names[r.Name] {
			t.Errorf("duplicate record %s", r.Name)
		}
		names[r.Name] = true
		if !entities[r.Subject] && groups[r.Subject] == nil {
			t.Errorf("%s: subject %s does not exist", r.Name, r.Subject)
		}
		if r.Count <= 0 {
			t.Errorf("%s: count %d", r.Name, r.Count)
		}
		if r.Program != "" && !programs[r.Program] {
			t.Errorf("%s: program %s does not exist", r.Name, r.Program)
		}
		programUsed[r.Program] = true
		if !period.MatchString(r.Period) {
			t.Errorf("%s: period %q", r.Name, r.Period)
		}
		if r.Category == registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED && strings.HasPrefix(r.Subject, "entities/") {
			if !slices.ContainsFunc(d.Memberships, func(m *registryv1.Membership) bool {
				return m.Entity == r.Subject && groups[m.Name[:strings.Index(m.Name, "/memberships/")]].Kind == registryv1.GroupKind_GROUP_KIND_CONSORTIUM
			}) {
				t.Errorf("%s: cultivated by %s, which is in no consortium", r.Name, r.Subject)
			}
		}
	}
	if !programUsed[HaiheTalent] || !programUsed[KunpengPlan] {
		t.Errorf("programmes referenced: %v, want both", programUsed)
	}
}

// goldenDigest fingerprints the data set. It changes only when the
// generator changes on purpose; then update it here.
const goldenDigest = "5ff1da80b5a8b2d82cd5a34a5064a1c78fd1369f3a91d92c27566ba88964bed3"

func TestGenerate_Deterministic(t *testing.T) {
	a, b := Generate().Resources(), Generate().Resources()
	if len(a) != len(b) {
		t.Fatalf("two runs: %d and %d items", len(a), len(b))
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			t.Fatalf("item %d differs between runs:\n%v\n%v", i, a[i], b[i])
		}
	}
	// A digest over a hand-written text form (not proto encodings, whose
	// bytes may vary between library versions) pins the output across
	// processes and releases.
	h := sha256.New()
	for _, r := range a {
		switch x := r.Resource.(type) {
		case *registryv1.Resource_Program:
			fmt.Fprintln(h, x.Program.Name, x.Program.DisplayName, x.Program.Level)
		case *registryv1.Resource_Entity:
			e := x.Entity
			fmt.Fprintln(h, e.Name, e.DisplayName, e.Kind, e.CreditCode, e.Region, e.Industries, e.LeadingEnterprise, e.FutureIndustryPlatform)
		case *registryv1.Resource_Group:
			fmt.Fprintln(h, x.Group.Name, x.Group.DisplayName, x.Group.Kind, x.Group.Field)
		case *registryv1.Resource_Membership:
			m := x.Membership
			fmt.Fprintln(h, m.Name, m.Entity, m.Role, m.JoinTime.AsTime().Unix())
		case *registryv1.Resource_TalentRecord:
			r := x.TalentRecord
			fmt.Fprintln(h, r.Name, r.Subject, r.Category, r.Count, r.Program, r.Period)
		}
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != goldenDigest {
		t.Errorf("data set digest = %s, want %s (update goldenDigest if the change is intended)", got, goldenDigest)
	}
}

func ExampleGenerate() {
	d := Generate()
	fmt.Println(len(d.Entities), "entities,", len(d.Groups), "groups,", len(d.Memberships), "memberships,", len(d.TalentRecords), "talent records")
	fmt.Println(d.Groups[4].DisplayName)
	// Output:
	// 5000 entities, 23 groups, 3362 memberships, 7566 talent records
	// Binhai Aerospace Industry Talent Alliance
}

// TestGenerate_PoliciesAndTarget: the report's "50+ pilot talent
// policies" and its target of 100 future-industry development platforms
// and leading enterprises, each policy referring only to the data set's
// programmes.
func TestGenerate_PoliciesAndTarget(t *testing.T) {
	d := Generate()
	pilots := 0
	names := map[string]bool{}
	for _, p := range d.Policies {
		if p.GetPilot() {
			pilots++
		}
		if names[p.GetName()] || p.GetTitle() == "" || p.GetLevel() == 0 {
			t.Errorf("policy %v: duplicate or incomplete", p)
		}
		names[p.GetName()] = true
		for _, prog := range p.GetPrograms() {
			if prog != HaiheTalent && prog != KunpengPlan {
				t.Errorf("policy %s names %s", p.GetName(), prog)
			}
		}
	}
	if len(d.Policies) != Policies || pilots != PilotPolicies || PilotPolicies < 50 {
		t.Errorf("%d policies, %d pilot; want %d, %d (50+)", len(d.Policies), pilots, Policies, PilotPolicies)
	}
	if len(d.Targets) != 1 || d.Targets[0].GetGoalValue() != 100 ||
		d.Targets[0].GetMetric() != registryv1.TargetMetric_TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES || d.Targets[0].GetScope() != "" {
		t.Errorf("targets = %v", d.Targets)
	}
	if n := len(d.Resources()); n != Items {
		t.Errorf("Resources returns %d, Items is %d", n, Items)
	}
}
