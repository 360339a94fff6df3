package registry

import (
	"strconv"
	"time"
)

// EntityKind classifies entities. The zero value is never valid input.
type EntityKind int32

// Entity kinds. The numbers match the API's enum numbers.
const (
	EntityKindUnspecified EntityKind = iota
	EntityKindEnterprise
	EntityKindUniversity
	EntityKindResearchInstitute
	EntityKindIncubator
	EntityKindOther
)

var entityKindNames = [...]string{
	"ENTITY_KIND_UNSPECIFIED", "ENTITY_KIND_ENTERPRISE", "ENTITY_KIND_UNIVERSITY",
	"ENTITY_KIND_RESEARCH_INSTITUTE", "ENTITY_KIND_INCUBATOR", "ENTITY_KIND_OTHER",
}

// String returns the API name of k, e.g. "ENTITY_KIND_UNIVERSITY".
func (k EntityKind) String() string { return enumName(entityKindNames[:], int32(k)) }

// Valid reports whether k is a kind other than unspecified.
func (k EntityKind) Valid() bool { return k > EntityKindUnspecified && k <= EntityKindOther }

// GroupKind classifies groups. The zero value is never valid input.
type GroupKind int32

// Group kinds.
const (
	GroupKindUnspecified GroupKind = iota
	GroupKindConsortium
	GroupKindAlliance
)

var groupKindNames = [...]string{"GROUP_KIND_UNSPECIFIED", "GROUP_KIND_CONSORTIUM", "GROUP_KIND_ALLIANCE"}

// String returns the API name of k.
func (k GroupKind) String() string { return enumName(groupKindNames[:], int32(k)) }

// Valid reports whether k is a kind other than unspecified.
func (k GroupKind) Valid() bool { return k > GroupKindUnspecified && k <= GroupKindAlliance }

// MembershipRole is an entity's role in a group.
type MembershipRole int32

// Membership roles.
const (
	MembershipRoleUnspecified MembershipRole = iota
	MembershipRoleLead
	MembershipRoleMember
)

var membershipRoleNames = [...]string{"MEMBERSHIP_ROLE_UNSPECIFIED", "MEMBERSHIP_ROLE_LEAD", "MEMBERSHIP_ROLE_MEMBER"}

// String returns the API name of r.
func (r MembershipRole) String() string { return enumName(membershipRoleNames[:], int32(r)) }

// Valid reports whether r is a role other than unspecified.
func (r MembershipRole) Valid() bool {
	return r > MembershipRoleUnspecified && r <= MembershipRoleMember
}

// TalentCategory says what a talent record counts.
type TalentCategory int32

// Talent categories.
const (
	TalentCategoryUnspecified TalentCategory = iota
	TalentCategoryGathered
	TalentCategoryCultivated
	TalentCategoryAssessed
)

var talentCategoryNames = [...]string{
	"TALENT_CATEGORY_UNSPECIFIED", "TALENT_CATEGORY_GATHERED", "TALENT_CATEGORY_CULTIVATED", "TALENT_CATEGORY_ASSESSED",
}

// String returns the API name of c.
func (c TalentCategory) String() string { return enumName(talentCategoryNames[:], int32(c)) }

// Valid reports whether c is a category other than unspecified.
func (c TalentCategory) Valid() bool {
	return c > TalentCategoryUnspecified && c <= TalentCategoryAssessed
}

// ProgramLevel is the administrative level running a programme.
type ProgramLevel int32

// Programme levels.
const (
	ProgramLevelUnspecified ProgramLevel = iota
	ProgramLevelMunicipal
	ProgramLevelDistrict
)

var programLevelNames = [...]string{"PROGRAM_LEVEL_UNSPECIFIED", "PROGRAM_LEVEL_MUNICIPAL", "PROGRAM_LEVEL_DISTRICT"}

// String returns the API name of l.
func (l ProgramLevel) String() string { return enumName(programLevelNames[:], int32(l)) }

// Valid reports whether l is a level other than unspecified.
func (l ProgramLevel) Valid() bool { return l > ProgramLevelUnspecified && l <= ProgramLevelDistrict }

// LifecycleStatus says whether an entity or a membership still counts.
// Unspecified is accepted on input as Active and never stored.
type LifecycleStatus int32

// Lifecycle statuses; the numbers match the API's enum numbers.
const (
	LifecycleUnspecified LifecycleStatus = iota
	LifecycleActive
	LifecycleInactive
	LifecycleWithdrawn
)

var lifecycleStatusNames = [...]string{
	"LIFECYCLE_STATUS_UNSPECIFIED", "LIFECYCLE_STATUS_ACTIVE", "LIFECYCLE_STATUS_INACTIVE", "LIFECYCLE_STATUS_WITHDRAWN",
}

// String returns the API name of s.
func (s LifecycleStatus) String() string { return enumName(lifecycleStatusNames[:], int32(s)) }

// Valid reports whether s is a status a client may send: unspecified
// (meaning active) included.
func (s LifecycleStatus) Valid() bool { return s >= LifecycleUnspecified && s <= LifecycleWithdrawn }

// Ended reports whether s is inactive or withdrawn.
func (s LifecycleStatus) Ended() bool { return s == LifecycleInactive || s == LifecycleWithdrawn }

// TargetMetric is the figure a target counts.
type TargetMetric int32

// Target metrics; the numbers match the API's enum numbers.
const (
	TargetMetricUnspecified TargetMetric = iota
	TargetMetricPlatformsOrLeadingEnterprises
	TargetMetricEntities
	TargetMetricPilotPolicies
	TargetMetricPolicies
	TargetMetricTalentsCultivated
	TargetMetricTalentsGathered
	TargetMetricGroupMembers
)

var targetMetricNames = [...]string{
	"TARGET_METRIC_UNSPECIFIED", "TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES", "TARGET_METRIC_ENTITIES",
	"TARGET_METRIC_PILOT_POLICIES", "TARGET_METRIC_POLICIES", "TARGET_METRIC_TALENTS_CULTIVATED",
	"TARGET_METRIC_TALENTS_GATHERED", "TARGET_METRIC_GROUP_MEMBERS",
}

// String returns the API name of m.
func (m TargetMetric) String() string { return enumName(targetMetricNames[:], int32(m)) }

// Valid reports whether m is a metric other than unspecified.
func (m TargetMetric) Valid() bool {
	return m > TargetMetricUnspecified && m <= TargetMetricGroupMembers
}

// PolicyLevel is the administrative level issuing a policy.
type PolicyLevel int32

// Policy levels; the numbers match the API's enum numbers.
const (
	PolicyLevelUnspecified PolicyLevel = iota
	PolicyLevelNational
	PolicyLevelMunicipal
	PolicyLevelDistrict
)

var policyLevelNames = [...]string{"POLICY_LEVEL_UNSPECIFIED", "POLICY_LEVEL_NATIONAL", "POLICY_LEVEL_MUNICIPAL", "POLICY_LEVEL_DISTRICT"}

// String returns the API name of l.
func (l PolicyLevel) String() string { return enumName(policyLevelNames[:], int32(l)) }

// Valid reports whether l is a level other than unspecified.
func (l PolicyLevel) Valid() bool { return l > PolicyLevelUnspecified && l <= PolicyLevelDistrict }

func enumName(names []string, v int32) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return strconv.Itoa(int(v))
}

// Meta is what every stored resource carries besides its own fields.
type Meta struct {
	// CreateTime is when the resource was created.
	CreateTime time.Time
	// UpdateTime is when the resource last changed.
	UpdateTime time.Time
	// Revision is the registry revision of the resource's last change.
	Revision int64
}

// Etag returns the resource's entity tag: it changes whenever the resource
// changes, because every change takes a new revision.
func (m Meta) Etag() string { return strconv.FormatInt(m.Revision, 10) }

// CheckEtag returns an INVALID_ARGUMENT error on field unless etag is empty
// (no check) or of the form Etag gives: a revision in decimal, from 1. A
// malformed etag can never match, so it is the client's mistake, not a
// stale read (ABORTED).
func CheckEtag(field, etag string) error {
	if etag == "" {
		return nil
	}
	if n, err := strconv.ParseInt(etag, 10, 64); err != nil || n < 1 || strconv.FormatInt(n, 10) != etag {
		return InvalidField(field, "must be an etag the registry returned (a revision number), got %q", clip(etag))
	}
	return nil
}

// Entity is an innovation entity: an enterprise, university, research
// institute, incubator or other organisation.
type Entity struct {
	ID                     string
	DisplayName            string
	Kind                   EntityKind
	CreditCode             string
	Region                 string
	Industries             []string
	LeadingEnterprise      bool
	FutureIndustryPlatform bool
	Lifecycle
	Meta
}

// Lifecycle is whether an entity or a membership still counts: records are
// kept when an organisation closes or leaves a group, so that figures for
// the time it was active stay as they were.
type Lifecycle struct {
	// Status is never Unspecified once stored (see Settle).
	Status LifecycleStatus
	// EndTime is when the status stopped being active; zero while active.
	EndTime time.Time
}

// Settle fills the lifecycle's defaults at commit time now: an unspecified
// status is active; an ended status without an end time ends at now; a
// status set back to active drops the end time it still carries from prev
// (the stored lifecycle; nil on create), so that reactivating needs no
// second field.
func (l *Lifecycle) Settle(prev *Lifecycle, now time.Time) {
	if l.Status == LifecycleUnspecified {
		l.Status = LifecycleActive
	}
	switch {
	case l.Status.Ended() && l.EndTime.IsZero():
		l.EndTime = now
	case l.Status == LifecycleActive && prev != nil && prev.Status.Ended() && l.EndTime.Equal(prev.EndTime):
		l.EndTime = time.Time{}
	}
}

// Active reports whether the lifecycle counts now.
func (l *Lifecycle) Active() bool { return !l.Status.Ended() }

// Group is a consortium or alliance linking entities.
type Group struct {
	ID          string
	DisplayName string
	Kind        GroupKind
	Field       string
	Meta
}

// Membership links an entity to a group; an entity is in a group at most
// once, so the pair identifies the membership.
type Membership struct {
	GroupID  string
	EntityID string
	Role     MembershipRole
	JoinTime time.Time
	Lifecycle
	Meta
}

// TalentRecord reports talents counted by an entity or a group.
type TalentRecord struct {
	ID string
	// Subject is the full name of an entity or group: "entities/x" or
	// "groups/y".
	Subject  string
	Category TalentCategory
	Count    int64
	// Program is the full name of a programme ("programs/p"), or empty.
	Program string
	// Period is "YYYY", "YYYY-MM" or empty.
	Period string
	Meta
}

// Program is a talent programme.
type Program struct {
	ID          string
	DisplayName string
	Level       ProgramLevel
	Meta
}

// Target is a goal the talent office tracks, e.g. 100 future-industry
// platforms and leading enterprises; metrics computes its progress.
type Target struct {
	ID          string
	DisplayName string
	Metric      TargetMetric
	GoalValue   int64
	// Scope is "" (the whole ecosystem) or a group name "groups/{g}".
	Scope    string
	Deadline time.Time
	Meta
}

// Policy is a talent policy.
type Policy struct {
	ID         string
	Title      string
	Issuer     string
	Level      PolicyLevel
	IssueTime  time.Time
	Pilot      bool
	Industries []string
	// Programs are full programme names ("programs/p"), each existing.
	Programs []string
	Meta
}
