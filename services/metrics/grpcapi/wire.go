package grpcapi

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/platform/grpcserver"
	"talentreg/platform/pbwire"
	"talentreg/services/metrics"
)

// GetSummary is the hottest read (every dashboard refresh, every GET
// /v1/summary), and its figures change only with the registry's commits:
// the answer for the latest figures is kept encoded and sent as it is
// (grpcserver.Encoded) while the figures stay the same, instead of
// building and marshalling the message again for every call.

// encodedSummary is an answer to GetSummary without as_of, encoded.
type encodedSummary struct {
	sum metrics.Summary
	b   []byte
}

// summaryCache is the last encodedSummary served.
type summaryCache struct {
	last atomic.Pointer[encodedSummary]
}

// encode returns sum's answer, encoded.
func (c *summaryCache) encode(sum *metrics.Summary) *grpcserver.Encoded {
	if e := c.last.Load(); e != nil && sameSummary(&e.sum, sum) {
		return &grpcserver.Encoded{B: e.b}
	}
	b := encodeSummary(sum)
	c.last.Store(&encodedSummary{sum: *sum, b: b})
	return &grpcserver.Encoded{B: b}
}

// encodeSummary returns sum's answer in wire form, in a buffer most
// answers fit (22 figures and a handful of kinds: ~150 bytes).
func encodeSummary(sum *metrics.Summary) []byte {
	return appendSummary(make([]byte, 0, 256), sum)
}

// GetSummaryResponse's field numbers, looked up by name in its descriptor
// (a renamed or removed field fails at start, not on the wire).
var (
	sumRevision                      = summaryField("revision")
	sumEntities                      = summaryField("entities")
	sumEntitiesByKind                = summaryField("entities_by_kind")
	sumConsortia                     = summaryField("consortia")
	sumAlliances                     = summaryField("alliances")
	sumConsortiumMembers             = summaryField("consortium_members")
	sumAllianceMembers               = summaryField("alliance_members")
	sumTalentsGathered               = summaryField("talents_gathered")
	sumTalentsCultivated             = summaryField("talents_cultivated")
	sumTalentsAssessed               = summaryField("talents_assessed")
	sumAssessingEntities             = summaryField("assessing_entities")
	sumConsortiumMemberships         = summaryField("consortium_memberships")
	sumAllianceMemberships           = summaryField("alliance_memberships")
	sumLeadingEnterprises            = summaryField("leading_enterprises")
	sumFutureIndustryPlatforms       = summaryField("future_industry_platforms")
	sumPlatformsOrLeadingEnterprises = summaryField("platforms_or_leading_enterprises")
	sumTalentRecords                 = summaryField("talent_records")
	sumPrograms                      = summaryField("programs")
	sumPolicies                      = summaryField("policies")
	sumPilotPolicies                 = summaryField("pilot_policies")
	sumJingjinjiOrganisations        = summaryField("jingjinji_organisations")
	sumTargets                       = summaryField("targets")
)

func summaryField(name protoreflect.Name) protowire.Number {
	fd := (*metricsv1.GetSummaryResponse)(nil).ProtoReflect().Descriptor().Fields().ByName(name)
	if fd == nil {
		panic("metrics/v1.GetSummaryResponse has no field " + string(name))
	}
	return fd.Number()
}

// appendSummary appends sum as a GetSummaryResponse in wire form: the
// bytes proto.MarshalOptions{Deterministic: true} writes for
// summaryMessage(sum) (TestAppendSummary_MatchesMarshal), without its
// reflection over the kind map, which was most of an as_of answer's
// encoding cost.
func appendSummary(b []byte, sum *metrics.Summary) []byte {
	b = pbwire.AppendInt64Field(b, sumRevision, sum.Revision)
	b = pbwire.AppendInt64Field(b, sumEntities, sum.Entities)
	if len(sum.EntitiesByKind) > 0 {
		var kinds [16]string
		keys := kinds[:0]
		for k := range sum.EntitiesByKind {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := sum.EntitiesByKind[k]
			b = protowire.AppendTag(b, sumEntitiesByKind, protowire.BytesType)
			// An entry writes its key (1) and value (2) even when zero,
			// as protobuf-go does.
			b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(k))+1+protowire.SizeVarint(uint64(v))))
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, k)
			b = protowire.AppendTag(b, 2, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	b = pbwire.AppendInt64Field(b, sumConsortia, sum.Consortia)
	b = pbwire.AppendInt64Field(b, sumAlliances, sum.Alliances)
	b = pbwire.AppendInt64Field(b, sumConsortiumMembers, sum.ConsortiumMembers)
	b = pbwire.AppendInt64Field(b, sumAllianceMembers, sum.AllianceMembers)
	b = pbwire.AppendInt64Field(b, sumTalentsGathered, sum.TalentsGathered)
	b = pbwire.AppendInt64Field(b, sumTalentsCultivated, sum.TalentsCultivated)
	b = pbwire.AppendInt64Field(b, sumTalentsAssessed, sum.TalentsAssessed)
	b = pbwire.AppendInt64Field(b, sumAssessingEntities, sum.AssessingEntities)
	b = pbwire.AppendInt64Field(b, sumConsortiumMemberships, sum.ConsortiumMemberships)
	b = pbwire.AppendInt64Field(b, sumAllianceMemberships, sum.AllianceMemberships)
	b = pbwire.AppendInt64Field(b, sumLeadingEnterprises, sum.LeadingEnterprises)
	b = pbwire.AppendInt64Field(b, sumFutureIndustryPlatforms, sum.FutureIndustryPlatforms)
	b = pbwire.AppendInt64Field(b, sumPlatformsOrLeadingEnterprises, sum.PlatformsOrLeadingEnterprises)
	b = pbwire.AppendInt64Field(b, sumTalentRecords, sum.TalentRecords)
	b = pbwire.AppendInt64Field(b, sumPrograms, sum.Programs)
	b = pbwire.AppendInt64Field(b, sumPolicies, sum.Policies)
	b = pbwire.AppendInt64Field(b, sumPilotPolicies, sum.PilotPolicies)
	b = pbwire.AppendInt64Field(b, sumJingjinjiOrganisations, sum.JingjinjiOrganisations)
	b = pbwire.AppendInt64Field(b, sumTargets, sum.Targets)
	return b
}

// sameSummary reports whether a and b hold the same figures
// (TestSameSummary_SeesEveryField fails when a field is left out).
func sameSummary(a, b *metrics.Summary) bool {
	return a.Revision == b.Revision && a.Entities == b.Entities &&
		a.Consortia == b.Consortia && a.Alliances == b.Alliances &&
		a.ConsortiumMembers == b.ConsortiumMembers && a.AllianceMembers == b.AllianceMembers &&
		a.ConsortiumMemberships == b.ConsortiumMemberships && a.AllianceMemberships == b.AllianceMemberships &&
		a.TalentsGathered == b.TalentsGathered && a.TalentsCultivated == b.TalentsCultivated &&
		a.TalentsAssessed == b.TalentsAssessed && a.AssessingEntities == b.AssessingEntities &&
		a.LeadingEnterprises == b.LeadingEnterprises && a.FutureIndustryPlatforms == b.FutureIndustryPlatforms &&
		a.PlatformsOrLeadingEnterprises == b.PlatformsOrLeadingEnterprises &&
		a.TalentRecords == b.TalentRecords && a.Programs == b.Programs &&
		a.Policies == b.Policies && a.PilotPolicies == b.PilotPolicies &&
		a.JingjinjiOrganisations == b.JingjinjiOrganisations && a.Targets == b.Targets &&
		maps.Equal(a.EntitiesByKind, b.EntitiesByKind)
}

// getSummaryWire is GetSummary answering the latest figures from the
// cache; as_of answers are encoded for each call.
func (s *Server) getSummaryWire(ctx context.Context, req *metricsv1.GetSummaryRequest) (any, error) {
	sum, err := s.readSummary(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.GetAsOf() != nil {
		return &grpcserver.Encoded{B: encodeSummary(&sum)}, nil
	}
	return s.summaries.encode(&sum), nil
}
