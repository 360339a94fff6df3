// Package layout is the column layout of talentctl's import files: which
// columns exist, which apply to which resource type, and how one row maps
// to one registry resource and back.
//
// Every row has a type column naming its resource: program, entity, group,
// membership, talent_record, policy or target. A row fills the columns of its type and
// leaves the others empty; a value in a column that does not apply to the
// row's type is an error, so a misplaced value is never silently dropped.
package layout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Columns are every column of the layout, in the documented order.
var Columns = []string{
	"type", "id", "display_name", "kind", "credit_code", "region", "industries",
	"leading_enterprise", "future_industry_platform", "group", "entity", "role",
	"join_time", "subject", "category", "count", "program", "period", "level", "field",
	"status", "end_time", "title", "issuer", "issue_time", "pilot", "programs",
	"metric", "goal_value", "scope", "deadline",
}

// Required are the columns every file must have.
var Required = []string{"type"}

// Kind is a resource type. Kinds order as resources depend on each other:
// a resource only refers to kinds before its own.
type Kind int

// The resource types, in dependency order.
const (
	// Program is a talent programme.
	Program Kind = iota + 1
	// Entity is an organisation.
	Entity
	// Group is a consortium or an alliance.
	Group
	// Membership links an entity to a group.
	Membership
	// TalentRecord reports talents of an entity or group.
	TalentRecord
	// Policy is a talent policy, referring to programmes.
	Policy
	// Target is a goal, scoped to the ecosystem or a group.
	Target
)

// Kinds are every kind in dependency order.
var Kinds = []Kind{Program, Entity, Group, Membership, TalentRecord, Policy, Target}

var kindNames = map[Kind]string{Program: "program", Entity: "entity", Group: "group", Membership: "membership", TalentRecord: "talent_record",
	Policy: "policy", Target: "target"}

// String returns the kind as written in the type column.
func (k Kind) String() string { return kindNames[k] }

// columns lists the columns that apply to each kind besides type.
var columns = map[Kind][]string{
	Program:      {"id", "display_name", "level"},
	Entity:       {"id", "display_name", "kind", "credit_code", "region", "industries", "leading_enterprise", "future_industry_platform", "status", "end_time"},
	Group:        {"id", "display_name", "kind", "field"},
	Membership:   {"id", "group", "entity", "role", "join_time", "status", "end_time"},
	TalentRecord: {"id", "subject", "category", "count", "program", "period"},
	Policy:       {"id", "title", "issuer", "level", "issue_time", "pilot", "industries", "programs"},
	Target:       {"id", "display_name", "metric", "goal_value", "scope", "deadline"},
}

// ColumnsOf returns the columns that apply to kind k, type excluded.
func ColumnsOf(k Kind) []string { return slices.Clone(columns[k]) }

// ParseKind reads a type column value: a kind name in any case, singular
// or plural, with "_", "-" or " " between words ("talent_record",
// "Talent Records", "programme").
func ParseKind(s string) (Kind, error) {
	if k, ok := kindSpellings[s]; ok { // the usual spellings, without work
		return k, nil
	}
	if k, ok := kindSpellings[flatten(s, false)]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("unknown type %q (want one of program, entity, group, membership, talent_record, policy, target)", s)
}

// kindSpellings maps each kind's names, as written and flattened, to it.
var kindSpellings = func() map[string]Kind {
	m := map[string]Kind{}
	for k, names := range map[Kind][]string{
		Program:      {"program", "programs", "programme", "programmes"},
		Entity:       {"entity", "entities"},
		Group:        {"group", "groups"},
		Membership:   {"membership", "memberships"},
		TalentRecord: {"talent_record", "talent_records", "talent-record", "talent-records", "talentRecord", "talentRecords"},
		Policy:       {"policy", "policies"},
		Target:       {"target", "targets"},
	} {
		for _, n := range names {
			m[n], m[flatten(n, false)] = k, k
		}
	}
	return m
}()

// flatten lower-cases s (upper-cases it when upper) and drops spaces, "-"
// and "_" (with upper, turns them into "_"), in one pass.
func flatten(s string, upper bool) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '_':
			if upper {
				b = append(b, '_')
			}
		case upper && 'a' <= c && c <= 'z':
			b = append(b, c-'a'+'A')
		case !upper && 'A' <= c && c <= 'Z':
			b = append(b, c-'A'+'a')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// FieldError reports a bad value in one column of a row.
type FieldError struct {
	// Column is the column at fault.
	Column string
	// Message says what is wrong.
	Message string
}

// Error formats e as "column: message".
func (e *FieldError) Error() string { return e.Column + ": " + e.Message }

// validID reports whether s has the form of every resource id (API.md):
// ^[a-z][a-z0-9-]{0,62}$.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Resource maps one row to the resource it describes. get returns a
// column's value (and false when the row has no such column). Values are
// trimmed of surrounding space. The error is a *FieldError; the registry
// checks the remaining rules (lengths, credit code checksums, references).
func Resource(get func(column string) (string, bool)) (*registryv1.Resource, error) {
	r, _, err := mapRow(get, false)
	return r, err
}

// Item maps one import row to the resource it describes and the fields of
// it the row sets, for an upsert that changes only those: the columns the
// row has (a file's header, the keys of a JSON Lines object), an empty
// value clearing its field. A column the row lacks is left out of the mask,
// so that the registry keeps the stored value; its rules (required values)
// are then the registry's to check, against the stored resource. The mask
// is nil when the row has every column of its type: the resource is
// written whole. The columns naming the resource (id; a membership's group
// and entity) are never in a mask.
func Item(get func(column string) (string, bool)) (*registryv1.Resource, *fieldmaskpb.FieldMask, error) {
	return mapRow(get, true)
}

// identity are the columns that name a resource rather than set a field.
var identity = []string{"type", "id", "group", "entity"}

func mapRow(get func(column string) (string, bool), partial bool) (*registryv1.Resource, *fieldmaskpb.FieldMask, error) {
	m := mapper{get: get, partial: partial}
	typ := m.value("type")
	if typ == "" {
		return nil, nil, &FieldError{"type", "required"}
	}
	kind, err := ParseKind(typ)
	if err != nil {
		return nil, nil, &FieldError{"type", err.Error()}
	}
	for _, col := range Columns[1:] {
		if !slices.Contains(columns[kind], col) && m.value(col) != "" {
			return nil, nil, &FieldError{col, fmt.Sprintf("does not apply to type %s (its columns: %s)", kind, strings.Join(columns[kind], ", "))}
		}
	}
	r := m.build(kind)
	if m.err != nil {
		return nil, nil, m.err
	}
	if !partial {
		return r, nil, nil
	}
	var paths []string
	whole := true
	for _, col := range columns[kind] {
		switch {
		case slices.Contains(identity, col):
		case m.has(col):
			paths = append(paths, col) // the columns are named after the proto fields
		default:
			whole = false
		}
	}
	if whole {
		return r, nil, nil
	}
	return r, &fieldmaskpb.FieldMask{Paths: paths}, nil
}

// mapper reads columns and keeps the first error. When partial, a field
// column the row lacks is skipped (its rules unchecked) instead of read as
// empty.
type mapper struct {
	get     func(string) (string, bool)
	partial bool
	err     *FieldError
}

func (m *mapper) value(col string) string {
	v, _ := m.get(col)
	return strings.TrimSpace(v)
}

// has reports whether the row has column col.
func (m *mapper) has(col string) bool {
	_, ok := m.get(col)
	return ok
}

// skip reports whether field column col is left out of a partial row.
func (m *mapper) skip(col string) bool { return m.partial && !m.has(col) }

func (m *mapper) fail(col, format string, args ...any) {
	if m.err == nil {
		m.err = &FieldError{col, fmt.Sprintf(format, args...)}
	}
}

func (m *mapper) build(kind Kind) *registryv1.Resource {
	switch kind {
	case Program:
		return &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{
			Name:        m.name("programs"),
			DisplayName: m.value("display_name"),
			Level:       registryv1.ProgramLevel(m.enum("level", "PROGRAM_LEVEL_", registryv1.ProgramLevel_value)),
		}}}
	case Entity:
		return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{
			Name:                   m.name("entities"),
			DisplayName:            m.value("display_name"),
			Kind:                   registryv1.EntityKind(m.enum("kind", "ENTITY_KIND_", registryv1.EntityKind_value)),
			CreditCode:             m.value("credit_code"),
			Region:                 m.value("region"),
			Industries:             m.list("industries"),
			LeadingEnterprise:      m.bool("leading_enterprise"),
			FutureIndustryPlatform: m.bool("future_industry_platform"),
			Status:                 m.status(),
			EndTime:                m.time("end_time"),
		}}}
	case Group:
		return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{
			Name:        m.name("groups"),
			DisplayName: m.value("display_name"),
			Kind:        registryv1.GroupKind(m.enum("kind", "GROUP_KIND_", registryv1.GroupKind_value)),
			Field:       m.value("field"),
		}}}
	case Membership:
		group := m.ref("group", "groups", true)
		entity := m.ref("entity", "entities", true)
		if id := m.value("id"); id != "" && "entities/"+id != entity && id != entity {
			m.fail("id", "a membership's id is its entity's id; leave it empty or write %q", strings.TrimPrefix(entity, "entities/"))
		}
		ms := &registryv1.Membership{
			Name:   group + "/memberships/" + strings.TrimPrefix(entity, "entities/"),
			Entity: entity,
			Role:   registryv1.MembershipRole(m.enum("role", "MEMBERSHIP_ROLE_", registryv1.MembershipRole_value)),
		}
		ms.JoinTime = m.time("join_time")
		ms.Status = m.status()
		ms.EndTime = m.time("end_time")
		return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: ms}}
	case Policy:
		var programs []string
		for _, p := range m.list("programs") {
			programs = append(programs, m.refValue("programs", p, "programs"))
		}
		return &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{
			Name:       m.name("policies"),
			Title:      m.value("title"),
			Issuer:     m.value("issuer"),
			Level:      registryv1.PolicyLevel(m.enum("level", "POLICY_LEVEL_", registryv1.PolicyLevel_value)),
			IssueTime:  m.time("issue_time"),
			Pilot:      m.bool("pilot"),
			Industries: m.list("industries"),
			Programs:   programs,
		}}}
	case Target:
		return &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{
			Name:        m.name("targets"),
			DisplayName: m.value("display_name"),
			Metric:      registryv1.TargetMetric(m.enum("metric", "TARGET_METRIC_", registryv1.TargetMetric_value)),
			GoalValue:   m.int("goal_value"),
			Scope:       m.ref("scope", "groups", false),
			Deadline:    m.time("deadline"),
		}}}
	default:
		return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: &registryv1.TalentRecord{
			Name:     m.name("talentRecords"),
			Subject:  m.subject(),
			Category: registryv1.TalentCategory(m.enum("category", "TALENT_CATEGORY_", registryv1.TalentCategory_value)),
			Count:    m.int("count"),
			Program:  m.ref("program", "programs", false),
			Period:   m.value("period"),
		}}}
	}
}

// name returns collection/{id} from the id column, which may hold the id or
// the full name. An empty id gives an empty name: a create call lets the
// registry choose one, and Import refuses the item.
func (m *mapper) name(collection string) string {
	return m.ref("id", collection, false)
}

// ref reads a reference to a resource of collection: its id or its full
// name.
func (m *mapper) ref(col, collection string, required bool) string {
	v := m.value(col)
	if v == "" {
		if required {
			m.fail(col, "required")
		}
		return ""
	}
	return m.refValue(col, v, collection)
}

// refValue reads one reference v in column col: an id or a full name.
func (m *mapper) refValue(col, v, collection string) string {
	id := strings.TrimPrefix(v, collection+"/")
	if !validID(id) {
		m.fail(col, "%q is not an id (lower-case letters, digits and '-', starting with a letter, at most 63) nor a %s/{id} name", v, collection)
		return ""
	}
	return collection + "/" + id
}

// subject reads the subject column: entities/{id} or groups/{id}.
func (m *mapper) subject() string {
	if m.skip("subject") {
		return ""
	}
	v := m.value("subject")
	coll, id, ok := strings.Cut(v, "/")
	switch {
	case v == "":
		m.fail("subject", "required")
	case !ok || coll != "entities" && coll != "groups" || !validID(id):
		m.fail("subject", "%q: want entities/{id} or groups/{id}", v)
	}
	return v
}

// enum reads an enum value by its name with or without prefix, in any
// case, with "_", "-" or " " between words.
func (m *mapper) enum(col, prefix string, values map[string]int32) int32 {
	if m.skip(col) {
		return 0
	}
	v := m.value(col)
	if v == "" {
		m.fail(col, "required")
		return 0
	}
	name := flatten(v, true)
	if n, ok := values[prefix+strings.TrimPrefix(name, prefix)]; ok && n != 0 {
		return n
	}
	var allowed []string
	for name, n := range values {
		if n != 0 {
			allowed = append(allowed, strings.ToLower(strings.TrimPrefix(name, prefix)))
		}
	}
	slices.Sort(allowed)
	m.fail(col, "unknown value %q (want one of %s)", v, strings.Join(allowed, ", "))
	return 0
}

// status reads a lifecycle status (active, inactive, withdrawn); empty
// is unspecified, which the registry stores as active.
func (m *mapper) status() registryv1.LifecycleStatus {
	if m.value("status") == "" {
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED
	}
	return registryv1.LifecycleStatus(m.enum("status", "LIFECYCLE_STATUS_", registryv1.LifecycleStatus_value))
}

// bool reads true/false, yes/no, y/n, 1/0 (empty is false).
func (m *mapper) bool(col string) bool {
	switch v := strings.ToLower(m.value(col)); v {
	case "", "false", "no", "n", "0", "f":
		return false
	case "true", "yes", "y", "1", "t":
		return true
	default:
		m.fail(col, "%q is not a boolean (want true or false)", v)
		return false
	}
}

// int reads a whole number.
func (m *mapper) int(col string) int64 {
	if m.skip(col) {
		return 0
	}
	v := m.value(col)
	if v == "" {
		m.fail(col, "required")
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		m.fail(col, "%q is not a whole number", v)
	}
	return n
}

// list reads a ";"-separated list, dropping empty elements.
func (m *mapper) list(col string) []string {
	var out []string
	for _, s := range strings.Split(m.value(col), ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// time reads an RFC 3339 time or a YYYY-MM-DD date (midnight UTC); empty
// means unset.
func (m *mapper) time(col string) *timestamppb.Timestamp {
	v := m.value(col)
	if v == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return timestamppb.New(t)
		}
	}
	m.fail(col, "%q is not a date (YYYY-MM-DD) or an RFC 3339 time", v)
	return nil
}

// Values returns the row describing r, aligned with Columns: the inverse of
// Resource.
func Values(r *registryv1.Resource) []string {
	v := map[string]string{}
	short := func(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }
	enum := func(name, prefix string) string { return strings.ToLower(strings.TrimPrefix(name, prefix)) }
	switch x := r.GetResource().(type) {
	case *registryv1.Resource_Program:
		p := x.Program
		v["type"], v["id"], v["display_name"], v["level"] = "program", short(p.Name), p.DisplayName, enum(p.Level.String(), "PROGRAM_LEVEL_")
	case *registryv1.Resource_Entity:
		e := x.Entity
		v["type"], v["id"], v["display_name"], v["kind"] = "entity", short(e.Name), e.DisplayName, enum(e.Kind.String(), "ENTITY_KIND_")
		v["credit_code"], v["region"], v["industries"] = e.CreditCode, e.Region, strings.Join(e.Industries, ";")
		v["leading_enterprise"], v["future_industry_platform"] = flag(e.LeadingEnterprise), flag(e.FutureIndustryPlatform)
		v["status"], v["end_time"] = lifecycle(e.Status), timeValue(e.EndTime)
	case *registryv1.Resource_Group:
		g := x.Group
		v["type"], v["id"], v["display_name"], v["kind"], v["field"] = "group", short(g.Name), g.DisplayName, enum(g.Kind.String(), "GROUP_KIND_"), g.Field
	case *registryv1.Resource_Membership:
		ms := x.Membership
		group, _, _ := strings.Cut(ms.Name, "/memberships/")
		v["type"], v["group"], v["entity"], v["role"] = "membership", short(group), short(ms.Entity), enum(ms.Role.String(), "MEMBERSHIP_ROLE_")
		v["join_time"] = timeValue(ms.JoinTime)
		v["status"], v["end_time"] = lifecycle(ms.Status), timeValue(ms.EndTime)
	case *registryv1.Resource_TalentRecord:
		t := x.TalentRecord
		v["type"], v["id"], v["subject"], v["category"] = "talent_record", short(t.Name), t.Subject, enum(t.Category.String(), "TALENT_CATEGORY_")
		v["count"], v["program"], v["period"] = strconv.FormatInt(t.Count, 10), short(t.Program), t.Period
	case *registryv1.Resource_Policy:
		p := x.Policy
		v["type"], v["id"], v["title"], v["issuer"] = "policy", short(p.Name), p.Title, p.Issuer
		v["level"], v["issue_time"], v["pilot"] = enum(p.Level.String(), "POLICY_LEVEL_"), timeValue(p.IssueTime), flag(p.Pilot)
		programs := make([]string, len(p.Programs))
		for i, name := range p.Programs {
			programs[i] = short(name)
		}
		v["industries"], v["programs"] = strings.Join(p.Industries, ";"), strings.Join(programs, ";")
	case *registryv1.Resource_Target:
		t := x.Target
		v["type"], v["id"], v["display_name"], v["metric"] = "target", short(t.Name), t.DisplayName, enum(t.Metric.String(), "TARGET_METRIC_")
		v["goal_value"], v["deadline"] = strconv.FormatInt(t.GoalValue, 10), timeValue(t.Deadline)
		if t.Scope != "" {
			v["scope"] = short(t.Scope)
		}
	}
	out := make([]string, len(Columns))
	for i, c := range Columns {
		out[i] = v[c]
	}
	return out
}

// timeValue writes a time to the nanosecond, so that a file written from
// the registry reads back to the same instant; empty when unset.
func timeValue(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().Format(time.RFC3339Nano)
}

// lifecycle writes a status; active, the default, is left empty.
func lifecycle(s registryv1.LifecycleStatus) string {
	if s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE || s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "LIFECYCLE_STATUS_"))
}

func flag(b bool) string {
	if b {
		return "true"
	}
	return ""
}

// ColumnOf returns the column a registry field path names, e.g.
// "items[3].entity.credit_code" → "credit_code", "talent_record.name" →
// "id", "entity.industries[2]" → "industries". Unknown paths come back as
// given.
func ColumnOf(path string) string {
	if path == "" {
		return ""
	}
	last := path[strings.LastIndexByte(path, '.')+1:]
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	switch {
	case last == "name":
		return "id"
	case slices.Contains(Columns, last):
		return last
	}
	return path
}
