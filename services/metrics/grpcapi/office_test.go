package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"talentreg/services/metrics/internal/feedmodel"
	"talentreg/services/metrics/projection"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestServer_OfficeReadsRefuseBadInput: each bad request is INVALID_ARGUMENT
// naming the field.
func TestServer_OfficeReadsRefuseBadInput(t *testing.T) {
	live, _ := fixture(t)
	c := serve(t, live, nil)
	day := func(d int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2024, 6, d, 0, 0, 0, 0, time.UTC))
	}
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"empty query", "query", func() error {
			_, err := c.SearchEntities(ctx(t), &metricsv1.SearchEntitiesRequest{Query: "  "})
			return err
		}},
		{"long query", "query", func() error {
			_, err := c.SearchEntities(ctx(t), &metricsv1.SearchEntitiesRequest{Query: strings.Repeat("天", 201)})
			return err
		}},
		{"page size", "page_size", func() error {
			_, err := c.SearchEntities(ctx(t), &metricsv1.SearchEntitiesRequest{Query: "tju", PageSize: 101})
			return err
		}},
		{"page token of another query", "page_token", func() error {
			r, err := c.SearchEntities(ctx(t), &metricsv1.SearchEntitiesRequest{Query: "a", PageSize: 1})
			if err != nil {
				return err
			}
			_, err = c.SearchEntities(ctx(t), &metricsv1.SearchEntitiesRequest{Query: "b", PageToken: r.GetNextPageToken() + "x"})
			return err
		}},
		{"history without start", "start_time", func() error {
			_, err := c.ListSummaryHistory(ctx(t), &metricsv1.ListSummaryHistoryRequest{EndTime: day(2)})
			return err
		}},
		{"history reversed", "end_time", func() error {
			_, err := c.ListSummaryHistory(ctx(t), &metricsv1.ListSummaryHistoryRequest{StartTime: day(2), EndTime: day(1)})
			return err
		}},
		{"history interval too short", "interval", func() error {
			_, err := c.ListSummaryHistory(ctx(t), &metricsv1.ListSummaryHistoryRequest{StartTime: day(1), EndTime: day(2), Interval: durationpb.New(time.Second)})
			return err
		}},
		{"history too many points", "interval", func() error {
			_, err := c.ListSummaryHistory(ctx(t), &metricsv1.ListSummaryHistoryRequest{StartTime: day(1), EndTime: day(30), Interval: durationpb.New(time.Minute)})
			return err
		}},
		{"as_of out of range", "as_of", func() error {
			_, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{AsOf: &timestamppb.Timestamp{Seconds: -1 << 40}})
			return err
		}},
		{"target name", "name", func() error {
			_, err := c.GetTargetProgress(ctx(t), &metricsv1.GetTargetProgressRequest{Name: "groups/a1"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field+":") {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming %s", err, tc.field)
			}
		})
	}
}

// TestServer_AsOfBeforeHistory: a replica bootstrapped from a snapshot
// refuses a time before it, FAILED_PRECONDITION saying from when its
// history is complete, and reports that time with the history.
func TestServer_AsOfBeforeHistory(t *testing.T) {
	m := feedmodel.New()
	m.Put(feedmodel.Entity("tju", registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, "Tianjin", nil, false, false))
	l := projection.NewLoader()
	for _, r := range m.Snapshot() {
		l.Add(r)
	}
	loadedAt := time.Now()
	live := projection.NewLive(0)
	if err := live.Replace(context.Background(), l.Finish(m.Revision)); err != nil {
		t.Fatal(err)
	}
	c := serve(t, live, nil)
	_, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{AsOf: timestamppb.New(loadedAt.Add(-time.Hour))})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "complete from") {
		t.Fatalf("as of before the snapshot: %v, want FAILED_PRECONDITION naming complete from", err)
	}
	s, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{AsOf: timestamppb.Now()})
	if err != nil || s.GetEntities() != 1 || s.GetRevision() != m.Revision {
		t.Fatalf("as of now: %v %v", s, err)
	}
	h, err := c.ListSummaryHistory(ctx(t), &metricsv1.ListSummaryHistoryRequest{StartTime: timestamppb.Now(), EndTime: timestamppb.Now()})
	if err != nil || h.GetCompleteFrom() == nil || h.GetCompleteFrom().AsTime().Before(loadedAt) || len(h.GetPoints()) != 1 {
		t.Fatalf("history: %v %v", h, err)
	}
	if !h.GetExactFrom().AsTime().Equal(h.GetCompleteFrom().AsTime()) {
		t.Fatalf("exact_from %v, want complete_from %v (no bound)", h.GetExactFrom(), h.GetCompleteFrom())
	}
}

// TestServer_ExactFrom: ListSummaryHistory says from when as_of is exact
// to the transaction: unset on a replica kept from the start of the feed
// without a bound; with --history-exact-for, the start of the UTC day in
// which the window before the latest commit begins; as of a time from it
// on the figures are exact, before it those at the start of the day.
func TestServer_ExactFrom(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		live := projection.NewLive(0)
		if bounded {
			live.SetHistoryExactFor(24 * time.Hour)
		}
		if err := live.Replace(context.Background(), projection.New()); err != nil {
			t.Fatal(err)
		}
		m := feedmodel.New()
		first := time.Date(2024, 6, 14, 9, 0, 0, 0, time.UTC)
		for i, at := range []time.Time{first, first.Add(time.Hour), first.Add(49 * time.Hour)} {
			cs := m.Put(feedmodel.Entity(fmt.Sprintf("e%d", i), registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, "Tianjin", nil, false, false))
			for _, c := range cs {
				c.CommitTime = timestamppb.New(at)
			}
			if err := live.Apply(context.Background(), cs, m.Revision); err != nil {
				t.Fatal(err)
			}
		}
		c := serve(t, live, nil)
		h, err := c.ListSummaryHistory(ctx(t), &metricsv1.ListSummaryHistoryRequest{StartTime: timestamppb.New(first), EndTime: timestamppb.New(first)})
		if err != nil {
			t.Fatal(err)
		}
		if !bounded {
			if h.GetExactFrom() != nil || h.GetCompleteFrom() != nil {
				t.Fatalf("unbounded, from the start: exact_from %v, complete_from %v, want both unset", h.GetExactFrom(), h.GetCompleteFrom())
			}
			// Before the first change of a history kept from the start,
			// however early (before the range of Unix nanoseconds too):
			// the empty registry, not an error naming a bound.
			for _, at := range []time.Time{first.Add(-time.Hour), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)} {
				s, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{AsOf: timestamppb.New(at)})
				if err != nil || s.GetEntities() != 0 || s.GetRevision() != 0 {
					t.Fatalf("as of %s, before the first change: %v, %v; want the empty registry at revision 0", at, s, err)
				}
			}
			continue
		}
		// The latest commit is 06-16 10:00; the window starts 06-15 10:00.
		want := time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC)
		if got := h.GetExactFrom(); got == nil || !got.AsTime().Equal(want) {
			t.Fatalf("exact_from %v, want %s", got, want)
		}
		// 06-14 10:30 is before it: the figures at 06-14 00:00 (none).
		s, err := c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{AsOf: timestamppb.New(first.Add(90 * time.Minute))})
		if err != nil || s.GetEntities() != 0 {
			t.Fatalf("as of a time before exact_from: %d entities, %v; want the start of its day's 0", s.GetEntities(), err)
		}
		s, err = c.GetSummary(ctx(t), &metricsv1.GetSummaryRequest{AsOf: timestamppb.New(want)})
		if err != nil || s.GetEntities() != 2 {
			t.Fatalf("as of exact_from: %d entities, %v; want 2", s.GetEntities(), err)
		}
	}
}
