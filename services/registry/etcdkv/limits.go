package etcdkv

import (
	"encoding/binary"
	"strings"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// The registry's largest etcd transaction, derived from what validation
// accepts (talentreg/services/registry: MaxBatch, MaxIndustries,
// MaxDisplayName, …) and from kvstore's key layout (kvstore/schema.go) and
// record codec (kvstore/codec.go). DefaultLimits are rounded up from it, so
// that everything validation accepts commits on etcd as on bbolt.
// TestWorstCase_MatchesTheRealTransaction builds that transaction for real
// and holds the estimate to the measured request.

const (
	// MaxPrefix is the longest Options.Prefix the limits allow for: every
	// key and compare carries it. Open refuses a longer one.
	MaxPrefix = 32
	// RequestHeadroom is what etcd's --max-request-bytes must allow above
	// Limits.Bytes: etcd checks the request inside its raft entry, a few
	// dozen bytes larger.
	RequestHeadroom = 1 << 20

	// opOverhead bounds the protobuf framing of one put or delete in a
	// TxnRequest (its RequestOp, PutRequest and their tags and lengths)
	// beside the key and value bytes, for values below 2 MiB.
	opOverhead = 16
	// cmpOverhead bounds the framing of one compare beside its key and
	// range end (result, target, a revision of up to 10 bytes).
	cmpOverhead = 24
)

// DefaultLimits are the transaction limits the registry needs etcd to
// accept: WorstCase with 5 % to spare, operations rounded up to a multiple
// of 4096 and bytes to a whole MiB (45,056 operations and 15 MiB; etcd's
// members then need --max-txn-ops=45056 --max-request-bytes=16777216, see
// ServerFlags).
var DefaultLimits = WorstCase().limits()

// ServerFlags returns the values of etcd's --max-txn-ops and
// --max-request-bytes that a registry sending transactions of l needs.
func ServerFlags(l kv.Limits) (maxTxnOps, maxRequestBytes int) {
	return l.Ops, l.Bytes + RequestHeadroom
}

// TxnSize is the size of one etcd transaction: its puts and deletes, its
// compares, and the bytes of its request (see requestBytes).
type TxnSize struct {
	Writes, Compares, Bytes int
}

func (a TxnSize) plus(b TxnSize) TxnSize {
	return TxnSize{a.Writes + b.Writes, a.Compares + b.Compares, a.Bytes + b.Bytes}
}

func (a TxnSize) times(n int) TxnSize {
	return TxnSize{a.Writes * n, a.Compares * n, a.Bytes * n}
}

// limits are a with 5 % to spare (for layout changes that add a key or a
// few bytes), operations rounded up to a multiple of 4096, bytes to a MiB.
func (a TxnSize) limits() kv.Limits {
	roundUp := func(n, to int) int { return (n + n/20 + to - 1) / to * to }
	return kv.Limits{Ops: roundUp(max(a.Writes, a.Compares), 4096), Bytes: roundUp(a.Bytes, 1<<20)}
}

// WorstCase returns the largest transaction the registry sends: a
// BatchCreateEntities of MaxBatch entities, each as large as validation
// allows (every string at its longest in 4-byte characters, MaxIndustries
// industries, a credit code, both flags, an ended lifecycle), made by an
// actor, that also compacts kv.CompactPerTxn changes of the log. Every
// other single-transaction change is smaller: one resource with its
// cascade up to CascadeFits dependants, an import sub-chunk (which is
// halved when it does not fit).
func WorstCase() TxnSize {
	e := entityWrite(true)
	batch := e.times(registry.MaxBatch)
	return batch.plus(opCost()).plus(compactionCost())
}

// CascadeFits returns how many dependants a force delete may always take
// within l: the deleted resource and its op, and that many of the largest
// dependant (a policy of a deleted programme, with every industry and
// programme it may hold). Larger cascades may be refused
// TRANSACTION_TOO_LARGE.
func CascadeFits(l kv.Limits) int {
	fixed := opCost().plus(compactionCost()).plus(entityWrite(false))
	dep := policyDelete()
	n := min((l.Ops-fixed.Writes)/dep.Writes, (l.Ops-fixed.Compares)/dep.Compares, (l.Bytes-fixed.Bytes)/dep.Bytes)
	return max(n, 0)
}

// Sizes of what validation accepts, in bytes.
const (
	maxPK = registry.MaxID // a primary key: an id
	// maxPKAny is the longest primary key of any collection: a
	// membership's group id \x00 entity id.
	maxPKAny = 2*registry.MaxID + 1
	// actorBytes allows for one actor entry (principal, request id, user
	// agent, peer, via) and its by-actor key, principal the principal in a
	// by-actor key. They come from request metadata: these are
	// allowances, not bounds validation enforces.
	actorBytes = 16 << 10
	principal  = 1 << 10
)

// maxText is the most bytes of a text of so many characters: UTF-8 takes
// up to 4 a character.
func maxText(runes int) int { return 4 * runes }

// uvarint is the length of n as a uvarint; str, of a length-prefixed
// string.
func uvarint(n int) int { return len(binary.AppendUvarint(nil, uint64(n))) }
func str(n int) int     { return uvarint(n) + n }

const (
	timeBytes = binary.MaxVarintLen64 // a varint time
	metaBytes = 3 * timeBytes         // create and update times, revision
	// lifecycleBytes: an ended lifecycle's status and end time.
	lifecycleBytes = 1 + timeBytes
	// changeHeader bounds a change entry's header: version, type, commit
	// time and two offsets.
	changeHeader = 2 + 3*binary.MaxVarintLen64
	revKey       = 8
)

func strs(n, each int) int { return uvarint(n) + n*str(each) }

// entityRecord is the largest encoded entity (kvstore/codec.go).
func entityRecord() int {
	return 1 + str(registry.MaxID) + str(maxText(registry.MaxDisplayName)) + 1 + str(registry.CreditCodeLen) +
		str(maxText(registry.MaxRegion)) + strs(registry.MaxIndustries, registry.MaxID) + 1 + metaBytes + lifecycleBytes
}

// policyRecord is the largest encoded policy.
func policyRecord() int {
	program := len(registry.ProgramName(strings.Repeat("x", registry.MaxID)))
	return 1 + str(registry.MaxID) + 2*str(maxText(registry.MaxDisplayName)) + 1 + timeBytes + 1 +
		strs(registry.MaxIndustries, registry.MaxID) + strs(registry.MaxPrograms, program) + metaBytes
}

// put and del are one write to bucket of a key of k bytes (and a value of
// v); cmp is a compare on one key, scan one on a key range.
func put(bucket string, k, v int) TxnSize {
	return TxnSize{Writes: 1, Bytes: MaxPrefix + len(bucket) + 1 + k + v + opOverhead}
}
func del(bucket string, k int) TxnSize { return put(bucket, k, 0) }
func cmp(bucket string, k int) TxnSize {
	return TxnSize{Compares: 1, Bytes: MaxPrefix + len(bucket) + 1 + k + cmpOverhead}
}
func scan(bucket string, k int) TxnSize {
	return TxnSize{Compares: 1, Bytes: 2*(MaxPrefix+len(bucket)+1+k+1) + cmpOverhead}
}

// indexKey is field id, value, \x00, primary key.
func indexKey(value, pk int) int { return 1 + value + 1 + pk }

// created is the change entry of a create: one record image. (Format 3
// indexes a change by name only once it is no longer the record's latest.)
func created(record int) TxnSize {
	return put("changes", revKey, changeHeader+1+1+str(record))
}

// deleted is the change entry of a deletion, with its by-name key, and
// the superseding of the change that made the record: read, rewritten
// with its image (on bbolt; counted for etcd too), and indexed by name.
func deleted(record, pk int) TxnSize {
	byName := put("changes.by_name", 1+pk+1+revKey, 0)
	entry := changeHeader + 1 + 1 + str(record)
	return put("changes", revKey, entry).plus(byName).
		plus(cmp("changes", revKey)).plus(put("changes", revKey, entry)).plus(byName)
}

// entityWrite is creating (create) or deleting the largest entity, with
// its reads.
func entityWrite(create bool) TxnSize {
	rec := entityRecord()
	var w TxnSize
	if create {
		w = put("entities", maxPK, rec).
			plus(cmp("entities", maxPK)).                             // it must not exist
			plus(cmp("entities.credit_code", registry.CreditCodeLen)) // nor its credit code
	} else {
		w = del("entities", maxPK).plus(cmp("entities", maxPK))
	}
	idx := func(value int) TxnSize { return put("entities.idx", indexKey(value, maxPK), 0) }
	w = w.plus(idx(1)). // kind
				plus(idx(maxText(registry.MaxRegion))).
				plus(idx(registry.MaxID).times(registry.MaxIndustries)).
				plus(idx(1).times(3)). // leading, platform, ended status
				plus(put("entities.credit_code", registry.CreditCodeLen, registry.MaxID))
	if create {
		return w.plus(created(rec))
	}
	return w.plus(deleted(rec, maxPK))
}

// policyDelete is a force delete's removal of the largest policy: its
// read, its record, its indexes (level, pilot, industries, programmes)
// and its change (deleted).
func policyDelete() TxnSize {
	program := len(registry.ProgramName(strings.Repeat("x", registry.MaxID)))
	idx := func(value int) TxnSize { return del("policies.idx", indexKey(value, maxPK)) }
	return cmp("policies", maxPK).plus(del("policies", maxPK)).
		plus(idx(1).times(2)).
		plus(idx(registry.MaxID).times(registry.MaxIndustries)).
		plus(idx(program).times(registry.MaxPrograms)).
		plus(deleted(policyRecord(), maxPK)).
		plus(scan("policies.idx", indexKey(program, maxPK))) // the page it was found on (counted once per dependant)
}

// opCost is what every change pays once: the revision counter (meta/head4)
// and the compaction mark read and written, the actor entry and its
// by-actor key.
func opCost() TxnSize {
	return cmp("meta", len("head4")).plus(cmp("meta", len("compacted"))).
		plus(put("meta", len("head4"), revKey)).plus(put("meta", len("compacted"), revKey)).
		plus(TxnSize{Writes: 2, Bytes: actorBytes})
}

// compactionCost is compacting kv.CompactPerTxn changes: each deletes its
// entry, its by-name key, an actor entry and its by-actor key, a request
// id and its log key; the three cursors that find them each take up to
// two pages (a range compare each).
func compactionCost() TxnSize {
	reqKey := 1 + registry.MaxRequestID
	one := del("changes", revKey).plus(del("changes.by_name", 1+maxPKAny+1+revKey)).
		plus(del("changes.actors", revKey)).plus(del("changes.by_actor", principal+1+revKey)).
		plus(del("requests", reqKey)).plus(del("requests.log", revKey+reqKey))
	scans := scan("changes", revKey).plus(scan("changes.actors", revKey)).plus(scan("requests.log", revKey+reqKey)).times(2)
	return one.times(kv.CompactPerTxn).plus(scans)
}

// requestBytes bounds the size of the etcd request that commits t, as
// etcd measures it against --max-request-bytes (less RequestHeadroom).
func (t *txn) requestBytes() int {
	n := 0
	for _, k := range t.order {
		n += len(k) + len(t.writes[k].value) + opOverhead
	}
	for k := range t.reads {
		n += len(k) + cmpOverhead
	}
	for _, r := range t.ranges {
		n += len(r[0]) + len(r[1]) + cmpOverhead
	}
	return n
}
