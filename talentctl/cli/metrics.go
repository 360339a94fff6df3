package cli

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

// dimensions are the breakdown dimensions the metrics service knows.
var dimensions = []string{"entityKind", "region", "industry", "groupField", "program", "period"}

func (a *app) summaryCommand() *cobra.Command {
	var minRevision int64
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Show the headline figures",
		Long: `Show the headline figures of the metrics service. Every "members" figure
is a distinct count of entities, never a sum of memberships.`,
		Args: argsBetween(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.summary(minRevision)
			if err != nil {
				return err
			}
			return a.printSummary(s)
		},
	}
	cmd.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the figures reflect this registry revision")
	return cmd
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
	n("revision", s.GetRevision())
	return tw.Flush()
}

func (a *app) breakdownCommand() *cobra.Command {
	var minRevision int64
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
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			b, err := c.GetBreakdown(ctx, &metricsv1.GetBreakdownRequest{Dimension: dim, MinRevision: minRevision})
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
	cmd := &cobra.Command{
		Use:   "stats GROUP",
		Short: "Show the figures of one group",
		Args:  argsBetween(1, 1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.metrics()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			name := "groups/" + strings.TrimPrefix(args[0], "groups/")
			s, err := c.GetGroupStats(ctx, &metricsv1.GetGroupStatsRequest{Name: name, MinRevision: minRevision})
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
			row(tw, "revision", strconv.FormatInt(s.GetRevision(), 10))
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&minRevision, "min-revision", 0, "wait until the figures reflect this registry revision")
	return cmd
}
