package projection

import (
	"fmt"
	"time"

	"talentreg/services/metrics/search"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Loader builds a projection from a registry snapshot: state first, then
// every figure counted once, which is much cheaper than applying each
// resource as a change.
type Loader struct {
	p *Projection
}

// NewLoader returns a Loader for an empty projection.
func NewLoader() *Loader {
	p := New()
	p.bulk = true
	p.hist = newHistory() // restored from a checkpoint, or started by Finish
	// The search index is built after the load, in the background.
	p.search, p.searchDocs, p.searchLog = nil, chunked[search.Doc]{}, map[string]*search.Doc{}
	return &Loader{p: p}
}

// Add adds one resource of the snapshot, in any order.
func (l *Loader) Add(r *registryv1.Resource) {
	l.p.applyImages(nil, r)
}

// Finish counts every figure and returns the projection at revision. The
// Loader must not be used afterwards. Every slot is to be written by the
// next checkpoint.
func (l *Loader) Finish(revision int64) *Projection {
	p := l.p
	l.p = nil
	p.anomaly = "" // a bulk load has no changes to report it against
	p.compactPools()
	p.recompute()
	p.revision = revision
	p.full = true
	if p.hist != nil {
		switch {
		case p.hist.completeFrom != 0:
			p.hist.finishRestore()
		case revision == 0:
			p.startHistory(fromTheStart) // an empty registry: nothing before
		default:
			p.startHistory(now().UnixNano())
			p.hist.finishRestore()
		}
	}
	return p
}

// Restore rebuilds a projection at revision from checkpoint records: load
// calls add once per record of a Delta's Put, in any order. The projection
// is clean: its next Delta holds only what changes after.
func Restore(revision int64, load func(add func(Record) error) error) (*Projection, error) {
	l := NewLoader()
	if err := load(l.p.restoreRecord); err != nil {
		return nil, fmt.Errorf("restore checkpoint: %w", err)
	}
	p := l.Finish(revision)
	p.full = false
	return p, nil
}

// now is the clock of history starts; a variable for tests.
var now = time.Now
