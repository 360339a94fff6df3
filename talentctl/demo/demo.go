// Package demo generates the Binhai 2024 demo data set: the reference case
// of DESIGN.md, reproduced exactly by the figures the registry and metrics
// compute from it.
//
// The data set is deterministic: Generate returns the same resources, in the
// same order, on every call, machine and Go release. It holds realistic
// organisations (real universities of Tianjin, Beijing and Hebei, generated
// pinyin-named enterprises, institutes and incubators with valid, unique
// unified social credit codes), the four consortia and nineteen alliances,
// memberships that overlap (organisations in several alliances, and in both a
// consortium and an alliance) and the talent records behind the headline
// figures.
package demo

import (
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// The figures of the reference report (DESIGN.md) the data set reproduces
// exactly once loaded; each is named after its GetSummaryResponse field.
const (
	// TalentsGathered is the sum of GATHERED talent records.
	TalentsGathered = 863000
	// AssessingEntities is the number of distinct entity subjects of
	// ASSESSED records.
	AssessingEntities = 3800
	// TalentsAssessed is the sum of ASSESSED talent records.
	TalentsAssessed = 150000
	// Consortia is the number of groups of kind CONSORTIUM.
	Consortia = 4
	// ConsortiumMembers is the number of distinct entities in at least one
	// consortium.
	ConsortiumMembers = 514
	// TalentsCultivated is the sum of CULTIVATED talent records.
	TalentsCultivated = 18000
	// Alliances is the number of groups of kind ALLIANCE.
	Alliances = 19
	// AllianceMembers is the number of distinct entities in at least one
	// alliance.
	AllianceMembers = 2198
)

// Further figures fixed by how the data set is built; the summary reports
// each of them too.
const (
	// Programs is the number of programmes: Haihe Talent and Kunpeng Plan.
	Programs = 2
	// Universities is the number of entities of kind UNIVERSITY.
	Universities = 26
	// ResearchInstitutes is the number of entities of kind RESEARCH_INSTITUTE.
	ResearchInstitutes = 96
	// Incubators is the number of entities of kind INCUBATOR.
	Incubators = 64
	// Enterprises is the number of entities of kind ENTERPRISE.
	Enterprises = 4814
	// Entities is the number of entities.
	Entities = Universities + ResearchInstitutes + Incubators + Enterprises

	// ConsortiumMemberships is the number of consortium memberships (a
	// sum): 58 members sit in a second consortium, 12 of them in a third.
	ConsortiumMemberships = ConsortiumMembers + consortiumSecond + consortiumThird
	// AllianceMemberships is the number of alliance memberships (a sum):
	// 430 members sit in a second alliance, 120 in a third, 30 in a fourth.
	AllianceMemberships = AllianceMembers + allianceSecond + allianceThird + allianceFourth
	// SharedMembers is the number of entities in both a consortium and an
	// alliance.
	SharedMembers = 186
	// Memberships is the number of memberships.
	Memberships = ConsortiumMemberships + AllianceMemberships
	// Groups is the number of groups.
	Groups = Consortia + Alliances

	// LeadingEnterprises is the number of entities flagged leading enterprise.
	LeadingEnterprises = 58
	// FutureIndustryPlatforms is the number of entities flagged
	// future-industry platform: 24 universities and institutes and 9 of the
	// leading enterprises.
	FutureIndustryPlatforms = nonEnterprisePlatforms + leadingPlatforms
	// PlatformsOrLeadingEnterprises is the number of distinct entities
	// flagged either way.
	PlatformsOrLeadingEnterprises = LeadingEnterprises + nonEnterprisePlatforms

	// GatheringEntities is the number of distinct subjects of GATHERED
	// records; 400 of them report under both programmes.
	GatheringEntities = 2600
	// GatheredRecords is the number of GATHERED records.
	GatheredRecords = GatheringEntities + 400
	// AssessedRecords is the number of ASSESSED records: one per assessing
	// entity, a second for 600 of them, and two whose subject is an
	// alliance (so the talents assessed are not all the entities' own).
	AssessedRecords = AssessingEntities + assessedSecond + groupAssessedRecords
	// CultivatedRecords is the number of CULTIVATED records: one per
	// consortium and 160 of consortium members.
	CultivatedRecords = Consortia + cultivatingMembers
	// TalentRecords is the number of talent records.
	TalentRecords = GatheredRecords + AssessedRecords + CultivatedRecords

	// Items is the number of resources Resources returns.
	Items = Programs + Entities + Groups + Memberships + TalentRecords + Policies + Targets
)

// The programmes the talent records refer to.
const (
	// HaiheTalent is Tianjin's municipal programme.
	HaiheTalent = "programs/haihe-talent"
	// KunpengPlan is Binhai's district programme.
	KunpengPlan = "programs/kunpeng-plan"
)

const (
	consortiumSecond       = 58
	consortiumThird        = 12
	allianceSecond         = 430
	allianceThird          = 120
	allianceFourth         = 30
	nonEnterprisePlatforms = 24
	leadingPlatforms       = 9
	assessedSecond         = 600
	groupAssessedRecords   = 2
	cultivatingMembers     = 160
	groupCultivated        = 7200 // cultivated by the consortia themselves
)

// groupAssessed are the ASSESSED records whose subject is an alliance.
var groupAssessed = [groupAssessedRecords]struct {
	field string
	count int64
}{{"aerospace", 1200}, {"financial-leasing", 800}}

// Dataset is the generated data set, each kind in a stable order.
type Dataset struct {
	// Programs are the two programmes.
	Programs []*registryv1.Program
	// Entities are universities, institutes, incubators, then enterprises.
	Entities []*registryv1.Entity
	// Groups are the consortia, then the alliances.
	Groups []*registryv1.Group
	// Memberships are ordered by group, then by entity.
	Memberships []*registryv1.Membership
	// TalentRecords are GATHERED, then ASSESSED, then CULTIVATED records.
	TalentRecords []*registryv1.TalentRecord
	// Policies are the pilot policies, then the others.
	Policies []*registryv1.Policy
	// Targets is the platforms and leading enterprises target.
	Targets []*registryv1.Target
}

// Resources returns every resource of d wrapped for Import, in dependency
// order: programmes, entities, groups, memberships, talent records,
// policies, targets.
func (d *Dataset) Resources() []*registryv1.Resource {
	out := make([]*registryv1.Resource, 0, Items)
	for _, p := range d.Programs {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: p}})
	}
	for _, e := range d.Entities {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: e}})
	}
	for _, g := range d.Groups {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: g}})
	}
	for _, m := range d.Memberships {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: m}})
	}
	for _, t := range d.TalentRecords {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: t}})
	}
	for _, p := range d.Policies {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: p}})
	}
	for _, t := range d.Targets {
		out = append(out, &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: t}})
	}
	return out
}
