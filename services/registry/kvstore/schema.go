package kvstore

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// The whole file layout lives here.
//
//	meta                       format, id, head (the revision; "revision" in
//	                           formats 1 and 2), compacted, token_key,
//	                           backup (a backup file not yet served: where it
//	                           came from), restored_from (once served),
//	                           migrating (while Open converts a format-2 file),
//	                           migrating4 (while Open converts a format-3 file)
//	changes                    revision (8 bytes, big endian) → change entry
//	{collection}               primary key → record (format 4: version 3,
//	                           without the fields the key holds)
//	{collection}.idx           field id, value, \x00, primary key → ""
//	                           (format 4: a membership's entity entry is
//	                           field id, entity, \x00, group)
//	entities.credit_code       credit code → entity id (uniqueness)
//	requests                   collection byte + request id → revision (8) + first result
//	requests.log               revision (8) + collection byte + request id → "" (pruned with the log)
//	changes.actors             first revision (8) → last revision (8) + actor (one per client transaction)
//	changes.by_actor           principal \x00 first revision (8) → ""
//	changes.by_name            collection byte + primary key \x00 revision (8) → ""
//	                           (format 3: every retained change but those a
//	                           stored record's revision names)
//
// Primary keys are the id, except memberships: group id \x00 entity id, so a
// group's memberships are one key range and ids (which never contain \x00)
// sort as tuples.
const (
	bucketMeta        kv.Bucket = "meta"
	bucketChanges     kv.Bucket = "changes"
	bucketCreditCodes kv.Bucket = "entities.credit_code"
	bucketRequests    kv.Bucket = "requests"
	bucketRequestLog  kv.Bucket = "requests.log"
	bucketActors      kv.Bucket = "changes.actors"
	bucketByActor     kv.Bucket = "changes.by_actor"
	bucketByName      kv.Bucket = "changes.by_name"
)

var (
	keyFormat = []byte("format")
	keyID     = []byte("id")
	// keyHead holds the revision counter from format 4 on. Each format
	// moves the counter so that a replica of an earlier version still
	// running on a shared etcd prefix finds none and fails every call,
	// instead of writing its format into a migrated store: keyRevision
	// held it in formats 1 and 2, keyHeadV3 in format 3.
	keyHead      = []byte("head4")
	keyHeadV3    = []byte("head")
	keyRevision  = []byte("revision")
	keyMigrating = []byte("migrating")
	// keyMigrating4 is where the migration to format 4 resumes
	// (migrateV4): a collection byte and a primary key.
	keyMigrating4 = []byte("migrating4")
	keyCompacted  = []byte("compacted")
	keyTokenKey   = []byte("token_key")

	keyBackup       = []byte("backup")
	keyRestoredFrom = []byte("restored_from")
)

// Formats of a talentreg registry file; Open refuses any other. Format 2
// added the audit trail (audit.go); format 3 stores a change whose result
// is still the stored record as a reference to it, and leaves that change
// out of changes.by_name (migrate.go); format 4 stores records without the
// ids their primary key holds (record version 3, change entries v4) and
// keys a membership's entity index entry without repeating the entity id
// (field.tail). Open migrates formats 1 to 3.
const (
	formatV1 = "talentreg-registry/1"
	formatV2 = "talentreg-registry/2"
	formatV3 = "talentreg-registry/3"
	formatV4 = "talentreg-registry/4"
)

const sep = 0

// schema describes how one collection is stored and indexed.
type schema struct {
	coll    registry.Collection
	primary kv.Bucket
	index   kv.Bucket
	// key returns the primary key of r.
	key func(r registry.Resource) []byte
	// fields are the indexed fields.
	fields []field
}

// field is one indexed field. Index keys are compact (a one-byte field id,
// enums as numbers, bools as 0/1, references as bare ids): the indexes are
// the bulk of the file, and every byte saved is saved millions of times.
type field struct {
	id byte
	// name is the field's proto name, as filters (Condition.Field) use it.
	name string
	// values returns every index value r has for the field.
	values func(r registry.Resource) []string
	// query turns a filter value (API form: enum name, "true", full
	// resource name) into the index form; nil means unchanged.
	query func(v string) string
	// sparse fields are bools that index only their true values: most
	// entities are neither leading nor platforms, so indexing false would
	// cost two writes per entity for nothing; "= false" is answered as
	// "not in the true run" (see list).
	sparse bool
	// others, when set, makes the field sparse over an enum: only these
	// index values are indexed, and the one value not among them (the
	// common one, e.g. an active lifecycle) is answered as "in none of
	// their runs". Records stored before the field existed hold that
	// common value, so adding such a field needs no reindexing.
	others []string
	// tail fields hold the last part of the primary keys they index (a
	// membership's entity: pk is group \x00 entity): from format 4 an
	// entry is keyed by the rest of the key alone (field id, entity,
	// \x00, group), not repeating the value. Entries of format 3 (the
	// whole key) are still read (primaryOf).
	tail bool
}

// excludedValues returns the index values whose runs a filter for index
// value v must avoid, when v is the one a sparse field does not index.
func (f *field) excludedValues(v string) ([]string, bool) {
	switch {
	case f.sparse && v == "0":
		return []string{"1"}, true
	case f.others != nil && v != noMatch && !slices.Contains(f.others, v):
		return f.others, true
	}
	return nil, false
}

// indexValue returns the index form of a filter value.
func (f *field) indexValue(v string) string {
	if f.query != nil {
		v = f.query(v)
	}
	// Stored values never hold the separator; a filter value that does
	// would run on into the primary key (g \x00 e for memberships).
	if strings.IndexByte(v, sep) >= 0 {
		return noMatch
	}
	return v
}

func (sc *schema) field(name string) *field {
	for i := range sc.fields {
		if sc.fields[i].name == name {
			return &sc.fields[i]
		}
	}
	return nil
}

// noMatch is an index value no record has: \x01 never occurs in values.
const noMatch = "\x01"

func one(s string) []string { return []string{s} }

func enumValue(v int32) []string { return one(strconv.Itoa(int(v))) }

// enumQuery maps an enum name to its number using the name function.
func enumQuery(name func(int32) string, n int32) func(string) string {
	return func(v string) string {
		for i := int32(1); i <= n; i++ {
			if name(i) == v {
				return strconv.Itoa(int(i))
			}
		}
		return noMatch
	}
}

func boolValue(b bool) []string {
	if b {
		return one("1")
	}
	return nil
}

// endedValue indexes a lifecycle only when it has ended: nearly every
// record is active.
func endedValue(l *registry.Lifecycle) []string {
	if l.Status.Ended() {
		return enumValue(int32(l.Status))
	}
	return nil
}

// lifecycleField filters on a lifecycle status; "= LIFECYCLE_STATUS_ACTIVE"
// is "neither inactive nor withdrawn".
func lifecycleField(id byte, of func(registry.Resource) *registry.Lifecycle) field {
	return field{id: id, name: "status",
		values: func(r registry.Resource) []string { return endedValue(of(r)) },
		query:  enumQuery(func(i int32) string { return registry.LifecycleStatus(i).String() }, int32(registry.LifecycleWithdrawn)),
		others: []string{strconv.Itoa(int(registry.LifecycleInactive)), strconv.Itoa(int(registry.LifecycleWithdrawn))}}
}

func boolQuery(v string) string {
	switch v {
	case "true":
		return "1"
	case "false":
		return "0"
	}
	return noMatch
}

func entityRefQuery(v string) string {
	if id, ok := strings.CutPrefix(v, "entities/"); ok {
		return id
	}
	return noMatch
}

var (
	entitySchema = &schema{
		coll: registry.Entities, primary: "entities", index: "entities.idx",
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Entity).ID) },
		fields: []field{
			{1, "kind", func(r registry.Resource) []string { return enumValue(int32(r.(*registry.Entity).Kind)) },
				enumQuery(func(i int32) string { return registry.EntityKind(i).String() }, int32(registry.EntityKindOther)), false, nil, false},
			{2, "region", func(r registry.Resource) []string { return one(r.(*registry.Entity).Region) }, nil, false, nil, false},
			{3, "industries", func(r registry.Resource) []string { return r.(*registry.Entity).Industries }, nil, false, nil, false},
			{4, "leading_enterprise", func(r registry.Resource) []string { return boolValue(r.(*registry.Entity).LeadingEnterprise) }, boolQuery, true, nil, false},
			{5, "future_industry_platform", func(r registry.Resource) []string { return boolValue(r.(*registry.Entity).FutureIndustryPlatform) }, boolQuery, true, nil, false},
			lifecycleField(6, func(r registry.Resource) *registry.Lifecycle { return &r.(*registry.Entity).Lifecycle }),
		},
	}
	groupSchema = &schema{
		coll: registry.Groups, primary: "groups", index: "groups.idx",
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Group).ID) },
		fields: []field{
			{1, "kind", func(r registry.Resource) []string { return enumValue(int32(r.(*registry.Group).Kind)) },
				enumQuery(func(i int32) string { return registry.GroupKind(i).String() }, int32(registry.GroupKindAlliance)), false, nil, false},
			{2, "field", func(r registry.Resource) []string { return one(r.(*registry.Group).Field) }, nil, false, nil, false},
		},
	}
	membershipSchema = &schema{
		coll: registry.Memberships, primary: "memberships", index: "memberships.idx",
		key: func(r registry.Resource) []byte {
			m := r.(*registry.Membership)
			return membershipKey(m.GroupID, m.EntityID)
		},
		fields: []field{
			{id: 1, name: "entity", values: func(r registry.Resource) []string { return one(r.(*registry.Membership).EntityID) }, query: entityRefQuery, tail: true},
			lifecycleField(2, func(r registry.Resource) *registry.Lifecycle { return &r.(*registry.Membership).Lifecycle }),
		},
	}
	talentRecordSchema = &schema{
		coll: registry.TalentRecords, primary: "talentRecords", index: "talentRecords.idx",
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.TalentRecord).ID) },
		fields: []field{
			{1, "subject", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Subject) }, nil, false, nil, false},
			{2, "category", func(r registry.Resource) []string { return enumValue(int32(r.(*registry.TalentRecord).Category)) },
				enumQuery(func(i int32) string { return registry.TalentCategory(i).String() }, int32(registry.TalentCategoryAssessed)), false, nil, false},
			{3, "program", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Program) }, nil, false, nil, false},
			{4, "period", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Period) }, nil, false, nil, false},
		},
	}
	programSchema = &schema{
		coll: registry.Programs, primary: "programs", index: "programs.idx",
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Program).ID) },
		fields: []field{
			{1, "level", func(r registry.Resource) []string { return enumValue(int32(r.(*registry.Program).Level)) },
				enumQuery(func(i int32) string { return registry.ProgramLevel(i).String() }, int32(registry.ProgramLevelDistrict)), false, nil, false},
		},
	}
	targetSchema = &schema{
		coll: registry.Targets, primary: "targets", index: "targets.idx",
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Target).ID) },
		fields: []field{
			{1, "metric", func(r registry.Resource) []string { return enumValue(int32(r.(*registry.Target).Metric)) },
				enumQuery(func(i int32) string { return registry.TargetMetric(i).String() }, int32(registry.TargetMetricGroupMembers)), false, nil, false},
			// The scope as a full name ("" for the whole ecosystem):
			// deleting a group finds its targets here.
			{2, "scope", func(r registry.Resource) []string { return one(r.(*registry.Target).Scope) }, nil, false, nil, false},
		},
	}
	policySchema = &schema{
		coll: registry.Policies, primary: "policies", index: "policies.idx",
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Policy).ID) },
		fields: []field{
			{1, "level", func(r registry.Resource) []string { return enumValue(int32(r.(*registry.Policy).Level)) },
				enumQuery(func(i int32) string { return registry.PolicyLevel(i).String() }, int32(registry.PolicyLevelDistrict)), false, nil, false},
			{2, "pilot", func(r registry.Resource) []string { return boolValue(r.(*registry.Policy).Pilot) }, boolQuery, true, nil, false},
			{3, "industries", func(r registry.Resource) []string { return r.(*registry.Policy).Industries }, nil, false, nil, false},
			// Full programme names: deleting a programme finds its
			// policies here.
			{4, "programs", func(r registry.Resource) []string { return r.(*registry.Policy).Programs }, nil, false, nil, false},
		},
	}
)

// schemas is indexed by registry.Collection.
var schemas = func() []*schema {
	s := make([]*schema, registry.NumCollections)
	for _, sc := range []*schema{entitySchema, groupSchema, membershipSchema, talentRecordSchema, programSchema, targetSchema, policySchema} {
		s[sc.coll] = sc
	}
	return s
}()

func membershipKey(groupID, entityID string) []byte {
	k := make([]byte, 0, len(groupID)+1+len(entityID))
	k = append(k, groupID...)
	k = append(k, sep)
	return append(k, entityID...)
}

// indexKey returns field id, value, \x00, pk; for a tail field whose
// value ends pk (head \x00 value), field id, value, \x00, head.
func indexKey(f *field, value string, pk []byte) []byte {
	if f.tail {
		pk = headOf(pk, value)
	}
	k := make([]byte, 0, 2+len(value)+len(pk))
	k = append(k, f.id)
	k = append(k, value...)
	k = append(k, sep)
	return append(k, pk...)
}

// headOf returns pk without its tail \x00 value, or pk when it does not
// end so.
func headOf(pk []byte, value string) []byte {
	if n := len(pk) - len(value) - 1; n >= 0 && pk[n] == sep && string(pk[n+1:]) == value {
		return pk[:n]
	}
	return pk
}

// primaryOf returns the primary key an index entry of f with value names,
// given the entry's key after the prefix (indexPrefix): the suffix itself,
// but for a tail field's format-4 entry (a head without \x00), head \x00
// value. It appends to dst when it has to build the key.
func (f *field) primaryOf(dst []byte, value string, suffix []byte) []byte {
	if !f.tail || bytes.IndexByte(suffix, sep) >= 0 {
		return suffix
	}
	dst = append(dst[:0], suffix...)
	dst = append(dst, sep)
	return append(dst, value...)
}

// indexPrefix returns the prefix of f's entries with value.
func indexPrefix(f *field, value string) []byte { return indexKey(f, value, nil) }

func revKey(rev int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(rev))
	return k[:]
}

func revFromKey(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

func requestKey(c registry.Collection, requestID string) []byte {
	return append([]byte{byte(c)}, requestID...)
}

// Buckets lists every bucket of the layout, for engines that create them
// ahead (logs keyed by revision only ever grow at their end).
func Buckets() []kv.BucketSpec {
	specs := []kv.BucketSpec{
		{Name: bucketMeta}, {Name: bucketChanges, Append: true}, {Name: bucketCreditCodes}, {Name: bucketRequests},
		{Name: bucketRequestLog, Append: true}, {Name: bucketActors, Append: true}, {Name: bucketByActor}, {Name: bucketByName, Scattered: true},
	}
	for _, c := range registry.Collections {
		specs = append(specs, kv.BucketSpec{Name: schemas[c].primary, Runs: c == registry.Memberships}, kv.BucketSpec{Name: schemas[c].index})
	}
	return specs
}
