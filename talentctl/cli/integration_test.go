package cli

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"talentreg/talentctl/demo"
	"talentreg/talentctl/internal/stack"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

// TestDemo_ReferenceFiguresAndIdempotence builds the registry and metrics
// binaries, runs them as processes with fresh databases, loads the demo
// data set twice with `talentctl demo` and checks every summary figure and
// that the second run changed nothing.
func TestDemo_ReferenceFiguresAndIdempotence(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	met := stack.Metrics(t, reg.Addr)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr, "TALENTREG_METRICS": met.Addr}

	first := run(t, env, "demo", "-o", "json")
	first.want(t, ExitOK, "demo data set loaded: "+strconv.Itoa(demo.Items)+" created, 0 updated, 0 unchanged")
	s := summaryOf(t, first.stdout)
	assertReferenceFigures(t, s)
	if strings.Contains(first.stderr, "differs") {
		t.Errorf("demo reported a difference on a fresh registry:\n%s", first.stderr)
	}

	second := run(t, env, "demo", "-o", "json")
	second.want(t, ExitOK, "demo data set loaded: 0 created, 0 updated, "+strconv.Itoa(demo.Items)+" unchanged; registry revision "+strconv.FormatInt(s.Revision, 10))
	if again := summaryOf(t, second.stdout); !proto.Equal(again, s) {
		t.Errorf("second run changed the summary:\nfirst  %v\nsecond %v", s, again)
	}

	// The same figures as aligned tables.
	r := run(t, env, "summary")
	r.want(t, ExitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	col := strings.Index(lines[0], "VALUE")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("summary value not aligned under VALUE (column %d): %q", col, l)
		}
	}
	for _, want := range []string{"talents gathered", "863000", "alliance members", "2198"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary table lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, env, "breakdown", "region")
	r.want(t, ExitOK)
	var entities int64
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")[1:]
	for _, l := range rows {
		n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
		entities += n
	}
	if len(rows) != len(demo.Regions) || entities != demo.Entities {
		t.Errorf("breakdown region: %d rows, %d entities; want %d, %d:\n%s", len(rows), entities, len(demo.Regions), demo.Entities, r.stdout)
	}
	r = run(t, env, "stats", "alliance-aerospace", "-o", "json")
	r.want(t, ExitOK)
	if !strings.Contains(r.stdout, `"TALENT_CATEGORY_ASSESSED"`) {
		t.Errorf("stats -o json:\n%s", r.stdout)
	}
}

// assertReferenceFigures checks every figure of DESIGN.md's table, and the
// data set's own counts, in a summary.
func assertReferenceFigures(t *testing.T, s *metricsv1.GetSummaryResponse) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"talentsGathered", s.TalentsGathered, 863_000},
		{"assessingEntities", s.AssessingEntities, 3_800},
		{"talentsAssessed", s.TalentsAssessed, 150_000},
		{"consortia", s.Consortia, 4},
		{"consortiumMembers", s.ConsortiumMembers, 514},
		{"talentsCultivated", s.TalentsCultivated, 18_000},
		{"alliances", s.Alliances, 19},
		{"allianceMembers", s.AllianceMembers, 2_198},
		{"consortiumMemberships", s.ConsortiumMemberships, demo.ConsortiumMemberships},
		{"allianceMemberships", s.AllianceMemberships, demo.AllianceMemberships},
		{"entities", s.Entities, demo.Entities},
		{"leadingEnterprises", s.LeadingEnterprises, demo.LeadingEnterprises},
		{"futureIndustryPlatforms", s.FutureIndustryPlatforms, demo.FutureIndustryPlatforms},
		{"platformsOrLeadingEnterprises", s.PlatformsOrLeadingEnterprises, demo.PlatformsOrLeadingEnterprises},
		{"talentRecords", s.TalentRecords, demo.TalentRecords},
		{"programs", s.Programs, demo.Programs},
		{"revision", s.Revision, demo.Items},
	} {
		if f.got != f.want {
			t.Errorf("summary %s = %d, want %d", f.name, f.got, f.want)
		}
	}
	for kind, want := range map[string]int64{"ENTITY_KIND_UNIVERSITY": demo.Universities, "ENTITY_KIND_RESEARCH_INSTITUTE": demo.ResearchInstitutes, "ENTITY_KIND_INCUBATOR": demo.Incubators, "ENTITY_KIND_ENTERPRISE": demo.Enterprises} {
		if got := s.EntitiesByKind[kind]; got != want {
			t.Errorf("summary entitiesByKind[%s] = %d, want %d", kind, got, want)
		}
	}
}
