package projection

import (
	"cmp"
	"slices"
	"strings"

	"talentreg/services/metrics"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// kindName returns the name of entity kind k, "" for unspecified: the key of
// the entityKind breakdown.
func kindName(k int) string {
	if k == 0 {
		return ""
	}
	return registryv1.EntityKind(k).String()
}

// byKind returns counts keyed by kind name, holding every valid kind.
func byKind(counts *[numEntityKinds]int64) map[string]int64 {
	m := make(map[string]int64, numEntityKinds)
	for _, name := range metrics.EntityKinds {
		m[name] = 0
	}
	for k, n := range counts {
		if k == 0 {
			if n != 0 {
				m[registryv1.EntityKind(0).String()] = n
			}
			continue
		}
		m[kindName(k)] = n
	}
	return m
}

func byCategory(t *[numCategories]int64) map[string]int64 {
	m := make(map[string]int64, numCategories)
	for i, name := range metrics.TalentCategories {
		m[name] = t[i]
	}
	return m
}

// Summary returns the headline figures. It costs O(1).
func (p *Projection) Summary() metrics.Summary {
	st := p.sumState()
	return summaryOf(&st, p.revision)
}

// GroupStats returns the figures of the group named `groups/{group}`, false
// when no such group exists.
func (p *Projection) GroupStats(name string) (metrics.GroupStats, bool) {
	id, ok := strings.CutPrefix(name, "groups/")
	if !ok {
		return metrics.GroupStats{}, false
	}
	slot, ok := p.groupIDs[id]
	if !ok || !p.groups[slot].exists {
		return metrics.GroupStats{}, false
	}
	return p.groupStats(&p.groups[slot]), true
}

func (p *Projection) groupStats(g *group) metrics.GroupStats {
	v, field := p.groupValue(g.name)
	return groupStatsOf(g.name, p.revision, &v, field)
}

func groupKindName(k uint8) string { return registryv1.GroupKind(k).String() }

// Breakdown returns the rows of dimension d with some figure other than
// zero, ordered by key. It costs O(rows).
func (p *Projection) Breakdown(d metrics.Dimension) []metrics.Row {
	rows := []metrics.Row{}
	add := func(key string, r *row) {
		out := metrics.Row{
			Key:               key,
			Entities:          r.entities,
			Groups:            r.groups,
			ConsortiumMembers: r.consortiumMembers,
			AllianceMembers:   r.allianceMembers,
			TalentsGathered:   r.talents[0],
			TalentsCultivated: r.talents[1],
			TalentsAssessed:   r.talents[2],
			TalentRecords:     r.records,
		}
		if !out.IsZero() {
			rows = append(rows, out)
		}
	}
	addTallies := func(m map[string]*tally) {
		for k, t := range m {
			add(k, &row{talents: t.talents, records: t.records})
		}
	}
	switch d {
	case metrics.DimensionEntityKind:
		for k := range p.kindRows {
			add(kindName(k), &p.kindRows[k])
		}
	case metrics.DimensionRegion:
		for id := range p.regions.names {
			if p.regions.inUse(id) {
				add(p.regions.names[id], &p.regionRows[id])
			}
		}
	case metrics.DimensionIndustry:
		for id := range p.industries.names {
			if p.industries.inUse(id) {
				add(p.industries.names[id], &p.industryRows[id])
			}
		}
	case metrics.DimensionGroupField:
		for id := range p.fields.names {
			if p.fields.inUse(id) {
				add(p.fields.names[id], &p.fieldRows[id])
			}
		}
	case metrics.DimensionProgram:
		addTallies(p.programRows)
	case metrics.DimensionPeriod:
		addTallies(p.periodRows)
	}
	slices.SortFunc(rows, func(a, b metrics.Row) int { return cmp.Compare(a.Key, b.Key) })
	return rows
}

// Figures returns every figure: what Verify compares. It costs O(groups +
// rows).
func (p *Projection) Figures() metrics.Figures {
	f := metrics.Figures{
		Revision:   p.revision,
		Summary:    p.Summary(),
		Breakdowns: make(map[metrics.Dimension][]metrics.Row, len(metrics.Dimensions)),
		Groups:     map[string]metrics.GroupStats{},
	}
	for _, d := range metrics.Dimensions {
		f.Breakdowns[d] = p.Breakdown(d)
	}
	for i := range p.groups {
		if g := &p.groups[i]; g.exists {
			st := p.groupStats(g)
			f.Groups[st.Name] = st
		}
	}
	return f
}
