package checkpoint

import "talentreg/services/metrics/projection"

// The whole file layout, in one place.
//
//	meta/format    formatV1: marks the file as a metrics checkpoint
//	meta/revision  8-byte big-endian registry revision the state reflects
//	meta/savedAt   RFC 3339 time of the last save, for operators
//	entities/{id}  one projection record per entity slot
//	groups/{id}    one projection record per group slot
//	tables/{name}  the projection's small tables
//
// The state buckets and meta/revision change in one transaction, so the
// file always holds the projection at exactly its revision.
var (
	bucketMeta  = []byte("meta")
	keyFormat   = []byte("format")
	keyRevision = []byte("revision")
	keySavedAt  = []byte("savedAt")

	sectionBuckets = map[projection.Section][]byte{
		projection.SectionEntities: []byte("entities"),
		projection.SectionGroups:   []byte("groups"),
		projection.SectionTables:   []byte("tables"),
	}
)

// formatV1 is the value of meta/format. A change to the record layout of
// the projection package needs a new format: an old file is then refused
// (and the service re-bootstraps from a snapshot once it is removed).
const formatV1 = "talentreg.metrics.checkpoint.v1"
