package metrics

import "time"

// Entity kind, group kind and talent category names are the registry's enum
// names (e.g. "ENTITY_KIND_UNIVERSITY"): they are the keys of the maps below
// and of the entityKind breakdown.

// EntityKinds lists the valid entity kind names, in enum order. Maps keyed by
// entity kind always hold these keys, zero or not.
var EntityKinds = []string{
	"ENTITY_KIND_ENTERPRISE",
	"ENTITY_KIND_UNIVERSITY",
	"ENTITY_KIND_RESEARCH_INSTITUTE",
	"ENTITY_KIND_INCUBATOR",
	"ENTITY_KIND_OTHER",
}

// TalentCategories lists the talent category names, in enum order. Maps
// keyed by category always hold these keys, zero or not.
var TalentCategories = []string{
	"TALENT_CATEGORY_GATHERED",
	"TALENT_CATEGORY_CULTIVATED",
	"TALENT_CATEGORY_ASSESSED",
}

// Summary holds the headline figures as of one registry revision.
type Summary struct {
	// Revision is the registry revision the figures reflect.
	Revision int64
	// Entities counts all entities.
	Entities int64
	// EntitiesByKind counts entities by kind name; it holds every name of
	// EntityKinds.
	EntitiesByKind map[string]int64
	// Consortia and Alliances count groups by kind.
	Consortia, Alliances int64
	// ConsortiumMembers and AllianceMembers count DISTINCT entities with at
	// least one membership in a group of that kind.
	ConsortiumMembers, AllianceMembers int64
	// ConsortiumMemberships and AllianceMemberships count memberships (one
	// per entity per group).
	ConsortiumMemberships, AllianceMemberships int64
	// TalentsGathered, TalentsCultivated and TalentsAssessed sum talent
	// records by category, whatever their subject.
	TalentsGathered, TalentsCultivated, TalentsAssessed int64
	// AssessingEntities counts distinct entities that are the subject of at
	// least one ASSESSED record.
	AssessingEntities int64
	// LeadingEnterprises and FutureIndustryPlatforms count flagged entities;
	// PlatformsOrLeadingEnterprises counts entities with either flag.
	LeadingEnterprises, FutureIndustryPlatforms, PlatformsOrLeadingEnterprises int64
	// TalentRecords counts talent records.
	TalentRecords int64
	// Programs counts programmes.
	Programs int64
	// Policies counts policies; PilotPolicies those marked pilot.
	Policies, PilotPolicies int64
	// JingjinjiOrganisations counts distinct entities of region "Beijing"
	// or "Hebei" with at least one membership in a group: the
	// Beijing–Tianjin–Hebei collaboration.
	JingjinjiOrganisations int64
	// Targets counts targets.
	Targets int64
}

// SummaryPoint is the Summary as it stood at one time.
type SummaryPoint struct {
	// Time is the time asked for.
	Time time.Time
	// Summary holds the figures; its Revision is the revision in force at
	// Time.
	Summary Summary
}

// History is a series of Summary points.
type History struct {
	// Points holds the Summary at each time asked for, oldest first.
	Points []SummaryPoint
	// CompleteFrom is from when the replica's history is complete.
	CompleteFrom time.Time
	// ExactFrom is from when as-of reads are exact to the transaction
	// (before it, they answer the start of the time's UTC day): the start
	// of the bounded history's exact part, or CompleteFrom if later; zero
	// when the history is exact from the start of the feed.
	ExactFrom time.Time
	// Revision is the revision the replica has applied.
	Revision int64
}

// GroupStats holds the figures of one group as of one registry revision.
type GroupStats struct {
	// Revision is the registry revision the figures reflect.
	Revision int64
	// Name is the group's resource name, `groups/{group}`.
	Name string
	// Kind is the group's kind name, e.g. "GROUP_KIND_ALLIANCE".
	Kind string
	// Field is the group's field, e.g. "aerospace"; empty when not set.
	Field string
	// Members counts the group's member entities.
	Members int64
	// MembersByKind counts member entities by kind name; it holds every
	// name of EntityKinds.
	MembersByKind map[string]int64
	// TalentsByCategory sums the talent records whose subject is the group,
	// by category name; it holds every name of TalentCategories.
	TalentsByCategory map[string]int64
	// MemberTalentsByCategory sums the talent records whose subject is one
	// of the group's member entities (each member once), by category name.
	MemberTalentsByCategory map[string]int64
}

// Row holds the figures of one value of a breakdown dimension. What each
// count covers depends on the dimension: see Dimension.
type Row struct {
	// Key is the value: an entity kind name, a region, an industry id, a
	// group field, a programme name or a period. Empty means "not set".
	Key string
	// Entities counts entities with the value (entity dimensions) or the
	// distinct member entities of the groups with the value (groupField).
	Entities int64
	// Groups counts the groups with the value (groupField only).
	Groups int64
	// ConsortiumMembers and AllianceMembers count distinct entities with at
	// least one consortium (alliance) membership: among the entities with
	// the value, or (groupField) in the consortia (alliances) with it.
	ConsortiumMembers, AllianceMembers int64
	// TalentsGathered, TalentsCultivated and TalentsAssessed sum the talent
	// records counted by the row, by category.
	TalentsGathered, TalentsCultivated, TalentsAssessed int64
	// TalentRecords counts the talent records counted by the row.
	TalentRecords int64
}

// IsZero reports whether every figure of r is zero. A breakdown holds only
// rows with some figure other than zero.
func (r Row) IsZero() bool {
	r.Key = ""
	return r == Row{}
}

// Breakdown holds the rows of one dimension as of one registry revision.
type Breakdown struct {
	// Revision is the registry revision the figures reflect.
	Revision int64
	// Dimension is the dimension asked for.
	Dimension Dimension
	// Rows holds one row per value with some figure other than zero,
	// ordered by key.
	Rows []Row
}

// Figures is every figure of a projection as of one revision: what a
// verification compares.
type Figures struct {
	// Revision is the registry revision the figures reflect.
	Revision int64
	// Summary holds the headline figures.
	Summary Summary
	// Breakdowns holds the rows of every dimension.
	Breakdowns map[Dimension][]Row
	// Groups holds the stats of every group, by resource name.
	Groups map[string]GroupStats
}

// Verification reports a recount of every figure from a registry snapshot
// compared with the live projection at the same revision.
type Verification struct {
	// Revision is the registry revision of the snapshot recounted.
	Revision int64
	// Differences holds one line per figure that differs; empty when the
	// projection is consistent.
	Differences []string
}

// Consistent reports whether the recount found no difference.
func (v Verification) Consistent() bool { return len(v.Differences) == 0 }

// TargetProgress is how far one target is met, computed live.
type TargetProgress struct {
	// Target is the target's resource name, `targets/{target}`.
	Target string
	// DisplayName is its display name.
	DisplayName string
	// Metric is its TargetMetric name.
	Metric string
	// GoalValue is the goal.
	GoalValue int64
	// CurrentValue is the metric's value now, in the target's scope.
	CurrentValue int64
	// Fraction is CurrentValue / GoalValue (0 when the goal is 0).
	Fraction float64
	// Deadline is the target's deadline; zero when none.
	Deadline time.Time
	// Scope is "" for the whole ecosystem, else `groups/{group}`.
	Scope string
}

// SearchResult is one resource found by a search.
type SearchResult struct {
	// Name is the resource name: entities/{e}, groups/{g} or programs/{p}.
	Name string
	// DisplayName is its display name.
	DisplayName string
	// Kind is an EntityKind name, a GroupKind name or "program".
	Kind string
	// CreditCode is the entity's credit code; empty for others.
	CreditCode string
	// Score ranks the result: higher is better.
	Score float64
}

// SearchPage is one page of search results.
type SearchPage struct {
	// Results holds the page, best first.
	Results []SearchResult
	// Total counts every result of the query: exactly up to
	// search.TotalExactUpTo (TotalExact), an estimate above.
	Total      int
	TotalExact bool
	// More reports whether results follow this page.
	More bool
	// Revision is the registry revision the index reflects.
	Revision int64
}
