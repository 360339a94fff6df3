package grpcapi

import (
	"context"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcserver"
	"talentreg/services/registry"
)

// Entities.

// CreateEntity implements registryv1.RegistryServiceServer.
func (s *Server) CreateEntity(ctx context.Context, req *registryv1.CreateEntityRequest) (*registryv1.CreateEntityResponse, error) {
	if req.GetEntity() == nil {
		return nil, s.err(ctx, required("entity"))
	}
	id, err := newID("entity_id", req.GetEntityId())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamp("entity.end_time", req.GetEntity().GetEndTime()); err != nil {
		return nil, s.err(ctx, err)
	}
	sent := entityFromProto(req.GetEntity(), id)
	e, rev, err := s.store.CreateEntity(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, e, req.GetEntityId() != "", defaultedEnd(req.GetEntity().GetEndTime())...)
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreateEntityResponse{Entity: entityToProto(e)}, nil
}

// BatchCreateEntities implements registryv1.RegistryServiceServer.
func (s *Server) BatchCreateEntities(ctx context.Context, req *registryv1.BatchCreateEntitiesRequest) (*registryv1.BatchCreateEntitiesResponse, error) {
	if n := len(req.GetRequests()); n == 0 || n > registry.MaxBatch {
		e := registry.InvalidField("requests", "must hold 1-%d requests, got %d", registry.MaxBatch, n)
		e.Reason = registry.ReasonBatchTooLarge
		return nil, s.err(ctx, e)
	}
	es := make([]*registry.Entity, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		field := "requests[" + itoa(i) + "]"
		if r.GetEntity() == nil {
			return nil, s.err(ctx, required(field+".entity"))
		}
		id, err := newID(field+".entity_id", r.GetEntityId())
		if err != nil {
			return nil, s.err(ctx, err)
		}
		if err := checkTimestamp(field+".entity.end_time", r.GetEntity().GetEndTime()); err != nil {
			return nil, s.err(ctx, err)
		}
		es[i] = entityFromProto(r.GetEntity(), id)
	}
	out, rev, err := s.store.BatchCreateEntities(ctx, es)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	resp := &registryv1.BatchCreateEntitiesResponse{Entities: make([]*registryv1.Entity, len(out))}
	for i, e := range out {
		resp.Entities[i] = entityToProto(e)
	}
	return resp, nil
}

// GetEntity implements registryv1.RegistryServiceServer.
func (s *Server) GetEntity(ctx context.Context, req *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	e, err := s.getEntity(ctx, req)
	if err != nil {
		return nil, err
	}
	return &registryv1.GetEntityResponse{Entity: entityToProto(e)}, nil
}

// getEntity reads the entity req names; its error is the call's status.
func (s *Server) getEntity(ctx context.Context, req *registryv1.GetEntityRequest) (*registry.Entity, error) {
	id, err := registry.ParseName("name", registry.Entities, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	e, err := s.store.GetEntity(ctx, id)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return e, nil
}

// getEntityWire is GetEntity encoded straight to the wire (Register routes
// the gRPC method here), the same bytes proto.Marshal writes for
// GetEntity's answer (TestGetEntityWire).
func (s *Server) getEntityWire(ctx context.Context, req *registryv1.GetEntityRequest) (*grpcserver.Encoded, error) {
	e, err := s.getEntity(ctx, req)
	if err != nil {
		return nil, err
	}
	return &grpcserver.Encoded{B: appendGetEntityResponse(nil, e)}, nil
}

// ListEntities implements registryv1.RegistryServiceServer. Served over
// gRPC, Register routes it to listEntitiesWire instead, which returns the
// same message already encoded.
func (s *Server) ListEntities(ctx context.Context, req *registryv1.ListEntitiesRequest) (*registryv1.ListEntitiesResponse, error) {
	es, next, err := s.listEntities(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListEntitiesResponse{Entities: make([]*registryv1.Entity, len(es)), NextPageToken: next}
	for i, e := range es {
		resp.Entities[i] = entityToProto(e)
	}
	return resp, nil
}

// listEntitiesWire is ListEntities encoded straight to the wire: a page of
// 50 entities as a message tree costs more to build and marshal than to
// read from bbolt. Each entity is encoded as the store reads it
// (VisitEntities), so the page is never built either.
func (s *Server) listEntitiesWire(ctx context.Context, req *registryv1.ListEntitiesRequest) (*grpcserver.Encoded, error) {
	const scope = "entities"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, entityFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	page := listPage{limit: q.Limit}
	next, err := s.store.VisitEntities(ctx, q, page.add)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &grpcserver.Encoded{B: page.finish(s.nextToken(scope, req.GetFilter(), next))}, nil
}

func (s *Server) listEntities(ctx context.Context, req *registryv1.ListEntitiesRequest) ([]*registry.Entity, string, error) {
	const scope = "entities"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, entityFilter, req.GetFilter())
	if err != nil {
		return nil, "", s.err(ctx, err)
	}
	es, next, err := s.store.ListEntities(ctx, q)
	if err != nil {
		return nil, "", s.err(ctx, err)
	}
	return es, s.nextToken(scope, req.GetFilter(), next), nil
}

// UpdateEntity implements registryv1.RegistryServiceServer.
func (s *Server) UpdateEntity(ctx context.Context, req *registryv1.UpdateEntityRequest) (*registryv1.UpdateEntityResponse, error) {
	if req.GetEntity() == nil {
		return nil, s.err(ctx, required("entity"))
	}
	id, err := registry.ParseName("entity.name", registry.Entities, req.GetEntity().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetEntity())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("entity.etag", req.GetEntity().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamp("entity.end_time", req.GetEntity().GetEndTime()); err != nil {
		return nil, s.err(ctx, err)
	}
	e, rev, err := s.store.UpdateEntity(ctx, id, req.GetEntity().GetEtag(), func(e *registry.Entity) {
		p := entityToProto(e)
		fieldmask.Update(mask, p, req.GetEntity())
		*e = *entityFromProto(p, e.ID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdateEntityResponse{Entity: entityToProto(e)}, nil
}

// DeleteEntity implements registryv1.RegistryServiceServer.
func (s *Server) DeleteEntity(ctx context.Context, req *registryv1.DeleteEntityRequest) (*registryv1.DeleteEntityResponse, error) {
	id, err := registry.ParseName("name", registry.Entities, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeleteEntity(ctx, id, req.GetEtag(), req.GetForce())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeleteEntityResponse{}, nil
}

// Groups.

// CreateGroup implements registryv1.RegistryServiceServer.
func (s *Server) CreateGroup(ctx context.Context, req *registryv1.CreateGroupRequest) (*registryv1.CreateGroupResponse, error) {
	if req.GetGroup() == nil {
		return nil, s.err(ctx, required("group"))
	}
	id, err := newID("group_id", req.GetGroupId())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	sent := groupFromProto(req.GetGroup(), id)
	g, rev, err := s.store.CreateGroup(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, g, req.GetGroupId() != "")
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreateGroupResponse{Group: groupToProto(g)}, nil
}

// GetGroup implements registryv1.RegistryServiceServer.
func (s *Server) GetGroup(ctx context.Context, req *registryv1.GetGroupRequest) (*registryv1.GetGroupResponse, error) {
	id, err := registry.ParseName("name", registry.Groups, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	g, err := s.store.GetGroup(ctx, id)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &registryv1.GetGroupResponse{Group: groupToProto(g)}, nil
}

// ListGroups implements registryv1.RegistryServiceServer.
func (s *Server) ListGroups(ctx context.Context, req *registryv1.ListGroupsRequest) (*registryv1.ListGroupsResponse, error) {
	const scope = "groups"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, groupFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	gs, next, err := s.store.ListGroups(ctx, q)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListGroupsResponse{Groups: make([]*registryv1.Group, len(gs)), NextPageToken: s.nextToken(scope, req.GetFilter(), next)}
	for i, g := range gs {
		resp.Groups[i] = groupToProto(g)
	}
	return resp, nil
}

// UpdateGroup implements registryv1.RegistryServiceServer.
func (s *Server) UpdateGroup(ctx context.Context, req *registryv1.UpdateGroupRequest) (*registryv1.UpdateGroupResponse, error) {
	if req.GetGroup() == nil {
		return nil, s.err(ctx, required("group"))
	}
	id, err := registry.ParseName("group.name", registry.Groups, req.GetGroup().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetGroup())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("group.etag", req.GetGroup().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	g, rev, err := s.store.UpdateGroup(ctx, id, req.GetGroup().GetEtag(), func(g *registry.Group) {
		p := groupToProto(g)
		fieldmask.Update(mask, p, req.GetGroup())
		*g = *groupFromProto(p, g.ID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdateGroupResponse{Group: groupToProto(g)}, nil
}

// DeleteGroup implements registryv1.RegistryServiceServer.
func (s *Server) DeleteGroup(ctx context.Context, req *registryv1.DeleteGroupRequest) (*registryv1.DeleteGroupResponse, error) {
	id, err := registry.ParseName("name", registry.Groups, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeleteGroup(ctx, id, req.GetEtag(), req.GetForce())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeleteGroupResponse{}, nil
}

// Memberships.

// CreateMembership implements registryv1.RegistryServiceServer. The
// membership's id is its entity's id.
func (s *Server) CreateMembership(ctx context.Context, req *registryv1.CreateMembershipRequest) (*registryv1.CreateMembershipResponse, error) {
	groupID, err := registry.ParseName("parent", registry.Groups, req.GetParent())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if req.GetMembership() == nil {
		return nil, s.err(ctx, required("membership"))
	}
	if req.GetMembership().GetEntity() == "" {
		return nil, s.err(ctx, registry.InvalidField("membership.entity", "is required: entities/{entity}"))
	}
	entityID, err := registry.ParseName("membership.entity", registry.Entities, req.GetMembership().GetEntity())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamps("", &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: req.GetMembership()}}); err != nil {
		return nil, s.err(ctx, err)
	}
	sent := membershipFromProto(req.GetMembership(), groupID, entityID)
	defaulted := defaultedEnd(req.GetMembership().GetEndTime())
	if req.GetMembership().GetJoinTime() == nil {
		defaulted = append(defaulted, "join_time")
	}
	m, rev, err := s.store.CreateMembership(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, m, true, defaulted...)
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreateMembershipResponse{Membership: membershipToProto(m)}, nil
}

// GetMembership implements registryv1.RegistryServiceServer.
func (s *Server) GetMembership(ctx context.Context, req *registryv1.GetMembershipRequest) (*registryv1.GetMembershipResponse, error) {
	g, e, err := registry.ParseMembershipName("name", req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	m, err := s.store.GetMembership(ctx, g, e)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &registryv1.GetMembershipResponse{Membership: membershipToProto(m)}, nil
}

// ListMemberships implements registryv1.RegistryServiceServer. Parent
// groups/- lists across groups; with the filter entity = "entities/x" it
// lists one entity's groups from the reverse index.
func (s *Server) ListMemberships(ctx context.Context, req *registryv1.ListMembershipsRequest) (*registryv1.ListMembershipsResponse, error) {
	groupID := "-"
	if req.GetParent() != "groups/-" {
		var err error
		if groupID, err = registry.ParseName("parent", registry.Groups, req.GetParent()); err != nil {
			return nil, s.err(ctx, err)
		}
	}
	scope := "memberships\x00" + groupID
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, membershipFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if groupID != "-" {
		if _, err := s.store.GetGroup(ctx, groupID); err != nil {
			return nil, s.err(ctx, err)
		}
	}
	ms, next, err := s.store.ListMemberships(ctx, groupID, q)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListMembershipsResponse{Memberships: make([]*registryv1.Membership, len(ms)), NextPageToken: s.nextToken(scope, req.GetFilter(), next)}
	for i, m := range ms {
		resp.Memberships[i] = membershipToProto(m)
	}
	return resp, nil
}

// UpdateMembership implements registryv1.RegistryServiceServer. Only role,
// join_time, status and end_time change; the entity is part of the name.
func (s *Server) UpdateMembership(ctx context.Context, req *registryv1.UpdateMembershipRequest) (*registryv1.UpdateMembershipResponse, error) {
	if req.GetMembership() == nil {
		return nil, s.err(ctx, required("membership"))
	}
	g, e, err := registry.ParseMembershipName("membership.name", req.GetMembership().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if ent := req.GetMembership().GetEntity(); ent != "" && ent != registry.EntityName(e) {
		return nil, s.err(ctx, registry.InvalidField("membership.entity", "is immutable: must be %s or empty", registry.EntityName(e)))
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetMembership(), "entity")
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamps("", &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: req.GetMembership()}}); err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("membership.etag", req.GetMembership().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	m, rev, err := s.store.UpdateMembership(ctx, g, e, req.GetMembership().GetEtag(), func(m *registry.Membership) {
		p := membershipToProto(m)
		fieldmask.Update(mask, p, req.GetMembership())
		*m = *membershipFromProto(p, m.GroupID, m.EntityID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdateMembershipResponse{Membership: membershipToProto(m)}, nil
}

// DeleteMembership implements registryv1.RegistryServiceServer.
func (s *Server) DeleteMembership(ctx context.Context, req *registryv1.DeleteMembershipRequest) (*registryv1.DeleteMembershipResponse, error) {
	g, e, err := registry.ParseMembershipName("name", req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeleteMembership(ctx, g, e, req.GetEtag())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeleteMembershipResponse{}, nil
}

// Talent records.

// CreateTalentRecord implements registryv1.RegistryServiceServer.
func (s *Server) CreateTalentRecord(ctx context.Context, req *registryv1.CreateTalentRecordRequest) (*registryv1.CreateTalentRecordResponse, error) {
	if req.GetTalentRecord() == nil {
		return nil, s.err(ctx, required("talent_record"))
	}
	id, err := newID("talent_record_id", req.GetTalentRecordId())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	sent := talentRecordFromProto(req.GetTalentRecord(), id)
	r, rev, err := s.store.CreateTalentRecord(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, r, req.GetTalentRecordId() != "")
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreateTalentRecordResponse{TalentRecord: talentRecordToProto(r)}, nil
}

// GetTalentRecord implements registryv1.RegistryServiceServer.
func (s *Server) GetTalentRecord(ctx context.Context, req *registryv1.GetTalentRecordRequest) (*registryv1.GetTalentRecordResponse, error) {
	id, err := registry.ParseName("name", registry.TalentRecords, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	r, err := s.store.GetTalentRecord(ctx, id)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &registryv1.GetTalentRecordResponse{TalentRecord: talentRecordToProto(r)}, nil
}

// ListTalentRecords implements registryv1.RegistryServiceServer.
func (s *Server) ListTalentRecords(ctx context.Context, req *registryv1.ListTalentRecordsRequest) (*registryv1.ListTalentRecordsResponse, error) {
	const scope = "talentRecords"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, talentRecordFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	rs, next, err := s.store.ListTalentRecords(ctx, q)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListTalentRecordsResponse{TalentRecords: make([]*registryv1.TalentRecord, len(rs)), NextPageToken: s.nextToken(scope, req.GetFilter(), next)}
	for i, r := range rs {
		resp.TalentRecords[i] = talentRecordToProto(r)
	}
	return resp, nil
}

// UpdateTalentRecord implements registryv1.RegistryServiceServer.
func (s *Server) UpdateTalentRecord(ctx context.Context, req *registryv1.UpdateTalentRecordRequest) (*registryv1.UpdateTalentRecordResponse, error) {
	if req.GetTalentRecord() == nil {
		return nil, s.err(ctx, required("talent_record"))
	}
	id, err := registry.ParseName("talent_record.name", registry.TalentRecords, req.GetTalentRecord().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetTalentRecord())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("talent_record.etag", req.GetTalentRecord().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	r, rev, err := s.store.UpdateTalentRecord(ctx, id, req.GetTalentRecord().GetEtag(), func(r *registry.TalentRecord) {
		p := talentRecordToProto(r)
		fieldmask.Update(mask, p, req.GetTalentRecord())
		*r = *talentRecordFromProto(p, r.ID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdateTalentRecordResponse{TalentRecord: talentRecordToProto(r)}, nil
}

// DeleteTalentRecord implements registryv1.RegistryServiceServer.
func (s *Server) DeleteTalentRecord(ctx context.Context, req *registryv1.DeleteTalentRecordRequest) (*registryv1.DeleteTalentRecordResponse, error) {
	id, err := registry.ParseName("name", registry.TalentRecords, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeleteTalentRecord(ctx, id, req.GetEtag())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeleteTalentRecordResponse{}, nil
}

// Programmes.

// CreateProgram implements registryv1.RegistryServiceServer.
func (s *Server) CreateProgram(ctx context.Context, req *registryv1.CreateProgramRequest) (*registryv1.CreateProgramResponse, error) {
	if req.GetProgram() == nil {
		return nil, s.err(ctx, required("program"))
	}
	id, err := newID("program_id", req.GetProgramId())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	sent := programFromProto(req.GetProgram(), id)
	p, rev, err := s.store.CreateProgram(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, p, req.GetProgramId() != "")
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreateProgramResponse{Program: programToProto(p)}, nil
}

// GetProgram implements registryv1.RegistryServiceServer.
func (s *Server) GetProgram(ctx context.Context, req *registryv1.GetProgramRequest) (*registryv1.GetProgramResponse, error) {
	id, err := registry.ParseName("name", registry.Programs, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	p, err := s.store.GetProgram(ctx, id)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &registryv1.GetProgramResponse{Program: programToProto(p)}, nil
}

// ListPrograms implements registryv1.RegistryServiceServer.
func (s *Server) ListPrograms(ctx context.Context, req *registryv1.ListProgramsRequest) (*registryv1.ListProgramsResponse, error) {
	const scope = "programs"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, programFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	ps, next, err := s.store.ListPrograms(ctx, q)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListProgramsResponse{Programs: make([]*registryv1.Program, len(ps)), NextPageToken: s.nextToken(scope, req.GetFilter(), next)}
	for i, p := range ps {
		resp.Programs[i] = programToProto(p)
	}
	return resp, nil
}

// UpdateProgram implements registryv1.RegistryServiceServer.
func (s *Server) UpdateProgram(ctx context.Context, req *registryv1.UpdateProgramRequest) (*registryv1.UpdateProgramResponse, error) {
	if req.GetProgram() == nil {
		return nil, s.err(ctx, required("program"))
	}
	id, err := registry.ParseName("program.name", registry.Programs, req.GetProgram().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetProgram())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("program.etag", req.GetProgram().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	p, rev, err := s.store.UpdateProgram(ctx, id, req.GetProgram().GetEtag(), func(p *registry.Program) {
		pp := programToProto(p)
		fieldmask.Update(mask, pp, req.GetProgram())
		*p = *programFromProto(pp, p.ID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdateProgramResponse{Program: programToProto(p)}, nil
}

// DeleteProgram implements registryv1.RegistryServiceServer.
func (s *Server) DeleteProgram(ctx context.Context, req *registryv1.DeleteProgramRequest) (*registryv1.DeleteProgramResponse, error) {
	id, err := registry.ParseName("name", registry.Programs, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeleteProgram(ctx, id, req.GetEtag(), req.GetForce())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeleteProgramResponse{}, nil
}

// Targets.

// CreateTarget implements registryv1.RegistryServiceServer.
func (s *Server) CreateTarget(ctx context.Context, req *registryv1.CreateTargetRequest) (*registryv1.CreateTargetResponse, error) {
	if req.GetTarget() == nil {
		return nil, s.err(ctx, required("target"))
	}
	id, err := newID("target_id", req.GetTargetId())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamps("", &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: req.GetTarget()}}); err != nil {
		return nil, s.err(ctx, err)
	}
	sent := targetFromProto(req.GetTarget(), id)
	p, rev, err := s.store.CreateTarget(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, p, req.GetTargetId() != "")
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreateTargetResponse{Target: targetToProto(p)}, nil
}

// GetTarget implements registryv1.RegistryServiceServer.
func (s *Server) GetTarget(ctx context.Context, req *registryv1.GetTargetRequest) (*registryv1.GetTargetResponse, error) {
	id, err := registry.ParseName("name", registry.Targets, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	p, err := s.store.GetTarget(ctx, id)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &registryv1.GetTargetResponse{Target: targetToProto(p)}, nil
}

// ListTargets implements registryv1.RegistryServiceServer.
func (s *Server) ListTargets(ctx context.Context, req *registryv1.ListTargetsRequest) (*registryv1.ListTargetsResponse, error) {
	const scope = "targets"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, targetFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	ps, next, err := s.store.ListTargets(ctx, q)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListTargetsResponse{Targets: make([]*registryv1.Target, len(ps)), NextPageToken: s.nextToken(scope, req.GetFilter(), next)}
	for i, p := range ps {
		resp.Targets[i] = targetToProto(p)
	}
	return resp, nil
}

// UpdateTarget implements registryv1.RegistryServiceServer.
func (s *Server) UpdateTarget(ctx context.Context, req *registryv1.UpdateTargetRequest) (*registryv1.UpdateTargetResponse, error) {
	if req.GetTarget() == nil {
		return nil, s.err(ctx, required("target"))
	}
	id, err := registry.ParseName("target.name", registry.Targets, req.GetTarget().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetTarget())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("target.etag", req.GetTarget().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamps("", &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: req.GetTarget()}}); err != nil {
		return nil, s.err(ctx, err)
	}
	p, rev, err := s.store.UpdateTarget(ctx, id, req.GetTarget().GetEtag(), func(p *registry.Target) {
		pp := targetToProto(p)
		fieldmask.Update(mask, pp, req.GetTarget())
		*p = *targetFromProto(pp, p.ID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdateTargetResponse{Target: targetToProto(p)}, nil
}

// DeleteTarget implements registryv1.RegistryServiceServer.
func (s *Server) DeleteTarget(ctx context.Context, req *registryv1.DeleteTargetRequest) (*registryv1.DeleteTargetResponse, error) {
	id, err := registry.ParseName("name", registry.Targets, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeleteTarget(ctx, id, req.GetEtag()) // nothing depends on a target: force has nothing to do
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeleteTargetResponse{}, nil
}

// Policies.

// CreatePolicy implements registryv1.RegistryServiceServer.
func (s *Server) CreatePolicy(ctx context.Context, req *registryv1.CreatePolicyRequest) (*registryv1.CreatePolicyResponse, error) {
	if req.GetPolicy() == nil {
		return nil, s.err(ctx, required("policy"))
	}
	id, err := newID("policy_id", req.GetPolicyId())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamps("", &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: req.GetPolicy()}}); err != nil {
		return nil, s.err(ctx, err)
	}
	sent := policyFromProto(req.GetPolicy(), id)
	p, rev, err := s.store.CreatePolicy(ctx, sent, req.GetRequestId())
	if err == nil {
		err = checkReplay(req.GetRequestId(), sent, p, req.GetPolicyId() != "")
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.CreatePolicyResponse{Policy: policyToProto(p)}, nil
}

// GetPolicy implements registryv1.RegistryServiceServer.
func (s *Server) GetPolicy(ctx context.Context, req *registryv1.GetPolicyRequest) (*registryv1.GetPolicyResponse, error) {
	id, err := registry.ParseName("name", registry.Policies, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	p, err := s.store.GetPolicy(ctx, id)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	return &registryv1.GetPolicyResponse{Policy: policyToProto(p)}, nil
}

// ListPolicies implements registryv1.RegistryServiceServer.
func (s *Server) ListPolicies(ctx context.Context, req *registryv1.ListPoliciesRequest) (*registryv1.ListPoliciesResponse, error) {
	const scope = "policies"
	q, err := s.listQuery(req.GetPageSize(), req.GetPageToken(), scope, policyFilter, req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	ps, next, err := s.store.ListPolicies(ctx, q)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListPoliciesResponse{Policies: make([]*registryv1.Policy, len(ps)), NextPageToken: s.nextToken(scope, req.GetFilter(), next)}
	for i, p := range ps {
		resp.Policies[i] = policyToProto(p)
	}
	return resp, nil
}

// UpdatePolicy implements registryv1.RegistryServiceServer.
func (s *Server) UpdatePolicy(ctx context.Context, req *registryv1.UpdatePolicyRequest) (*registryv1.UpdatePolicyResponse, error) {
	if req.GetPolicy() == nil {
		return nil, s.err(ctx, required("policy"))
	}
	id, err := registry.ParseName("policy.name", registry.Policies, req.GetPolicy().GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	mask, err := normalizeMask(req.GetUpdateMask(), req.GetPolicy())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("policy.etag", req.GetPolicy().GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	if err := checkTimestamps("", &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: req.GetPolicy()}}); err != nil {
		return nil, s.err(ctx, err)
	}
	p, rev, err := s.store.UpdatePolicy(ctx, id, req.GetPolicy().GetEtag(), func(p *registry.Policy) {
		pp := policyToProto(p)
		fieldmask.Update(mask, pp, req.GetPolicy())
		*p = *policyFromProto(pp, p.ID)
	})
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.UpdatePolicyResponse{Policy: policyToProto(p)}, nil
}

// DeletePolicy implements registryv1.RegistryServiceServer.
func (s *Server) DeletePolicy(ctx context.Context, req *registryv1.DeletePolicyRequest) (*registryv1.DeletePolicyResponse, error) {
	id, err := registry.ParseName("name", registry.Policies, req.GetName())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if err := registry.CheckEtag("etag", req.GetEtag()); err != nil {
		return nil, s.err(ctx, err)
	}
	rev, err := s.store.DeletePolicy(ctx, id, req.GetEtag()) // nothing depends on a policy: force has nothing to do
	if err != nil {
		return nil, s.err(ctx, err)
	}
	setRevision(ctx, rev)
	return &registryv1.DeletePolicyResponse{}, nil
}

// defaultedEnd names end_time among the fields the registry fills when the
// client left it unset (an ended lifecycle ends at the commit time), so a
// create replayed by request id still compares equal.
func defaultedEnd(sent *timestamppb.Timestamp) []protoreflect.Name {
	if sent == nil {
		return []protoreflect.Name{"end_time"}
	}
	return nil
}
