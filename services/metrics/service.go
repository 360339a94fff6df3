package metrics

import (
	"context"
	"time"
)

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

// SummaryWatcher lets a caller follow the Summary as it changes.
type SummaryWatcher interface {
	// SummaryNow returns the Summary as it stands (loaded false before a
	// projection is loaded, or after one was dropped) and a channel closed
	// the next time it may change.
	SummaryNow() (sum Summary, loaded bool, changed <-chan struct{})
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

// OfficeReader serves the talent office's further reads: figures as of a
// past time, the Summary's history, name search and target progress. Like
// Reader's, each waits first for minRevision.
type OfficeReader interface {
	// SummaryAsOf returns the Summary as it stood at asOf: CodeBeforeHistory
	// for a time before the replica's history is complete.
	SummaryAsOf(ctx context.Context, asOf time.Time, minRevision int64) (Summary, error)
	// GroupStatsAsOf returns a group's figures as they stood at asOf:
	// CodeNotFound when the group did not exist then.
	GroupStatsAsOf(ctx context.Context, name string, asOf time.Time, minRevision int64) (GroupStats, error)
	// BreakdownAsOf returns the rows of d as they stood at asOf.
	BreakdownAsOf(ctx context.Context, d Dimension, asOf time.Time, minRevision int64) (Breakdown, error)
	// SummaryHistory returns the Summary at each of times (ascending).
	SummaryHistory(ctx context.Context, times []time.Time) (History, error)
	// Search returns results offset to offset+limit of query, ranked:
	// CodeUnavailable (ReasonSearchDisabled) when the replica keeps no
	// index.
	Search(ctx context.Context, query string, offset, limit int, minRevision int64) (SearchPage, error)
	// TargetProgress returns the progress of every target and the revision
	// it reflects.
	TargetProgress(ctx context.Context, minRevision int64) ([]TargetProgress, int64, error)
	// OneTargetProgress returns the progress of the target named
	// `targets/{target}`: CodeNotFound when there is none.
	OneTargetProgress(ctx context.Context, name string, minRevision int64) (TargetProgress, error)
}
