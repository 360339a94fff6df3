package metrics

import (
	"fmt"
	"slices"
)

// Diff compares live figures with recounted ones and returns one line per
// figure that differs ("what: live X, recount Y"), in a stable order; nil
// when they agree. The revisions themselves are compared too: figures are
// only comparable at the same revision.
func Diff(live, recount Figures) []string {
	var d []string
	add := func(what string, l, r int64) {
		if l != r {
			d = append(d, fmt.Sprintf("%s: live %d, recount %d", what, l, r))
		}
	}
	add("revision", live.Revision, recount.Revision)
	d = append(d, diffSummary(live.Summary, recount.Summary)...)
	for _, dim := range Dimensions {
		d = append(d, diffRows(string(dim), live.Breakdowns[dim], recount.Breakdowns[dim])...)
	}
	names := make([]string, 0, len(live.Groups)+len(recount.Groups))
	for n := range live.Groups {
		names = append(names, n)
	}
	for n := range recount.Groups {
		if _, ok := live.Groups[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		l, lok := live.Groups[n]
		r, rok := recount.Groups[n]
		switch {
		case !lok:
			d = append(d, fmt.Sprintf("group %s: missing from live, in recount", n))
		case !rok:
			d = append(d, fmt.Sprintf("group %s: in live, missing from recount", n))
		default:
			d = append(d, diffGroup(l, r)...)
		}
	}
	return d
}

func diffSummary(l, r Summary) []string {
	var d []string
	add := func(what string, lv, rv int64) {
		if lv != rv {
			d = append(d, fmt.Sprintf("summary.%s: live %d, recount %d", what, lv, rv))
		}
	}
	add("entities", l.Entities, r.Entities)
	for _, k := range unionKeys(l.EntitiesByKind, r.EntitiesByKind) {
		add("entities_by_kind["+k+"]", l.EntitiesByKind[k], r.EntitiesByKind[k])
	}
	add("consortia", l.Consortia, r.Consortia)
	add("alliances", l.Alliances, r.Alliances)
	add("consortium_members", l.ConsortiumMembers, r.ConsortiumMembers)
	add("alliance_members", l.AllianceMembers, r.AllianceMembers)
	add("consortium_memberships", l.ConsortiumMemberships, r.ConsortiumMemberships)
	add("alliance_memberships", l.AllianceMemberships, r.AllianceMemberships)
	add("talents_gathered", l.TalentsGathered, r.TalentsGathered)
	add("talents_cultivated", l.TalentsCultivated, r.TalentsCultivated)
	add("talents_assessed", l.TalentsAssessed, r.TalentsAssessed)
	add("assessing_entities", l.AssessingEntities, r.AssessingEntities)
	add("leading_enterprises", l.LeadingEnterprises, r.LeadingEnterprises)
	add("future_industry_platforms", l.FutureIndustryPlatforms, r.FutureIndustryPlatforms)
	add("platforms_or_leading_enterprises", l.PlatformsOrLeadingEnterprises, r.PlatformsOrLeadingEnterprises)
	add("talent_records", l.TalentRecords, r.TalentRecords)
	add("programs", l.Programs, r.Programs)
	add("policies", l.Policies, r.Policies)
	add("pilot_policies", l.PilotPolicies, r.PilotPolicies)
	add("jingjinji_organisations", l.JingjinjiOrganisations, r.JingjinjiOrganisations)
	add("targets", l.Targets, r.Targets)
	return d
}

func diffRows(dim string, live, recount []Row) []string {
	var d []string
	lm := make(map[string]Row, len(live))
	for _, r := range live {
		lm[r.Key] = r
	}
	rm := make(map[string]Row, len(recount))
	for _, r := range recount {
		rm[r.Key] = r
	}
	for _, k := range unionKeys(lm, rm) {
		l, r := lm[k], rm[k]
		add := func(what string, lv, rv int64) {
			if lv != rv {
				d = append(d, fmt.Sprintf("breakdown %s[%q].%s: live %d, recount %d", dim, k, what, lv, rv))
			}
		}
		add("entities", l.Entities, r.Entities)
		add("groups", l.Groups, r.Groups)
		add("consortium_members", l.ConsortiumMembers, r.ConsortiumMembers)
		add("alliance_members", l.AllianceMembers, r.AllianceMembers)
		add("talents_gathered", l.TalentsGathered, r.TalentsGathered)
		add("talents_cultivated", l.TalentsCultivated, r.TalentsCultivated)
		add("talents_assessed", l.TalentsAssessed, r.TalentsAssessed)
		add("talent_records", l.TalentRecords, r.TalentRecords)
	}
	return d
}

func diffGroup(l, r GroupStats) []string {
	var d []string
	if l.Kind != r.Kind || l.Field != r.Field {
		d = append(d, fmt.Sprintf("group %s: live kind %s field %q, recount kind %s field %q",
			l.Name, l.Kind, l.Field, r.Kind, r.Field))
	}
	add := func(what string, lv, rv int64) {
		if lv != rv {
			d = append(d, fmt.Sprintf("group %s.%s: live %d, recount %d", l.Name, what, lv, rv))
		}
	}
	add("members", l.Members, r.Members)
	for _, k := range unionKeys(l.MembersByKind, r.MembersByKind) {
		add("members_by_kind["+k+"]", l.MembersByKind[k], r.MembersByKind[k])
	}
	for _, k := range unionKeys(l.TalentsByCategory, r.TalentsByCategory) {
		add("talents_by_category["+k+"]", l.TalentsByCategory[k], r.TalentsByCategory[k])
	}
	for _, k := range unionKeys(l.MemberTalentsByCategory, r.MemberTalentsByCategory) {
		add("member_talents_by_category["+k+"]", l.MemberTalentsByCategory[k], r.MemberTalentsByCategory[k])
	}
	return d
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
