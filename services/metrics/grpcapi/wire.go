package grpcapi

import (
	"context"
	"maps"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/platform/grpcserver"
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
func (c *summaryCache) encode(sum *metrics.Summary) (*grpcserver.Encoded, error) {
	if e := c.last.Load(); e != nil && sameSummary(&e.sum, sum) {
		return &grpcserver.Encoded{B: e.b}, nil
	}
	b, err := proto.Marshal(summaryMessage(sum))
	if err != nil {
		return nil, err
	}
	c.last.Store(&encodedSummary{sum: *sum, b: b})
	return &grpcserver.Encoded{B: b}, nil
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
// cache; as_of answers are built as GetSummary builds them.
func (s *Server) getSummaryWire(ctx context.Context, req *metricsv1.GetSummaryRequest) (any, error) {
	sum, err := s.readSummary(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.GetAsOf() != nil {
		return summaryMessage(&sum), nil
	}
	return s.summaries.encode(&sum)
}
