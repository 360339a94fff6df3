package projection

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"talentreg/services/metrics/search"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// ErrRevisionGap is returned by Apply for a change whose revision is not the
// next one: changes were missed, and the projection must be fed again from
// its revision + 1 (or rebuilt from a snapshot).
var ErrRevisionGap = errors.New("projection: revision gap in the change feed")

// ErrAnomaly is matched (errors.Is) by the *AnomalyError Apply returns for
// a change that did not fit the projection's state.
var ErrAnomaly = errors.New("projection: the change feed does not fit the projection")

// AnomalyError reports a change that did not fit the projection's state: a
// count that would go negative (removing what the projection does not
// hold), a resource named twice, a membership or record naming an entity or
// group that does not exist when its transaction ends. A correct feed
// causes none; after one the figures cannot be trusted, and the
// projection must be rebuilt from a snapshot.
type AnomalyError struct {
	// Revision is the change's revision (for a dangling reference, the
	// last revision of its transaction).
	Revision int64
	// Reason says what did not fit.
	Reason string
}

func (e *AnomalyError) Error() string {
	return fmt.Sprintf("projection anomaly at revision %d: %s", e.Revision, e.Reason)
}

// Is makes errors.Is(err, ErrAnomaly) true.
func (e *AnomalyError) Is(target error) bool { return target == ErrAnomaly }

// Entity kinds, group kinds and talent categories are the registry's enum
// values; anything outside the known range is kept as 0 ("unspecified") so
// that a newer registry cannot index past the counters.
const (
	numEntityKinds = 6 // UNSPECIFIED .. OTHER
	numCategories  = 3 // GATHERED, CULTIVATED, ASSESSED

	groupConsortium  = uint8(registryv1.GroupKind_GROUP_KIND_CONSORTIUM)
	groupAlliance    = uint8(registryv1.GroupKind_GROUP_KIND_ALLIANCE)
	categoryAssessed = int(registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED) - 1
)

// Entity flags.
const (
	flagExists   uint8 = 1 << iota // the entity exists in the registry
	flagLeading                    // leading enterprise
	flagPlatform                   // future-industry platform
	flagDirty                      // changed since the last checkpoint
	flagInactive                   // not ACTIVE (inactive, withdrawn): counts for nothing
)

// active reports whether a lifecycle status counts: ACTIVE, or unspecified
// (a registry older than statuses).
func active(s registryv1.LifecycleStatus) bool {
	return s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED || s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE
}

// entity is the state of one entity slot. A slot outlives its entity while
// memberships or talent records still name it: the changes of a cascade
// delete may arrive in any order, and the memberships' and records'
// contributions must be withdrawn with the attributes they were added with.
type entity struct {
	name       string // the id, "" when the slot is free
	groups     []memberRef
	talents    [numCategories]int64 // sums of the records naming it
	region     int32                // id in Projection.regions
	industries int32                // id in Projection.industrySets
	records    int32                // records naming it
	assessed   int32                // ASSESSED records naming it
	kind       uint8
	flags      uint8
}

// entityTable holds entity slots in fixed-size chunks: growing it never
// copies the slots already there (a million entities would otherwise be
// copied several times over while a snapshot loads), and a pointer to a
// slot stays valid.
type entityTable struct {
	chunks [][]entity
	n      int32
}

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

func (t *entityTable) at(slot int32) *entity {
	return &t.chunks[slot>>chunkBits][slot&(chunkSize-1)]
}

func (t *entityTable) len() int32 { return t.n }

// grow adds a zero slot and returns it.
func (t *entityTable) grow() int32 {
	if int(t.n)>>chunkBits == len(t.chunks) {
		t.chunks = append(t.chunks, make([]entity, chunkSize))
	}
	t.n++
	return t.n - 1
}

// memberRef is one membership of an entity: the group slot and the entity's
// position in that group's member list, so removal is O(1).
type memberRef struct {
	group, pos int32
}

// group is the state of one group slot; like an entity slot it outlives its
// group while memberships or records name it.
type group struct {
	name    string  // the id, "" when the slot is free
	members []int32 // entity slots
	talents [numCategories]int64
	field   int32 // id in Projection.fields
	records int32
	kind    uint8
	exists  bool
	dirty   bool
	// Counters, maintained through the members' contributions.
	memberCount   int64
	membersByKind [numEntityKinds]int64
	// memberTalents sums the talents of the records naming its members;
	// memberPlatforms counts its members flagged platform or leading.
	memberTalents   [numCategories]int64
	memberPlatforms int64
}

// row holds the counters of one breakdown row.
type row struct {
	entities, groups                   int64
	consortiumMembers, allianceMembers int64
	talents                            [numCategories]int64
	records                            int64
}

// tally holds the talent sums and record count of a set of records.
type tally struct {
	talents [numCategories]int64
	records int64
}

// counters holds the Summary figures kept through contributions.
type counters struct {
	entities                                   int64
	byKind                                     [numEntityKinds]int64
	consortia, alliances                       int64
	consortiumMembers, allianceMembers         int64
	consortiumMemberships, allianceMemberships int64
	assessing                                  int64
	leading, platforms, platformsOrLeading     int64
	// groupMembers counts distinct entities with a membership in an
	// existing group; jingjinji those of them from Beijing or Hebei.
	groupMembers, jingjinji int64
}

// Projection holds the state and figures as of one registry revision. It is
// not safe for concurrent use: Live wraps it for that.
type Projection struct {
	revision int64
	// registryID identifies the registry database the revision belongs
	// to: revisions of two databases are unrelated.
	registryID string

	entityIDs    map[string]int32
	entities     entityTable
	freeEntities []int32
	groupIDs     map[string]int32
	groups       []group
	freeGroups   []int32

	programs    map[string]struct{} // existing programmes, by resource name
	programRows map[string]*tally   // by the records' programme, "" for none
	periodRows  map[string]*tally   // by the records' period, "" for none
	totals      tally

	regions, industries, fields pool
	industrySets                setPool

	sum          counters
	kindRows     [numEntityKinds]row
	regionRows   []row // by region id
	industryRows []row // by industry id
	fieldRows    []row // by field id

	// bulk defers every contribution to recompute: loading a snapshot or a
	// checkpoint sets state only, then counts once.
	bulk bool
	// fieldMark and touched dedupe an entity's group fields within one
	// contribution.
	fieldMark []uint8
	touched   []int32
	lastGroup int32 // lookupGroup's cache, -1 when empty
	// pending holds the memberships of a bulk load as (group, entity slot)
	// pairs, linked at once by recompute.
	pending []memberRef

	// Checkpoint bookkeeping: slots changed and ids freed since the last
	// Delta, or everything when full.
	full          bool
	dirtyEntities []int32
	dirtyGroups   []int32
	freedEntities []string
	freedGroups   []string
	anomalies     int64
	// anomaly is the first anomaly of the change being applied.
	anomaly string
	// refEntities and refGroups are the ids whose references (memberships,
	// records) or existence changed in the current transaction: at its end
	// each must exist or be named by nothing (see endTransaction).
	refEntities, refGroups []string

	// hist keeps the figures' history; nil when not kept (see
	// KeepHistory). histOn is false while a bulk load recounts.
	hist *history
	// commitTime is the commit time (Unix ns) of the change being applied.
	commitTime int64
	// policies holds each policy's pilot flag; targets each target.
	policies map[string]bool
	pilots   int64 // policies marked pilot
	targets  map[string]*target
	// search is the name index (nil when switched off); searchDirty the
	// resource names changed since the last Delta.
	search      *search.Index
	searchDirty map[string]struct{}
	// While the index of a bulk load is built in the background (see
	// BuildSearch), searchDocs holds the documents loaded and searchLog
	// what changed since, by name (nil: deleted); search is nil.
	searchDocs chunked[search.Doc]
	searchLog  map[string]*search.Doc
}

// New returns an empty projection at revision 0.
func New() *Projection {
	p := &Projection{
		entityIDs:    map[string]int32{},
		groupIDs:     map[string]int32{},
		programs:     map[string]struct{}{},
		programRows:  map[string]*tally{},
		periodRows:   map[string]*tally{},
		regions:      newPool(),
		industries:   newPool(),
		fields:       newPool(),
		industrySets: newSetPool(),
		full:         true,
		lastGroup:    -1,
		policies:     map[string]bool{},
		targets:      map[string]*target{},
		search:       search.New(),
		searchDirty:  map[string]struct{}{},
	}
	p.growRows()
	p.startHistory(fromTheStart)
	return p
}

// Revision returns the registry revision the projection reflects.
func (p *Projection) Revision() int64 { return p.revision }

// RegistryID returns the id of the registry database the projection
// reflects; "" when unknown (a registry or a checkpoint older than registry
// ids).
func (p *Projection) RegistryID() string { return p.registryID }

// SetRegistryID records the id of the registry database the projection
// reflects (the snapshot's or the checkpoint's), before it is shared.
func (p *Projection) SetRegistryID(id string) { p.registryID = strings.Clone(id) }

// Anomalies counts changes that did not fit the state (e.g. removing a
// membership the projection does not hold). A correct feed causes none;
// Verify shows whether any left the figures wrong.
func (p *Projection) Anomalies() int64 { return p.anomalies }

// noteAnomaly counts an anomaly and keeps the first reason of the change.
func (p *Projection) noteAnomaly(format string, args ...any) {
	p.anomalies++
	if p.anomaly == "" {
		p.anomaly = fmt.Sprintf(format, args...)
	}
}

// Apply applies one change. A change at or below the projection's revision
// was applied before and changes nothing; a change past revision + 1 returns
// ErrRevisionGap and changes nothing. At the last change of a transaction
// (transaction_last_revision; a change without one is its own transaction)
// it checks that every membership and record the transaction touched names
// an existing entity or group. A change that does not fit is applied as
// far as it fits, counted, and reported as an *AnomalyError.
func (p *Projection) Apply(c *registryv1.Change) error {
	rev := c.GetRevision()
	if rev <= p.revision {
		return nil
	}
	if rev != p.revision+1 {
		return fmt.Errorf("%w: have %d, got %d", ErrRevisionGap, p.revision, rev)
	}
	if t := c.GetCommitTime(); t != nil {
		p.commitTime = t.AsTime().UnixNano()
	}
	p.applyImages(c.GetBefore(), c.GetAfter())
	p.revision = rev
	if c.GetTransactionLastRevision() <= rev {
		p.endTransaction()
		p.recordHistory()
	}
	if p.anomaly != "" {
		err := &AnomalyError{Revision: rev, Reason: p.anomaly}
		p.anomaly = ""
		return err
	}
	return nil
}

// touchEntity and touchGroup note an id for endTransaction to check (not
// in a bulk load, which has no transactions).
func (p *Projection) touchEntity(id string) {
	if !p.bulk {
		p.refEntities = append(p.refEntities, id)
	}
}

func (p *Projection) touchGroup(id string) {
	if !p.bulk {
		p.refGroups = append(p.refGroups, id)
	}
}

// endTransaction checks the entities and groups the transaction touched:
// one that does not exist must be named by no membership or record. Within
// a transaction the order of its changes is free (a cascade may delete an
// entity before its memberships), so this holds only at its end.
func (p *Projection) endTransaction() {
	for _, id := range p.refEntities {
		if slot, ok := p.entityIDs[id]; ok {
			if e := p.entities.at(slot); e.flags&flagExists == 0 && (len(e.groups) > 0 || e.records > 0) {
				p.noteAnomaly("entities/%s does not exist, yet %d memberships and %d talent records name it", id, len(e.groups), e.records)
			}
		}
	}
	for _, id := range p.refGroups {
		if slot, ok := p.groupIDs[id]; ok {
			if g := &p.groups[slot]; !g.exists && (len(g.members) > 0 || g.records > 0) {
				p.noteAnomaly("groups/%s does not exist, yet %d memberships and %d talent records name it", id, len(g.members), g.records)
			}
		}
	}
	clear(p.refEntities)
	clear(p.refGroups)
	p.refEntities, p.refGroups = p.refEntities[:0], p.refGroups[:0]
}

// Advance moves the projection to revision without a change: the feed has
// reported that nothing changed up to it (a progress message). A lower
// revision is ignored.
func (p *Projection) Advance(revision int64) {
	if revision > p.revision {
		p.revision = revision
	}
}

// applyImages withdraws the before image and adds the after image. An
// entity or group is withdrawn with the attributes the projection holds —
// exactly what was added — so a before image is only needed for the
// resources it does not keep (memberships' pairs, records' figures).
func (p *Projection) applyImages(before, after *registryv1.Resource) {
	switch {
	case before.GetEntity() != nil || after.GetEntity() != nil:
		if a := after.GetEntity(); a != nil {
			p.putEntity(a)
			p.indexEntity(a)
		} else {
			p.deleteEntity(before.GetEntity().GetName())
			p.indexDelete(before.GetEntity().GetName())
		}
	case before.GetGroup() != nil || after.GetGroup() != nil:
		if a := after.GetGroup(); a != nil {
			p.putGroup(a)
			p.indexGroup(a)
		} else {
			p.deleteGroup(before.GetGroup().GetName())
			p.indexDelete(before.GetGroup().GetName())
		}
	case before.GetMembership() != nil || after.GetMembership() != nil:
		b, a := before.GetMembership(), after.GetMembership()
		// A membership that is not active counts as none.
		if b != nil && !active(b.GetStatus()) {
			b = nil
		}
		if a != nil && !active(a.GetStatus()) {
			a = nil
		}
		if b != nil && a != nil && b.GetName() == a.GetName() && b.GetEntity() == a.GetEntity() {
			return // a role or join time change: no figure depends on it
		}
		if b != nil {
			p.membership(b, -1)
		}
		if a != nil {
			p.membership(a, +1)
		}
	case before.GetTalentRecord() != nil || after.GetTalentRecord() != nil:
		if b := before.GetTalentRecord(); b != nil {
			p.record(b, -1)
		}
		if a := after.GetTalentRecord(); a != nil {
			p.record(a, +1)
		}
	case before.GetPolicy() != nil || after.GetPolicy() != nil:
		p.putPolicy(before.GetPolicy(), after.GetPolicy())
	case before.GetTarget() != nil || after.GetTarget() != nil:
		p.putTarget(before.GetTarget(), after.GetTarget())
	case before.GetProgram() != nil || after.GetProgram() != nil:
		if a := after.GetProgram(); a != nil {
			p.programs[strings.Clone(a.GetName())] = struct{}{}
			p.indexProgram(a)
		} else {
			delete(p.programs, before.GetProgram().GetName())
			p.indexDelete(before.GetProgram().GetName())
		}
	default:
		p.noteAnomaly("the change carries no resource")
	}
}

// putEntity creates or updates an entity from its after image.
func (p *Projection) putEntity(a *registryv1.Entity) {
	id, ok := strings.CutPrefix(a.GetName(), "entities/")
	if !ok || id == "" {
		p.noteAnomaly("entity name %q is not entities/{entity}", clip(a.GetName()))
		return
	}
	slot := p.entitySlot(id)
	e := p.entities.at(slot)
	p.contribEntity(e, -1)
	e.kind = entityKind(a.GetKind())
	p.setValues(e, a.GetRegion(), a.GetIndustries())
	e.flags |= flagExists
	e.flags &^= flagLeading | flagPlatform | flagInactive
	if !active(a.GetStatus()) {
		e.flags |= flagInactive
	}
	if a.GetLeadingEnterprise() {
		e.flags |= flagLeading
	}
	if a.GetFutureIndustryPlatform() {
		e.flags |= flagPlatform
	}
	p.growRows()
	p.contribEntity(e, +1)
	p.markEntity(slot)
}

func (p *Projection) deleteEntity(name string) {
	id, _ := strings.CutPrefix(name, "entities/")
	slot, ok := p.entityIDs[id]
	if !ok || p.entities.at(slot).flags&flagExists == 0 {
		p.noteAnomaly("deleting %s, which the projection does not hold", clip(name))
		return
	}
	p.touchEntity(id)
	e := p.entities.at(slot)
	p.contribEntity(e, -1)
	e.flags &^= flagExists
	p.dropValues(e)
	p.markEntity(slot)
	p.releaseEntity(slot)
}

// setValues sets an entity's region and industries, moving its references
// to the interned values.
func (p *Projection) setValues(e *entity, region string, industries []string) {
	r := p.regions.acquire(region)
	s := p.industrySets.acquire(industries, &p.industries)
	p.dropValues(e)
	e.region, e.industries = r, s
}

// dropValues releases an entity's region and industries. Only an existing
// entity holds values: a slot that outlives its entity counts for nothing,
// and must not keep a value interned.
func (p *Projection) dropValues(e *entity) {
	p.regions.release(e.region)
	p.industrySets.release(e.industries, &p.industries)
	e.region, e.industries = 0, 0
}

// putGroup creates or updates a group. Its kind and field decide where its
// members count, so a change to either withdraws and re-adds every member.
func (p *Projection) putGroup(a *registryv1.Group) {
	id, ok := strings.CutPrefix(a.GetName(), "groups/")
	if !ok || id == "" {
		p.noteAnomaly("group name %q is not groups/{group}", clip(a.GetName()))
		return
	}
	slot := p.groupSlot(id)
	g := &p.groups[slot]
	kind, field := groupKind(a.GetKind()), p.fields.acquire(a.GetField())
	p.growRows()
	old := g.field
	if g.exists && g.kind == kind && g.field == field {
		p.fields.release(field) // the group holds the value already
		return                  // a display name change: no figure depends on it
	}
	p.regroup(slot, func(g *group) {
		g.kind, g.field, g.exists = kind, field, true
	})
	p.fields.release(old)
}

func (p *Projection) deleteGroup(name string) {
	id, _ := strings.CutPrefix(name, "groups/")
	slot, ok := p.groupIDs[id]
	if !ok || !p.groups[slot].exists {
		p.noteAnomaly("deleting %s, which the projection does not hold", clip(name))
		return
	}
	p.touchGroup(id)
	old := p.groups[slot].field
	// Like an entity's, a deleted group's slot keeps no value.
	p.regroup(slot, func(g *group) { g.exists, g.field = false, 0 })
	p.fields.release(old)
	p.releaseGroup(slot)
}

// regroup changes a group's attributes with every contribution that depends
// on them withdrawn: the group's own and each member's.
func (p *Projection) regroup(slot int32, change func(*group)) {
	g := &p.groups[slot]
	for _, m := range g.members {
		p.contribEntity(p.entities.at(m), -1)
	}
	p.contribGroup(g, -1)
	change(g)
	p.contribGroup(g, +1)
	for _, m := range g.members {
		p.contribEntity(p.entities.at(m), +1)
	}
	p.markGroup(slot)
}

// membership adds (sign +1) or removes (-1) one membership.
func (p *Projection) membership(m *registryv1.Membership, sign int64) {
	gid, eid, ok := membershipIDs(m)
	if !ok {
		p.noteAnomaly("membership %q names no group and entity", clip(m.GetName()))
		return
	}
	if sign > 0 {
		gs, es := p.lookupGroup(gid), p.entitySlot(eid)
		if p.bulk {
			p.pending = append(p.pending, memberRef{group: gs, pos: es})
			return
		}
		e := p.entities.at(es)
		if memberIndex(e, gs) >= 0 {
			p.noteAnomaly("adding %s, which the projection holds already", clip(m.GetName()))
			return
		}
		p.touchEntity(eid)
		p.touchGroup(gid)
		p.contribEntity(e, -1)
		p.link(gs, es)
		p.contribEntity(e, +1)
		p.markEntity(es)
		return
	}
	gs, gok := p.groupIDs[gid]
	es, eok := p.entityIDs[eid]
	if !gok || !eok || memberIndex(p.entities.at(es), gs) < 0 {
		p.noteAnomaly("removing %s, which the projection does not hold", clip(m.GetName()))
		return
	}
	e := p.entities.at(es)
	p.contribEntity(e, -1)
	p.unlink(gs, es)
	p.contribEntity(e, +1)
	p.markEntity(es)
	p.releaseEntity(es)
	p.releaseGroup(gs)
}

// linkPending links the memberships of a bulk load. Counting them first
// gives every entity's and group's list its exact size in one shared
// backing array: millions of memberships cost two allocations, not
// millions.
func (p *Projection) linkPending() {
	if len(p.pending) == 0 {
		return
	}
	perEntity := make([]int32, p.entities.len())
	perGroup := make([]int32, len(p.groups))
	for _, m := range p.pending {
		perEntity[m.pos]++
		perGroup[m.group]++
	}
	refs := make([]memberRef, len(p.pending))
	off := 0
	for slot, n := range perEntity {
		if n > 0 {
			e := p.entities.at(int32(slot))
			end := off + int(n) + len(e.groups)
			e.groups = append(refs[off:off:end], e.groups...)
			off = end
		}
	}
	members := make([]int32, len(p.pending))
	off = 0
	for slot, n := range perGroup {
		if n > 0 {
			g := &p.groups[slot]
			end := off + int(n) + len(g.members)
			g.members = append(members[off:off:end], g.members...)
			off = end
		}
	}
	for _, m := range p.pending {
		if memberIndex(p.entities.at(m.pos), m.group) < 0 { // a duplicate links once
			p.link(m.group, m.pos)
		}
	}
	p.pending = nil
}

// link records a membership in both directions.
func (p *Projection) link(gs, es int32) {
	g := &p.groups[gs]
	e := p.entities.at(es)
	e.groups = append(e.groups, memberRef{group: gs, pos: int32(len(g.members))})
	g.members = append(g.members, es)
}

// unlink removes a membership from both directions: swap-remove from the
// group's member list, fixing the position held by the member moved.
func (p *Projection) unlink(gs, es int32) {
	e := p.entities.at(es)
	i := memberIndex(e, gs)
	pos := e.groups[i].pos
	last := len(e.groups) - 1
	e.groups[i] = e.groups[last]
	e.groups = e.groups[:last]
	if len(e.groups) == 0 {
		e.groups = nil
	}

	g := &p.groups[gs]
	lastPos := int32(len(g.members) - 1)
	if pos != lastPos {
		moved := g.members[lastPos]
		g.members[pos] = moved
		me := p.entities.at(moved)
		me.groups[memberIndex(me, gs)].pos = pos
	}
	g.members = g.members[:lastPos]
	if len(g.members) == 0 {
		g.members = nil
	}
}

// memberIndex returns the index in e.groups of group slot gs, or -1. An
// entity is in few groups, so a scan beats a map.
func memberIndex(e *entity, gs int32) int {
	for i, m := range e.groups {
		if m.group == gs {
			return i
		}
	}
	return -1
}

// record adds (sign +1) or withdraws (-1) one talent record.
func (p *Projection) record(r *registryv1.TalentRecord, sign int64) {
	cat := int(r.GetCategory()) - 1
	if cat < 0 || cat >= numCategories {
		cat = -1 // counted as a record, in no category
	}
	n := r.GetCount() * sign
	p.totals.add(cat, n, sign)
	p.markRow(dimProgram, r.GetProgram())
	p.markRow(dimPeriod, r.GetPeriod())
	addTally(p.programRows, r.GetProgram(), cat, n, sign)
	addTally(p.periodRows, r.GetPeriod(), cat, n, sign)

	subject := r.GetSubject()
	if id, ok := strings.CutPrefix(subject, "entities/"); ok && id != "" {
		var slot int32
		if sign > 0 {
			slot = p.entitySlot(id)
			p.touchEntity(id)
		} else if slot, ok = p.entityIDs[id]; !ok || p.entities.at(slot).records == 0 {
			p.noteAnomaly("withdrawing %s from %s, which has no talent records in the projection", clip(r.GetName()), clip(subject))
			return
		}
		e := p.entities.at(slot)
		p.contribEntity(e, -1)
		e.records += int32(sign)
		if cat >= 0 {
			e.talents[cat] += n
		}
		if cat == categoryAssessed {
			e.assessed += int32(sign)
		}
		p.contribEntity(e, +1)
		p.markEntity(slot)
		p.releaseEntity(slot)
		return
	}
	if id, ok := strings.CutPrefix(subject, "groups/"); ok && id != "" {
		var slot int32
		if sign > 0 {
			slot = p.groupSlot(id)
			p.touchGroup(id)
		} else if slot, ok = p.groupIDs[id]; !ok || p.groups[slot].records == 0 {
			p.noteAnomaly("withdrawing %s from %s, which has no talent records in the projection", clip(r.GetName()), clip(subject))
			return
		}
		g := &p.groups[slot]
		p.contribGroup(g, -1)
		g.records += int32(sign)
		if cat >= 0 {
			g.talents[cat] += n
		}
		p.contribGroup(g, +1)
		p.markGroup(slot)
		p.releaseGroup(slot)
		return
	}
	p.noteAnomaly("talent record %s has subject %q, neither entities/{entity} nor groups/{group}", clip(r.GetName()), clip(subject))
}

// clip bounds a value quoted in an anomaly's reason.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func (t *tally) add(cat int, n, sign int64) {
	t.records += sign
	if cat >= 0 {
		t.talents[cat] += n
	}
}

// addTally adds one record to the tally of key in rows, dropping a tally
// that falls back to zero so that rows hold only values in use.
func addTally(rows map[string]*tally, key string, cat int, n, sign int64) {
	t, ok := rows[key]
	if !ok {
		t = &tally{}
		rows[strings.Clone(key)] = t
	}
	t.add(cat, n, sign)
	if *t == (tally{}) {
		delete(rows, key)
	}
}

// entitySlot returns the slot of entity id, allocating a free one.
func (p *Projection) entitySlot(id string) int32 {
	if slot, ok := p.entityIDs[id]; ok {
		return slot
	}
	var slot int32
	if n := len(p.freeEntities); n > 0 {
		slot = p.freeEntities[n-1]
		p.freeEntities = p.freeEntities[:n-1]
	} else {
		slot = p.entities.grow()
	}
	*p.entities.at(slot) = entity{name: id}
	p.entityIDs[id] = slot
	return slot
}

// releaseEntity frees the slot of an entity that no longer exists and that
// nothing names any more.
func (p *Projection) releaseEntity(slot int32) {
	e := p.entities.at(slot)
	if e.flags&flagExists != 0 || len(e.groups) > 0 || e.records > 0 {
		return
	}
	p.freedEntities = append(p.freedEntities, e.name)
	delete(p.entityIDs, e.name)
	p.dropValues(e)
	*e = entity{}
	p.freeEntities = append(p.freeEntities, slot)
}

// lookupGroup is groupSlot with a one-entry cache: a snapshot lists
// memberships group by group, so most lookups repeat the previous one.
func (p *Projection) lookupGroup(id string) int32 {
	if c := p.lastGroup; c >= 0 && int(c) < len(p.groups) && p.groups[c].name == id {
		return c
	}
	p.lastGroup = p.groupSlot(id)
	return p.lastGroup
}

func (p *Projection) groupSlot(id string) int32 {
	if slot, ok := p.groupIDs[id]; ok {
		return slot
	}
	var slot int32
	if n := len(p.freeGroups); n > 0 {
		slot = p.freeGroups[n-1]
		p.freeGroups = p.freeGroups[:n-1]
	} else {
		slot = int32(len(p.groups))
		p.groups = append(p.groups, group{})
	}
	p.groups[slot] = group{name: id}
	p.groupIDs[id] = slot
	return slot
}

func (p *Projection) releaseGroup(slot int32) {
	g := &p.groups[slot]
	if g.exists || len(g.members) > 0 || g.records > 0 {
		return
	}
	p.freedGroups = append(p.freedGroups, g.name)
	delete(p.groupIDs, g.name)
	p.fields.release(g.field)
	*g = group{}
	p.freeGroups = append(p.freeGroups, slot)
}

func (p *Projection) markEntity(slot int32) {
	if p.full {
		return
	}
	if e := p.entities.at(slot); e.flags&flagDirty == 0 {
		e.flags |= flagDirty
		p.dirtyEntities = append(p.dirtyEntities, slot)
	}
}

func (p *Projection) markGroup(slot int32) {
	if p.full {
		return
	}
	if g := &p.groups[slot]; !g.dirty {
		g.dirty = true
		p.dirtyGroups = append(p.dirtyGroups, slot)
	}
}

// compactPools renumbers each pool of interned values whose ids have
// become sparse (see pool), with the rows and the entity or group slots
// holding the ids. It passes over the slots, so it runs only once many
// values have fallen out of use, and its cost is spread over the changes
// that dropped them.
func (p *Projection) compactPools() {
	if p.industries.sparse() {
		remap := p.industries.compact()
		p.industryRows = remapRows(p.industryRows, remap, len(p.industries.names))
		p.industrySets.remapIndustries(remap)
	}
	var regions, sets []int32
	if p.regions.sparse() {
		regions = p.regions.compact()
		p.regionRows = remapRows(p.regionRows, regions, len(p.regions.names))
	}
	if p.industrySets.sparse() {
		sets = p.industrySets.compact()
	}
	if regions != nil || sets != nil {
		for i := range p.entities.len() {
			e := p.entities.at(i)
			if regions != nil {
				e.region = regions[e.region]
			}
			if sets != nil {
				e.industries = sets[e.industries]
			}
		}
	}
	if p.fields.sparse() {
		remap := p.fields.compact()
		p.fieldRows = remapRows(p.fieldRows, remap, len(p.fields.names))
		p.fieldMark = make([]uint8, len(p.fields.names))
		for i := range p.groups {
			g := &p.groups[i]
			g.field = remap[g.field]
		}
	}
}

// remapRows returns rows renumbered by remap, n of them.
func remapRows(rows []row, remap []int32, n int) []row {
	out := make([]row, n)
	for old, id := range remap {
		if id >= 0 && old < len(rows) {
			out[id] = rows[old]
		}
	}
	return out
}

// growRows keeps one row per interned value.
func (p *Projection) growRows() {
	for len(p.regionRows) < len(p.regions.names) {
		p.regionRows = append(p.regionRows, row{})
	}
	for len(p.industryRows) < len(p.industries.names) {
		p.industryRows = append(p.industryRows, row{})
	}
	for len(p.fieldRows) < len(p.fields.names) {
		p.fieldRows = append(p.fieldRows, row{})
		p.fieldMark = append(p.fieldMark, 0)
	}
}

// membershipIDs returns the group and entity ids of a membership,
// `groups/{group}/memberships/{entity}`.
func membershipIDs(m *registryv1.Membership) (gid, eid string, ok bool) {
	rest, ok := strings.CutPrefix(m.GetName(), "groups/")
	if !ok {
		return "", "", false
	}
	gid, eid, ok = strings.Cut(rest, "/memberships/")
	if e, found := strings.CutPrefix(m.GetEntity(), "entities/"); found && e != "" {
		eid = e
	}
	return gid, eid, ok && gid != "" && eid != ""
}

func entityKind(k registryv1.EntityKind) uint8 {
	if k < 0 || k >= numEntityKinds {
		return 0
	}
	return uint8(k)
}

func groupKind(k registryv1.GroupKind) uint8 {
	if k != registryv1.GroupKind_GROUP_KIND_CONSORTIUM && k != registryv1.GroupKind_GROUP_KIND_ALLIANCE {
		return 0
	}
	return uint8(k)
}
