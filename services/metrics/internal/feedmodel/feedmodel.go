// Package feedmodel is an in-memory model of the registry's resources and
// change feed for unit tests: each operation returns the changes the
// registry would commit, with before and after images and consecutive
// revisions, cascade deletes included — in a shuffled order when a shuffle
// function is given, since consumers must not rely on the order of the
// changes within one transaction.
package feedmodel

import (
	"maps"
	"slices"
	"strings"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/protobuf/proto"
)

// Model holds the resources by name and the revision of the last change.
type Model struct {
	Revision  int64
	resources map[string]*registryv1.Resource
	// Shuffle, when set, reorders the changes of a cascade delete.
	Shuffle func(n int, swap func(i, j int))
}

// New returns an empty model at revision 0.
func New() *Model { return &Model{resources: map[string]*registryv1.Resource{}} }

// Get returns the resource named name, or nil.
func (m *Model) Get(name string) *registryv1.Resource { return m.resources[name] }

// Names returns the names of the resources with prefix, sorted.
func (m *Model) Names(prefix string) []string {
	var out []string
	for n := range m.resources {
		if strings.HasPrefix(n, prefix) && (prefix != "groups/" || !strings.Contains(n, "/memberships/")) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Memberships returns the names of every membership, sorted.
func (m *Model) Memberships() []string {
	var out []string
	for n := range m.resources {
		if strings.Contains(n, "/memberships/") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Snapshot returns a copy of every resource, in the snapshot order
// (programmes, entities, groups, memberships, records).
func (m *Model) Snapshot() []*registryv1.Resource {
	order := func(r *registryv1.Resource) int {
		switch {
		case r.GetProgram() != nil:
			return 0
		case r.GetEntity() != nil:
			return 1
		case r.GetGroup() != nil:
			return 2
		case r.GetMembership() != nil:
			return 3
		}
		return 4
	}
	names := slices.Sorted(maps.Keys(m.resources))
	out := make([]*registryv1.Resource, 0, len(names))
	for _, n := range names {
		out = append(out, proto.Clone(m.resources[n]).(*registryv1.Resource))
	}
	slices.SortStableFunc(out, func(a, b *registryv1.Resource) int { return order(a) - order(b) })
	return out
}

// Put creates or replaces the resource (its name is read from it) and
// returns the change.
func (m *Model) Put(r *registryv1.Resource) []*registryv1.Change {
	name := NameOf(r)
	before := m.resources[name]
	r = proto.Clone(r).(*registryv1.Resource)
	m.resources[name] = r
	m.Revision++
	c := &registryv1.Change{Revision: m.Revision, Name: name, After: proto.Clone(r).(*registryv1.Resource),
		TransactionFirstRevision: m.Revision, TransactionLastRevision: m.Revision}
	if before != nil {
		c.Type = registryv1.ChangeType_CHANGE_TYPE_UPDATED
		c.Before = before
	} else {
		c.Type = registryv1.ChangeType_CHANGE_TYPE_CREATED
	}
	return []*registryv1.Change{c}
}

// Delete deletes the resource named name and everything that depends on it
// (memberships and records of an entity or group, records of a programme),
// one change each, in one transaction.
func (m *Model) Delete(name string) []*registryv1.Change {
	if m.resources[name] == nil {
		return nil
	}
	victims := []string{}
	for n, r := range m.resources {
		switch {
		case r.GetMembership() != nil:
			if strings.HasPrefix(n, name+"/memberships/") || r.GetMembership().GetEntity() == name {
				victims = append(victims, n)
			}
		case r.GetTalentRecord() != nil:
			if t := r.GetTalentRecord(); t.GetSubject() == name || t.GetProgram() == name {
				victims = append(victims, n)
			}
		}
	}
	slices.Sort(victims)
	victims = append(victims, name) // dependants first, like the registry
	if m.Shuffle != nil {
		m.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
	}
	var out []*registryv1.Change
	first, last := m.Revision+1, m.Revision+int64(len(victims))
	for _, n := range victims {
		m.Revision++
		out = append(out, &registryv1.Change{
			Revision: m.Revision,
			Type:     registryv1.ChangeType_CHANGE_TYPE_DELETED,
			Name:     n,
			Before:   m.resources[n],

			TransactionFirstRevision: first,
			TransactionLastRevision:  last,
		})
		delete(m.resources, n)
	}
	return out
}

// NameOf returns the resource name of r.
func NameOf(r *registryv1.Resource) string {
	switch {
	case r.GetEntity() != nil:
		return r.GetEntity().GetName()
	case r.GetGroup() != nil:
		return r.GetGroup().GetName()
	case r.GetMembership() != nil:
		return r.GetMembership().GetName()
	case r.GetTalentRecord() != nil:
		return r.GetTalentRecord().GetName()
	case r.GetProgram() != nil:
		return r.GetProgram().GetName()
	case r.GetPolicy() != nil:
		return r.GetPolicy().GetName()
	case r.GetTarget() != nil:
		return r.GetTarget().GetName()
	}
	return ""
}

// Policy returns a policy resource.
func Policy(id string, pilot bool) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{
		Name: "policies/" + id, Title: id, Pilot: pilot, Level: registryv1.PolicyLevel_POLICY_LEVEL_DISTRICT,
	}}}
}

// Target returns a target resource; scope is "" or a group name.
func Target(id string, metric registryv1.TargetMetric, goal int64, scope string) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{
		Name: "targets/" + id, DisplayName: id, Metric: metric, GoalValue: goal, Scope: scope,
	}}}
}

// Entity returns an entity resource.
func Entity(id string, kind registryv1.EntityKind, region string, industries []string, leading, platform bool) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{
		Name: "entities/" + id, DisplayName: id, Kind: kind, Region: region, Industries: industries,
		LeadingEnterprise: leading, FutureIndustryPlatform: platform,
	}}}
}

// Group returns a group resource.
func Group(id string, kind registryv1.GroupKind, field string) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{
		Name: "groups/" + id, DisplayName: id, Kind: kind, Field: field,
	}}}
}

// Membership returns a membership resource.
func Membership(group, entity string, role registryv1.MembershipRole) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{
		Name: "groups/" + group + "/memberships/" + entity, Entity: "entities/" + entity, Role: role,
	}}}
}

// Record returns a talent record resource; subject and program are
// resource names (program may be empty).
func Record(id, subject string, cat registryv1.TalentCategory, count int64, program, period string) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: &registryv1.TalentRecord{
		Name: "talentRecords/" + id, Subject: subject, Category: cat, Count: count, Program: program, Period: period,
	}}}
}

// Program returns a programme resource.
func Program(id string) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{
		Name: "programs/" + id, DisplayName: id, Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL,
	}}}
}
