package grpcapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"talentreg/services/metrics"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits of the office reads.
const (
	defaultSearchPageSize = 20
	maxSearchPageSize     = 100
	maxQueryChars         = 200
	minHistoryInterval    = time.Minute
	defaultInterval       = 24 * time.Hour
	maxHistoryPoints      = 1000
)

// asOfTime validates an as_of timestamp.
func asOfTime(ts *timestamppb.Timestamp) (time.Time, error) {
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, metrics.InvalidField("as_of", metrics.ReasonInvalidField, "must be a valid timestamp: "+err.Error())
	}
	return ts.AsTime(), nil
}

// SearchEntities implements metricsv1.MetricsServiceServer.
func (s *Server) SearchEntities(ctx context.Context, req *metricsv1.SearchEntitiesRequest) (*metricsv1.SearchEntitiesResponse, error) {
	q := strings.TrimSpace(req.GetQuery())
	switch n := utf8.RuneCountInString(q); {
	case n == 0:
		return nil, statusError(ctx, s.log, metrics.InvalidField("query", metrics.ReasonInvalidField, "must not be empty"))
	case n > maxQueryChars || !utf8.ValidString(q):
		return nil, statusError(ctx, s.log, metrics.InvalidField("query", metrics.ReasonInvalidField,
			fmt.Sprintf("must be valid UTF-8 of at most %d characters", maxQueryChars)))
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultSearchPageSize
	case size < 0 || size > maxSearchPageSize:
		return nil, statusError(ctx, s.log, metrics.InvalidField("page_size", metrics.ReasonInvalidField,
			fmt.Sprintf("must be between 1 and %d (0 means %d)", maxSearchPageSize, defaultSearchPageSize)))
	}
	offset, err := parsePageToken(req.GetPageToken(), q)
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	if err := minRevision(req.GetMinRevision()); err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	page, err := s.office.Search(readContext(ctx), q, offset, size, req.GetMinRevision())
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	setRevision(ctx, page.Revision)
	resp := &metricsv1.SearchEntitiesResponse{Revision: page.Revision, TotalSize: int32(min(page.Total, 1<<31-1))}
	for _, r := range page.Results {
		resp.Results = append(resp.Results, &metricsv1.SearchResult{
			Name: r.Name, DisplayName: r.DisplayName, Kind: r.Kind, CreditCode: r.CreditCode, Score: r.Score,
		})
	}
	// The total may be an estimate: whether a page follows is asked of
	// the index.
	if page.More && len(page.Results) > 0 {
		resp.NextPageToken = pageToken(offset+len(page.Results), q)
	}
	return resp, nil
}

// A search page token is the offset of the page and a hash of the query it
// belongs to, so that a token is not taken for another query's.
func pageToken(offset int, query string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + ":" + queryHash(query)))
}

func queryHash(q string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(q))
	return strconv.FormatUint(h.Sum64(), 36)
}

func parsePageToken(tok, query string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	bad := metrics.InvalidField("page_token", metrics.ReasonInvalidField, "is not a page token of this query")
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, bad
	}
	off, hash, ok := strings.Cut(string(b), ":")
	n, err := strconv.Atoi(off)
	if !ok || err != nil || n < 0 || n > 1<<30 || hash != queryHash(query) {
		return 0, bad
	}
	return n, nil
}

// ListSummaryHistory implements metricsv1.MetricsServiceServer.
func (s *Server) ListSummaryHistory(ctx context.Context, req *metricsv1.ListSummaryHistoryRequest) (*metricsv1.ListSummaryHistoryResponse, error) {
	times, err := historyTimes(req)
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	h, err := s.office.SummaryHistory(readContext(ctx), times)
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	setRevision(ctx, h.Revision)
	resp := &metricsv1.ListSummaryHistoryResponse{Revision: h.Revision}
	if !h.CompleteFrom.IsZero() {
		resp.CompleteFrom = timestamppb.New(h.CompleteFrom)
	}
	if !h.ExactFrom.IsZero() {
		resp.ExactFrom = timestamppb.New(h.ExactFrom)
	}
	for _, p := range h.Points {
		resp.Points = append(resp.Points, &metricsv1.SummaryPoint{
			Time: timestamppb.New(p.Time), Revision: p.Summary.Revision, Summary: summaryMessage(&p.Summary),
		})
	}
	return resp, nil
}

// historyTimes validates a history request and returns its points.
func historyTimes(req *metricsv1.ListSummaryHistoryRequest) ([]time.Time, error) {
	field := func(name string, ts *timestamppb.Timestamp) (time.Time, error) {
		if ts == nil {
			return time.Time{}, metrics.InvalidField(name, metrics.ReasonInvalidField, "is required")
		}
		if err := ts.CheckValid(); err != nil {
			return time.Time{}, metrics.InvalidField(name, metrics.ReasonInvalidField, "must be a valid timestamp: "+err.Error())
		}
		return ts.AsTime(), nil
	}
	start, err := field("start_time", req.GetStartTime())
	if err != nil {
		return nil, err
	}
	end, err := field("end_time", req.GetEndTime())
	if err != nil {
		return nil, err
	}
	if end.Before(start) {
		return nil, metrics.InvalidField("end_time", metrics.ReasonInvalidField, "must not be before start_time")
	}
	interval := defaultInterval
	if iv := req.GetInterval(); iv != nil {
		if err := iv.CheckValid(); err != nil {
			return nil, metrics.InvalidField("interval", metrics.ReasonInvalidField, "must be a valid duration: "+err.Error())
		}
		interval = iv.AsDuration()
	}
	if interval < minHistoryInterval {
		return nil, metrics.InvalidField("interval", metrics.ReasonInvalidField, "must be at least 1m")
	}
	if n := end.Sub(start)/interval + 1; end.Sub(start) < 0 || n > maxHistoryPoints || n <= 0 {
		return nil, metrics.InvalidField("interval", metrics.ReasonInvalidField,
			fmt.Sprintf("makes %d points from start_time to end_time; at most %d", int64(n), maxHistoryPoints))
	}
	var times []time.Time
	for t := start; !t.After(end); t = t.Add(interval) {
		times = append(times, t)
	}
	return times, nil
}

// ListTargetProgress implements metricsv1.MetricsServiceServer.
func (s *Server) ListTargetProgress(ctx context.Context, req *metricsv1.ListTargetProgressRequest) (*metricsv1.ListTargetProgressResponse, error) {
	if err := minRevision(req.GetMinRevision()); err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	ts, rev, err := s.office.TargetProgress(readContext(ctx), req.GetMinRevision())
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	setRevision(ctx, rev)
	resp := &metricsv1.ListTargetProgressResponse{Revision: rev, Targets: []*metricsv1.TargetProgress{}}
	for i := range ts {
		resp.Targets = append(resp.Targets, progressMessage(&ts[i]))
	}
	return resp, nil
}

// GetTargetProgress implements metricsv1.MetricsServiceServer.
func (s *Server) GetTargetProgress(ctx context.Context, req *metricsv1.GetTargetProgressRequest) (*metricsv1.TargetProgress, error) {
	id, ok := strings.CutPrefix(req.GetName(), "targets/")
	if !ok || !validID(id) {
		return nil, statusError(ctx, s.log, metrics.InvalidField("name", metrics.ReasonInvalidField,
			"must be a target name, targets/{target} with {target} matching ^[a-z][a-z0-9-]{0,62}$"))
	}
	if err := minRevision(req.GetMinRevision()); err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	t, err := s.office.OneTargetProgress(readContext(ctx), req.GetName(), req.GetMinRevision())
	if err != nil {
		return nil, statusError(ctx, s.log, err)
	}
	return progressMessage(&t), nil
}

func progressMessage(t *metrics.TargetProgress) *metricsv1.TargetProgress {
	m := &metricsv1.TargetProgress{
		Target: t.Target, DisplayName: t.DisplayName, Metric: t.Metric, GoalValue: t.GoalValue,
		CurrentValue: t.CurrentValue, Fraction: t.Fraction, Scope: t.Scope,
	}
	if !t.Deadline.IsZero() {
		m.Deadline = timestamppb.New(t.Deadline)
	}
	return m
}

// unavailableOffice answers the office reads of a Reader that serves none.
type unavailableOffice struct{}

func (unavailableOffice) err() error {
	return &metrics.Error{Code: metrics.CodeUnavailable, Reason: metrics.ReasonNotLoaded, Message: "this reader serves no history, search or targets"}
}

func (u unavailableOffice) SummaryAsOf(context.Context, time.Time, int64) (metrics.Summary, error) {
	return metrics.Summary{}, u.err()
}

func (u unavailableOffice) GroupStatsAsOf(context.Context, string, time.Time, int64) (metrics.GroupStats, error) {
	return metrics.GroupStats{}, u.err()
}

func (u unavailableOffice) BreakdownAsOf(context.Context, metrics.Dimension, time.Time, int64) (metrics.Breakdown, error) {
	return metrics.Breakdown{}, u.err()
}

func (u unavailableOffice) SummaryHistory(context.Context, []time.Time) (metrics.History, error) {
	return metrics.History{}, u.err()
}

func (u unavailableOffice) Search(context.Context, string, int, int, int64) (metrics.SearchPage, error) {
	return metrics.SearchPage{}, u.err()
}

func (u unavailableOffice) TargetProgress(context.Context, int64) ([]metrics.TargetProgress, int64, error) {
	return nil, 0, u.err()
}

func (u unavailableOffice) OneTargetProgress(context.Context, string, int64) (metrics.TargetProgress, error) {
	return metrics.TargetProgress{}, u.err()
}
