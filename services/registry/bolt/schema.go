package bolt

import (
	"encoding/binary"
	"strconv"

	"talentreg/services/registry"
)

// The whole file layout lives here.
//
//	meta                       format, revision, compacted, token_key
//	changes                    revision (8 bytes, big endian) → change entry
//	{collection}               primary key → record
//	{collection}.idx           field \x00 value \x00 primary key → ""
//	entities.credit_code       credit code → entity id (uniqueness)
//	requests                   collection byte + request id → revision (8) + first result
//	requests.log               revision (8) + collection byte + request id → "" (pruned with the log)
//
// Primary keys are the id, except memberships: group id \x00 entity id, so a
// group's memberships are one key range and ids (which never contain \x00)
// sort as tuples.
var (
	bucketMeta        = []byte("meta")
	bucketChanges     = []byte("changes")
	bucketCreditCodes = []byte("entities.credit_code")
	bucketRequests    = []byte("requests")
	bucketRequestLog  = []byte("requests.log")

	keyFormat    = []byte("format")
	keyRevision  = []byte("revision")
	keyCompacted = []byte("compacted")
	keyTokenKey  = []byte("token_key")
)

// formatV1 marks a talentreg registry file; Open refuses any other.
const formatV1 = "talentreg-registry/1"

const sep = 0

// schema describes how one collection is stored and indexed.
type schema struct {
	coll    registry.Collection
	primary []byte
	index   []byte
	// key returns the primary key of r.
	key func(r registry.Resource) []byte
	// fields are the indexed fields, by their proto names.
	fields []field
}

// field is one indexed field: values returns every value r has for it.
type field struct {
	name   string
	values func(r registry.Resource) []string
}

func (sc *schema) field(name string) *field {
	for i := range sc.fields {
		if sc.fields[i].name == name {
			return &sc.fields[i]
		}
	}
	return nil
}

func one(s string) []string { return []string{s} }

var (
	entitySchema = &schema{
		coll: registry.Entities, primary: []byte("entities"), index: []byte("entities.idx"),
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Entity).ID) },
		fields: []field{
			{"kind", func(r registry.Resource) []string { return one(r.(*registry.Entity).Kind.String()) }},
			{"region", func(r registry.Resource) []string { return one(r.(*registry.Entity).Region) }},
			{"industries", func(r registry.Resource) []string { return r.(*registry.Entity).Industries }},
			{"leading_enterprise", func(r registry.Resource) []string {
				return one(strconv.FormatBool(r.(*registry.Entity).LeadingEnterprise))
			}},
			{"future_industry_platform", func(r registry.Resource) []string {
				return one(strconv.FormatBool(r.(*registry.Entity).FutureIndustryPlatform))
			}},
		},
	}
	groupSchema = &schema{
		coll: registry.Groups, primary: []byte("groups"), index: []byte("groups.idx"),
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Group).ID) },
		fields: []field{
			{"kind", func(r registry.Resource) []string { return one(r.(*registry.Group).Kind.String()) }},
			{"field", func(r registry.Resource) []string { return one(r.(*registry.Group).Field) }},
		},
	}
	membershipSchema = &schema{
		coll: registry.Memberships, primary: []byte("memberships"), index: []byte("memberships.idx"),
		key: func(r registry.Resource) []byte {
			m := r.(*registry.Membership)
			return membershipKey(m.GroupID, m.EntityID)
		},
		fields: []field{
			{"entity", func(r registry.Resource) []string { return one(registry.EntityName(r.(*registry.Membership).EntityID)) }},
			{"role", func(r registry.Resource) []string { return one(r.(*registry.Membership).Role.String()) }},
		},
	}
	talentRecordSchema = &schema{
		coll: registry.TalentRecords, primary: []byte("talentRecords"), index: []byte("talentRecords.idx"),
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.TalentRecord).ID) },
		fields: []field{
			{"subject", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Subject) }},
			{"category", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Category.String()) }},
			{"program", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Program) }},
			{"period", func(r registry.Resource) []string { return one(r.(*registry.TalentRecord).Period) }},
		},
	}
	programSchema = &schema{
		coll: registry.Programs, primary: []byte("programs"), index: []byte("programs.idx"),
		key: func(r registry.Resource) []byte { return []byte(r.(*registry.Program).ID) },
		fields: []field{
			{"level", func(r registry.Resource) []string { return one(r.(*registry.Program).Level.String()) }},
		},
	}
)

// schemas is indexed by registry.Collection.
var schemas = func() []*schema {
	s := make([]*schema, registry.TalentRecords+1)
	for _, sc := range []*schema{entitySchema, groupSchema, membershipSchema, talentRecordSchema, programSchema} {
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

// indexKey returns field \x00 value \x00 pk.
func indexKey(field, value string, pk []byte) []byte {
	k := make([]byte, 0, len(field)+len(value)+2+len(pk))
	k = append(k, field...)
	k = append(k, sep)
	k = append(k, value...)
	k = append(k, sep)
	return append(k, pk...)
}

// indexPrefix returns field \x00 value \x00.
func indexPrefix(field, value string) []byte { return indexKey(field, value, nil) }

func revKey(rev int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(rev))
	return k[:]
}

func revFromKey(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

func requestKey(c registry.Collection, requestID string) []byte {
	return append([]byte{byte(c)}, requestID...)
}
