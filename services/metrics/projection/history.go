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

type version[T any] struct {
	rev int64
	v   T
}

type rowKey struct {
	dim uint8
	key string
}

// rowSeries and groupSeries are the versions of one row or group; the
// first saved of them are in the checkpoint already.
type rowSeries struct {
	key   rowKey
	vs    chunked[version[rowVals]]
	saved int
}

type groupSeries struct {
	id    string
	vs    chunked[version[groupVals]]
	saved int
}

// txTime is one transaction of the history: its commit time (Unix ns)
// and last revision.
type txTime struct {
	t, rev int64
}

// history is the figures' versions; see above.
type history struct {
	completeFrom int64 // Unix ns; 0 until the first base
	tx           chunked[txTime]
	summary      chunked[version[sumState]]
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
	// What the next Delta must write: transactions and Summary versions
	// from savedTx and savedSummary on, and the series with versions
	// past their saved count.
	savedTx, savedSummary int
	dirtyRows             []*rowSeries
	dirtyGroups           []*groupSeries
}

func newHistory() *history {
	h := &history{groups: map[string]*groupSeries{}, seenRows: map[rowKey]struct{}{}, seenGroups: map[string]struct{}{},
		fields: []string{""}, fieldIDs: map[string]int32{"": 0}}
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
	if last, ok := h.tx.last(); ok && t < last.t {
		t = last.t // commit times never go back in the history
	}
	h.addTx(t, p.revision)
	s := p.sumState()
	if last, ok := h.summary.last(); !ok || last.v != s {
		h.addSummary(p.revision, s)
	}
	for _, k := range h.markRows {
		if _, ok := h.seenRows[k]; ok {
			continue
		}
		h.seenRows[k] = struct{}{}
		v := p.rowValue(k)
		var last *version[rowVals]
		if rs := h.rows[k.dim][k.key]; rs != nil {
			last, _ = rs.vs.last()
		}
		if (last == nil && v != rowVals{}) || (last != nil && last.v != v) {
			h.addRow(k, p.revision, v)
		}
	}
	for _, id := range h.markGroups {
		if _, ok := h.seenGroups[id]; ok {
			continue
		}
		h.seenGroups[id] = struct{}{}
		v, field := p.groupValue(id)
		v.field = h.fieldID(field)
		var last *version[groupVals]
		if gs := h.groups[id]; gs != nil {
			last, _ = gs.vs.last()
		}
		if (last == nil && v.exists) || (last != nil && last.v != v) {
			h.addGroup(id, p.revision, v)
		}
	}
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
	h.addSummary(p.revision, p.sumState())
	for _, d := range metrics.Dimensions {
		di := dimIndex(d)
		for _, r := range p.Breakdown(d) {
			k := rowKey{di, r.Key}
			if v := p.rowValue(k); v != (rowVals{}) {
				h.addRow(k, p.revision, v)
			}
		}
	}
	for i := range p.groups {
		if g := &p.groups[i]; g.exists {
			v, field := p.groupValue(g.name)
			v.field = h.fieldID(field)
			h.addGroup(g.name, p.revision, v)
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
	h.tx.add(txTime{t, rev})
}

func (h *history) addSummary(rev int64, s sumState) {
	h.summary.add(version[sumState]{rev, s})
}

func (h *history) rowSeries(k rowKey) *rowSeries {
	rs := h.rows[k.dim][k.key]
	if rs == nil {
		k.key = strings.Clone(k.key)
		rs = &rowSeries{key: k}
		h.rows[k.dim][k.key] = rs
	}
	return rs
}

func (h *history) groupSeries(id string) *groupSeries {
	gs := h.groups[id]
	if gs == nil {
		gs = &groupSeries{id: strings.Clone(id)}
		h.groups[gs.id] = gs
	}
	return gs
}

func (h *history) addRow(k rowKey, rev int64, v rowVals) {
	rs := h.rowSeries(k)
	if rs.vs.n == rs.saved {
		h.dirtyRows = append(h.dirtyRows, rs)
	}
	rs.vs.add(version[rowVals]{rev, v})
}

func (h *history) addGroup(id string, rev int64, v groupVals) {
	gs := h.groupSeries(id)
	if gs.vs.n == gs.saved {
		h.dirtyGroups = append(h.dirtyGroups, gs)
	}
	gs.vs.add(version[groupVals]{rev, v})
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
	h.savedTx, h.savedSummary = 0, 0
	for _, m := range h.rows {
		for _, rs := range m {
			rs.saved = 0
		}
	}
	for _, gs := range h.groups {
		gs.saved = 0
	}
	h.dirtyRows, h.dirtyGroups = nil, nil
	for _, m := range h.rows {
		for _, rs := range m {
			h.dirtyRows = append(h.dirtyRows, rs)
		}
	}
	for _, gs := range h.groups {
		h.dirtyGroups = append(h.dirtyGroups, gs)
	}
	t := h.takeUnsaved()
	t.full, t.completeFrom = true, h.completeFrom
	return t
}

// histTake is the history's versions a Delta must write, taken under the
// projection's lock in O(series changed) and encoded afterwards without
// it (see chunked: the versions taken never change).
type histTake struct {
	full         bool
	completeFrom int64
	tx           chunked[txTime]
	txFrom       int
	summary      chunked[version[sumState]]
	summaryFrom  int
	rows         []rowTake
	groups       []groupTake
	fields       []string // append-only: the ids taken are in it
}

type rowTake struct {
	key  rowKey
	vs   chunked[version[rowVals]]
	from int
}

type groupTake struct {
	id   string
	vs   chunked[version[groupVals]]
	from int
}

// takeUnsaved takes the versions added since the last call (or records),
// and counts them saved.
func (h *history) takeUnsaved() *histTake {
	t := &histTake{tx: h.tx, txFrom: h.savedTx, summary: h.summary, summaryFrom: h.savedSummary,
		rows: make([]rowTake, 0, len(h.dirtyRows)), groups: make([]groupTake, 0, len(h.dirtyGroups)), fields: h.fields}
	h.savedTx, h.savedSummary = h.tx.n, h.summary.n
	for _, rs := range h.dirtyRows {
		t.rows = append(t.rows, rowTake{rs.key, rs.vs, rs.saved})
		rs.saved = rs.vs.n
	}
	for _, gs := range h.dirtyGroups {
		t.groups = append(t.groups, groupTake{gs.id, gs.vs, gs.saved})
		gs.saved = gs.vs.n
	}
	h.dirtyRows, h.dirtyGroups = h.dirtyRows[:0], h.dirtyGroups[:0]
	return t
}

// records encodes what t took. Its keys and values share a few large
// buffers rather than costing an allocation each.
func (t *histTake) records() []Record {
	if t == nil {
		return nil
	}
	n := t.tx.n - t.txFrom + t.summary.n - t.summaryFrom
	for _, r := range t.rows {
		n += r.vs.n - r.from
	}
	for _, g := range t.groups {
		n += g.vs.n - g.from
	}
	out := make([]Record, 0, n+1)
	if t.full {
		out = append(out, Record{SectionHistory, "c", binary.AppendVarint(nil, t.completeFrom)})
	}
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
	t.tx.each(t.txFrom, func(v *txTime) {
		add('t', -1, v.rev, "", func(b []byte) []byte { return binary.AppendVarint(b, v.t) })
	})
	t.summary.each(t.summaryFrom, func(v *version[sumState]) {
		add('s', -1, v.rev, "", func(b []byte) []byte { return appendVarints(b, v.v[:]) })
	})
	for _, r := range t.rows {
		r.vs.each(r.from, func(v *version[rowVals]) {
			add('r', int(r.key.dim), v.rev, r.key.key, func(b []byte) []byte { return appendVarints(b, v.v[:]) })
		})
	}
	for _, g := range t.groups {
		g.vs.each(g.from, func(v *version[groupVals]) {
			add('g', -1, v.rev, g.id, func(b []byte) []byte { return appendGroupVals(b, t.fields, &v.v) })
		})
	}
	return out
}

// restore adds one history record of a checkpoint.
func (h *history) restore(key string, d *decoder) error {
	if key == "c" {
		h.completeFrom = d.varint()
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
		h.tx.add(txTime{d.varint(), rev})
	case 's':
		var s sumState
		for i := range s {
			s[i] = d.varint()
		}
		h.summary.add(version[sumState]{rev, s})
	case 'r':
		var v rowVals
		for i := range v {
			v[i] = d.varint()
		}
		rs := h.rowSeries(rowKey{uint8(dim), name})
		rs.vs.add(version[rowVals]{rev, v})
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
		gs.vs.add(version[groupVals]{rev, v})
	default:
		return errCorrupt
	}
	return nil
}

// finishRestore orders what restore added (records come in any order; a
// checkpoint's come in order, which costs one pass).
func (h *history) finishRestore() {
	sortChunked(&h.tx, func(a, b txTime) int { return cmp.Compare(a.rev, b.rev) })
	sortChunked(&h.summary, byRev[sumState])
	for d := range h.rows {
		for _, rs := range h.rows[d] {
			sortChunked(&rs.vs, byRev[rowVals])
			rs.saved = rs.vs.n
		}
	}
	for _, gs := range h.groups {
		sortChunked(&gs.vs, byRev[groupVals])
		gs.saved = gs.vs.n
	}
	h.savedTx, h.savedSummary = h.tx.n, h.summary.n
	h.on = true
}

func byRev[T any](a, b version[T]) int { return cmp.Compare(a.rev, b.rev) }

// sortChunked sorts c by cmp unless it is sorted already.
func sortChunked[T any](c *chunked[T], cmp func(a, b T) int) {
	for i := 1; i < c.n; i++ {
		if cmp(*c.at(i - 1), *c.at(i)) > 0 {
			vs := c.slice()
			slices.SortFunc(vs, cmp)
			c.reset(vs)
			return
		}
	}
}

// at returns the last version at or before rev.
func at[T any](vs *chunked[version[T]], rev int64) (T, bool) {
	i := vs.search(func(v *version[T]) bool { return v.rev > rev }) - 1
	if i < 0 {
		var zero T
		return zero, false
	}
	return vs.at(i).v, true
}

// revisionAt returns the revision in force at t, or a CodeBeforeHistory
// error.
func (h *history) revisionAt(t time.Time) (int64, error) {
	ns := t.UnixNano()
	if h.completeFrom == 0 || ns < h.completeFrom {
		return 0, metrics.BeforeHistory(t, time.Unix(0, h.completeFrom))
	}
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		ns = math.MaxInt64 // past the range of Unix ns: after every commit
		if t.Before(time.Unix(0, 0)) {
			return 0, metrics.BeforeHistory(t, time.Unix(0, h.completeFrom))
		}
	}
	i := h.tx.search(func(v *txTime) bool { return v.t > ns }) - 1
	if i < 0 {
		return 0, metrics.BeforeHistory(t, time.Unix(0, h.completeFrom))
	}
	return h.tx.at(i).rev, nil
}

// CompleteFrom returns from when the history is complete (zero when the
// projection keeps none).
func (p *Projection) CompleteFrom() time.Time {
	if p.hist == nil || p.hist.completeFrom == 0 || p.hist.completeFrom == fromTheStart {
		return time.Time{}
	}
	return time.Unix(0, p.hist.completeFrom).UTC()
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
	s, _ := at(&p.hist.summary, rev)
	return summaryOf(&s, rev), nil
}

// BreakdownAsOf returns the rows of d as they stood at t.
func (p *Projection) BreakdownAsOf(d metrics.Dimension, t time.Time) (metrics.Breakdown, error) {
	rev, err := p.RevisionAt(t)
	if err != nil {
		return metrics.Breakdown{}, err
	}
	rows := []metrics.Row{}
	for key, rs := range p.hist.rows[dimIndex(d)] {
		v, ok := at(&rs.vs, rev)
		if !ok {
			continue
		}
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
	var vs chunked[version[groupVals]]
	if gs := p.hist.groups[id]; gs != nil {
		vs = gs.vs
	}
	v, ok := at(&vs, rev)
	if !ok || !v.exists {
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
