package projection

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"

	"talentreg/services/metrics"
)

// The history keeps every figure as it stood after each registry
// transaction, stamped with the transaction's commit time, so that a read
// "as of" a time answers exactly what a read at that time would have.
//
// It is kept as versions: at the end of each transaction the Summary, and
// every breakdown row and group the transaction touched (marked while its
// contributions moved), are compared with their last version and a new
// version is appended where they differ. A read as of time t finds the
// revision in force at t (the last transaction committed at or before t)
// and, per figure, the last version at or before that revision: O(log n)
// for the Summary, O(rows · log n) for a breakdown.
//
// A projection loaded from a snapshot knows nothing of the time before it:
// its history starts with one version of everything, stamped with the time
// of the load (CompleteFrom); asking for an earlier time is refused. The
// history is part of the checkpoint (SectionHistory), so it survives
// restarts: the versions written since the last Delta go with the next.

// Breakdown dimensions by index, in the order of metrics.Dimensions.
const (
	dimKind uint8 = iota
	dimRegion
	dimIndustry
	dimField
	dimProgram
	dimPeriod
	numDims
)

// rowVals holds one breakdown row's figures: entities, groups, consortium
// members, alliance members, talents by category, records.
type rowVals [8]int64

// sumState holds every Summary figure, indexed by the sum* constants.
type sumState [numSum]int64

const (
	sumEntities              = 0
	sumByKind                = 1 // numEntityKinds of them
	sumConsortia             = sumByKind + numEntityKinds
	sumAlliances             = sumConsortia + 1
	sumConsortiumMembers     = sumConsortia + 2
	sumAllianceMembers       = sumConsortia + 3
	sumConsortiumMemberships = sumConsortia + 4
	sumAllianceMemberships   = sumConsortia + 5
	sumAssessing             = sumConsortia + 6
	sumLeading               = sumConsortia + 7
	sumPlatforms             = sumConsortia + 8
	sumPlatformsOrLeading    = sumConsortia + 9
	sumGroupMembers          = sumConsortia + 10
	sumJingjinji             = sumConsortia + 11
	sumTalents               = sumConsortia + 12 // numCategories of them
	sumRecords               = sumTalents + numCategories
	sumPrograms              = sumRecords + 1
	sumPolicies              = sumRecords + 2
	sumPilotPolicies         = sumRecords + 3
	sumTargets               = sumRecords + 4
	numSum                   = sumRecords + 5
)

// groupVals holds one group's figures.
type groupVals struct {
	exists                 bool
	kind                   uint8
	field                  int32 // id in history.fields; pointer-free, so GC skips the versions
	members, platforms     int64
	byKind                 [numEntityKinds]int64
	talents, memberTalents [numCategories]int64
}

// Widths of the history's vlogs: a revision then the figures (or, for
// transactions, a commit time then a revision).
const (
	txWidth    = 2
	sumWidth   = 1 + numSum
	rowWidth   = 1 + len(rowVals{})
	groupWidth = 1 + 5 + numEntityKinds + 2*numCategories
)

type rowKey struct {
	dim uint8
	key string
}

// rowSeries and groupSeries are the versions of one row or group.
type rowSeries struct {
	key rowKey
	series
}

type groupSeries struct {
	id string
	series
}

// history is the figures' versions; see above.
type history struct {
	completeFrom int64  // Unix ns; 0 until the first base
	tx           series // commit time (Unix ns), last revision
	summary      series // revision, sumState
	rows         [numDims]map[string]*rowSeries
	groups       map[string]*groupSeries

	// on is false while a bulk load recounts: nothing is marked.
	on         bool
	markRows   []rowKey
	markGroups []string
	seenRows   map[rowKey]struct{}
	fields     []string // group fields of the versions, by id
	fieldIDs   map[string]int32
	seenGroups map[string]struct{}
	// What the next Delta must write: the transactions and Summary
	// versions not saved, and those of the series listed (the rows and
	// groups with versions not saved).
	dirtyRows   []*rowSeries
	dirtyGroups []*groupSeries

	// exactFor is the exact window in Unix ns (0: no bound), coarseBefore
	// the day boundary before which the history is coarse (see
	// histbound.go); pendingPut and pendingDel are the checkpoint records
	// the last coarsening changed, for the next Delta.
	exactFor, coarseBefore int64
	pendingPut             []Record
	pendingDel             []string
	// coarsenVisits counts the versions coarsenings have gone through
	// (for tests: the cost of coarsening).
	coarsenVisits int
}

func newHistory() *history {
	h := &history{tx: newSeries(txWidth), summary: newSeries(sumWidth),
		groups: map[string]*groupSeries{}, seenRows: map[rowKey]struct{}{}, seenGroups: map[string]struct{}{},
		fields: []string{""}, fieldIDs: map[string]int32{"": 0}, coarseBefore: math.MinInt64}
	for i := range h.rows {
		h.rows[i] = map[string]*rowSeries{}
	}
	return h
}

// markRow notes that a row's figures may change in this transaction.
func (p *Projection) markRow(dim uint8, key string) {
	if h := p.hist; h != nil && h.on {
		h.markRows = append(h.markRows, rowKey{dim, key})
	}
}

// markGroupHistory notes that a group's figures may change.
func (p *Projection) markGroupHistory(g *group) {
	if h := p.hist; h != nil && h.on {
		h.markGroups = append(h.markGroups, g.name)
	}
}

// markEntityRows marks the entity-dimension rows an entity counts in.
func (p *Projection) markEntityRows(e *entity) {
	h := p.hist
	if h == nil || !h.on {
		return
	}
	h.markRows = append(h.markRows, rowKey{dimKind, kindName(int(e.kind))}, rowKey{dimRegion, p.regions.names[e.region]})
	if set := p.industrySets.sets[e.industries]; len(set) == 0 {
		h.markRows = append(h.markRows, rowKey{dimIndustry, ""})
	} else {
		for _, ind := range set {
			h.markRows = append(h.markRows, rowKey{dimIndustry, p.industries.names[ind]})
		}
	}
}

// sumState returns the current Summary figures.
func (p *Projection) sumState() sumState {
	var s sumState
	c := &p.sum
	s[sumEntities] = c.entities
	copy(s[sumByKind:sumByKind+numEntityKinds], c.byKind[:])
	s[sumConsortia], s[sumAlliances] = c.consortia, c.alliances
	s[sumConsortiumMembers], s[sumAllianceMembers] = c.consortiumMembers, c.allianceMembers
	s[sumConsortiumMemberships], s[sumAllianceMemberships] = c.consortiumMemberships, c.allianceMemberships
	s[sumAssessing] = c.assessing
	s[sumLeading], s[sumPlatforms], s[sumPlatformsOrLeading] = c.leading, c.platforms, c.platformsOrLeading
	s[sumGroupMembers], s[sumJingjinji] = c.groupMembers, c.jingjinji
	copy(s[sumTalents:sumTalents+numCategories], p.totals.talents[:])
	s[sumRecords] = p.totals.records
	s[sumPrograms] = int64(len(p.programs))
	s[sumPolicies] = int64(len(p.policies))
	s[sumPilotPolicies] = p.pilots
	s[sumTargets] = int64(len(p.targets))
	return s
}

// summaryOf converts a sumState into the domain's Summary.
func summaryOf(s *sumState, revision int64) metrics.Summary {
	var byKindArr [numEntityKinds]int64
	copy(byKindArr[:], s[sumByKind:sumByKind+numEntityKinds])
	return metrics.Summary{
		Revision:                      revision,
		Entities:                      s[sumEntities],
		EntitiesByKind:                byKind(&byKindArr),
		Consortia:                     s[sumConsortia],
		Alliances:                     s[sumAlliances],
		ConsortiumMembers:             s[sumConsortiumMembers],
		AllianceMembers:               s[sumAllianceMembers],
		ConsortiumMemberships:         s[sumConsortiumMemberships],
		AllianceMemberships:           s[sumAllianceMemberships],
		TalentsGathered:               s[sumTalents],
		TalentsCultivated:             s[sumTalents+1],
		TalentsAssessed:               s[sumTalents+2],
		AssessingEntities:             s[sumAssessing],
		LeadingEnterprises:            s[sumLeading],
		FutureIndustryPlatforms:       s[sumPlatforms],
		PlatformsOrLeadingEnterprises: s[sumPlatformsOrLeading],
		TalentRecords:                 s[sumRecords],
		Programs:                      s[sumPrograms],
		Policies:                      s[sumPolicies],
		PilotPolicies:                 s[sumPilotPolicies],
		JingjinjiOrganisations:        s[sumJingjinji],
		Targets:                       s[sumTargets],
	}
}

// rowValue returns the current figures of a breakdown row (zero when the
// value is not in use).
func (p *Projection) rowValue(k rowKey) rowVals {
	var r *row
	switch k.dim {
	case dimKind:
		for i := range p.kindRows {
			if kindName(i) == k.key {
				r = &p.kindRows[i]
			}
		}
	case dimRegion, dimIndustry, dimField:
		pl, rows := &p.regions, p.regionRows
		if k.dim == dimIndustry {
			pl, rows = &p.industries, p.industryRows
		} else if k.dim == dimField {
			pl, rows = &p.fields, p.fieldRows
		}
		if id, ok := pl.ids[k.key]; ok && pl.inUse(int(id)) && int(id) < len(rows) {
			r = &rows[id]
		}
	case dimProgram, dimPeriod:
		m := p.programRows
		if k.dim == dimPeriod {
			m = p.periodRows
		}
		if t, ok := m[k.key]; ok {
			return rowVals{0, 0, 0, 0, t.talents[0], t.talents[1], t.talents[2], t.records}
		}
	}
	if r == nil {
		return rowVals{}
	}
	return rowVals{r.entities, r.groups, r.consortiumMembers, r.allianceMembers, r.talents[0], r.talents[1], r.talents[2], r.records}
}

// groupValue returns the current figures of group id, and its field.
func (p *Projection) groupValue(id string) (groupVals, string) {
	slot, ok := p.groupIDs[id]
	if !ok || !p.groups[slot].exists {
		return groupVals{}, ""
	}
	g := &p.groups[slot]
	return groupVals{exists: true, kind: g.kind, members: g.memberCount,
		platforms: g.memberPlatforms, byKind: g.membersByKind, talents: g.talents, memberTalents: g.memberTalents}, p.fields.names[g.field]
}

// fieldID interns a group field for the versions.
func (h *history) fieldID(name string) int32 {
	if id, ok := h.fieldIDs[name]; ok {
		return id
	}
	id := int32(len(h.fields))
	name = strings.Clone(name)
	h.fields = append(h.fields, name)
	h.fieldIDs[name] = id
	return id
}

// recordHistory appends the versions of the transaction that just ended.
func (p *Projection) recordHistory() {
	h := p.hist
	if h == nil || !h.on {
		return
	}
	t := p.commitTime
	if last, ok := h.tx.lastEntry(); ok && t < last[0] {
		t = last[0] // commit times never go back in the history
	}
	h.addTx(t, p.revision)
	s := p.sumState()
	if last, ok := h.summary.lastEntry(); !ok || !slices.Equal(last[1:], s[:]) {
		h.addSummary(p.revision, &s)
	}
	for _, k := range h.markRows {
		if _, ok := h.seenRows[k]; ok {
			continue
		}
		h.seenRows[k] = struct{}{}
		v := p.rowValue(k)
		var last []int64
		if rs := h.rows[k.dim][k.key]; rs != nil {
			last, _ = rs.lastEntry()
		}
		if (last == nil && v != rowVals{}) || (last != nil && !slices.Equal(last[1:], v[:])) {
			h.addRow(k, p.revision, &v)
		}
	}
	for _, id := range h.markGroups {
		if _, ok := h.seenGroups[id]; ok {
			continue
		}
		h.seenGroups[id] = struct{}{}
		v, field := p.groupValue(id)
		v.field = h.fieldID(field)
		var last []int64
		if gs := h.groups[id]; gs != nil {
			last, _ = gs.lastEntry()
		}
		if (last == nil && v.exists) || (last != nil && groupValsOf(last) != v) {
			h.addGroup(id, p.revision, &v)
		}
	}
	h.maybeCoarsen(t)
	clear(h.seenRows)
	clear(h.seenGroups)
	clear(h.markRows)
	clear(h.markGroups)
	h.markRows, h.markGroups = h.markRows[:0], h.markGroups[:0]
}

// startHistory begins the history afresh with one version of everything
// at revision, stamped at (Unix ns): the end of a bulk load from a
// snapshot.
func (p *Projection) startHistory(at int64) {
	h := newHistory()
	p.hist = h
	h.completeFrom = at
	h.addTx(at, p.revision)
	s := p.sumState()
	h.addSummary(p.revision, &s)
	for _, d := range metrics.Dimensions {
		di := dimIndex(d)
		for _, r := range p.Breakdown(d) {
			k := rowKey{di, r.Key}
			if v := p.rowValue(k); v != (rowVals{}) {
				h.addRow(k, p.revision, &v)
			}
		}
	}
	for i := range p.groups {
		if g := &p.groups[i]; g.exists {
			v, field := p.groupValue(g.name)
			v.field = h.fieldID(field)
			h.addGroup(g.name, p.revision, &v)
		}
	}
	h.on = true
}

// fromTheStart is the CompleteFrom of a history kept from the registry's
// first revision.
const fromTheStart = math.MinInt64

func dimIndex(d metrics.Dimension) uint8 {
	return uint8(slices.Index(metrics.Dimensions, d))
}

// History record keys (SectionHistory):
//
//	"c"                      complete-from time, varint Unix ns
//	"t" rev                  the commit time of the transaction ending at rev
//	"s" rev                  Summary version: numSum varints
//	"r" dim rev key          row version: 8 varints
//	"g" rev id               group version: exists, kind, field, 15 varints
//
// rev is 8 bytes big-endian.
func appendVarints(b []byte, vs []int64) []byte {
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func (h *history) addTx(t, rev int64) {
	h.tx.add([]int64{t, rev})
}

func (h *history) addSummary(rev int64, s *sumState) {
	var v [sumWidth]int64
	v[0] = rev
	copy(v[1:], s[:])
	h.summary.add(v[:])
}

// groupVector lays out a group version as a vlog entry.
func groupVector(rev int64, g *groupVals) [groupWidth]int64 {
	var v [groupWidth]int64
	v[0] = rev
	if g.exists {
		v[1] = 1
	}
	v[2], v[3], v[4], v[5] = int64(g.kind), int64(g.field), g.members, g.platforms
	i := 6 + copy(v[6:], g.byKind[:])
	i += copy(v[i:], g.talents[:])
	copy(v[i:], g.memberTalents[:])
	return v
}

// groupValsOf reads a group version from a vlog entry.
func groupValsOf(v []int64) groupVals {
	g := groupVals{exists: v[1] == 1, kind: uint8(v[2]), field: int32(v[3]), members: v[4], platforms: v[5]}
	i := 6 + copy(g.byKind[:], v[6:])
	i += copy(g.talents[:], v[i:])
	copy(g.memberTalents[:], v[i:])
	return g
}

func (h *history) rowSeries(k rowKey) *rowSeries {
	rs := h.rows[k.dim][k.key]
	if rs == nil {
		k.key = strings.Clone(k.key)
		rs = &rowSeries{key: k, series: newSeries(rowWidth)}
		h.rows[k.dim][k.key] = rs
	}
	return rs
}

func (h *history) groupSeries(id string) *groupSeries {
	gs := h.groups[id]
	if gs == nil {
		gs = &groupSeries{id: strings.Clone(id), series: newSeries(groupWidth)}
		h.groups[gs.id] = gs
	}
	return gs
}

func (h *history) addRow(k rowKey, rev int64, v *rowVals) {
	rs := h.rowSeries(k)
	if rs.saved() {
		h.dirtyRows = append(h.dirtyRows, rs)
	}
	var e [rowWidth]int64
	e[0] = rev
	copy(e[1:], v[:])
	rs.add(e[:])
}

func (h *history) addGroup(id string, rev int64, v *groupVals) {
	gs := h.groupSeries(id)
	if gs.saved() {
		h.dirtyGroups = append(h.dirtyGroups, gs)
	}
	e := groupVector(rev, v)
	gs.add(e[:])
}

func appendGroupVals(b []byte, fields []string, v *groupVals) []byte {
	var exists byte
	if v.exists {
		exists = 1
	}
	b = append(b, exists, v.kind)
	b = appendString(b, fields[v.field])
	b = binary.AppendVarint(b, v.members)
	b = binary.AppendVarint(b, v.platforms)
	b = appendVarints(b, v.byKind[:])
	b = appendVarints(b, v.talents[:])
	return appendVarints(b, v.memberTalents[:])
}

// records takes every version of the history (a full Delta); everything
// counts as saved afterwards.
func (h *history) records() *histTake {
	h.tx.markUnsaved()
	h.summary.markUnsaved()
	for _, m := range h.rows {
		for _, rs := range m {
			rs.markUnsaved()
		}
	}
	for _, gs := range h.groups {
		gs.markUnsaved()
	}
	h.dirtyRows, h.dirtyGroups = nil, nil
	h.pendingPut, h.pendingDel = nil, nil
	for _, m := range h.rows {
		for _, rs := range m {
			h.dirtyRows = append(h.dirtyRows, rs)
		}
	}
	for _, gs := range h.groups {
		h.dirtyGroups = append(h.dirtyGroups, gs)
	}
	t := h.takeUnsaved()
	t.full, t.completeFrom, t.coarseBefore = true, h.completeFrom, h.coarseBefore
	return t
}

// histTake is the history's versions a Delta must write, taken under the
// projection's lock in O(series changed) and encoded afterwards without
// it (see chunked: the versions taken never change).
type histTake struct {
	full         bool
	completeFrom int64
	tx           seriesTake
	summary      seriesTake
	rows         []rowTake
	groups       []groupTake
	fields       []string // append-only: the ids taken are in it
	coarseBefore int64
	// puts and dels: what a coarsening changed (see histbound.go).
	puts []Record
	dels []string
}

type rowTake struct {
	key rowKey
	vs  seriesTake
}

type groupTake struct {
	id string
	vs seriesTake
}

// takeUnsaved takes the versions added since the last call (or records),
// and counts them saved.
func (h *history) takeUnsaved() *histTake {
	t := &histTake{tx: h.tx.take(), summary: h.summary.take(),
		rows: make([]rowTake, 0, len(h.dirtyRows)), groups: make([]groupTake, 0, len(h.dirtyGroups)), fields: h.fields}
	for _, rs := range h.dirtyRows {
		t.rows = append(t.rows, rowTake{rs.key, rs.take()})
	}
	for _, gs := range h.dirtyGroups {
		t.groups = append(t.groups, groupTake{gs.id, gs.take()})
	}
	h.dirtyRows, h.dirtyGroups = h.dirtyRows[:0], h.dirtyGroups[:0]
	t.puts, t.dels = h.pendingPut, h.pendingDel
	h.pendingPut, h.pendingDel = nil, nil
	return t
}

// records encodes what t took. Its keys and values share a few large
// buffers rather than costing an allocation each.
func (t *histTake) records() []Record {
	if t == nil {
		return nil
	}
	n := t.tx.len() + t.summary.len()
	for _, r := range t.rows {
		n += r.vs.len()
	}
	for _, g := range t.groups {
		n += g.vs.len()
	}
	out := make([]Record, 0, n+2+len(t.puts))
	if t.full {
		out = append(out, Record{SectionHistory, "c", binary.AppendVarint(nil, t.completeFrom)},
			Record{SectionHistory, "b", binary.AppendVarint(nil, t.coarseBefore)})
	}
	out = append(out, t.puts...)
	var keys strings.Builder
	var vals []byte
	add := func(tag byte, dim int, rev int64, key string, value func([]byte) []byte) {
		if keys.Cap()-keys.Len() < 10+len(key) {
			keys = strings.Builder{}
			keys.Grow(max(64<<10, 10+len(key)))
		}
		start := keys.Len()
		keys.WriteByte(tag)
		if dim >= 0 {
			keys.WriteByte(byte(dim))
		}
		var be [8]byte
		binary.BigEndian.PutUint64(be[:], uint64(rev))
		keys.Write(be[:])
		keys.WriteString(key)
		if cap(vals)-len(vals) < 512 {
			vals = make([]byte, 0, 64<<10)
		}
		vstart := len(vals)
		vals = value(vals)
		// Slicing the builder's string is safe: it only grows past it.
		out = append(out, Record{SectionHistory, keys.String()[start:], vals[vstart:len(vals):len(vals)]})
	}
	t.tx.each(func(v []int64) {
		add('t', -1, v[1], "", func(b []byte) []byte { return binary.AppendVarint(b, v[0]) })
	})
	t.summary.each(func(v []int64) {
		add('s', -1, v[0], "", func(b []byte) []byte { return appendVarints(b, v[1:]) })
	})
	for _, r := range t.rows {
		r.vs.each(func(v []int64) {
			add('r', int(r.key.dim), v[0], r.key.key, func(b []byte) []byte { return appendVarints(b, v[1:]) })
		})
	}
	for _, g := range t.groups {
		g.vs.each(func(v []int64) {
			gv := groupValsOf(v)
			add('g', -1, v[0], g.id, func(b []byte) []byte { return appendGroupVals(b, t.fields, &gv) })
		})
	}
	return out
}

// restore adds one history record of a checkpoint.
func (h *history) restore(key string, d *decoder) error {
	switch key {
	case "c":
		h.completeFrom = d.varint()
		return nil
	case "b":
		h.coarseBefore = d.varint()
		return nil
	}
	if len(key) < 9 {
		return errCorrupt
	}
	tag, rest := key[0], key[1:]
	dim := -1
	if tag == 'r' {
		dim, rest = int(rest[0]), rest[1:]
		if dim >= int(numDims) || len(rest) < 8 {
			return errCorrupt
		}
	}
	rev, name := int64(binary.BigEndian.Uint64([]byte(rest[:8]))), rest[8:]
	switch tag {
	case 't':
		h.tx.add([]int64{d.varint(), rev})
	case 's':
		var s sumState
		for i := range s {
			s[i] = d.varint()
		}
		h.addSummary(rev, &s)
	case 'r':
		var v [rowWidth]int64
		v[0] = rev
		for i := 1; i < len(v); i++ {
			v[i] = d.varint()
		}
		rs := h.rowSeries(rowKey{uint8(dim), name})
		rs.add(v[:])
	case 'g':
		var v groupVals
		v.exists = d.byte() == 1
		v.kind = groupKindByte(d.byte())
		v.field = h.fieldID(d.string())
		v.members, v.platforms = d.varint(), d.varint()
		for i := range v.byKind {
			v.byKind[i] = d.varint()
		}
		for i := range v.talents {
			v.talents[i] = d.varint()
		}
		for i := range v.memberTalents {
			v.memberTalents[i] = d.varint()
		}
		gs := h.groupSeries(name)
		e := groupVector(rev, &v)
		gs.add(e[:])
	default:
		return errCorrupt
	}
	return nil
}

// finishRestore orders what restore added (records come in any order; a
// checkpoint's come in order, which costs one pass) and parts each series
// into its coarse and exact logs: the transactions committed before
// coarseBefore are coarse (a coarsening restamped them with day
// boundaries), and so are the versions up to the last of them.
func (h *history) finishRestore() {
	h.tx.finishRestore(func(v []int64) bool { return v[0] < h.coarseBefore })
	lastCoarse, anyCoarse := h.tx.coarse.lastEntry()
	coarse := func(v []int64) bool { return anyCoarse && v[0] <= lastCoarse[1] }
	h.summary.finishRestore(coarse)
	for d := range h.rows {
		for _, rs := range h.rows[d] {
			rs.finishRestore(coarse)
		}
	}
	for _, gs := range h.groups {
		gs.finishRestore(coarse)
	}
	h.on = true
}

// revisionAt returns the revision in force at t, or a CodeBeforeHistory
// error.
func (h *history) revisionAt(t time.Time) (int64, error) {
	ns := t.UnixNano()
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		// Before the range of Unix ns: before every commit. A history kept
		// from the start then answers the empty registry, as for any
		// time before its first change.
		ns = math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64 // past it: after every commit
	}
	if h.completeFrom == 0 || ns < h.completeFrom {
		return 0, metrics.BeforeHistory(t, time.Unix(0, h.completeFrom))
	}
	var v [txWidth]int64
	if !h.tx.at(ns, v[:]) {
		return 0, metrics.BeforeHistory(t, time.Unix(0, h.completeFrom))
	}
	return v[1], nil
}

// CompleteFrom returns from when the history is complete (zero when the
// projection keeps none).
func (p *Projection) CompleteFrom() time.Time {
	if p.hist == nil || p.hist.completeFrom == 0 || p.hist.completeFrom == fromTheStart {
		return time.Time{}
	}
	return time.Unix(0, p.hist.completeFrom).UTC()
}

// ExactFrom returns from when a read as of a time is exact to the
// transaction: the day boundary before which the history is coarse (see
// histbound.go), or CompleteFrom if later; zero when the history is exact
// from the start of the feed (or the projection keeps none). Before it, a
// read answers the figures at the start of the time's UTC day.
func (p *Projection) ExactFrom() time.Time {
	if p.hist == nil || p.hist.completeFrom == 0 {
		return time.Time{}
	}
	from := max(p.hist.completeFrom, p.hist.coarseBefore)
	if from == fromTheStart {
		return time.Time{}
	}
	return time.Unix(0, from).UTC()
}

// RevisionAt returns the revision in force at t: the last transaction
// committed at or before it. Errors: a metrics CodeBeforeHistory error for
// a time before CompleteFrom.
func (p *Projection) RevisionAt(t time.Time) (int64, error) {
	if p.hist == nil {
		return 0, metrics.BeforeHistory(t, time.Time{})
	}
	return p.hist.revisionAt(t)
}

// SummaryAsOf returns the Summary as it stood at t.
func (p *Projection) SummaryAsOf(t time.Time) (metrics.Summary, error) {
	rev, err := p.RevisionAt(t)
	if err != nil {
		return metrics.Summary{}, err
	}
	var v [sumWidth]int64
	p.hist.summary.at(rev, v[:])
	var s sumState
	copy(s[:], v[1:])
	return summaryOf(&s, rev), nil
}

// BreakdownAsOf returns the rows of d as they stood at t.
func (p *Projection) BreakdownAsOf(d metrics.Dimension, t time.Time) (metrics.Breakdown, error) {
	rev, err := p.RevisionAt(t)
	if err != nil {
		return metrics.Breakdown{}, err
	}
	rows := []metrics.Row{}
	var e [rowWidth]int64
	for key, rs := range p.hist.rows[dimIndex(d)] {
		if !rs.at(rev, e[:]) {
			continue
		}
		v := e[1:]
		r := metrics.Row{Key: key, Entities: v[0], Groups: v[1], ConsortiumMembers: v[2], AllianceMembers: v[3],
			TalentsGathered: v[4], TalentsCultivated: v[5], TalentsAssessed: v[6], TalentRecords: v[7]}
		if !r.IsZero() {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b metrics.Row) int { return cmp.Compare(a.Key, b.Key) })
	return metrics.Breakdown{Revision: rev, Dimension: d, Rows: rows}, nil
}

// GroupStatsAsOf returns the stats of group `groups/{id}` as they stood at
// t; false when it did not exist then.
func (p *Projection) GroupStatsAsOf(name string, t time.Time) (metrics.GroupStats, bool, error) {
	rev, err := p.RevisionAt(t)
	if err != nil {
		return metrics.GroupStats{}, false, err
	}
	id, _ := strings.CutPrefix(name, "groups/")
	gs := p.hist.groups[id]
	var e [groupWidth]int64
	if gs == nil || !gs.at(rev, e[:]) {
		return metrics.GroupStats{}, false, nil
	}
	v := groupValsOf(e[:])
	if !v.exists {
		return metrics.GroupStats{}, false, nil
	}
	return groupStatsOf(id, rev, &v, p.hist.fields[v.field]), true, nil
}

// SummaryPoints returns the Summary at each of times (ascending, none
// before CompleteFrom), with the revision in force at each.
func (p *Projection) SummaryPoints(times []time.Time) ([]metrics.SummaryPoint, error) {
	out := make([]metrics.SummaryPoint, 0, len(times))
	for _, t := range times {
		s, err := p.SummaryAsOf(t)
		if err != nil {
			return nil, err
		}
		out = append(out, metrics.SummaryPoint{Time: t, Summary: s})
	}
	return out, nil
}

func groupStatsOf(id string, rev int64, v *groupVals, field string) metrics.GroupStats {
	return metrics.GroupStats{
		Revision:                rev,
		Name:                    "groups/" + id,
		Kind:                    groupKindName(v.kind),
		Field:                   field,
		Members:                 v.members,
		MembersByKind:           byKind(&v.byKind),
		TalentsByCategory:       byCategory(&v.talents),
		MemberTalentsByCategory: byCategory(&v.memberTalents),
	}
}
