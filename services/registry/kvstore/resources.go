package kvstore

import (
	"context"

	"talentreg/services/registry"
)

// The typed methods of registry.Store: thin wrappers that pick the schema
// and key, so the transaction logic exists once, in crud.go.

// CreateEntity implements registry.Store.
func (s *Store) CreateEntity(ctx context.Context, e *registry.Entity, requestID string) (*registry.Entity, int64, error) {
	r, rev, err := s.create(ctx, e, requestID)
	return as[*registry.Entity](r), rev, err
}

// GetEntity implements registry.Store.
func (s *Store) GetEntity(ctx context.Context, id string) (*registry.Entity, error) {
	r, err := s.getOne(ctx, entitySchema, []byte(id), registry.EntityName(id))
	return as[*registry.Entity](r), err
}

// ListEntities implements registry.Store.
func (s *Store) ListEntities(ctx context.Context, q registry.ListQuery) ([]*registry.Entity, string, error) {
	return list[*registry.Entity](s, ctx, entitySchema, nil, q)
}

// VisitEntities implements registry.Store.
func (s *Store) VisitEntities(ctx context.Context, q registry.ListQuery, fn func(*registry.Entity)) (string, error) {
	return visit(s, ctx, entitySchema, nil, q, func(r registry.Resource) { fn(r.(*registry.Entity)) })
}

// UpdateEntity implements registry.Store.
func (s *Store) UpdateEntity(ctx context.Context, id, etag string, apply func(*registry.Entity)) (*registry.Entity, int64, error) {
	r, rev, err := s.update(ctx, entitySchema, []byte(id), registry.EntityName(id), etag,
		func(r registry.Resource) { apply(r.(*registry.Entity)) })
	return as[*registry.Entity](r), rev, err
}

// DeleteEntity implements registry.Store.
func (s *Store) DeleteEntity(ctx context.Context, id, etag string, force bool) (int64, error) {
	return s.remove(ctx, entitySchema, []byte(id), registry.EntityName(id), etag, force)
}

// CreateGroup implements registry.Store.
func (s *Store) CreateGroup(ctx context.Context, g *registry.Group, requestID string) (*registry.Group, int64, error) {
	r, rev, err := s.create(ctx, g, requestID)
	return as[*registry.Group](r), rev, err
}

// GetGroup implements registry.Store.
func (s *Store) GetGroup(ctx context.Context, id string) (*registry.Group, error) {
	r, err := s.getOne(ctx, groupSchema, []byte(id), registry.GroupName(id))
	return as[*registry.Group](r), err
}

// ListGroups implements registry.Store.
func (s *Store) ListGroups(ctx context.Context, q registry.ListQuery) ([]*registry.Group, string, error) {
	return list[*registry.Group](s, ctx, groupSchema, nil, q)
}

// UpdateGroup implements registry.Store.
func (s *Store) UpdateGroup(ctx context.Context, id, etag string, apply func(*registry.Group)) (*registry.Group, int64, error) {
	r, rev, err := s.update(ctx, groupSchema, []byte(id), registry.GroupName(id), etag,
		func(r registry.Resource) { apply(r.(*registry.Group)) })
	return as[*registry.Group](r), rev, err
}

// DeleteGroup implements registry.Store.
func (s *Store) DeleteGroup(ctx context.Context, id, etag string, force bool) (int64, error) {
	return s.remove(ctx, groupSchema, []byte(id), registry.GroupName(id), etag, force)
}

// CreateMembership implements registry.Store.
func (s *Store) CreateMembership(ctx context.Context, m *registry.Membership, requestID string) (*registry.Membership, int64, error) {
	if m.JoinTime.IsZero() {
		m.JoinTime = s.opts.Clock().UTC()
	}
	r, rev, err := s.create(ctx, m, requestID)
	return as[*registry.Membership](r), rev, err
}

// GetMembership implements registry.Store.
func (s *Store) GetMembership(ctx context.Context, groupID, entityID string) (*registry.Membership, error) {
	r, err := s.getOne(ctx, membershipSchema, membershipKey(groupID, entityID), registry.MembershipName(groupID, entityID))
	return as[*registry.Membership](r), err
}

// ListMemberships implements registry.Store.
func (s *Store) ListMemberships(ctx context.Context, groupID string, q registry.ListQuery) ([]*registry.Membership, string, error) {
	var prefix []byte
	if groupID != "-" {
		prefix = append([]byte(groupID), sep)
	}
	return list[*registry.Membership](s, ctx, membershipSchema, prefix, q)
}

// UpdateMembership implements registry.Store.
func (s *Store) UpdateMembership(ctx context.Context, groupID, entityID, etag string, apply func(*registry.Membership)) (*registry.Membership, int64, error) {
	r, rev, err := s.update(ctx, membershipSchema, membershipKey(groupID, entityID), registry.MembershipName(groupID, entityID), etag,
		func(r registry.Resource) { apply(r.(*registry.Membership)) })
	return as[*registry.Membership](r), rev, err
}

// DeleteMembership implements registry.Store.
func (s *Store) DeleteMembership(ctx context.Context, groupID, entityID, etag string) (int64, error) {
	return s.remove(ctx, membershipSchema, membershipKey(groupID, entityID), registry.MembershipName(groupID, entityID), etag, false)
}

// CreateTalentRecord implements registry.Store.
func (s *Store) CreateTalentRecord(ctx context.Context, tr *registry.TalentRecord, requestID string) (*registry.TalentRecord, int64, error) {
	r, rev, err := s.create(ctx, tr, requestID)
	return as[*registry.TalentRecord](r), rev, err
}

// GetTalentRecord implements registry.Store.
func (s *Store) GetTalentRecord(ctx context.Context, id string) (*registry.TalentRecord, error) {
	r, err := s.getOne(ctx, talentRecordSchema, []byte(id), registry.TalentRecordName(id))
	return as[*registry.TalentRecord](r), err
}

// ListTalentRecords implements registry.Store.
func (s *Store) ListTalentRecords(ctx context.Context, q registry.ListQuery) ([]*registry.TalentRecord, string, error) {
	return list[*registry.TalentRecord](s, ctx, talentRecordSchema, nil, q)
}

// UpdateTalentRecord implements registry.Store.
func (s *Store) UpdateTalentRecord(ctx context.Context, id, etag string, apply func(*registry.TalentRecord)) (*registry.TalentRecord, int64, error) {
	r, rev, err := s.update(ctx, talentRecordSchema, []byte(id), registry.TalentRecordName(id), etag,
		func(r registry.Resource) { apply(r.(*registry.TalentRecord)) })
	return as[*registry.TalentRecord](r), rev, err
}

// DeleteTalentRecord implements registry.Store.
func (s *Store) DeleteTalentRecord(ctx context.Context, id, etag string) (int64, error) {
	return s.remove(ctx, talentRecordSchema, []byte(id), registry.TalentRecordName(id), etag, false)
}

// CreateProgram implements registry.Store.
func (s *Store) CreateProgram(ctx context.Context, p *registry.Program, requestID string) (*registry.Program, int64, error) {
	r, rev, err := s.create(ctx, p, requestID)
	return as[*registry.Program](r), rev, err
}

// GetProgram implements registry.Store.
func (s *Store) GetProgram(ctx context.Context, id string) (*registry.Program, error) {
	r, err := s.getOne(ctx, programSchema, []byte(id), registry.ProgramName(id))
	return as[*registry.Program](r), err
}

// ListPrograms implements registry.Store.
func (s *Store) ListPrograms(ctx context.Context, q registry.ListQuery) ([]*registry.Program, string, error) {
	return list[*registry.Program](s, ctx, programSchema, nil, q)
}

// UpdateProgram implements registry.Store.
func (s *Store) UpdateProgram(ctx context.Context, id, etag string, apply func(*registry.Program)) (*registry.Program, int64, error) {
	r, rev, err := s.update(ctx, programSchema, []byte(id), registry.ProgramName(id), etag,
		func(r registry.Resource) { apply(r.(*registry.Program)) })
	return as[*registry.Program](r), rev, err
}

// DeleteProgram implements registry.Store.
func (s *Store) DeleteProgram(ctx context.Context, id, etag string, force bool) (int64, error) {
	return s.remove(ctx, programSchema, []byte(id), registry.ProgramName(id), etag, force)
}

// CreateTarget implements registry.Store.
func (s *Store) CreateTarget(ctx context.Context, x *registry.Target, requestID string) (*registry.Target, int64, error) {
	r, rev, err := s.create(ctx, x, requestID)
	return as[*registry.Target](r), rev, err
}

// GetTarget implements registry.Store.
func (s *Store) GetTarget(ctx context.Context, id string) (*registry.Target, error) {
	r, err := s.getOne(ctx, targetSchema, []byte(id), registry.TargetName(id))
	return as[*registry.Target](r), err
}

// ListTargets implements registry.Store.
func (s *Store) ListTargets(ctx context.Context, q registry.ListQuery) ([]*registry.Target, string, error) {
	return list[*registry.Target](s, ctx, targetSchema, nil, q)
}

// UpdateTarget implements registry.Store.
func (s *Store) UpdateTarget(ctx context.Context, id, etag string, apply func(*registry.Target)) (*registry.Target, int64, error) {
	r, rev, err := s.update(ctx, targetSchema, []byte(id), registry.TargetName(id), etag,
		func(r registry.Resource) { apply(r.(*registry.Target)) })
	return as[*registry.Target](r), rev, err
}

// DeleteTarget implements registry.Store.
func (s *Store) DeleteTarget(ctx context.Context, id, etag string) (int64, error) {
	return s.remove(ctx, targetSchema, []byte(id), registry.TargetName(id), etag, false)
}

// CreatePolicy implements registry.Store.
func (s *Store) CreatePolicy(ctx context.Context, x *registry.Policy, requestID string) (*registry.Policy, int64, error) {
	r, rev, err := s.create(ctx, x, requestID)
	return as[*registry.Policy](r), rev, err
}

// GetPolicy implements registry.Store.
func (s *Store) GetPolicy(ctx context.Context, id string) (*registry.Policy, error) {
	r, err := s.getOne(ctx, policySchema, []byte(id), registry.PolicyName(id))
	return as[*registry.Policy](r), err
}

// ListPolicies implements registry.Store.
func (s *Store) ListPolicies(ctx context.Context, q registry.ListQuery) ([]*registry.Policy, string, error) {
	return list[*registry.Policy](s, ctx, policySchema, nil, q)
}

// UpdatePolicy implements registry.Store.
func (s *Store) UpdatePolicy(ctx context.Context, id, etag string, apply func(*registry.Policy)) (*registry.Policy, int64, error) {
	r, rev, err := s.update(ctx, policySchema, []byte(id), registry.PolicyName(id), etag,
		func(r registry.Resource) { apply(r.(*registry.Policy)) })
	return as[*registry.Policy](r), rev, err
}

// DeletePolicy implements registry.Store.
func (s *Store) DeletePolicy(ctx context.Context, id, etag string) (int64, error) {
	return s.remove(ctx, policySchema, []byte(id), registry.PolicyName(id), etag, false)
}

// as converts a Resource to its concrete type, keeping nil as nil.
func as[T registry.Resource](r registry.Resource) T {
	var zero T
	if r == nil {
		return zero
	}
	return r.(T)
}
