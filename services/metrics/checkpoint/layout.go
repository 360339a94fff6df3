package checkpoint

import (
	"encoding/binary"

	"talentreg/services/metrics/projection"
)

// The whole file layout, in one place.
//
//	meta/format        formatV3: marks the file as a metrics checkpoint
//	meta/revision      8-byte big-endian registry revision the state reflects
//	meta/registryID    the id of the registry database the revision belongs
//	                   to (absent: unknown)
//	meta/generation    8-byte big-endian number of the current state bucket
//	meta/savedAt       RFC 3339 time of the last save, for operators
//	state.{gen}/entities/{id}  one projection record per entity slot
//	state.{gen}/groups/{id}    one projection record per group slot
//	state.{gen}/tables/{name}  the projection's small tables
//	state.{gen}/history/{key}  the figures' history (versions since the
//	                           history became complete)
//	state.{gen}/search/{name}  one search document per resource
//
// An incremental save changes the current state bucket, meta/revision and
// meta/registryID in one transaction. A full save writes a new state bucket over several
// bounded transactions, invisible until one last transaction switches
// meta/generation, meta/revision and meta/registryID together and drops
// the old bucket: the
// file always holds the projection at exactly its revision, and no
// transaction has to hold a million keys in memory.
var (
	bucketMeta    = []byte("meta")
	keyFormat     = []byte("format")
	keyRevision   = []byte("revision")
	keyRegistryID = []byte("registryID")
	keyGeneration = []byte("generation")
	keySavedAt    = []byte("savedAt")

	statePrefix = "state."

	sectionBuckets = map[projection.Section][]byte{
		projection.SectionEntities: []byte("entities"),
		projection.SectionGroups:   []byte("groups"),
		projection.SectionTables:   []byte("tables"),
		projection.SectionHistory:  []byte("history"),
		projection.SectionSearch:   []byte("search"),
	}
)

// stateBucket returns the name of the state bucket of generation gen.
func stateBucket(gen uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(statePrefix), gen)
}

// formatV4 is the value of meta/format. A change to the layout, or to the
// record layout of the projection package, needs a new format: an old file
// is then refused (remove it and the service rebuilds it from a registry
// snapshot), or migrated where that is safe.
const formatV4 = "talentreg.metrics.checkpoint.v4"

// formatV3 lacks the history and search sections and the lifecycle, policy
// and target state. Open migrates it like formatV2: it forgets the registry
// id, so that the follower rebuilds the projection from a snapshot.
const formatV3 = "talentreg.metrics.checkpoint.v3"

// formatV2 is the previous format: the same layout without
// meta/registryID. Open migrates it to formatV3 by changing meta/format
// alone; it then loads with an unknown registry id, which the follower
// takes for another registry's, rebuilding it from a snapshot.
const formatV2 = "talentreg.metrics.checkpoint.v2"

// fullSaveChunk bounds the records one transaction of a full save writes.
const fullSaveChunk = 20000
