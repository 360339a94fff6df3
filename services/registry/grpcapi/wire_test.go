package grpcapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
)

// aggregateView converts r keeping only the fields aggregates need (see
// SNAPSHOT_VIEW_AGGREGATE).
func aggregateView(r registry.Resource) *registryv1.Resource {
	return snapshotView(r, false)
}

// namedView converts r to the named view (SNAPSHOT_VIEW_NAMED).
func namedView(r registry.Resource) *registryv1.Resource {
	return snapshotView(r, true)
}

func snapshotView(r registry.Resource, names bool) *registryv1.Resource {
	out := aggregateOnly(r)
	if !names {
		return out
	}
	switch r := r.(type) {
	case *registry.Entity:
		out.GetEntity().DisplayName, out.GetEntity().CreditCode = r.DisplayName, r.CreditCode
	case *registry.Group:
		out.GetGroup().DisplayName = r.DisplayName
	case *registry.Program:
		out.GetProgram().DisplayName = r.DisplayName
	}
	return out
}

func aggregateOnly(r registry.Resource) *registryv1.Resource {
	switch r := r.(type) {
	case *registry.Entity:
		return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{
			Name: r.Name(), Kind: registryv1.EntityKind(r.Kind), Region: r.Region, Industries: r.Industries,
			LeadingEnterprise: r.LeadingEnterprise, FutureIndustryPlatform: r.FutureIndustryPlatform,
			Status: registryv1.LifecycleStatus(r.Status), EndTime: ts(r.EndTime),
		}}}
	case *registry.Group:
		return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{
			Name: r.Name(), Kind: registryv1.GroupKind(r.Kind), Field: r.Field,
		}}}
	case *registry.Membership:
		return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{
			Name: r.Name(), Role: registryv1.MembershipRole(r.Role), JoinTime: ts(r.JoinTime),
			Status: registryv1.LifecycleStatus(r.Status), EndTime: ts(r.EndTime),
		}}}
	case *registry.TalentRecord:
		return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: &registryv1.TalentRecord{
			Name: r.Name(), Subject: r.Subject, Category: registryv1.TalentCategory(r.Category), Count: r.Count,
			Program: r.Program, Period: r.Period,
		}}}
	case *registry.Program:
		return &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{
			Name: r.Name(), Level: registryv1.ProgramLevel(r.Level),
		}}}
	case *registry.Target:
		return &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{
			Name: r.Name(), DisplayName: r.DisplayName, Metric: registryv1.TargetMetric(r.Metric), GoalValue: r.GoalValue, Scope: r.Scope, Deadline: ts(r.Deadline),
		}}}
	case *registry.Policy:
		return &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{
			Name: r.Name(), Level: registryv1.PolicyLevel(r.Level), IssueTime: ts(r.IssueTime), Pilot: r.Pilot,
			Industries: r.Industries, Programs: r.Programs,
		}}}
	}
	return nil
}

func TestAggregateWire(t *testing.T) {
	now := time.Now()
	meta := registry.Meta{CreateTime: now, UpdateTime: now, Revision: 7}
	resources := []registry.Resource{
		&registry.Program{ID: "haihe", DisplayName: "Haihe Talent", Level: registry.ProgramLevelMunicipal, Meta: meta},
		&registry.Entity{ID: "acme", DisplayName: "Acme", Kind: registry.EntityKindEnterprise, CreditCode: "x", Region: "Binhai",
			Industries: []string{"aerospace", "deep-sea"}, LeadingEnterprise: true, FutureIndustryPlatform: true, Meta: meta},
		&registry.Entity{ID: "bare", Kind: registry.EntityKindOther},
		&registry.Group{ID: "g", DisplayName: "G", Kind: registry.GroupKindAlliance, Field: "aerospace", Meta: meta},
		&registry.Group{ID: "h", Kind: registry.GroupKindConsortium},
		&registry.Membership{GroupID: "g", EntityID: "acme", Role: registry.MembershipRoleLead, JoinTime: now, Meta: meta},
		&registry.TalentRecord{ID: "r", Subject: "groups/g", Category: registry.TalentCategoryCultivated, Count: 1 << 40,
			Program: "programs/haihe", Period: "2024-06", Meta: meta},
		&registry.TalentRecord{ID: "s", Subject: "entities/acme", Category: registry.TalentCategoryAssessed, Count: 1},
		&registry.Entity{ID: "gone", Kind: registry.EntityKindEnterprise,
			Lifecycle: registry.Lifecycle{Status: registry.LifecycleWithdrawn, EndTime: now.Add(time.Hour)}, Meta: meta},
		&registry.Membership{GroupID: "g", EntityID: "gone", Role: registry.MembershipRoleMember, JoinTime: now,
			Lifecycle: registry.Lifecycle{Status: registry.LifecycleWithdrawn, EndTime: now.Add(time.Hour)}, Meta: meta},
		&registry.Target{ID: "t", DisplayName: "T", Metric: registry.TargetMetricPlatformsOrLeadingEnterprises, GoalValue: 100,
			Scope: "groups/g", Deadline: now, Meta: meta},
		&registry.Target{ID: "u", Metric: registry.TargetMetricPolicies, GoalValue: 1},
		&registry.Policy{ID: "p", Title: "P", Issuer: "Office", Level: registry.PolicyLevelDistrict, IssueTime: now, Pilot: true,
			Industries: []string{"aerospace"}, Programs: []string{"programs/haihe"}, Meta: meta},
		&registry.Policy{ID: "q", Level: registry.PolicyLevelNational},
	}
	for _, names := range []bool{false, true} {
		w := wireBuilder{registryID: "db-1", names: names}
		want := &registryv1.StreamSnapshotResponse{Revision: 1234567, Complete: true, RegistryId: "db-1"}
		for _, r := range resources {
			w.add(r)
			want.Resources = append(want.Resources, snapshotView(r, names))
		}
		got := &registryv1.StreamSnapshotResponse{}
		if err := proto.Unmarshal(w.take(1234567, true).B, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("names %v: wire form decodes to\n%v\nwant\n%v", names, got, want)
		}
	}
	w := wireBuilder{registryID: "db-1"}
	got := &registryv1.StreamSnapshotResponse{}
	// The builder starts afresh after take, and an empty final message
	// carries only the revision and completion.
	got.Reset()
	if err := proto.Unmarshal(w.take(9, true).B, got); err != nil || len(got.Resources) != 0 || got.Revision != 9 || !got.Complete {
		t.Fatalf("empty message = %v, %v", got, err)
	}
}

// TestGetEntityWire proves the pre-encoded GetEntity answer is the bytes
// proto.Marshal writes for the message GetEntity builds, for the entities
// of TestListEntitiesWire and for entities whose length prefix takes one,
// two and three bytes.
func TestGetEntityWire(t *testing.T) {
	now := time.Date(2024, 6, 1, 8, 30, 0, 123456789, time.UTC)
	entities := append(wireEdgeEntities(now),
		&registry.Entity{ID: "ended", Lifecycle: registry.Lifecycle{Status: registry.LifecycleInactive, EndTime: now}, Meta: registry.Meta{Revision: 3}},
		&registry.Entity{ID: "long", DisplayName: strings.Repeat("n", 200), Industries: []string{strings.Repeat("i", 100)}},
		&registry.Entity{ID: "longer", DisplayName: strings.Repeat("名", 6000), Industries: strings.Split(strings.Repeat("x,", 500), ","),
			Meta: registry.Meta{CreateTime: now, UpdateTime: now, Revision: 7}},
	)
	for _, e := range entities {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&registryv1.GetEntityResponse{Entity: entityToProto(e)})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendGetEntityResponse([]byte("prefix"), e); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%s: wire form\n%x\nwant\n%x", e.ID, got, want)
		}
	}
}

// BenchmarkGetEntityWire: GetEntity's answer pre-encoded, against the
// message tree and proto.Marshal it replaces.
func BenchmarkGetEntityWire(b *testing.B) {
	now := time.Date(2024, 6, 1, 8, 30, 0, 123456789, time.UTC)
	e := &registry.Entity{ID: "acme", DisplayName: "天津滨海 Acme", Kind: registry.EntityKindEnterprise, CreditCode: "91120116MA05JXXXXX",
		Region: "Tianjin/Binhai", Industries: []string{"aerospace", "deep-sea"}, LeadingEnterprise: true,
		Meta: registry.Meta{CreateTime: now, UpdateTime: now.Add(time.Hour), Revision: 42}}
	b.Run("pre-encoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendGetEntityResponse(nil, e)
		}
	})
	b.Run("proto.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(&registryv1.GetEntityResponse{Entity: entityToProto(e)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestListEntitiesWire proves the pre-encoded ListEntities page is the
// bytes proto.Marshal writes for the message ListEntities builds, for
// ordinary and edge-case entities: zero and pre-1970 times, whole-second
// times, unicode, empty fields, huge revisions, length prefixes of one,
// two and three bytes.
func TestListEntitiesWire(t *testing.T) {
	now := time.Date(2024, 6, 1, 8, 30, 0, 123456789, time.UTC)
	entities := append(wireEdgeEntities(now), []*registry.Entity{
		{ID: "active", Lifecycle: registry.Lifecycle{Status: registry.LifecycleActive}},
		{ID: "ended", Lifecycle: registry.Lifecycle{Status: registry.LifecycleInactive, EndTime: now}, Meta: registry.Meta{Revision: 3}},
		{ID: "long", DisplayName: strings.Repeat("n", 200), Industries: []string{strings.Repeat("i", 100)}},
		{ID: "longer", DisplayName: strings.Repeat("名", 6000), Meta: registry.Meta{CreateTime: now, UpdateTime: now, Revision: 7}},
		{ID: "short"},
	}...)
	for _, next := range []string{"", "opaque-token"} {
		want := &registryv1.ListEntitiesResponse{NextPageToken: next}
		for _, e := range entities {
			want.Entities = append(want.Entities, entityToProto(e))
		}
		wantB, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		page := listPage{limit: 3}
		for _, e := range entities {
			page.add(e)
		}
		if got := page.finish(next); !bytes.Equal(got, wantB) {
			t.Fatalf("wire form\n%x\nwant\n%x", got, wantB)
		}
	}
	// An empty page is an empty message.
	if b := (&listPage{limit: 50}).finish(""); len(b) != 0 {
		t.Fatalf("empty page = %x, want no bytes", b)
	}
}

// wireEdgeEntities are the entities both wire tests encode: every field
// set, none, pre-1970 and whole-second times, the largest revision.
func wireEdgeEntities(now time.Time) []*registry.Entity {
	return []*registry.Entity{
		{ID: "acme", DisplayName: "天津滨海 Acme 🚀", Kind: registry.EntityKindEnterprise, CreditCode: "91120116MA05JXXXXX",
			Region: "Tianjin/Binhai", Industries: []string{"aerospace", "deep-sea"}, LeadingEnterprise: true,
			FutureIndustryPlatform: true, Meta: registry.Meta{CreateTime: now, UpdateTime: now.Add(time.Hour), Revision: 42}},
		{ID: "bare"},
		{ID: "old", Kind: registry.EntityKindOther, Meta: registry.Meta{
			CreateTime: time.Date(1960, 1, 1, 0, 0, 0, 5, time.UTC), UpdateTime: time.Unix(1700000000, 0), Revision: 1<<63 - 1}},
		{ID: "epoch", Meta: registry.Meta{CreateTime: time.Unix(0, 1), UpdateTime: time.Unix(0, 0).Add(time.Second)}},
	}
}
