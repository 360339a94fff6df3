package metrics

import "context"

// Reader serves figures from a projection. Each method first waits until the
// projection has applied minRevision (0 means no wait), bounded by ctx's
// deadline or, when ctx has none, a default; on expiry it returns a
// CodeRevisionNotApplied *Error and never older figures. Before the
// projection is loaded it returns ErrNotLoaded.
type Reader interface {
	// Summary returns the headline figures.
	Summary(ctx context.Context, minRevision int64) (Summary, error)
	// GroupStats returns the figures of the group named `groups/{group}`:
	// CodeInvalidArgument for a malformed name, CodeNotFound for a group
	// not in the projection.
	GroupStats(ctx context.Context, name string, minRevision int64) (GroupStats, error)
	// Breakdown returns the rows of dimension d.
	Breakdown(ctx context.Context, d Dimension, minRevision int64) (Breakdown, error)
}

// Verifier recounts every figure from a fresh registry snapshot and compares
// the recount with the live projection at the snapshot's revision.
type Verifier interface {
	// Verify returns the differences found; CodeUnavailable when the
	// registry cannot be read, a context error when ctx ends first.
	Verify(ctx context.Context) (Verification, error)
}
