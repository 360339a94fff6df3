package registry

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on field sizes.
const (
	MaxDisplayName = 200
	MaxRegion      = 100
	MaxIndustries  = 32
	MaxCount       = 1_000_000_000
	MaxRequestID   = 128
	MaxBatch       = 1000
	MaxGoalValue   = 1_000_000_000_000
	MaxPrograms    = 32
	// MaxID is the longest client-chosen id, industry id or group field
	// (ValidID).
	MaxID = 63
	// CreditCodeLen is the length of a unified social credit code
	// (CheckCreditCode).
	CreditCodeLen = 18
)

// Validate checks every field of e a client sets, reporting each violation
// under prefix (e.g. "entity.") in proto spelling.
func (e *Entity) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", e.ID)
	checkDisplayName(&v, prefix+"display_name", e.DisplayName)
	if !e.Kind.Valid() {
		checkEnum(&v, prefix+"kind", int32(e.Kind), "ENTITY_KIND_ENTERPRISE, ENTITY_KIND_UNIVERSITY, ENTITY_KIND_RESEARCH_INSTITUTE, ENTITY_KIND_INCUBATOR, ENTITY_KIND_OTHER")
	}
	if e.CreditCode != "" {
		if err := CheckCreditCode(e.CreditCode); err != nil {
			v.Add(prefix+"credit_code", "%v", err)
		}
	}
	checkText(&v, prefix+"region", e.Region, 0, MaxRegion)
	checkIDs(&v, prefix+"industries", e.Industries)
	e.Lifecycle.check(&v, prefix)
	return v.Err()
}

// check validates a lifecycle a client sets: a known status, no end time
// while active, an end time in range.
func (l *Lifecycle) check(v *Violations, prefix string) {
	if !l.Status.Valid() {
		v.Add(prefix+"status", "must be one of LIFECYCLE_STATUS_ACTIVE, LIFECYCLE_STATUS_INACTIVE, LIFECYCLE_STATUS_WITHDRAWN, got the unknown value %d", int32(l.Status))
		return
	}
	if l.EndTime.IsZero() {
		return
	}
	if !l.Status.Ended() {
		v.Add(prefix+"end_time", "must be unset while status is LIFECYCLE_STATUS_ACTIVE (set status to LIFECYCLE_STATUS_INACTIVE or LIFECYCLE_STATUS_WITHDRAWN to end it)")
		return
	}
	checkTime(v, prefix+"end_time", l.EndTime)
}

// checkTime rejects times outside the years 1900-2200: stores keep times
// as int64 nanoseconds (years 1678-2262).
func checkTime(v *Violations, field string, t time.Time) {
	if !t.IsZero() && (t.Year() < 1900 || t.Year() > 2200) {
		v.Add(field, "must be in the years 1900-2200, got %s", t.UTC().Format(time.RFC3339))
	}
}

// checkIDs checks a list of slugs: at most MaxIndustries, each a slug, no
// duplicates.
func checkIDs(v *Violations, field string, ids []string) {
	if len(ids) > MaxIndustries {
		v.Add(field, "at most %d industries, got %d", MaxIndustries, len(ids))
		return
	}
	seen := make(map[string]bool, len(ids))
	for i, ind := range ids {
		switch {
		case !ValidID(ind):
			v.Add(indexed(field, i), "must be an industry id matching ^[a-z][a-z0-9-]{0,62}$, got %q", clip(ind))
		case seen[ind]:
			v.Add(indexed(field, i), "duplicate industry %q", ind)
		}
		seen[ind] = true
	}
}

// Validate checks every field of g a client sets.
func (g *Group) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", g.ID)
	checkDisplayName(&v, prefix+"display_name", g.DisplayName)
	if !g.Kind.Valid() {
		checkEnum(&v, prefix+"kind", int32(g.Kind), "GROUP_KIND_CONSORTIUM, GROUP_KIND_ALLIANCE")
	}
	if g.Field != "" && !ValidID(g.Field) {
		v.Add(prefix+"field", "must be a slug matching ^[a-z][a-z0-9-]{0,62}$, got %q", clip(g.Field))
	}
	return v.Err()
}

// Validate checks every field of m a client sets.
func (m *Membership) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", m.GroupID)
	checkID(&v, prefix+"entity", m.EntityID)
	if !m.Role.Valid() {
		checkEnum(&v, prefix+"role", int32(m.Role), "MEMBERSHIP_ROLE_LEAD, MEMBERSHIP_ROLE_MEMBER")
	}
	checkTime(&v, prefix+"join_time", m.JoinTime)
	n := len(v)
	m.Lifecycle.check(&v, prefix)
	if len(v) == n && !m.EndTime.IsZero() && !m.JoinTime.IsZero() && m.EndTime.Before(m.JoinTime) {
		v.Add(prefix+"end_time", "must not be before join_time (%s), got %s", m.JoinTime.UTC().Format(time.RFC3339), m.EndTime.UTC().Format(time.RFC3339))
	}
	return v.Err()
}

// Validate checks every field of r a client sets.
func (r *TalentRecord) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", r.ID)
	if r.Subject == "" {
		v.Add(prefix+"subject", "is required: entities/{entity} or groups/{group}")
	} else if _, _, err := ParseSubject(prefix+"subject", r.Subject); err != nil {
		_ = v.Merge(err)
	}
	if !r.Category.Valid() {
		checkEnum(&v, prefix+"category", int32(r.Category), "TALENT_CATEGORY_GATHERED, TALENT_CATEGORY_CULTIVATED, TALENT_CATEGORY_ASSESSED")
	}
	if r.Count <= 0 || r.Count > MaxCount {
		v.Add(prefix+"count", "must be between 1 and %d, got %d", MaxCount, r.Count)
	}
	if r.Program != "" {
		if _, err := ParseName(prefix+"program", Programs, r.Program); err != nil {
			_ = v.Merge(err)
		}
	}
	if r.Period != "" && !ValidPeriod(r.Period) {
		v.Add(prefix+"period", "must be YYYY or YYYY-MM (year 1900-2999), got %q", clip(r.Period))
	}
	return v.Err()
}

// Validate checks every field of p a client sets.
func (p *Program) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", p.ID)
	checkDisplayName(&v, prefix+"display_name", p.DisplayName)
	if !p.Level.Valid() {
		checkEnum(&v, prefix+"level", int32(p.Level), "PROGRAM_LEVEL_MUNICIPAL, PROGRAM_LEVEL_DISTRICT")
	}
	return v.Err()
}

// Validate checks every field of t a client sets.
func (t *Target) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", t.ID)
	checkDisplayName(&v, prefix+"display_name", t.DisplayName)
	if !t.Metric.Valid() {
		checkEnum(&v, prefix+"metric", int32(t.Metric), strings.Join(targetMetricNames[1:], ", "))
	}
	if t.GoalValue <= 0 || t.GoalValue > MaxGoalValue {
		v.Add(prefix+"goal_value", "must be between 1 and %d, got %d", int64(MaxGoalValue), t.GoalValue)
	}
	if t.Scope != "" {
		if id, ok := strings.CutPrefix(t.Scope, "groups/"); !ok || !ValidID(id) {
			v.Add(prefix+"scope", "must be empty (the whole ecosystem) or a group name groups/{group}, got %q", clip(t.Scope))
		}
	}
	checkTime(&v, prefix+"deadline", t.Deadline)
	return v.Err()
}

// Validate checks every field of p a client sets.
func (p *Policy) Validate(prefix string) error {
	var v Violations
	checkID(&v, prefix+"name", p.ID)
	checkDisplayName(&v, prefix+"title", p.Title)
	checkText(&v, prefix+"issuer", p.Issuer, 0, MaxDisplayName)
	if !p.Level.Valid() {
		checkEnum(&v, prefix+"level", int32(p.Level), "POLICY_LEVEL_NATIONAL, POLICY_LEVEL_MUNICIPAL, POLICY_LEVEL_DISTRICT")
	}
	checkTime(&v, prefix+"issue_time", p.IssueTime)
	checkIDs(&v, prefix+"industries", p.Industries)
	if len(p.Programs) > MaxPrograms {
		v.Add(prefix+"programs", "at most %d programmes, got %d", MaxPrograms, len(p.Programs))
	} else {
		seen := make(map[string]bool, len(p.Programs))
		for i, name := range p.Programs {
			field := indexed(prefix+"programs", i)
			if _, err := ParseName(field, Programs, name); err != nil {
				_ = v.Merge(err)
			} else if seen[name] {
				v.Add(field, "duplicate programme %q", name)
			}
			seen[name] = true
		}
	}
	return v.Err()
}

// ValidPeriod reports whether p is "YYYY" or "YYYY-MM" with a year from 1900
// to 2999 and a month from 01 to 12.
func ValidPeriod(p string) bool {
	switch len(p) {
	case 4:
		_, err := time.Parse("2006", p)
		return err == nil && p >= "1900" && p <= "2999"
	case 7:
		_, err := time.Parse("2006-01", p)
		return err == nil && p[:4] >= "1900" && p[:4] <= "2999"
	}
	return false
}

// ValidRequestID reports whether id is usable as an AIP-155 request id:
// 1-128 printable ASCII characters.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > MaxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func checkID(v *Violations, field, id string) {
	if !ValidID(id) {
		v.Add(field, "id must match ^[a-z][a-z0-9-]{0,62}$, got %q", clip(id))
	}
}

func checkDisplayName(v *Violations, field, s string) {
	if checkText(v, field, s, 1, MaxDisplayName) && isBlank(s) {
		v.Add(field, "must not be blank")
	}
}

// checkText rejects invalid UTF-8, control characters and lengths outside
// [min, max] runes, and reports whether s passed.
func checkText(v *Violations, field, s string, min, max int) bool {
	if !utf8.ValidString(s) {
		v.Add(field, "must be valid UTF-8")
		return false
	}
	if n := utf8.RuneCountInString(s); n < min || n > max {
		v.Add(field, "must be %d-%d characters, got %d", min, max, n)
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			v.Add(field, "must not contain control characters (found %U)", r)
			return false
		}
	}
	return true
}

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

// checkEnum reports an enum field that is unset (required) or holds a
// number with no name (a client sending numbers instead of names).
func checkEnum(v *Violations, field string, value int32, names string) {
	if value == 0 {
		v.Add(field, "is required: one of %s", names)
		return
	}
	v.Add(field, "must be one of %s, got the unknown value %d", names, value)
}
