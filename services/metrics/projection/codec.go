package projection

import (
	"encoding/binary"
	"errors"
	"fmt"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Section says which part of the state a checkpoint Record holds. The
// checkpoint package stores each section in its own bucket.
type Section uint8

// Sections.
const (
	// SectionEntities holds one record per entity slot, keyed by entity id:
	// attributes, memberships (group ids) and the sums of the talent
	// records naming it.
	SectionEntities Section = iota + 1
	// SectionGroups holds one record per group slot, keyed by group id:
	// attributes and the sums of the talent records naming it.
	SectionGroups
	// SectionTables holds the small tables, rewritten by every Delta:
	// programmes, and record sums by programme and by period.
	SectionTables
	// SectionHistory holds the figures' history (see history.go), kept
	// across Deltas: a Delta adds the versions recorded since the last.
	SectionHistory
	// SectionSearch holds one record per searchable resource (entities,
	// groups, programmes), keyed by resource name: what the search index
	// is rebuilt from.
	SectionSearch
)

// Sections lists every section.
var Sections = []Section{SectionEntities, SectionGroups, SectionTables, SectionHistory, SectionSearch}

// Keys of SectionTables.
const (
	tablePrograms    = "programs"
	tableProgramRows = "programRows"
	tablePeriodRows  = "periodRows"
	tablePolicies    = "policies"
	tableTargets     = "targets"
)

// Record is one key of the projection's state in a checkpoint. Keys are
// never empty.
type Record struct {
	Section Section
	Key     string
	Value   []byte
}

// Delta is what a checkpoint must write to hold the projection at Revision:
// with Full, every record (the sections are replaced); else the records
// changed since the previous Delta (Put) and the keys to remove (Delete,
// applied first).
type Delta struct {
	Revision int64
	// RegistryID identifies the registry database Revision belongs to; it
	// is saved with it.
	RegistryID string
	Full       bool
	Put        []Record
	Delete     []Record

	// later holds what Encode adds to Put and Delete.
	later *laterRecords
}

// laterRecords is the part of a Delta encoded off the projection's lock:
// the history's versions and the search documents, which the projection
// never changes once taken.
type laterRecords struct {
	history *histTake
	search  *searchTake
}

// Encode completes d: it appends to Put and Delete the records whose
// encoding Live.Delta leaves for later, so that it costs the applier
// nothing (Store.Save calls it). It does nothing the second time.
func (d *Delta) Encode() {
	if d.later == nil {
		return
	}
	d.Put = append(d.Put, d.later.history.records()...)
	d.Delete = append(d.Delete, d.later.history.deletes()...)
	put, del := d.later.search.records()
	d.Put = append(d.Put, put...)
	d.Delete = append(d.Delete, del...)
	d.later = nil
}

// Delta returns what changed since the previous Delta, or everything after
// a snapshot load or MarkFull, and starts tracking afresh. The Delta owns
// its memory: the projection may change while it is written.
func (p *Projection) Delta() Delta {
	d := p.encode(p.takeChanges())
	d.Encode()
	return d
}

// changes is what the next Delta holds, taken from the change tracking.
type changes struct {
	revision                   int64
	registryID                 string
	full                       bool
	entities, groups           []int32 // slots to write, each once
	freedEntities, freedGroups []string
	history                    *histTake
	search                     *searchTake
}

// takeChanges takes the change tracking and starts it afresh, and compacts
// the interned values when they have become sparse. It is the part of Delta
// that changes the projection: O(changes), amortised.
func (p *Projection) takeChanges() changes {
	p.compactPools()
	c := changes{revision: p.revision, registryID: p.registryID, full: p.full,
		freedEntities: p.freedEntities, freedGroups: p.freedGroups}
	for _, slot := range p.dirtyEntities {
		if e := p.entities.at(slot); e.flags&flagDirty != 0 {
			e.flags &^= flagDirty
			if !c.full && e.name != "" {
				c.entities = append(c.entities, slot)
			}
		}
	}
	for _, slot := range p.dirtyGroups {
		if g := &p.groups[slot]; g.dirty {
			g.dirty = false
			if !c.full && g.name != "" {
				c.groups = append(c.groups, slot)
			}
		}
	}
	if c.full {
		c.freedEntities, c.freedGroups = nil, nil
	}
	if p.hist != nil {
		if c.full {
			c.history = p.hist.records()
		} else {
			c.history = p.hist.takeUnsaved()
		}
	}
	c.search = p.takeSearch(c.full)
	p.full = false
	p.dirtyEntities, p.dirtyGroups = p.dirtyEntities[:0], p.dirtyGroups[:0]
	p.freedEntities, p.freedGroups = nil, nil
	return c
}

// encode builds the Delta of c from the projection's state, which it only
// reads: O(changes), or O(state) for a full Delta.
func (p *Projection) encode(c changes) Delta {
	d := Delta{Revision: c.revision, RegistryID: c.registryID, Full: c.full}
	if c.full {
		d.Put = make([]Record, 0, int(p.entities.len())+len(p.groups)+8)
	} else {
		d.Put = make([]Record, 0, len(c.entities)+len(c.groups)+8)
	}
	var buf []byte
	put := func(s Section, key string, encode func([]byte) []byte) {
		start := len(buf)
		buf = encode(buf)
		// Full slice expression: a later append must not grow into it.
		d.Put = append(d.Put, Record{Section: s, Key: key, Value: buf[start:len(buf):len(buf)]})
		if cap(buf)-len(buf) < 256 {
			buf = make([]byte, 0, 64<<10)
		}
	}
	if c.full {
		for i := range p.entities.len() {
			if e := p.entities.at(i); e.name != "" {
				put(SectionEntities, e.name, func(b []byte) []byte { return p.appendEntity(b, e) })
			}
		}
		for i := range p.groups {
			if g := &p.groups[i]; g.name != "" {
				put(SectionGroups, g.name, func(b []byte) []byte { return p.appendGroup(b, g) })
			}
		}
	} else {
		for _, name := range c.freedEntities {
			d.Delete = append(d.Delete, Record{Section: SectionEntities, Key: name})
		}
		for _, name := range c.freedGroups {
			d.Delete = append(d.Delete, Record{Section: SectionGroups, Key: name})
		}
		for _, slot := range c.entities {
			e := p.entities.at(slot)
			put(SectionEntities, e.name, func(b []byte) []byte { return p.appendEntity(b, e) })
		}
		for _, slot := range c.groups {
			g := &p.groups[slot]
			put(SectionGroups, g.name, func(b []byte) []byte { return p.appendGroup(b, g) })
		}
	}
	if c.history != nil || c.search != nil {
		d.later = &laterRecords{history: c.history, search: c.search}
	}
	put(SectionTables, tablePolicies, p.appendPolicies)
	put(SectionTables, tableTargets, p.appendTargets)
	put(SectionTables, tablePrograms, p.appendPrograms)
	put(SectionTables, tableProgramRows, func(b []byte) []byte { return appendTallies(b, p.programRows) })
	put(SectionTables, tablePeriodRows, func(b []byte) []byte { return appendTallies(b, p.periodRows) })
	return d
}

// MarkFull makes the next Delta hold everything: the previous one may not
// have been written.
func (p *Projection) MarkFull() { p.full = true }

// Value layouts. Strings and lists are length-prefixed (uvarint); counts are
// varints.
//
//	entity: flags byte, kind byte, region, industries, records, assessed,
//	        talents[3], groups (ids)
//	group:  exists byte, kind byte, field, records, talents[3]
//	programs: names
//	programRows, periodRows: (key, records, talents[3])...

func (p *Projection) appendEntity(b []byte, e *entity) []byte {
	b = append(b, e.flags&(flagExists|flagLeading|flagPlatform|flagInactive), e.kind)
	b = appendString(b, p.regions.names[e.region])
	set := p.industrySets.sets[e.industries]
	b = binary.AppendUvarint(b, uint64(len(set)))
	for _, ind := range set {
		b = appendString(b, p.industries.names[ind])
	}
	b = binary.AppendVarint(b, int64(e.records))
	b = binary.AppendVarint(b, int64(e.assessed))
	for _, t := range e.talents {
		b = binary.AppendVarint(b, t)
	}
	b = binary.AppendUvarint(b, uint64(len(e.groups)))
	for _, m := range e.groups {
		b = appendString(b, p.groups[m.group].name)
	}
	return b
}

func (p *Projection) appendGroup(b []byte, g *group) []byte {
	var exists byte
	if g.exists {
		exists = 1
	}
	b = append(b, exists, g.kind)
	b = appendString(b, p.fields.names[g.field])
	b = binary.AppendVarint(b, int64(g.records))
	for _, t := range g.talents {
		b = binary.AppendVarint(b, t)
	}
	return b
}

func (p *Projection) appendPrograms(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p.programs)))
	for name := range p.programs {
		b = appendString(b, name)
	}
	return b
}

func appendTallies(b []byte, m map[string]*tally) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for k, t := range m {
		b = appendString(b, k)
		b = binary.AppendVarint(b, t.records)
		for _, v := range t.talents {
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errCorrupt is returned for a record that does not decode.
var errCorrupt = errors.New("corrupt record")

// decoder reads a value; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// length reads a count that must fit in what is left.
func (d *decoder) length() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return 0
	}
	return int(n)
}

// string copies: the value's memory belongs to the database.
func (d *decoder) string() string {
	n := d.length()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// restoreRecord sets the state held by one checkpoint record.
func (p *Projection) restoreRecord(r Record) error {
	d := &decoder{b: r.Value}
	switch r.Section {
	case SectionEntities:
		slot := p.entitySlot(r.Key)
		e := p.entities.at(slot)
		e.flags = d.byte() & (flagExists | flagLeading | flagPlatform | flagInactive)
		e.kind = entityKind(registryv1.EntityKind(d.byte()))
		region := d.string()
		industries := make([]string, d.length())
		for i := range industries {
			industries[i] = d.string()
		}
		if e.flags&flagExists != 0 {
			p.setValues(e, region, industries)
		}
		e.records = int32(d.varint())
		e.assessed = int32(d.varint())
		for i := range e.talents {
			e.talents[i] = d.varint()
		}
		n := d.length()
		for range n {
			gid := d.string()
			if d.err != nil {
				break
			}
			p.pending = append(p.pending, memberRef{group: p.lookupGroup(gid), pos: slot})
		}
	case SectionGroups:
		slot := p.groupSlot(r.Key)
		g := &p.groups[slot]
		g.exists = d.byte() == 1
		g.kind = groupKindByte(d.byte())
		if field := d.string(); g.exists {
			f := p.fields.acquire(field)
			p.fields.release(g.field)
			g.field = f
		}
		g.records = int32(d.varint())
		for i := range g.talents {
			g.talents[i] = d.varint()
		}
	case SectionTables:
		switch r.Key {
		case tablePrograms:
			for range d.length() {
				if name := d.string(); d.err == nil {
					p.programs[name] = struct{}{}
				}
			}
		case tableProgramRows, tablePeriodRows:
			rows := p.programRows
			if r.Key == tablePeriodRows {
				rows = p.periodRows
			}
			for range d.length() {
				k := d.string()
				t := &tally{records: d.varint()}
				for i := range t.talents {
					t.talents[i] = d.varint()
				}
				if d.err != nil {
					break
				}
				rows[k] = t
				if r.Key == tableProgramRows {
					// Every record has exactly one programme value ("" for
					// none), so the totals are the sum of these rows.
					p.totals.records += t.records
					for i, v := range t.talents {
						p.totals.talents[i] += v
					}
				}
			}
		case tablePolicies:
			p.restorePolicies(d)
		case tableTargets:
			p.restoreTargets(d)
		default:
			return fmt.Errorf("%w: unknown table %q", errCorrupt, r.Key)
		}
	case SectionHistory:
		if p.hist == nil {
			return nil
		}
		if err := p.hist.restore(r.Key, d); err != nil {
			return fmt.Errorf("section %d key %q: %w", r.Section, r.Key, err)
		}
	case SectionSearch:
		p.restoreSearch(r.Key, d)
	default:
		return fmt.Errorf("%w: unknown section %d", errCorrupt, r.Section)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return fmt.Errorf("section %d key %q: %w", r.Section, r.Key, d.err)
	}
	p.growRows()
	return nil
}

func groupKindByte(b byte) uint8 {
	if b != groupConsortium && b != groupAlliance {
		return 0
	}
	return b
}
