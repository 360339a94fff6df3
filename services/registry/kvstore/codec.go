package kvstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"talentreg/services/registry"
)

// Records are stored in a compact binary form: a format version byte, then
// the fields in a fixed order as uvarints, varints and length-prefixed
// strings. It is several times smaller and faster than JSON, and the version
// byte lets a later format coexist with this one.
const recordV1 = 1

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
	e.time(m.UpdateTime)
	e.uvarint(uint64(m.Revision))
}

type decoder struct {
	b   []byte
	err error
	// s, when set, is a copy of the whole input as a string: str returns
	// substrings of it, one allocation per record instead of one per
	// field (decoding dominated list pages).
	s string
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
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) meta(m *registry.Meta) {
	m.CreateTime = d.time()
	m.UpdateTime = d.time()
	m.Revision = int64(d.uvarint())
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

// encodeResource appends r's record to dst.
func encodeResource(dst []byte, r registry.Resource) []byte {
	e := encoder{b: dst}
	e.byte(recordV1)
	switch r := r.(type) {
	case *registry.Entity:
		e.str(r.ID)
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
		e.str(r.ID)
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Kind))
		e.str(r.Field)
		e.meta(&r.Meta)
	case *registry.Membership:
		e.str(r.GroupID)
		e.str(r.EntityID)
		e.uvarint(uint64(r.Role))
		e.time(r.JoinTime)
		e.meta(&r.Meta)
		e.lifecycle(&r.Lifecycle)
	case *registry.TalentRecord:
		e.str(r.ID)
		e.str(r.Subject)
		e.uvarint(uint64(r.Category))
		e.varint(r.Count)
		e.str(r.Program)
		e.str(r.Period)
		e.meta(&r.Meta)
	case *registry.Program:
		e.str(r.ID)
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Level))
		e.meta(&r.Meta)
	case *registry.Target:
		e.str(r.ID)
		e.str(r.DisplayName)
		e.uvarint(uint64(r.Metric))
		e.varint(r.GoalValue)
		e.str(r.Scope)
		e.time(r.Deadline)
		e.meta(&r.Meta)
	case *registry.Policy:
		e.str(r.ID)
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

// decodeResource decodes a record of collection c. It copies everything it
// keeps, so b may be bbolt memory.
func decodeResource(c registry.Collection, b []byte) (registry.Resource, error) {
	d := decoder{b: b, s: string(b)}
	if v := d.byte(); v != recordV1 {
		return nil, fmt.Errorf("%s record: unknown format version %d", c, v)
	}
	var r registry.Resource
	switch c {
	case registry.Entities:
		x := &registry.Entity{}
		x.ID = d.str()
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
		x.ID = d.str()
		x.DisplayName = d.str()
		x.Kind = registry.GroupKind(d.uvarint())
		x.Field = d.str()
		d.meta(&x.Meta)
		r = x
	case registry.Memberships:
		x := &registry.Membership{}
		x.GroupID = d.str()
		x.EntityID = d.str()
		x.Role = registry.MembershipRole(d.uvarint())
		x.JoinTime = d.time()
		d.meta(&x.Meta)
		d.lifecycle(&x.Lifecycle)
		r = x
	case registry.TalentRecords:
		x := &registry.TalentRecord{}
		x.ID = d.str()
		x.Subject = d.str()
		x.Category = registry.TalentCategory(d.uvarint())
		x.Count = d.varint()
		x.Program = d.str()
		x.Period = d.str()
		d.meta(&x.Meta)
		r = x
	case registry.Programs:
		x := &registry.Program{}
		x.ID = d.str()
		x.DisplayName = d.str()
		x.Level = registry.ProgramLevel(d.uvarint())
		d.meta(&x.Meta)
		r = x
	case registry.Targets:
		x := &registry.Target{}
		x.ID = d.str()
		x.DisplayName = d.str()
		x.Metric = registry.TargetMetric(d.uvarint())
		x.GoalValue = d.varint()
		x.Scope = d.str()
		x.Deadline = d.time()
		d.meta(&x.Meta)
		r = x
	case registry.Policies:
		x := &registry.Policy{}
		x.ID = d.str()
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
// as a transaction of its own.
const (
	changeV1 = 1
	changeV2 = 2
)

// changeHeaderMax bounds the header of a v2 change entry: version, type,
// commit time and the two offsets to the transaction's first and last
// revisions.
const changeHeaderMax = 2 + 3*binary.MaxVarintLen64

// changeSize bounds the length of a change entry's buffer (see
// changeImages).
func changeSize(before, after []byte) int {
	return changeHeaderMax + 2*(1+binary.MaxVarintLen64) + len(before) + len(after)
}

// changeImages starts a change entry whose header is not known yet (the
// transaction's last revision is known only once the transaction has
// written everything): it appends to dst, which must be empty, room for the
// header, then the before and after images (records of collection c,
// already encoded), each as collection byte (0 = none) and length-prefixed
// record. after's bytes come last, unaltered: tx.write stores the record
// as that suffix. finishChange completes the entry.
func changeImages(dst []byte, c registry.Collection, before, after []byte) []byte {
	e := encoder{b: append(dst[:0], make([]byte, changeHeaderMax)...)}
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

// finishChange writes the header of a change entry started by changeImages
// — version, type, commit time, rev - first and last - rev, where first
// and last are the revisions of the transaction holding the change — in
// front of its images, and returns the entry: a suffix of buf, whose
// images it leaves untouched.
func finishChange(buf []byte, typ registry.ChangeType, commit time.Time, first, rev, last int64) []byte {
	var h [changeHeaderMax]byte
	e := encoder{b: h[:0]}
	e.byte(changeV2)
	e.byte(byte(typ))
	e.time(commit)
	e.uvarint(uint64(rev - first))
	e.uvarint(uint64(last - rev))
	at := changeHeaderMax - len(e.b)
	copy(buf[at:], e.b)
	return buf[at:]
}

func decodeChange(rev int64, b []byte) (registry.Change, error) {
	d := decoder{b: b}
	v := d.byte()
	if v != changeV1 && v != changeV2 {
		return registry.Change{}, fmt.Errorf("change %d: unknown format version %d", rev, v)
	}
	ch := registry.Change{Revision: rev, Type: registry.ChangeType(d.byte()), CommitTime: d.time(), TxnFirst: rev, TxnLast: rev}
	if v == changeV2 {
		before, after := d.uvarint(), d.uvarint()
		if before >= uint64(rev) || after > math.MaxInt64-uint64(rev) {
			return registry.Change{}, fmt.Errorf("change %d: %w: transaction bounds out of range", rev, errCorrupt)
		}
		ch.TxnFirst, ch.TxnLast = rev-int64(before), rev+int64(after)
	}
	var imgs [2]registry.Resource
	for i := range imgs {
		c := registry.Collection(d.byte())
		if c == 0 {
			continue
		}
		raw := d.raw()
		if d.err != nil {
			break
		}
		r, err := decodeResource(c, raw)
		if err != nil {
			return registry.Change{}, fmt.Errorf("change %d: %w", rev, err)
		}
		imgs[i] = r
	}
	if err := d.done(); err != nil {
		return registry.Change{}, fmt.Errorf("change %d: %w", rev, err)
	}
	ch.Before, ch.After = imgs[0], imgs[1]
	return ch, nil
}
