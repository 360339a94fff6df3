package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/storage"
)

// TestGRPC_TargetsPoliciesLifecycles: the standard methods of targets and
// policies, lifecycles by update mask, request-id replays of ended
// memberships, malformed timestamps, and Import counting the new kinds.
func TestGRPC_TargetsPoliciesLifecycles(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	c := e.client
	e.createEntity(t, "acme", pbEntity("acme"))
	if _, err := c.CreateGroup(ctx, &registryv1.CreateGroupRequest{GroupId: "g", Group: &registryv1.Group{DisplayName: "G", Kind: registryv1.GroupKind_GROUP_KIND_ALLIANCE}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateProgram(ctx, &registryv1.CreateProgramRequest{ProgramId: "haihe", Program: &registryv1.Program{DisplayName: "Haihe", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_MUNICIPAL}}); err != nil {
		t.Fatal(err)
	}

	// A withdrawn membership created without an end time, retried with
	// its request id: the same result, no second write.
	req := &registryv1.CreateMembershipRequest{Parent: "groups/g", RequestId: "join-1", Membership: &registryv1.Membership{
		Entity: "entities/acme", Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER, Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_WITHDRAWN}}
	first, err := c.CreateMembership(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rev := e.store.Revision()
	again, err := c.CreateMembership(ctx, req)
	if err != nil || again.GetMembership().GetEtag() != first.GetMembership().GetEtag() || e.store.Revision() != rev {
		t.Fatalf("replay: %v, %v", again, err)
	}
	if m := first.GetMembership(); m.GetEndTime() == nil || !m.GetEndTime().AsTime().Equal(m.GetUpdateTime().AsTime()) {
		t.Fatalf("withdrawn without an end time: %v", m)
	}
	// Reactivate by mask; then end it on a date.
	up, err := c.UpdateMembership(ctx, &registryv1.UpdateMembershipRequest{
		Membership: &registryv1.Membership{Name: "groups/g/memberships/acme", Status: registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}})
	if err != nil || up.GetMembership().GetStatus() != registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE || up.GetMembership().GetEndTime() != nil {
		t.Fatalf("reactivate: %v, %v", up, err)
	}
	_, err = c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{
		Entity:     &registryv1.Entity{Name: "entities/acme", EndTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"endTime"}}})
	wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidField, "entity.end_time")

	// Targets and policies.
	deadline := timestamppb.New(time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC))
	tg, err := c.CreateTarget(ctx, &registryv1.CreateTargetRequest{TargetId: "platforms", Target: &registryv1.Target{
		DisplayName: "Platforms", Metric: registryv1.TargetMetric_TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES, GoalValue: 100, Deadline: deadline}})
	if err != nil || tg.GetTarget().GetName() != "targets/platforms" || !tg.GetTarget().GetDeadline().AsTime().Equal(deadline.AsTime()) {
		t.Fatalf("create target: %v, %v", tg, err)
	}
	_, err = c.CreateTarget(ctx, &registryv1.CreateTargetRequest{Target: &registryv1.Target{DisplayName: "X", Metric: registryv1.TargetMetric_TARGET_METRIC_ENTITIES, GoalValue: -1}})
	wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidField, "target.goal_value")
	_, err = c.CreatePolicy(ctx, &registryv1.CreatePolicyRequest{Policy: &registryv1.Policy{Title: "P", Level: registryv1.PolicyLevel_POLICY_LEVEL_DISTRICT, Programs: []string{"programs/nope"}}})
	if info := wantStatus(t, err, codes.NotFound, registry.ReasonReferenceNotFound, ""); info.GetMetadata()["field"] != "policy.programs[0]" {
		t.Errorf("reference error names %q, want policy.programs[0]", info.GetMetadata()["field"])
	}
	if _, err := c.CreatePolicy(ctx, &registryv1.CreatePolicyRequest{PolicyId: "p1", Policy: &registryv1.Policy{Title: "P", Level: registryv1.PolicyLevel_POLICY_LEVEL_DISTRICT, Pilot: true, Programs: []string{"programs/haihe"}}}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListPolicies(ctx, &registryv1.ListPoliciesRequest{Filter: `pilot = true AND programs:"programs/haihe"`})
	if err != nil || len(list.GetPolicies()) != 1 {
		t.Fatalf("list policies: %v, %v", list, err)
	}
	_, err = c.ListPolicies(ctx, &registryv1.ListPoliciesRequest{Filter: `programs:"haihe"`})
	wantStatus(t, err, codes.InvalidArgument, registry.ReasonInvalidFilter, "")
	ut, err := c.UpdateTarget(ctx, &registryv1.UpdateTargetRequest{Target: &registryv1.Target{Name: "targets/platforms", GoalValue: 120}})
	if err != nil || ut.GetTarget().GetGoalValue() != 120 || ut.GetTarget().GetDisplayName() != "Platforms" {
		t.Fatalf("update target: %v, %v", ut, err)
	}

	// Import counts targets and policies.
	stream, err := c.Import(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&registryv1.ImportRequest{Items: []*registryv1.Resource{
		{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{Name: "policies/p2", Title: "P2", Level: registryv1.PolicyLevel_POLICY_LEVEL_NATIONAL}}},
		{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{Name: "targets/platforms", DisplayName: "Platforms",
			Metric: registryv1.TargetMetric_TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES, GoalValue: 120, Deadline: deadline}}},
		{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{Name: "targets/bad", DisplayName: "B", Metric: registryv1.TargetMetric_TARGET_METRIC_ENTITIES}}},
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPolicies().GetCreated() != 1 || resp.GetTargets().GetUnchanged() != 1 || resp.GetTargets().GetFailed() != 1 ||
		len(resp.GetErrors()) != 1 || resp.GetErrors()[0].GetField() != "items[2].target.goal_value" {
		t.Fatalf("import: %v", resp)
	}
	if _, err := c.DeleteTarget(ctx, &registryv1.DeleteTargetRequest{Name: "targets/platforms"}); err != nil {
		t.Fatal(err)
	}
}
