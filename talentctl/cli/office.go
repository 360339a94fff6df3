package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

func (a *app) searchCommand() *cobra.Command {
	var pageSize int32
	var pageToken string
	var minRevision int64
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Find organisations, groups and programmes by name or credit code",
		Long: `Find organisations, groups and programmes by words or any part of their
names, in English or Chinese (天津大学, "Tianjin Univ" and "tianjin university"
all find Tianjin University), or by exact credit code. Best matches first; the
next page with --page-token.`,
		Args: argsBetween(1, -1, "QUERY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			resp, err := c.SearchEntities(ctx, &metricsv1.SearchEntitiesRequest{
				Query: strings.Join(args, " "), PageSize: pageSize, PageToken: pageToken, MinRevision: minRevision,
			})
			if err != nil {
				return a.metricsError(err)
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			tw := newTable(a.stdout)
			row(tw, "NAME", "DISPLAY NAME", "KIND", "CREDIT CODE", "SCORE")
			for _, r := range resp.GetResults() {
				row(tw, r.GetName(), r.GetDisplayName(), enumName(enumName(r.GetKind(), "ENTITY_KIND_"), "group_kind_"),
					r.GetCreditCode(), strconv.FormatFloat(r.GetScore(), 'f', 2, 64))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			about := "" // totals above 10,000 are estimates (see SearchEntitiesResponse)
			if resp.GetTotalSize() > 10_000 {
				about = "about "
			}
			_, err = fmt.Fprintf(a.stdout, "%d of %s%d results", len(resp.GetResults()), about, resp.GetTotalSize())
			if t := resp.GetNextPageToken(); t != "" {
				_, err = fmt.Fprintf(a.stdout, "; next page: --page-token %s", t)
			}
			fmt.Fprintln(a.stdout)
			return err
		},
	}
	cmd.Flags().Int32Var(&pageSize, "page-size", 20, "results per page (1-100)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "the next page of an earlier search of the same query")
	cmd.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the index reflects this registry revision")
	return cmd
}

// trendCommand is the Summary's history for charts. (`history` shows who
// changed what.)
func (a *app) trendCommand() *cobra.Command {
	var start, end string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "trend --start TIME [--end TIME] [--interval DURATION]",
		Short: "Show the headline figures over time",
		Long: `Show the headline figures as they stood at each point from --start to
--end (default now), every --interval (default 24h, at least 1m, at most 1000
points). Times are RFC 3339 or dates (a date means its start, in UTC).`,
		Args: argsBetween(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if start == "" {
				return usageError{fmt.Errorf("--start is required")}
			}
			st, err := parseTime("--start", start, false)
			if err != nil {
				return err
			}
			en := time.Now()
			if end != "" {
				if en, err = parseTime("--end", end, false); err != nil {
					return err
				}
			}
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			resp, err := c.ListSummaryHistory(ctx, &metricsv1.ListSummaryHistoryRequest{
				StartTime: timestamppb.New(st), EndTime: timestamppb.New(en), Interval: durationpb.New(interval),
			})
			if err != nil {
				return a.metricsError(err)
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			tw := newTable(a.stdout)
			row(tw, "TIME", "REVISION", "ENTITIES", "CONSORTIUM MEMBERS", "ALLIANCE MEMBERS", "GATHERED", "CULTIVATED", "ASSESSED", "PLATFORMS/LEADING", "PILOT POLICIES")
			for _, p := range resp.GetPoints() {
				s := p.GetSummary()
				cells := []string{p.GetTime().AsTime().UTC().Format(time.RFC3339), strconv.FormatInt(p.GetRevision(), 10)}
				for _, v := range []int64{s.GetEntities(), s.GetConsortiumMembers(), s.GetAllianceMembers(), s.GetTalentsGathered(),
					s.GetTalentsCultivated(), s.GetTalentsAssessed(), s.GetPlatformsOrLeadingEnterprises(), s.GetPilotPolicies()} {
					cells = append(cells, strconv.FormatInt(v, 10))
				}
				row(tw, cells...)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if cf := resp.GetCompleteFrom(); cf != nil {
				_, err = fmt.Fprintf(a.stdout, "history complete from %s\n", cf.AsTime().UTC().Format(time.RFC3339))
			} else {
				_, err = fmt.Fprintln(a.stdout, "history complete from the registry's first revision")
			}
			if ef := resp.GetExactFrom(); err == nil && ef != nil && !ef.AsTime().Equal(resp.GetCompleteFrom().AsTime()) {
				_, err = fmt.Fprintf(a.stdout, "exact to the transaction from %s (before it, points answer the start of their UTC day)\n", ef.AsTime().UTC().Format(time.RFC3339))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&start, "start", "", "the first point (required)")
	cmd.Flags().StringVar(&end, "end", "", "the last point at or before it (default now)")
	cmd.Flags().DurationVar(&interval, "interval", 24*time.Hour, "between points (at least 1m)")
	return cmd
}

func (a *app) targetsCommand() *cobra.Command {
	cmd := parent(&cobra.Command{
		Use:   "targets",
		Short: "Targets and how far they are met",
	})
	var minRevision int64
	progress := &cobra.Command{
		Use:   "progress [TARGET]",
		Short: "Show the progress of every target, or of one",
		Args:  argsBetween(0, 1, "at most one TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			var ts []*metricsv1.TargetProgress
			if len(args) == 1 {
				t, err := c.GetTargetProgress(ctx, &metricsv1.GetTargetProgressRequest{
					Name: "targets/" + strings.TrimPrefix(args[0], "targets/"), MinRevision: minRevision})
				if err != nil {
					return a.metricsError(err)
				}
				if a.output == "json" {
					return a.printJSON(t)
				}
				ts = append(ts, t)
			} else {
				resp, err := c.ListTargetProgress(ctx, &metricsv1.ListTargetProgressRequest{MinRevision: minRevision})
				if err != nil {
					return a.metricsError(err)
				}
				if a.output == "json" {
					return a.printJSON(resp)
				}
				ts = resp.GetTargets()
			}
			tw := newTable(a.stdout)
			row(tw, "TARGET", "DISPLAY NAME", "METRIC", "SCOPE", "CURRENT", "GOAL", "PROGRESS", "DEADLINE")
			for _, t := range ts {
				scope, deadline := t.GetScope(), ""
				if scope == "" {
					scope = "(ecosystem)"
				}
				if t.GetDeadline() != nil {
					deadline = t.GetDeadline().AsTime().UTC().Format(time.DateOnly)
				}
				row(tw, t.GetTarget(), t.GetDisplayName(), enumName(t.GetMetric(), "TARGET_METRIC_"), scope,
					strconv.FormatInt(t.GetCurrentValue(), 10), strconv.FormatInt(t.GetGoalValue(), 10),
					strconv.FormatFloat(100*t.GetFraction(), 'f', 1, 64)+"%", deadline)
			}
			return tw.Flush()
		},
	}
	progress.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the figures reflect this registry revision")
	cmd.AddCommand(progress)
	return cmd
}
