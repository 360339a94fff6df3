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
	Meta
}

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
