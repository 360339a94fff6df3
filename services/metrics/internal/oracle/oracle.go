// Package oracle counts every figure of the metrics service by brute force
// from a complete list of registry resources. It shares no code with the
// projection, so tests can hold the projection's incremental figures
// against it.
package oracle

import (
	"cmp"
	"slices"
	"strings"

	"talentreg/services/metrics"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Figures returns every figure of the resources (a consistent registry
// state, e.g. a snapshot) as of revision.
func Figures(revision int64, resources []*registryv1.Resource) metrics.Figures {
	entities := map[string]*registryv1.Entity{}
	groups := map[string]*registryv1.Group{}
	var memberships []*registryv1.Membership
	var records []*registryv1.TalentRecord
	programs := 0
	var policies, pilots, targets int64
	active := func(s registryv1.LifecycleStatus) bool {
		return s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED || s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE
	}
	for _, r := range resources {
		switch {
		case r.GetPolicy() != nil:
			policies++
			if r.GetPolicy().GetPilot() {
				pilots++
			}
		case r.GetTarget() != nil:
			targets++
		case r.GetEntity() != nil:
			// An entity that is not active counts for nothing (its records
			// still count in the totals).
			if active(r.GetEntity().GetStatus()) {
				entities[r.GetEntity().GetName()] = r.GetEntity()
			}
		case r.GetGroup() != nil:
			groups[r.GetGroup().GetName()] = r.GetGroup()
		case r.GetMembership() != nil:
			if active(r.GetMembership().GetStatus()) {
				memberships = append(memberships, r.GetMembership())
			}
		case r.GetTalentRecord() != nil:
			records = append(records, r.GetTalentRecord())
		case r.GetProgram() != nil:
			programs++
		}
	}
	groupOf := func(m *registryv1.Membership) string {
		n := m.GetName()
		return n[:strings.Index(n, "/memberships/")]
	}
	kindKey := func(k registryv1.EntityKind) string {
		if k == 0 {
			return ""
		}
		return k.String()
	}

	f := metrics.Figures{
		Revision:   revision,
		Breakdowns: map[metrics.Dimension][]metrics.Row{},
		Groups:     map[string]metrics.GroupStats{},
	}
	s := &f.Summary
	s.Revision = revision
	s.EntitiesByKind = map[string]int64{}
	for _, k := range metrics.EntityKinds {
		s.EntitiesByKind[k] = 0
	}
	s.Programs = int64(programs)
	s.Policies, s.PilotPolicies, s.Targets = policies, pilots, targets
	for _, e := range entities {
		s.Entities++
		s.EntitiesByKind[e.GetKind().String()]++
		if e.GetLeadingEnterprise() {
			s.LeadingEnterprises++
		}
		if e.GetFutureIndustryPlatform() {
			s.FutureIndustryPlatforms++
		}
		if e.GetLeadingEnterprise() || e.GetFutureIndustryPlatform() {
			s.PlatformsOrLeadingEnterprises++
		}
	}
	for _, g := range groups {
		switch g.GetKind() {
		case registryv1.GroupKind_GROUP_KIND_CONSORTIUM:
			s.Consortia++
		case registryv1.GroupKind_GROUP_KIND_ALLIANCE:
			s.Alliances++
		}
	}
	// Sets of entity names, built from memberships whose group and entity
	// both exist.
	consortiumMembers, allianceMembers := map[string]bool{}, map[string]bool{}
	groupMembers := map[string]map[string]bool{}
	for _, m := range memberships {
		g, ok := groups[groupOf(m)]
		if !ok || entities[m.GetEntity()] == nil {
			continue
		}
		if groupMembers[g.GetName()] == nil {
			groupMembers[g.GetName()] = map[string]bool{}
		}
		groupMembers[g.GetName()][m.GetEntity()] = true
		switch g.GetKind() {
		case registryv1.GroupKind_GROUP_KIND_CONSORTIUM:
			s.ConsortiumMemberships++
			consortiumMembers[m.GetEntity()] = true
		case registryv1.GroupKind_GROUP_KIND_ALLIANCE:
			s.AllianceMemberships++
			allianceMembers[m.GetEntity()] = true
		}
	}
	inAnyGroup := map[string]bool{}
	for _, ms := range groupMembers {
		for e := range ms {
			inAnyGroup[e] = true
		}
	}
	for e := range inAnyGroup {
		if r := entities[e].GetRegion(); r == "Beijing" || r == "Hebei" {
			s.JingjinjiOrganisations++
		}
	}
	s.ConsortiumMembers = int64(len(consortiumMembers))
	s.AllianceMembers = int64(len(allianceMembers))
	assessing := map[string]bool{}
	for _, r := range records {
		s.TalentRecords++
		switch r.GetCategory() {
		case registryv1.TalentCategory_TALENT_CATEGORY_GATHERED:
			s.TalentsGathered += r.GetCount()
		case registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED:
			s.TalentsCultivated += r.GetCount()
		case registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED:
			s.TalentsAssessed += r.GetCount()
			if entities[r.GetSubject()] != nil {
				assessing[r.GetSubject()] = true
			}
		}
	}
	s.AssessingEntities = int64(len(assessing))

	// Entity dimensions: the values of each entity.
	entityValues := map[metrics.Dimension]func(*registryv1.Entity) []string{
		metrics.DimensionEntityKind: func(e *registryv1.Entity) []string { return []string{kindKey(e.GetKind())} },
		metrics.DimensionRegion:     func(e *registryv1.Entity) []string { return []string{e.GetRegion()} },
		metrics.DimensionIndustry: func(e *registryv1.Entity) []string {
			if len(e.GetIndustries()) == 0 {
				return []string{""}
			}
			return e.GetIndustries()
		},
	}
	for dim, values := range entityValues {
		rows := map[string]*metrics.Row{}
		get := func(k string) *metrics.Row {
			if rows[k] == nil {
				rows[k] = &metrics.Row{Key: k}
			}
			return rows[k]
		}
		for name, e := range entities {
			for _, v := range values(e) {
				r := get(v)
				r.Entities++
				if consortiumMembers[name] {
					r.ConsortiumMembers++
				}
				if allianceMembers[name] {
					r.AllianceMembers++
				}
			}
		}
		for _, rec := range records {
			if e := entities[rec.GetSubject()]; e != nil {
				for _, v := range values(e) {
					addRecord(get(v), rec)
				}
			}
		}
		f.Breakdowns[dim] = sorted(rows)
	}

	// groupField: groups, distinct members, records naming the groups.
	{
		rows := map[string]*metrics.Row{}
		get := func(k string) *metrics.Row {
			if rows[k] == nil {
				rows[k] = &metrics.Row{Key: k}
			}
			return rows[k]
		}
		type fieldSets struct{ any, consortium, alliance map[string]bool }
		sets := map[string]*fieldSets{}
		for _, g := range groups {
			get(g.GetField()).Groups++
			fs := sets[g.GetField()]
			if fs == nil {
				fs = &fieldSets{map[string]bool{}, map[string]bool{}, map[string]bool{}}
				sets[g.GetField()] = fs
			}
			for e := range groupMembers[g.GetName()] {
				fs.any[e] = true
				switch g.GetKind() {
				case registryv1.GroupKind_GROUP_KIND_CONSORTIUM:
					fs.consortium[e] = true
				case registryv1.GroupKind_GROUP_KIND_ALLIANCE:
					fs.alliance[e] = true
				}
			}
		}
		for field, fs := range sets {
			r := get(field)
			r.Entities = int64(len(fs.any))
			r.ConsortiumMembers = int64(len(fs.consortium))
			r.AllianceMembers = int64(len(fs.alliance))
		}
		for _, rec := range records {
			if g := groups[rec.GetSubject()]; g != nil {
				addRecord(get(g.GetField()), rec)
			}
		}
		f.Breakdowns[metrics.DimensionGroupField] = sorted(rows)
	}

	// program and period: records by value.
	for dim, value := range map[metrics.Dimension]func(*registryv1.TalentRecord) string{
		metrics.DimensionProgram: (*registryv1.TalentRecord).GetProgram,
		metrics.DimensionPeriod:  (*registryv1.TalentRecord).GetPeriod,
	} {
		rows := map[string]*metrics.Row{}
		for _, rec := range records {
			k := value(rec)
			if rows[k] == nil {
				rows[k] = &metrics.Row{Key: k}
			}
			addRecord(rows[k], rec)
		}
		f.Breakdowns[dim] = sorted(rows)
	}

	// Group stats.
	for name, g := range groups {
		st := metrics.GroupStats{
			Revision:          revision,
			Name:              name,
			Kind:              g.GetKind().String(),
			Field:             g.GetField(),
			MembersByKind:     map[string]int64{},
			TalentsByCategory: map[string]int64{},

			MemberTalentsByCategory: map[string]int64{},
		}
		for _, k := range metrics.EntityKinds {
			st.MembersByKind[k] = 0
		}
		for _, c := range metrics.TalentCategories {
			st.TalentsByCategory[c] = 0
			st.MemberTalentsByCategory[c] = 0
		}
		for e := range groupMembers[name] {
			st.Members++
			st.MembersByKind[entities[e].GetKind().String()]++
		}
		for _, rec := range records {
			if rec.GetSubject() == name && rec.GetCategory() != 0 {
				st.TalentsByCategory[rec.GetCategory().String()] += rec.GetCount()
			}
			if groupMembers[name][rec.GetSubject()] && rec.GetCategory() != 0 {
				st.MemberTalentsByCategory[rec.GetCategory().String()] += rec.GetCount()
			}
		}
		f.Groups[name] = st
	}
	return f
}

func addRecord(r *metrics.Row, rec *registryv1.TalentRecord) {
	r.TalentRecords++
	switch rec.GetCategory() {
	case registryv1.TalentCategory_TALENT_CATEGORY_GATHERED:
		r.TalentsGathered += rec.GetCount()
	case registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED:
		r.TalentsCultivated += rec.GetCount()
	case registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED:
		r.TalentsAssessed += rec.GetCount()
	}
}

// sorted returns the rows with some figure other than zero, by key.
func sorted(rows map[string]*metrics.Row) []metrics.Row {
	out := []metrics.Row{}
	for _, r := range rows {
		if !r.IsZero() {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b metrics.Row) int { return cmp.Compare(a.Key, b.Key) })
	return out
}
