package kvstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// prefixes name fields in errors, in proto spelling.
var prefixes = map[registry.Collection]string{
	registry.Entities: "entity.", registry.Groups: "group.", registry.Memberships: "membership.",
	registry.TalentRecords: "talent_record.", registry.Programs: "program.",
	registry.Targets: "target.", registry.Policies: "policy.",
}

// settle fills r's lifecycle defaults at commit time now (see
// registry.Lifecycle.Settle); old is the stored resource, nil on create.
func settle(r, old registry.Resource, now time.Time) {
	var l, prev *registry.Lifecycle
	switch x := r.(type) {
	case *registry.Entity:
		l = &x.Lifecycle
		if o, ok := old.(*registry.Entity); ok {
			prev = &o.Lifecycle
		}
	case *registry.Membership:
		l = &x.Lifecycle
		if o, ok := old.(*registry.Membership); ok {
			prev = &o.Lifecycle
		}
	default:
		return
	}
	l.Settle(prev, now)
}

// create stores r (which it takes ownership of) if its key is free and its
// references exist. A request id seen before returns the first result.
func (s *Store) create(ctx context.Context, r registry.Resource, requestID string) (registry.Resource, int64, error) {
	sc := schemas[r.Collection()]
	if err := r.Validate(prefixes[sc.coll]); err != nil {
		return nil, 0, err
	}
	if requestID != "" && !registry.ValidRequestID(requestID) {
		return nil, 0, registry.InvalidField("request_id", "must be 1-%d printable ASCII characters", registry.MaxRequestID)
	}
	var out registry.Resource
	var rev int64
	err := s.mutate(ctx, func(t *tx) error {
		if requestID != "" {
			prior, prev, err := t.request(sc.coll, requestID)
			if err != nil || prior != nil {
				out, rev = prior, prev
				return err
			}
		}
		if t.exists(sc, sc.key(r)) {
			return registry.AlreadyExists(r.Name())
		}
		settle(r, nil, t.now)
		if err := t.checkRefs(nil, r); err != nil {
			return err
		}
		if err := t.write(sc, registry.ChangeCreated, nil, r); err != nil {
			return err
		}
		if requestID != "" {
			if err := t.remember(sc.coll, requestID, r); err != nil {
				return err
			}
		}
		out, rev = r, t.rev
		return nil
	})
	return out, rev, err
}

// request returns the first result of an earlier create with requestID.
func (t *tx) request(c registry.Collection, requestID string) (registry.Resource, int64, error) {
	v := t.read(bucketRequests, requestKey(c, requestID))
	if v == nil {
		return nil, 0, nil
	}
	if len(v) < 8 {
		return nil, 0, fmt.Errorf("request %q: %w", requestID, errCorrupt)
	}
	r, err := decodeResource(c, v[8:])
	return r, revFromKey(v[:8]), err
}

func (t *tx) remember(c registry.Collection, requestID string, r registry.Resource) error {
	k := requestKey(c, requestID)
	v := encodeResource(revKey(t.rev), r)
	if err := t.put(bucketRequests, k, v); err != nil {
		return err
	}
	return t.put(bucketRequestLog, append(revKey(t.rev), k...), nil)
}

// update applies apply to a copy of the stored resource and stores the
// result if it is valid and differs.
func (s *Store) update(ctx context.Context, sc *schema, key []byte, name, etag string, apply func(registry.Resource)) (registry.Resource, int64, error) {
	var out registry.Resource
	var rev int64
	err := s.mutate(ctx, func(t *tx) error {
		old, err := t.current(sc, key, name, etag)
		if err != nil {
			return err
		}
		oldBytes := encodeResource(nil, old)
		cur, err := decodeResource(sc.coll, oldBytes) // a deep copy
		if err != nil {
			return err
		}
		apply(cur)
		*cur.Metadata() = *old.Metadata()
		settle(cur, old, t.now)
		if !bytes.Equal(sc.key(cur), key) {
			return registry.InvalidField(strings.TrimSuffix(prefixes[sc.coll], ".")+".name", "is immutable")
		}
		if err := cur.Validate(prefixes[sc.coll]); err != nil {
			return err
		}
		if bytes.Equal(encodeResource(nil, cur), oldBytes) {
			out, rev = old, t.rev // nothing changed: no new revision
			return nil
		}
		if err := t.checkRefs(old, cur); err != nil {
			return err
		}
		if err := t.write(sc, registry.ChangeUpdated, old, cur); err != nil {
			return err
		}
		out, rev = cur, t.rev
		return nil
	})
	return out, rev, err
}

// remove deletes the resource at key; with force also its dependants, each
// with its own change event, all in one transaction.
func (s *Store) remove(ctx context.Context, sc *schema, key []byte, name, etag string, force bool) (int64, error) {
	var rev int64
	var cascade string // what a force delete takes with it
	err := s.mutate(ctx, func(t *tx) error {
		old, err := t.current(sc, key, name, etag)
		if err != nil {
			return err
		}
		if !force {
			// Count, without reading, what a forced delete would take: a
			// refusal must not hold the writer to decode a million rows.
			if deps := t.dependants(old, maxCountedDependants); deps.n() > 0 {
				return registry.HasDependants(name, deps.describe())
			}
		} else {
			deps := t.dependants(old, -1)
			cascade = deps.describe()
			for i, keys := range deps.keys {
				dsc := deps.schemas[i]
				for _, k := range keys {
					d, err := t.get(dsc, k)
					if err != nil {
						return err
					}
					if d == nil {
						return fmt.Errorf("index of %s names missing %q: %w", dsc.coll, k, errCorrupt)
					}
					if err := t.write(dsc, registry.ChangeDeleted, d, nil); err != nil {
						return err
					}
				}
			}
		}
		if err := t.write(sc, registry.ChangeDeleted, old, nil); err != nil {
			return err
		}
		rev = t.rev
		return nil
	})
	var e *registry.Error
	if force && cascade != "" && errors.As(err, &e) && e.Reason == registry.ReasonTransactionTooLarge {
		e.Message = fmt.Sprintf("deleting %s with its %s is too large for one transaction of the storage engine (etcd's --max-txn-ops and --max-request-bytes): delete some of them first, a few at a time, then delete %s", name, cascade, name)
	}
	return rev, err
}

// current reads the resource at key for a change: NOT_FOUND if missing,
// ABORTED if etag is set and stale.
func (t *tx) current(sc *schema, key []byte, name, etag string) (registry.Resource, error) {
	old, err := t.get(sc, key)
	switch {
	case err != nil:
		return nil, err
	case old == nil:
		return nil, registry.NotFound(name)
	case etag != "" && etag != old.Metadata().Etag():
		return nil, registry.EtagMismatch(name, etag, old.Metadata().Etag())
	}
	return old, nil
}

// maxCountedDependants bounds the count in a refusal's message.
const maxCountedDependants = 10000

// dependantKeys are the primary keys of what deleting a resource would
// orphan, per collection.
type dependantKeys struct {
	schemas []*schema
	keys    [][][]byte
}

func (d *dependantKeys) n() int {
	n := 0
	for _, k := range d.keys {
		n += len(k)
	}
	return n
}

// describe says what the keys are, e.g. "3 memberships and 1 talent
// records".
func (d *dependantKeys) describe() string {
	var parts []string
	for i, k := range d.keys {
		if len(k) == 0 {
			continue
		}
		what := map[*schema]string{membershipSchema: "memberships", talentRecordSchema: "talent records",
			targetSchema: "targets", policySchema: "policies"}[d.schemas[i]]
		n := fmt.Sprint(len(k))
		if len(k) >= maxCountedDependants {
			n = "at least " + n
		}
		parts = append(parts, n+" "+what)
	}
	return strings.Join(parts, " and ")
}

// referenced reports whether the group or programme id exists, memoising
// yes for the rest of the transaction: an import checks the same few
// thousand groups for millions of memberships. write forgets the memo when
// the transaction deletes a group or programme.
func (t *tx) referenced(sc *schema, id string) bool {
	key := knownRef{sc.coll, id}
	if _, ok := t.known[key]; ok {
		return true
	}
	if !t.exists(sc, []byte(id)) {
		return false
	}
	if t.known == nil {
		t.known = map[knownRef]struct{}{}
	}
	t.known[key] = struct{}{}
	return true
}

// dependants finds what deleting r would orphan: an entity's or group's
// memberships and talent records, a group's scoped targets, a programme's
// talent records and policies; at most limit keys per collection (-1:
// all).
func (t *tx) dependants(r registry.Resource, limit int) *dependantKeys {
	d := &dependantKeys{}
	add := func(sc *schema, keys [][]byte) {
		d.schemas = append(d.schemas, sc)
		d.keys = append(d.keys, keys)
	}
	switch x := r.(type) {
	case *registry.Entity:
		add(membershipSchema, t.indexed(membershipSchema, "entity", x.Name(), limit))
		add(talentRecordSchema, t.indexed(talentRecordSchema, "subject", x.Name(), limit))
	case *registry.Group:
		add(membershipSchema, t.prefixed(membershipSchema, append([]byte(x.ID), sep), limit))
		add(talentRecordSchema, t.indexed(talentRecordSchema, "subject", x.Name(), limit))
		add(targetSchema, t.indexed(targetSchema, "scope", x.Name(), limit))
	case *registry.Program:
		add(talentRecordSchema, t.indexed(talentRecordSchema, "program", x.Name(), limit))
		add(policySchema, t.indexed(policySchema, "programs", x.Name(), limit))
	}
	return d
}

// scopeField returns err with the field it names (in its metadata or
// message) placed under prefix, e.g. "requests[3]." for one entity of a
// batch; other errors are returned as they are.
func scopeField(err error, prefix string) error {
	var e *registry.Error
	if !errors.As(err, &e) || e.Metadata["field"] == "" {
		return err
	}
	scoped := *e
	field := e.Metadata["field"]
	scoped.Metadata = maps.Clone(e.Metadata)
	scoped.Metadata["field"] = prefix + field
	if rest, ok := strings.CutPrefix(e.Message, field+":"); ok {
		scoped.Message = prefix + field + ":" + rest
	}
	return &scoped
}

// checkRefs checks that every resource after names exists and that its
// credit code is free. before is the stored version (nil on create).
func (t *tx) checkRefs(before, after registry.Resource) error {
	switch x := after.(type) {
	case *registry.Entity:
		if x.CreditCode == "" {
			return nil
		}
		if b, ok := before.(*registry.Entity); ok && b.CreditCode == x.CreditCode {
			return nil
		}
		if owner := t.read(bucketCreditCodes, []byte(x.CreditCode)); owner != nil && string(owner) != x.ID {
			return &registry.Error{Code: registry.CodeAlreadyExists, Reason: registry.ReasonCreditCodeTaken,
				Message:  fmt.Sprintf("entity.credit_code: %s is already used by entities/%s", x.CreditCode, owner),
				Metadata: map[string]string{"field": "entity.credit_code", "resource": "entities/" + string(owner)}}
		}
	case *registry.Membership:
		if before != nil {
			return nil // group and entity are the identity: unchanged
		}
		if !t.referenced(groupSchema, x.GroupID) {
			return registry.ReferenceNotFound("parent", registry.GroupName(x.GroupID))
		}
		if x.EntityID != t.lastEntity || x.EntityID == "" {
			if !t.exists(entitySchema, []byte(x.EntityID)) {
				return registry.ReferenceNotFound("membership.entity", registry.EntityName(x.EntityID))
			}
			t.lastEntity = x.EntityID
		}
	case *registry.TalentRecord:
		b, _ := before.(*registry.TalentRecord)
		if b == nil || b.Subject != x.Subject {
			c, id, err := registry.ParseSubject("talent_record.subject", x.Subject)
			if err != nil {
				return err
			}
			if !t.exists(schemas[c], []byte(id)) {
				return registry.ReferenceNotFound("talent_record.subject", x.Subject)
			}
		}
		if x.Program != "" && (b == nil || b.Program != x.Program) {
			id := strings.TrimPrefix(x.Program, "programs/")
			if !t.referenced(programSchema, id) {
				return registry.ReferenceNotFound("talent_record.program", x.Program)
			}
		}
	case *registry.Target:
		b, _ := before.(*registry.Target)
		if x.Scope != "" && (b == nil || b.Scope != x.Scope) {
			if !t.referenced(groupSchema, strings.TrimPrefix(x.Scope, "groups/")) {
				return registry.ReferenceNotFound("target.scope", x.Scope)
			}
		}
	case *registry.Policy:
		var had []string
		if b, ok := before.(*registry.Policy); ok {
			had = b.Programs
		}
		for i, p := range x.Programs {
			if !contains(had, p) && !t.referenced(programSchema, strings.TrimPrefix(p, "programs/")) {
				return registry.ReferenceNotFound(fmt.Sprintf("policy.programs[%d]", i), p)
			}
		}
	}
	return nil
}

// indexed returns the primary keys whose field has value (API form), at
// most limit of them (-1: all).
func (t *tx) indexed(sc *schema, field, value string, limit int) [][]byte {
	f := sc.field(field)
	v := f.indexValue(value)
	prefix := indexPrefix(f, v)
	var keys [][]byte
	c := t.kv.Cursor(sc.index)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) != limit; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(f.primaryOf(nil, v, k[len(prefix):])))
	}
	if err := c.Err(); err != nil {
		t.fail(err)
	}
	return keys
}

// prefixed returns the primary keys starting with prefix, at most limit of
// them (-1: all).
func (t *tx) prefixed(sc *schema, prefix []byte, limit int) [][]byte {
	var keys [][]byte
	c := t.kv.Cursor(sc.primary)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) != limit; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	if err := c.Err(); err != nil {
		t.fail(err)
	}
	return keys
}

// getOne reads one resource in a read transaction.
func (s *Store) getOne(ctx context.Context, sc *schema, key []byte, name string) (registry.Resource, error) {
	var out registry.Resource
	err := s.view(ctx, func(r kv.Reader) error {
		v, err := r.Get(sc.primary, key)
		if err != nil {
			return err
		}
		if v == nil {
			return registry.NotFound(name)
		}
		out, err = decodeRecord(sc.coll, key, v)
		return err
	})
	return out, err
}
