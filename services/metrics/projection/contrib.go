package projection

// Field marks used to dedupe an entity's group fields in one contribution.
const (
	markMember uint8 = 1 << iota
	markConsortium
	markAlliance
)

// contribEntity adds (sign +1) or withdraws (-1) everything an entity
// counts for: the entity figures, its rows in the entity dimensions, its
// distinct-member contributions (summary, group fields, each group's
// stats) and the talent sums of the records naming it. Every change to an
// entity, its memberships or its records is bracketed by a withdrawal and an
// addition, so counters move by exactly the difference.
//
// A slot whose entity does not exist (mid cascade delete, or named before it
// was created) counts for nothing; a membership counts only while its group
// exists.
func (p *Projection) contribEntity(e *entity, sign int64) {
	if p.bulk || e.flags&flagExists == 0 || e.flags&flagInactive != 0 {
		return
	}
	p.markEntityRows(e)
	s := &p.sum
	s.entities += sign
	s.byKind[e.kind] += sign
	leading, platform := e.flags&flagLeading != 0, e.flags&flagPlatform != 0
	if leading {
		s.leading += sign
	}
	if platform {
		s.platforms += sign
	}
	if leading || platform {
		s.platformsOrLeading += sign
	}
	if e.assessed > 0 {
		s.assessing += sign
	}

	var consortia, alliances, inGroups int64
	p.touched = p.touched[:0]
	for _, m := range e.groups {
		g := &p.groups[m.group]
		if !g.exists {
			continue
		}
		inGroups++
		p.markGroupHistory(g)
		g.memberCount += sign
		g.membersByKind[e.kind] += sign
		for i, t := range e.talents {
			g.memberTalents[i] += sign * t
		}
		if leading || platform {
			g.memberPlatforms += sign
		}
		mark := markMember
		switch g.kind {
		case groupConsortium:
			consortia++
			mark |= markConsortium
		case groupAlliance:
			alliances++
			mark |= markAlliance
		}
		if p.fieldMark[g.field] == 0 {
			p.touched = append(p.touched, g.field)
		}
		p.fieldMark[g.field] |= mark
	}
	for _, f := range p.touched {
		p.markRow(dimField, p.fields.names[f])
		r, mark := &p.fieldRows[f], p.fieldMark[f]
		r.entities += sign
		if mark&markConsortium != 0 {
			r.consortiumMembers += sign
		}
		if mark&markAlliance != 0 {
			r.allianceMembers += sign
		}
		p.fieldMark[f] = 0
	}
	s.consortiumMemberships += sign * consortia
	s.allianceMemberships += sign * alliances
	var inConsortium, inAlliance int64
	if consortia > 0 {
		inConsortium = sign
	}
	if alliances > 0 {
		inAlliance = sign
	}
	s.consortiumMembers += inConsortium
	s.allianceMembers += inAlliance
	if inGroups > 0 {
		s.groupMembers += sign
		if jingjinjiRegion(p.regions.names[e.region]) {
			s.jingjinji += sign
		}
	}

	add := func(r *row) {
		r.entities += sign
		r.consortiumMembers += inConsortium
		r.allianceMembers += inAlliance
		for i, t := range e.talents {
			r.talents[i] += sign * t
		}
		r.records += sign * int64(e.records)
	}
	add(&p.kindRows[e.kind])
	add(&p.regionRows[e.region])
	if set := p.industrySets.sets[e.industries]; len(set) == 0 {
		add(&p.industryRows[0])
	} else {
		for _, ind := range set {
			add(&p.industryRows[ind])
		}
	}
}

// contribGroup adds (sign +1) or withdraws (-1) what a group counts for by
// itself: the group counts and its field row, with the records naming it.
// Its members' contributions go through contribEntity.
func (p *Projection) contribGroup(g *group, sign int64) {
	if p.bulk || !g.exists {
		return
	}
	p.markGroupHistory(g)
	p.markRow(dimField, p.fields.names[g.field])
	switch g.kind {
	case groupConsortium:
		p.sum.consortia += sign
	case groupAlliance:
		p.sum.alliances += sign
	}
	r := &p.fieldRows[g.field]
	r.groups += sign
	for i, t := range g.talents {
		r.talents[i] += sign * t
	}
	r.records += sign * int64(g.records)
}

// recompute sets every contribution-based counter from the state: the end
// of a bulk load.
func (p *Projection) recompute() {
	p.linkPending()
	p.bulk = false
	p.growRows()
	p.sum = counters{}
	p.kindRows = [numEntityKinds]row{}
	clear(p.regionRows)
	clear(p.industryRows)
	clear(p.fieldRows)
	for i := range p.groups {
		g := &p.groups[i]
		g.memberCount, g.membersByKind = 0, [numEntityKinds]int64{}
		g.memberTalents, g.memberPlatforms = [numCategories]int64{}, 0
		p.contribGroup(g, +1)
	}
	for i := range p.entities.len() {
		p.contribEntity(p.entities.at(i), +1)
	}
}

// jingjinjiRegion reports whether an entity of region r counts for the
// Beijing–Tianjin–Hebei collaboration: the regions "Beijing" and "Hebei"
// of the demo data and the API's examples.
func jingjinjiRegion(r string) bool { return r == "Beijing" || r == "Hebei" }
