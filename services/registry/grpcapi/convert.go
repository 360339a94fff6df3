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
	}
}

func entityFromProto(p *registryv1.Entity, id string) *registry.Entity {
	return &registry.Entity{
		ID: id, DisplayName: p.GetDisplayName(), Kind: registry.EntityKind(p.GetKind()),
		CreditCode: p.GetCreditCode(), Region: p.GetRegion(), Industries: p.GetIndustries(),
		LeadingEnterprise: p.GetLeadingEnterprise(), FutureIndustryPlatform: p.GetFutureIndustryPlatform(),
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
	}
}

func membershipFromProto(p *registryv1.Membership, groupID, entityID string) *registry.Membership {
	return &registry.Membership{GroupID: groupID, EntityID: entityID, Role: registry.MembershipRole(p.GetRole()), JoinTime: fromTS(p.GetJoinTime())}
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
	}
	return nil
}

// resourceFromProto converts an Import item, whose name says where it goes.
// field prefixes errors, e.g. "items[3]".
func resourceFromProto(field string, p *registryv1.Resource) (registry.Resource, error) {
	switch x := p.GetResource().(type) {
	case *registryv1.Resource_Entity:
		id, err := registry.ParseName(field+".entity.name", registry.Entities, x.Entity.GetName())
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
			err = checkTimestamp(field+".membership.join_time", x.Membership.GetJoinTime())
		}
		return membershipFromProto(x.Membership, g, e), err
	case *registryv1.Resource_TalentRecord:
		id, err := registry.ParseName(field+".talent_record.name", registry.TalentRecords, x.TalentRecord.GetName())
		return talentRecordFromProto(x.TalentRecord, id), err
	case *registryv1.Resource_Program:
		id, err := registry.ParseName(field+".program.name", registry.Programs, x.Program.GetName())
		return programFromProto(x.Program, id), err
	}
	return nil, registry.InvalidField(field, "must hold one of entity, group, membership, talent_record, program")
}

func changeToProto(c *registry.Change) *registryv1.Change {
	p := &registryv1.Change{
		Revision: c.Revision, CommitTime: ts(c.CommitTime), Type: registryv1.ChangeType(c.Type), Name: c.Name(),
		TransactionFirstRevision: c.TxnFirst, TransactionLastRevision: c.TxnLast,
	}
	if c.Before != nil {
		p.Before = resourceToProto(c.Before)
	}
	if c.After != nil {
		p.After = resourceToProto(c.After)
	}
	return p
}
