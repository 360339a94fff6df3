package kvstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// Records are stored in a compact binary form: a format version byte, then
// the fields in a fixed order as uvarints, varints and length-prefixed
// strings. It is several times smaller and faster than JSON, and the version
// byte lets a later format coexist with this one. Version 2 stores a
// record's update time (and a membership's join time, after its meta) as
// an offset from its create time: usually 0, one byte instead of nine.
// Version 3 (file format 4) leaves out the fields the record's primary key
// holds (the id; a membership's group and entity ids), so it is read with
// its key (decodeRecord). All three are read; records are stored as
// version 3 (encodeRecord), and written as version 2 where no key goes
// with them (encodeResource: remembered request results, copies).
const (
	recordV1 = 1
	recordV2 = 2
	recordV3 = 3
)

var errCorrupt = errors.New("corrupt record")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }

// zeroTime marks an unset time; 0 is the Unix epoch, a valid time.
const zeroTime = math.MinInt64

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(zeroTime)
		return
	}
	e.varint(t.UnixNano())
}

func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) meta(m *registry.Meta) {
	e.time(m.CreateTime)
	e.since(m.CreateTime, m.UpdateTime)
	e.uvarint(uint64(m.Revision))
}

// since writes t as an offset from base (zeroTime: unset).
func (e *encoder) since(base, t time.Time) {
	if t.IsZero() {
		e.varint(zeroTime)
		return
	}
	e.varint(t.UnixNano() - unixNano(base))
}

// unixNano is t's Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

type decoder struct {
	b   []byte
	err error
	// version is the record version being decoded.
	version byte
	// s, when set, holds the bytes of the whole input as a string (a
	// copy, or for a visit the transaction's memory itself): str returns
	// substrings of it, one allocation per record at most instead of one
	// per field (decoding dominated list pages).
	s string
	// a, when set, provides string slices (see arena).
	a *arena
}

// arena hands out the entities and string slices of a page of decoded
// records from a few shared allocations instead of one or two per record
// (allocation and its garbage were a fifth of a list page's CPU). A nil
// arena allocates each one on its own. The string slices it hands out
// have no spare capacity, so appending to one never writes into another.
// A reusing arena (reuse set) hands out the same entity and string slices
// for every record, for a visit that is done with each record before it
// decodes the next.
type arena struct {
	entities []registry.Entity
	strs     []string
	reuse    bool
	entity0  registry.Entity
	strs0    []string
}

// newArena returns an arena for n records of collection c.
func newArena(c registry.Collection, n int) *arena {
	a := &arena{}
	if c == registry.Entities {
		a.entities = make([]registry.Entity, n)
	}
	return a
}

// entity returns a zero entity: for a reusing arena, the same one each
// time, and the string slices handed out after it start over.
func (a *arena) entity() *registry.Entity {
	switch {
	case a == nil:
		return &registry.Entity{}
	case a.reuse:
		a.entity0 = registry.Entity{}
		a.strs = a.strs0
		return &a.entity0
	case len(a.entities) == 0:
		return &registry.Entity{}
	}
	e := &a.entities[0]
	a.entities = a.entities[1:]
	return e
}

// stringsChunk is how many strings the arena allocates at a time.
const stringsChunk = 128

// strings returns a slice of n strings, to be filled in.
func (a *arena) strings(n int) []string {
	if a == nil || n > stringsChunk {
		return make([]string, n)
	}
	if len(a.strs) < n {
		a.strs = make([]string, stringsChunk)
		if a.reuse {
			a.strs0 = a.strs
		}
	}
	ss := a.strs[:n:n]
	a.strs = a.strs[n:]
	return ss
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// raw returns the next length-prefixed bytes, aliasing the input.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// str copies (or slices the copy in s), because bbolt's bytes are only
// valid inside the transaction.
func (d *decoder) str() string {
	if d.s == "" {
		return string(d.raw())
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	at := len(d.s) - len(d.b)
	d.b = d.b[n:]
	return d.s[at : at+int(n)]
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (d *decoder) strs() []string {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each string takes at least one byte
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	ss := d.a.strings(int(n))
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) meta(m *registry.Meta) {
	m.CreateTime = d.time()
	if d.version == recordV1 {
		m.UpdateTime = d.time()
	} else {
		m.UpdateTime = d.since(m.CreateTime)
	}
	m.Revision = int64(d.uvarint())
}

// since reads what encoder.since wrote.
func (d *decoder) since(base time.Time) time.Time {
	ns := d.varint()
	if ns == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, unixNano(base)+ns).UTC()
}

// lifecycle appends an entity's or membership's lifecycle after its meta
// only when it has ended: an active record is byte for byte what it was
// before lifecycles existed, so files written earlier read as active and
// an active record costs nothing more.
func (e *encoder) lifecycle(l *registry.Lifecycle) {
	if l.Status == registry.LifecycleActive || l.Status == registry.LifecycleUnspecified {
		return
	}
	e.uvarint(uint64(l.Status))
	e.time(l.EndTime)
}

// lifecycle reads what encoder.lifecycle wrote: nothing means active.
func (d *decoder) lifecycle(l *registry.Lifecycle) {
	if len(d.b) == 0 {
		l.Status = registry.LifecycleActive
		return
	}
	l.Status = registry.LifecycleStatus(d.uvarint())
	l.EndTime = d.time()
	if !l.Status.Ended() {
		d.fail()
	}
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

// encodeResource appends r's whole record (version 2) to dst: the form
// read without a key (decodeResource).
func encodeResource(dst []byte, r registry.Resource) []byte { return encodeAs(dst, r, recordV2) }

// encodeRecord appends r's stored record (version 3: without the fields
// its primary key holds) to dst, read back with decodeRecord and the key.
func encodeRecord(dst []byte, r registry.Resource) []byte { return encodeAs(dst, r, recordV3) }

func encodeAs(dst []byte, r registry.Resource, version byte) []byte {
	e := encoder{b: dst}
	e.byte(version)
	keyed := version != recordV3
	switch r := r.(type) {
	case *registry.Entity:
		if keyed {
			e.str(r.ID)
		}
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Kind))
		e.str(r.CreditCode)
		e.str(r.Region)
		e.strs(r.Industries)
		var flags byte
		if r.LeadingEnterprise {
			flags |= 1
		}
		if r.FutureIndustryPlatform {
			flags |= 2
		}
		e.byte(flags)
		e.meta(&r.Meta)
		e.lifecycle(&r.Lifecycle)
	case *registry.Group:
		if keyed {
			e.str(r.ID)
		}
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Kind))
		e.str(r.Field)
		e.meta(&r.Meta)
	case *registry.Membership:
		if keyed {
			e.str(r.GroupID)
			e.str(r.EntityID)
		}
		e.uvarint(uint64(r.Role))
		e.meta(&r.Meta)
		e.since(r.CreateTime, r.JoinTime)
		e.lifecycle(&r.Lifecycle)
	case *registry.TalentRecord:
		if keyed {
			e.str(r.ID)
		}
		e.str(r.Subject)
		e.uvarint(uint64(r.Category))
		e.varint(r.Count)
		e.str(r.Program)
		e.str(r.Period)
		e.meta(&r.Meta)
	case *registry.Program:
		if keyed {
			e.str(r.ID)
		}
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Level))
		e.meta(&r.Meta)
	case *registry.Target:
		if keyed {
			e.str(r.ID)
		}
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Metric))
		e.varint(r.GoalValue)
		e.str(r.Scope)
		e.time(r.Deadline)
		e.meta(&r.Meta)
	case *registry.Policy:
		if keyed {
			e.str(r.ID)
		}
		e.str(r.Title)
		e.str(r.Issuer)
		e.uvarint(uint64(r.Level))
		e.time(r.IssueTime)
		var flags byte
		if r.Pilot {
			flags |= 1
		}
		e.byte(flags)
		e.strs(r.Industries)
		e.strs(r.Programs)
		e.meta(&r.Meta)
	default:
		panic(fmt.Sprintf("bolt: cannot encode %T", r))
	}
	return e.b
}

// decodeResource decodes a whole record of collection c (version 1 or
// 2), one read without its key. It copies everything it keeps, so b may be
// bbolt memory.
func decodeResource(c registry.Collection, b []byte) (registry.Resource, error) {
	return decodeRecord(c, nil, b)
}

// decodeRecord decodes a record of collection c stored under primary key
// pk, of any version; a version-3 record takes the fields its key holds
// from pk (nil pk: the record is corrupt). It copies everything it keeps,
// so pk and b may be bbolt memory.
func decodeRecord(c registry.Collection, pk, b []byte) (registry.Resource, error) {
	if len(b) > 0 && b[0] == recordV3 {
		if pk == nil {
			return nil, fmt.Errorf("%s record: %w: version 3 read without its key", c, errCorrupt)
		}
		// One allocation holds the key and the record (see decoder.s).
		s := string(pk) + string(b)
		return decodeIn(c, s[:len(pk)], s[len(pk):], b, nil)
	}
	return decodeIn(c, "", string(b), b, nil)
}

// decodeIn decodes record b of collection c stored under key: s holds
// the bytes of b, and the strings of the result are substrings of key and
// s. With a, the result's struct and string slices come from a (see
// arena).
func decodeIn(c registry.Collection, key, s string, b []byte, a *arena) (registry.Resource, error) {
	d := decoder{b: b, s: s, a: a}
	if d.version = d.byte(); d.version < recordV1 || d.version > recordV3 {
		return nil, fmt.Errorf("%s record: unknown format version %d", c, d.version)
	}
	keyed := d.version != recordV3
	id := func() string {
		if keyed {
			return d.str()
		}
		return key
	}
	var r registry.Resource
	switch c {
	case registry.Entities:
		x := a.entity()
		x.ID = id()
		x.DisplayName = d.str()
		x.Kind = registry.EntityKind(d.uvarint())
		x.CreditCode = d.str()
		x.Region = d.str()
		x.Industries = d.strs()
		flags := d.byte()
		x.LeadingEnterprise = flags&1 != 0
		x.FutureIndustryPlatform = flags&2 != 0
		d.meta(&x.Meta)
		d.lifecycle(&x.Lifecycle)
		r = x
	case registry.Groups:
		x := &registry.Group{}
		x.ID = id()
		x.DisplayName = d.str()
		x.Kind = registry.GroupKind(d.uvarint())
		x.Field = d.str()
		d.meta(&x.Meta)
		r = x
	case registry.Memberships:
		x := &registry.Membership{}
		if keyed {
			x.GroupID = d.str()
			x.EntityID = d.str()
		} else if g, e, ok := strings.Cut(key, "\x00"); ok {
			x.GroupID, x.EntityID = g, e
		} else {
			d.fail()
		}
		x.Role = registry.MembershipRole(d.uvarint())
		if d.version == recordV1 {
			x.JoinTime = d.time()
			d.meta(&x.Meta)
		} else {
			d.meta(&x.Meta)
			x.JoinTime = d.since(x.CreateTime)
		}
		d.lifecycle(&x.Lifecycle)
		r = x
	case registry.TalentRecords:
		x := &registry.TalentRecord{}
		x.ID = id()
		x.Subject = d.str()
		x.Category = registry.TalentCategory(d.uvarint())
		x.Count = d.varint()
		x.Program = d.str()
		x.Period = d.str()
		d.meta(&x.Meta)
		r = x
	case registry.Programs:
		x := &registry.Program{}
		x.ID = id()
		x.DisplayName = d.str()
		x.Level = registry.ProgramLevel(d.uvarint())
		d.meta(&x.Meta)
		r = x
	case registry.Targets:
		x := &registry.Target{}
		x.ID = id()
		x.DisplayName = d.str()
		x.Metric = registry.TargetMetric(d.uvarint())
		x.GoalValue = d.varint()
		x.Scope = d.str()
		x.Deadline = d.time()
		d.meta(&x.Meta)
		r = x
	case registry.Policies:
		x := &registry.Policy{}
		x.ID = id()
		x.Title = d.str()
		x.Issuer = d.str()
		x.Level = registry.PolicyLevel(d.uvarint())
		x.IssueTime = d.time()
		x.Pilot = d.byte()&1 != 0
		x.Industries = d.strs()
		x.Programs = d.strs()
		d.meta(&x.Meta)
		r = x
	default:
		return nil, fmt.Errorf("unknown collection %d", c)
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("%s record: %w", c, err)
	}
	return r, nil
}

// Change log entries: v2 records the transaction holding the change; v1
// entries (written before transactions were recorded) are still read, each
// as a transaction of its own. A v3 entry (format 3, on engines where
// nameRecords holds) is a v2 entry whose after image is not copied: it
// names the stored record (collection byte and primary key), whose
// revision is the change's. Writing a change that
// supersedes that record first turns the v3 entry back into one with
// the image (tx.materialize), so a record is stored once, not twice, for
// as long as it is current. A v4 entry (file format 4) is a v2 entry
// that holds the primary key of the record it changed once, after the
// header, and images stored as records are (version 3, without the fields
// the key holds); a v3 entry's before image may be a version-3 record too,
// read with the key the entry names. A v5 entry (file format 4) is a v3
// entry without the commit time: it is the update time of the record it
// names, which that change wrote.
const (
	changeV1 = 1
	changeV2 = 2
	changeV3 = 3
	changeV4 = 4
	changeV5 = 5
)

// named reports whether change entries of version v name the record that
// holds their after image (v3, v5) rather than copying it.
func named(v byte) bool { return v == changeV3 || v == changeV5 }

// changeHeaderMax bounds the header of a v2 change entry: version, type,
// commit time and the two offsets to the transaction's first and last
// revisions.
const changeHeaderMax = 2 + 3*binary.MaxVarintLen64

// changeSize bounds the length of a change entry's buffer (see
// changeImages).
func changeSize(pk, before, after []byte) int {
	return changeHeaderMax + 3*binary.MaxVarintLen64 + 2 + len(pk) + len(before) + len(after)
}

// changeImages starts a change entry whose header is not known yet (the
// transaction's last revision is known only once the transaction has
// written everything): it appends to dst, which must be empty, room for the
// header, the length-prefixed primary key pk, then the before and after
// images (records of collection c under pk, already encoded), each as
// collection byte (0 = none) and length-prefixed record. after's bytes
// come last, unaltered: tx.write stores the record as that suffix.
// finishChange completes the (v4) entry.
func changeImages(dst []byte, c registry.Collection, pk, before, after []byte) []byte {
	e := encoder{b: append(dst[:0], make([]byte, changeHeaderMax)...)}
	e.bytes(pk)
	for _, r := range [2][]byte{before, after} {
		if r == nil {
			e.byte(0)
			continue
		}
		e.byte(byte(c))
		e.bytes(r)
	}
	return e.b
}

// changeHeader is what precedes a change entry's images.
type changeHeader struct {
	typ              registry.ChangeType
	commit           time.Time
	first, rev, last int64
}

func (e *encoder) changeHeader(version byte, h changeHeader) {
	e.byte(version)
	e.byte(byte(h.typ))
	if version != changeV5 {
		e.time(h.commit)
	}
	e.uvarint(uint64(h.rev - h.first))
	e.uvarint(uint64(h.last - h.rev))
}

// finishChange writes the header of a change entry started by changeImages
// — version, type, commit time, rev - first and last - rev, where first
// and last are the revisions of the transaction holding the change — in
// front of its images, and returns the entry: a suffix of buf, whose
// images it leaves untouched.
func finishChange(buf []byte, h changeHeader) []byte {
	var hb [changeHeaderMax]byte
	e := encoder{b: hb[:0]}
	e.changeHeader(changeV4, h)
	at := changeHeaderMax - len(e.b)
	copy(buf[at:], e.b)
	return buf[at:]
}

// currentChange returns a named entry of the given version (changeV3, or
// changeV5 when h.commit is the record's update time): before (an encoded
// record of c, or nil), then the primary key of the record of c that
// holds the after image.
func currentChange(version byte, h changeHeader, c registry.Collection, before, pk []byte) []byte {
	e := encoder{b: make([]byte, 0, changeHeaderMax+2*(1+binary.MaxVarintLen64)+len(before)+len(pk))}
	e.changeHeader(version, h)
	if before == nil {
		e.byte(0)
	} else {
		e.byte(byte(c))
		e.bytes(before)
	}
	e.byte(byte(c))
	e.bytes(pk)
	return e.b
}

// rawChange is a change entry split into its parts, images still
// encoded. For a named entry (v3, v5) after is nil and pk names the
// record, and a v5 entry's h.commit is unset (the record's update time); a v4
// entry has pk and both images; v1 and v2 entries have no pk.
type rawChange struct {
	version    byte
	h          changeHeader
	beforeColl registry.Collection
	before     []byte
	afterColl  registry.Collection
	after, pk  []byte
}

// splitChange parses the change entry of revision rev. The parts alias b.
func splitChange(rev int64, b []byte) (rawChange, error) {
	d := decoder{b: b}
	rc := rawChange{version: d.byte()}
	if rc.version < changeV1 || rc.version > changeV5 {
		return rawChange{}, fmt.Errorf("change %d: unknown format version %d", rev, rc.version)
	}
	rc.h = changeHeader{typ: registry.ChangeType(d.byte()), first: rev, rev: rev, last: rev}
	if rc.version != changeV5 {
		rc.h.commit = d.time()
	}
	if rc.version >= changeV2 {
		before, after := d.uvarint(), d.uvarint()
		if before >= uint64(rev) || after > math.MaxInt64-uint64(rev) {
			return rawChange{}, fmt.Errorf("change %d: %w: transaction bounds out of range", rev, errCorrupt)
		}
		rc.h.first, rc.h.last = rev-int64(before), rev+int64(after)
	}
	if rc.version == changeV4 {
		rc.pk = d.raw()
	}
	if rc.beforeColl = registry.Collection(d.byte()); rc.beforeColl != 0 {
		rc.before = d.raw()
	}
	if rc.afterColl = registry.Collection(d.byte()); rc.afterColl != 0 {
		if named(rc.version) {
			rc.pk = d.raw()
		} else {
			rc.after = d.raw()
		}
	}
	if err := d.done(); err != nil {
		return rawChange{}, fmt.Errorf("change %d: %w", rev, err)
	}
	for _, c := range []registry.Collection{rc.beforeColl, rc.afterColl} {
		if c != 0 && (int(c) >= len(schemas) || schemas[c] == nil) {
			return rawChange{}, fmt.Errorf("change %d: %w: unknown collection %d", rev, errCorrupt, c)
		}
	}
	if named(rc.version) && rc.afterColl == 0 {
		return rawChange{}, fmt.Errorf("change %d: %w: a reference to no record", rev, errCorrupt)
	}
	if rc.version == changeV4 {
		switch {
		case rc.beforeColl == 0 && rc.afterColl == 0:
			return rawChange{}, fmt.Errorf("change %d: %w: no image", rev, errCorrupt)
		case rc.beforeColl != 0 && rc.afterColl != 0 && rc.beforeColl != rc.afterColl:
			return rawChange{}, fmt.Errorf("change %d: %w: images of two collections", rev, errCorrupt)
		}
	}
	return rc, nil
}

// withImage returns the v4 form of a named entry, given its after image (a
// record as stored under rc.pk) and, for a v5 entry, the record's update
// time (its commit time).
func (rc *rawChange) withImage(after []byte, updated time.Time) []byte {
	if rc.version == changeV5 {
		rc.h.commit = updated
	}
	e := encoder{b: make([]byte, 0, changeSize(rc.pk, rc.before, after))}
	e.changeHeader(changeV4, rc.h)
	e.bytes(rc.pk)
	for _, img := range []struct {
		c registry.Collection
		b []byte
	}{{rc.beforeColl, rc.before}, {rc.afterColl, after}} {
		if img.c == 0 {
			e.byte(0)
			continue
		}
		e.byte(byte(img.c))
		e.bytes(img.b)
	}
	return e.b
}

// decodeChange decodes the change entry of revision rev; r reads the
// record a v3 entry names, which must carry revision rev.
func decodeChange(r kv.Reader, rev int64, b []byte) (registry.Change, error) {
	rc, err := splitChange(rev, b)
	if err != nil {
		return registry.Change{}, err
	}
	ch := registry.Change{Revision: rev, Type: rc.h.typ, CommitTime: rc.h.commit, TxnFirst: rc.h.first, TxnLast: rc.h.last}
	after := rc.after
	if named(rc.version) {
		if after, err = r.Get(schemas[rc.afterColl].primary, rc.pk); err != nil {
			return registry.Change{}, err
		}
		if after == nil {
			return registry.Change{}, fmt.Errorf("change %d: %w: the record it names, %s %q, is missing", rev, errCorrupt, rc.afterColl, rc.pk)
		}
	}
	if rc.beforeColl != 0 {
		if ch.Before, err = decodeRecord(rc.beforeColl, rc.pk, rc.before); err != nil {
			return registry.Change{}, fmt.Errorf("change %d: %w", rev, err)
		}
	}
	if rc.afterColl != 0 {
		if ch.After, err = decodeRecord(rc.afterColl, rc.pk, after); err != nil {
			return registry.Change{}, fmt.Errorf("change %d: %w", rev, err)
		}
		if named(rc.version) && ch.After.Metadata().Revision != rev {
			return registry.Change{}, fmt.Errorf("change %d: %w: the record it names, %s, is at revision %d", rev, errCorrupt, ch.After.Name(), ch.After.Metadata().Revision)
		}
		if rc.version == changeV5 {
			ch.CommitTime = ch.After.Metadata().UpdateTime
		}
	}
	return ch, nil
}
