package grpcapi

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
)

// Conversions between the wire (registryv1) and the domain (registry). They
// copy fields only; validation is the domain's.

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// checkTimestamp refuses a timestamp a client set that is malformed (nanos
// out of range, a year outside 1-9999) or is 0001-01-01T00:00:00Z, which
// would otherwise read as "not set"; the domain checks the range of the
// rest.
func checkTimestamp(field string, t *timestamppb.Timestamp) error {
	if t == nil {
		return nil
	}
	if err := t.CheckValid(); err != nil {
		return registry.InvalidField(field, "must be a valid timestamp: seconds within years 1-9999 and nanos within 0-999999999, got seconds %d nanos %d", t.GetSeconds(), t.GetNanos())
	}
	if t.AsTime().IsZero() {
		return registry.InvalidField(field, "must be in the years 1900-2200, got %s", t.AsTime().Format(time.RFC3339))
	}
	return nil
}

func entityToProto(e *registry.Entity) *registryv1.Entity {
	return &registryv1.Entity{
		Name: e.Name(), DisplayName: e.DisplayName, Kind: registryv1.EntityKind(e.Kind),
		CreditCode: e.CreditCode, Region: e.Region, Industries: e.Industries,
		LeadingEnterprise: e.LeadingEnterprise, FutureIndustryPlatform: e.FutureIndustryPlatform,
		CreateTime: ts(e.CreateTime), UpdateTime: ts(e.UpdateTime), Etag: e.Etag(),
		Status: registryv1.LifecycleStatus(e.Status), EndTime: ts(e.EndTime),
	}
}

// lifecycleFromProto reads a lifecycle a client sent: unspecified is
// active (API contract), so a create replayed by request id compares
// equal to the stored result.
func lifecycleFromProto(status registryv1.LifecycleStatus, end *timestamppb.Timestamp) registry.Lifecycle {
	l := registry.Lifecycle{Status: registry.LifecycleStatus(status), EndTime: fromTS(end)}
	if l.Status == registry.LifecycleUnspecified {
		l.Status = registry.LifecycleActive
	}
	return l
}

func entityFromProto(p *registryv1.Entity, id string) *registry.Entity {
	return &registry.Entity{
		ID: id, DisplayName: p.GetDisplayName(), Kind: registry.EntityKind(p.GetKind()),
		CreditCode: p.GetCreditCode(), Region: p.GetRegion(), Industries: p.GetIndustries(),
		LeadingEnterprise: p.GetLeadingEnterprise(), FutureIndustryPlatform: p.GetFutureIndustryPlatform(),
		Lifecycle: lifecycleFromProto(p.GetStatus(), p.GetEndTime()),
	}
}

func groupToProto(g *registry.Group) *registryv1.Group {
	return &registryv1.Group{
		Name: g.Name(), DisplayName: g.DisplayName, Kind: registryv1.GroupKind(g.Kind), Field: g.Field,
		CreateTime: ts(g.CreateTime), UpdateTime: ts(g.UpdateTime), Etag: g.Etag(),
	}
}

func groupFromProto(p *registryv1.Group, id string) *registry.Group {
	return &registry.Group{ID: id, DisplayName: p.GetDisplayName(), Kind: registry.GroupKind(p.GetKind()), Field: p.GetField()}
}

func membershipToProto(m *registry.Membership) *registryv1.Membership {
	return &registryv1.Membership{
		Name: m.Name(), Entity: registry.EntityName(m.EntityID), Role: registryv1.MembershipRole(m.Role),
		JoinTime: ts(m.JoinTime), CreateTime: ts(m.CreateTime), UpdateTime: ts(m.UpdateTime), Etag: m.Etag(),
		Status: registryv1.LifecycleStatus(m.Status), EndTime: ts(m.EndTime),
	}
}

func membershipFromProto(p *registryv1.Membership, groupID, entityID string) *registry.Membership {
	return &registry.Membership{GroupID: groupID, EntityID: entityID, Role: registry.MembershipRole(p.GetRole()), JoinTime: fromTS(p.GetJoinTime()),
		Lifecycle: lifecycleFromProto(p.GetStatus(), p.GetEndTime())}
}

func talentRecordToProto(r *registry.TalentRecord) *registryv1.TalentRecord {
	return &registryv1.TalentRecord{
		Name: r.Name(), Subject: r.Subject, Category: registryv1.TalentCategory(r.Category), Count: r.Count,
		Program: r.Program, Period: r.Period,
		CreateTime: ts(r.CreateTime), UpdateTime: ts(r.UpdateTime), Etag: r.Etag(),
	}
}

func talentRecordFromProto(p *registryv1.TalentRecord, id string) *registry.TalentRecord {
	return &registry.TalentRecord{
		ID: id, Subject: p.GetSubject(), Category: registry.TalentCategory(p.GetCategory()), Count: p.GetCount(),
		Program: p.GetProgram(), Period: p.GetPeriod(),
	}
}

func programToProto(p *registry.Program) *registryv1.Program {
	return &registryv1.Program{
		Name: p.Name(), DisplayName: p.DisplayName, Level: registryv1.ProgramLevel(p.Level),
		CreateTime: ts(p.CreateTime), UpdateTime: ts(p.UpdateTime), Etag: p.Etag(),
	}
}

func programFromProto(p *registryv1.Program, id string) *registry.Program {
	return &registry.Program{ID: id, DisplayName: p.GetDisplayName(), Level: registry.ProgramLevel(p.GetLevel())}
}

func targetToProto(t *registry.Target) *registryv1.Target {
	return &registryv1.Target{
		Name: t.Name(), DisplayName: t.DisplayName, Metric: registryv1.TargetMetric(t.Metric), GoalValue: t.GoalValue,
		Scope: t.Scope, Deadline: ts(t.Deadline),
		CreateTime: ts(t.CreateTime), UpdateTime: ts(t.UpdateTime), Etag: t.Etag(),
	}
}

func targetFromProto(p *registryv1.Target, id string) *registry.Target {
	return &registry.Target{
		ID: id, DisplayName: p.GetDisplayName(), Metric: registry.TargetMetric(p.GetMetric()), GoalValue: p.GetGoalValue(),
		Scope: p.GetScope(), Deadline: fromTS(p.GetDeadline()),
	}
}

func policyToProto(p *registry.Policy) *registryv1.Policy {
	return &registryv1.Policy{
		Name: p.Name(), Title: p.Title, Issuer: p.Issuer, Level: registryv1.PolicyLevel(p.Level), IssueTime: ts(p.IssueTime),
		Pilot: p.Pilot, Industries: p.Industries, Programs: p.Programs,
		CreateTime: ts(p.CreateTime), UpdateTime: ts(p.UpdateTime), Etag: p.Etag(),
	}
}

func policyFromProto(p *registryv1.Policy, id string) *registry.Policy {
	return &registry.Policy{
		ID: id, Title: p.GetTitle(), Issuer: p.GetIssuer(), Level: registry.PolicyLevel(p.GetLevel()), IssueTime: fromTS(p.GetIssueTime()),
		Pilot: p.GetPilot(), Industries: p.GetIndustries(), Programs: p.GetPrograms(),
	}
}

// checkTimestamps checks every client-set timestamp of r, naming fields
// under prefix (e.g. "items[3].") in the order of their names. It runs for
// every imported item: no maps, no names built unless a check fails.
func checkTimestamps(prefix string, r *registryv1.Resource) error {
	var v registry.Violations
	check := func(name string, t *timestamppb.Timestamp) {
		if t != nil {
			if err := checkTimestamp(name, t); err != nil {
				_ = v.Merge(checkTimestamp(prefix+name, t))
			}
		}
	}
	switch x := r.GetResource().(type) {
	case *registryv1.Resource_Entity:
		check("entity.end_time", x.Entity.GetEndTime())
	case *registryv1.Resource_Membership:
		check("membership.end_time", x.Membership.GetEndTime())
		check("membership.join_time", x.Membership.GetJoinTime())
	case *registryv1.Resource_Target:
		check("target.deadline", x.Target.GetDeadline())
	case *registryv1.Resource_Policy:
		check("policy.issue_time", x.Policy.GetIssueTime())
	}
	return v.Err()
}

func resourceToProto(r registry.Resource) *registryv1.Resource {
	switch r := r.(type) {
	case *registry.Entity:
		return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: entityToProto(r)}}
	case *registry.Group:
		return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: groupToProto(r)}}
	case *registry.Membership:
		return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: membershipToProto(r)}}
	case *registry.TalentRecord:
		return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: talentRecordToProto(r)}}
	case *registry.Program:
		return &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: programToProto(r)}}
	case *registry.Target:
		return &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: targetToProto(r)}}
	case *registry.Policy:
		return &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: policyToProto(r)}}
	}
	return nil
}

// resourceFromProto converts an Import item, whose name says where it goes.
// field prefixes errors, e.g. "items[3]".
func resourceFromProto(field string, p *registryv1.Resource) (registry.Resource, error) {
	switch x := p.GetResource().(type) {
	case *registryv1.Resource_Entity:
		id, err := registry.ParseName(field+".entity.name", registry.Entities, x.Entity.GetName())
		if err == nil {
			err = checkTimestamps(field+".", p)
		}
		return entityFromProto(x.Entity, id), err
	case *registryv1.Resource_Group:
		id, err := registry.ParseName(field+".group.name", registry.Groups, x.Group.GetName())
		return groupFromProto(x.Group, id), err
	case *registryv1.Resource_Membership:
		g, e, err := registry.ParseMembershipName(field+".membership.name", x.Membership.GetName())
		if err == nil && x.Membership.GetEntity() != "" && x.Membership.GetEntity() != registry.EntityName(e) {
			err = registry.InvalidField(field+".membership.entity", "must be %s, the entity named by the membership's name", registry.EntityName(e))
		}
		if err == nil {
			err = checkTimestamps(field+".", p)
		}
		return membershipFromProto(x.Membership, g, e), err
	case *registryv1.Resource_TalentRecord:
		id, err := registry.ParseName(field+".talent_record.name", registry.TalentRecords, x.TalentRecord.GetName())
		return talentRecordFromProto(x.TalentRecord, id), err
	case *registryv1.Resource_Program:
		id, err := registry.ParseName(field+".program.name", registry.Programs, x.Program.GetName())
		return programFromProto(x.Program, id), err
	case *registryv1.Resource_Target:
		id, err := registry.ParseName(field+".target.name", registry.Targets, x.Target.GetName())
		if err == nil {
			err = checkTimestamps(field+".", p)
		}
		return targetFromProto(x.Target, id), err
	case *registryv1.Resource_Policy:
		id, err := registry.ParseName(field+".policy.name", registry.Policies, x.Policy.GetName())
		if err == nil {
			err = checkTimestamps(field+".", p)
		}
		return policyFromProto(x.Policy, id), err
	}
	return nil, registry.InvalidField(field, "must hold one of entity, group, membership, talent_record, program, target, policy")
}
