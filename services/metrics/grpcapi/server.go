// Package grpcapi adapts the metrics domain to gRPC: it implements
// talentreg.metrics.v1.MetricsService over a metrics.Reader and a
// metrics.Verifier, converting requests, figures and errors.
package grpcapi

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"talentreg/services/metrics"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/platform/grpcserver"
	"talentreg/platform/streams"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Server implements metricsv1.MetricsServiceServer.
type Server struct {
	metricsv1.UnimplementedMetricsServiceServer
	reader   metrics.Reader
	office   metrics.OfficeReader // unavailableOffice when reader is not one
	verifier metrics.Verifier
	log      *slog.Logger

	watcher  metrics.SummaryWatcher // nil when reader is not one
	watch    WatchOptions
	streams  *streams.Limiter
	stopOnce sync.Once
	stop     chan struct{}
	// summaries keeps the latest GetSummary answer encoded (wire.go).
	summaries summaryCache
}

var _ metricsv1.MetricsServiceServer = (*Server)(nil)

// New returns a Server reading figures from r and verifying with v, its
// Summary watches configured by watch; log receives internal errors.
func New(r metrics.Reader, v metrics.Verifier, log *slog.Logger, watch WatchOptions) *Server {
	office, ok := r.(metrics.OfficeReader)
	if !ok {
		office = unavailableOffice{}
	}
	watcher, _ := r.(metrics.SummaryWatcher)
	watch = watch.withDefaults()
	return &Server{
		reader: r, office: office, verifier: v, log: log,
		watcher: watcher, watch: watch, stop: make(chan struct{}),
		streams: streams.New("the metrics service", "Summary watch streams", watch.MaxStreams, watch.MaxStreamsPerClient, watch.StallTimeout),
	}
}

// Register registers the service on g, GetSummary answered by
// getSummaryWire.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	g.RegisterService(grpcserver.Rerouted(&metricsv1.MetricsService_ServiceDesc, map[string]grpc.MethodHandler{
		"GetSummary": grpcserver.UnaryHandler(metricsv1.MetricsService_GetSummary_FullMethodName, (*Server).getSummaryWire),
	}), s)
}

// NoWaitHeader is request metadata ("true") asking a read not to wait for
// its min_revision: a replica that has not applied it answers
// FAILED_PRECONDITION (reason REPLICA_BEHIND, applied_revision in the
// metadata) at once. The gateway uses it to skip replicas that are behind.
const NoWaitHeader = "x-no-wait"

// RevisionHeader is the response header carrying the revision an answer
// reflects, as on the registry's mutations.
const RevisionHeader = "x-revision"

// readContext returns ctx, without waits when the call asks so.
func readContext(ctx context.Context) context.Context {
	if v := metadata.ValueFromIncomingContext(ctx, NoWaitHeader); len(v) == 1 && v[0] == "true" {
		return metrics.WithoutWait(ctx)
	}
	return ctx
}

// setRevision sends the revision an answer reflects as the x-revision
// header.
func setRevision(ctx context.Context, rev int64) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(RevisionHeader, strconv.FormatInt(rev, 10)))
}

func minRevision(v int64) error {
	if v < 0 {
		return metrics.InvalidField("min_revision", metrics.ReasonInvalidField, "must not be negative")
	}
	return nil
}

// GetSummary implements metricsv1.MetricsServiceServer (served through
// getSummaryWire).
func (s *Server) GetSummary(ctx context.Context, req *metricsv1.GetSummaryRequest) (*metricsv1.GetSummaryResponse, error) {
	sum, err := s.readSummary(ctx, req)
	if err != nil {
		return nil, err
	}
	return summaryMessage(&sum), nil
}

// readSummary reads the figures req asks for, now or as_of, and sends
// their revision as the x-revision header; its error is the call's status.
func (s *Server) readSummary(ctx context.Context, req *metricsv1.GetSummaryRequest) (metrics.Summary, error) {
	if err := minRevision(req.GetMinRevision()); err != nil {
		return metrics.Summary{}, statusError(ctx, s.log, err)
	}
	var sum metrics.Summary
	var err error
	if req.GetAsOf() != nil {
		var asOf time.Time
		if asOf, err = asOfTime(req.GetAsOf()); err == nil {
			sum, err = s.office.SummaryAsOf(readContext(ctx), asOf, req.GetMinRevision())
		}
	} else {
		sum, err = s.reader.Summary(readContext(ctx), req.GetMinRevision())
	}
	if err != nil {
		return metrics.Summary{}, statusError(ctx, s.log, err)
	}
	setRevision(ctx, sum.Revision)
	return sum, nil
}

func summaryMessage(sum *metrics.Summary) *metricsv1.GetSummaryResponse {
	return &metricsv1.GetSummaryResponse{
		Revision:                      sum.Revision,
		Entities:                      sum.Entities,
		EntitiesByKind:                sum.EntitiesByKind,
		Consortia:                     sum.Consortia,
		Alliances:                     sum.Alliances,
		ConsortiumMembers:             sum.ConsortiumMembers,
		AllianceMembers:               sum.AllianceMembers,
		TalentsGathered:               sum.TalentsGathered,
		TalentsCultivated:             sum.TalentsCultivated,
		TalentsAssessed:               sum.TalentsAssessed,
		AssessingEntities:             sum.AssessingEntities,
		ConsortiumMemberships:         sum.ConsortiumMemberships,
		AllianceMemberships:           sum.AllianceMemberships,
		LeadingEnterprises:            sum.LeadingEnterprises,
		FutureIndustryPlatforms:       sum.FutureIndustryPlatforms,
		PlatformsOrLeadingEnterprises: sum.PlatformsOrLeadingEnterprises,
		TalentRecords:                 sum.TalentRecords,
		Programs:                      sum.Programs,
		Policies:                      sum.Policies,
		PilotPolicies:                 sum.PilotPolicies,
		JingjinjiOrganisations:        sum.JingjinjiOrganisations,
		Targets:                       sum.Targets,
	}
}

// GetGroupStats implements metricsv1.MetricsServiceServer.
func (s *Server) GetGroupStats(ctx context.Context, req *metricsv1.GetGroupStatsRequest) (*metricsv1.GetGroupStatsResponse, error) {
	id, ok := strings.CutPrefix(req.GetName(), "groups/")
	if !ok || !validID(id) {
		return nil, statusError(ctx, s.log, metrics.InvalidField("name", metrics.ReasonInvalidField,
			"must be a group name, groups/{group} with {group} matching ^[a-z][a-z0-9-]{0,62}$"))
	}
	if err := minRevision(req.GetMinRevision()); err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	var st metrics.GroupStats
	var err error
	if req.GetAsOf() != nil {
		var asOf time.Time
		if asOf, err = asOfTime(req.GetAsOf()); err == nil {
			st, err = s.office.GroupStatsAsOf(readContext(ctx), req.GetName(), asOf, req.GetMinRevision())
		}
	} else {
		st, err = s.reader.GroupStats(readContext(ctx), req.GetName(), req.GetMinRevision())
	}
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	setRevision(ctx, st.Revision)
	return &metricsv1.GetGroupStatsResponse{
		Revision:          st.Revision,
		Name:              st.Name,
		Kind:              st.Kind,
		Field:             st.Field,
		Members:           st.Members,
		MembersByKind:     st.MembersByKind,
		TalentsByCategory: st.TalentsByCategory,

		MemberTalentsByCategory: st.MemberTalentsByCategory,
	}, nil
}

// GetBreakdown implements metricsv1.MetricsServiceServer.
func (s *Server) GetBreakdown(ctx context.Context, req *metricsv1.GetBreakdownRequest) (*metricsv1.GetBreakdownResponse, error) {
	d, err := metrics.ParseDimension(req.GetDimension())
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	if err := minRevision(req.GetMinRevision()); err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	var b metrics.Breakdown
	if req.GetAsOf() != nil {
		var asOf time.Time
		if asOf, err = asOfTime(req.GetAsOf()); err == nil {
			b, err = s.office.BreakdownAsOf(readContext(ctx), d, asOf, req.GetMinRevision())
		}
	} else {
		b, err = s.reader.Breakdown(readContext(ctx), d, req.GetMinRevision())
	}
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	setRevision(ctx, b.Revision)
	resp := &metricsv1.GetBreakdownResponse{
		Revision:  b.Revision,
		Dimension: string(b.Dimension),
		Rows:      make([]*metricsv1.BreakdownRow, len(b.Rows)),
	}
	for i, r := range b.Rows {
		resp.Rows[i] = &metricsv1.BreakdownRow{
			Key:               r.Key,
			Entities:          r.Entities,
			Groups:            r.Groups,
			ConsortiumMembers: r.ConsortiumMembers,
			AllianceMembers:   r.AllianceMembers,
			TalentsGathered:   r.TalentsGathered,
			TalentsCultivated: r.TalentsCultivated,
			TalentsAssessed:   r.TalentsAssessed,
			TalentRecords:     r.TalentRecords,
		}
	}
	return resp, nil
}

// VerifyProjection implements metricsv1.MetricsServiceServer.
func (s *Server) VerifyProjection(ctx context.Context, _ *metricsv1.VerifyProjectionRequest) (*metricsv1.VerifyProjectionResponse, error) {
	v, err := s.verifier.Verify(ctx)
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	return &metricsv1.VerifyProjectionResponse{
		Revision:    v.Revision,
		Consistent:  v.Consistent(),
		Differences: v.Differences,
	}, nil
}

// validID reports whether id has the form API.md gives every resource id,
// ^[a-z][a-z0-9-]{0,62}$: a name that cannot exist is a bad request, not a
// missing group.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 63 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
