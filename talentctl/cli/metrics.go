package cli

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/spf13/cobra"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

// dimensions are the breakdown dimensions the metrics service knows.
var dimensions = []string{"entityKind", "region", "industry", "groupField", "program", "period"}

func (a *app) summaryCommand() *cobra.Command {
	var minRevision int64
	var asOf string
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Show the headline figures",
		Long: `Show the headline figures of the metrics service. Every "members" figure
is a distinct count of entities, never a sum of memberships.`,
		Args: argsBetween(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			s, err := c.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: minRevision, AsOf: at})
			if err != nil {
				return a.metricsError(err)
			}
			return a.printSummary(s)
		},
	}
	cmd.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the figures reflect this registry revision")
	asOfFlag(cmd, &asOf)
	return cmd
}

// asOfFlag adds --as-of to a figures command.
func asOfFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "as-of", "", "the figures as they stood at this time (RFC 3339, e.g. 2024-06-14T09:00:00Z, or a date, 2024-06-14, meaning its end in UTC)")
}

// parseAsOf parses an --as-of value; "" is nil (now).
func parseAsOf(v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	t, err := parseTime("--as-of", v, true)
	if err != nil {
		return nil, err
	}
	return timestamppb.New(t), nil
}

// parseTime parses an RFC 3339 time or a date (its start, or with
// endOfDay its last instant, in UTC).
func parseTime(flag, v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("%s: %q is neither an RFC 3339 time (2024-06-14T09:00:00Z) nor a date (2024-06-14)", flag, v)}
	}
	if endOfDay {
		d = d.Add(24*time.Hour - time.Nanosecond)
	}
	return d, nil
}

// summary fetches the summary at minRevision or later.
func (a *app) summary(minRevision int64) (*metricsv1.GetSummaryResponse, error) {
	c, err := a.metrics()
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.call()
	defer cancel()
	s, err := c.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: minRevision})
	if err != nil {
		return nil, a.metricsError(err)
	}
	return s, nil
}

func (a *app) printSummary(s *metricsv1.GetSummaryResponse) error {
	if a.output == "json" {
		return a.printJSON(s)
	}
	tw := newTable(a.stdout)
	row(tw, "FIGURE", "VALUE")
	n := func(label string, v int64) { row(tw, label, strconv.FormatInt(v, 10)) }
	n("talents gathered", s.GetTalentsGathered())
	n("assessing entities", s.GetAssessingEntities())
	n("talents assessed", s.GetTalentsAssessed())
	n("consortia", s.GetConsortia())
	n("consortium members", s.GetConsortiumMembers())
	n("talents cultivated", s.GetTalentsCultivated())
	n("alliances", s.GetAlliances())
	n("alliance members", s.GetAllianceMembers())
	n("consortium memberships", s.GetConsortiumMemberships())
	n("alliance memberships", s.GetAllianceMemberships())
	n("entities", s.GetEntities())
	for _, k := range slices.Sorted(maps.Keys(s.GetEntitiesByKind())) {
		n("  "+enumName(k, "ENTITY_KIND_"), s.GetEntitiesByKind()[k])
	}
	n("leading enterprises", s.GetLeadingEnterprises())
	n("future-industry platforms", s.GetFutureIndustryPlatforms())
	n("platforms or leading enterprises", s.GetPlatformsOrLeadingEnterprises())
	n("talent records", s.GetTalentRecords())
	n("programmes", s.GetPrograms())
	n("policies", s.GetPolicies())
	n("pilot policies", s.GetPilotPolicies())
	n("Beijing/Hebei organisations in groups", s.GetJingjinjiOrganisations())
	n("targets", s.GetTargets())
	n("revision", s.GetRevision())
	return tw.Flush()
}

func (a *app) breakdownCommand() *cobra.Command {
	var minRevision int64
	var asOf string
	cmd := &cobra.Command{
		Use:       "breakdown DIMENSION",
		Short:     "Show figures per value of a dimension",
		Long:      "Show figures per value of one dimension: " + strings.Join(dimensions, ", ") + ".",
		Args:      argsBetween(1, 1, "DIMENSION ("+strings.Join(dimensions, ", ")+")"),
		ValidArgs: dimensions,
		RunE: func(cmd *cobra.Command, args []string) error {
			dim, ok := dimension(args[0])
			if !ok {
				return usageError{fmt.Errorf("unknown dimension %q (want one of %s)", args[0], strings.Join(dimensions, ", "))}
			}
			at, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			b, err := c.GetBreakdown(ctx, &metricsv1.GetBreakdownRequest{Dimension: dim, MinRevision: minRevision, AsOf: at})
			if err != nil {
				return a.metricsError(err)
			}
			if a.output == "json" {
				return a.printJSON(b)
			}
			tw := newTable(a.stdout)
			row(tw, strings.ToUpper(dim), "ENTITIES", "GROUPS", "CONSORTIUM MEMBERS", "ALLIANCE MEMBERS", "GATHERED", "CULTIVATED", "ASSESSED", "RECORDS")
			for _, r := range b.GetRows() {
				key := r.GetKey()
				if key == "" {
					key = "(none)"
				}
				cells := []string{key}
				for _, v := range []int64{r.GetEntities(), r.GetGroups(), r.GetConsortiumMembers(), r.GetAllianceMembers(), r.GetTalentsGathered(), r.GetTalentsCultivated(), r.GetTalentsAssessed(), r.GetTalentRecords()} {
					cells = append(cells, strconv.FormatInt(v, 10))
				}
				row(tw, cells...)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the figures reflect this registry revision")
	asOfFlag(cmd, &asOf)
	return cmd
}

// dimension returns the canonical spelling of a dimension name given in
// any case, with or without "-" and "_" ("entity-kind" → "entityKind").
func dimension(s string) (string, bool) {
	flat := func(s string) string { return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s)) }
	for _, d := range dimensions {
		if flat(d) == flat(s) {
			return d, true
		}
	}
	return "", false
}

func (a *app) statsCommand() *cobra.Command {
	var minRevision int64
	var asOf string
	cmd := &cobra.Command{
		Use:   "stats GROUP",
		Short: "Show the figures of one group",
		Args:  argsBetween(1, 1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			name := "groups/" + strings.TrimPrefix(args[0], "groups/")
			s, err := c.GetGroupStats(ctx, &metricsv1.GetGroupStatsRequest{Name: name, MinRevision: minRevision, AsOf: at})
			if err != nil {
				return a.metricsError(err)
			}
			if a.output == "json" {
				return a.printJSON(s)
			}
			tw := newTable(a.stdout)
			row(tw, "FIGURE", "VALUE")
			row(tw, "group", s.GetName())
			row(tw, "kind", enumName(s.GetKind(), "GROUP_KIND_"))
			row(tw, "field", s.GetField())
			row(tw, "members", strconv.FormatInt(s.GetMembers(), 10))
			for _, k := range slices.Sorted(maps.Keys(s.GetMembersByKind())) {
				row(tw, "  "+enumName(k, "ENTITY_KIND_"), strconv.FormatInt(s.GetMembersByKind()[k], 10))
			}
			for _, k := range slices.Sorted(maps.Keys(s.GetTalentsByCategory())) {
				row(tw, "talents "+enumName(k, "TALENT_CATEGORY_"), strconv.FormatInt(s.GetTalentsByCategory()[k], 10))
			}
			for _, k := range slices.Sorted(maps.Keys(s.GetMemberTalentsByCategory())) {
				row(tw, "member talents "+enumName(k, "TALENT_CATEGORY_"), strconv.FormatInt(s.GetMemberTalentsByCategory()[k], 10))
			}
			row(tw, "revision", strconv.FormatInt(s.GetRevision(), 10))
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the figures reflect this registry revision")
	asOfFlag(cmd, &asOf)
	return cmd
}
