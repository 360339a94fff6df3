package metrics

import "context"

// Reader serves figures from a projection. Each method first waits until the
// projection has applied minRevision (0 means no wait), bounded by ctx's
// deadline or, when ctx has none, a default; on expiry it returns a
// CodeRevisionNotApplied *Error and never older figures. A minRevision past
// the registry's head is refused at once (CodeRevisionNotCommitted); with
// WithoutWait, a minRevision not applied yet is refused at once
// (CodeReplicaBehind). Before the projection is loaded it returns
// ErrNotLoaded.
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

type noWaitKey struct{}

// WithoutWait returns a context under which reads do not wait for their
// min_revision: they answer CodeReplicaBehind instead, so that a caller
// choosing among replicas can try another.
func WithoutWait(ctx context.Context) context.Context {
	return context.WithValue(ctx, noWaitKey{}, true)
}

// NoWait reports whether ctx was made by WithoutWait.
func NoWait(ctx context.Context) bool {
	v, _ := ctx.Value(noWaitKey{}).(bool)
	return v
}
