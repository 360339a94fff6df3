package projection

import (
	"context"
	"time"

	"talentreg/services/metrics"
)

var _ metrics.OfficeReader = (*Live)(nil)

// SummaryAsOf implements metrics.OfficeReader.
func (l *Live) SummaryAsOf(ctx context.Context, asOf time.Time, minRevision int64) (metrics.Summary, error) {
	var s metrics.Summary
	var err error
	if rerr := l.read(ctx, minRevision, l.locked(func(p *Projection) { s, err = p.SummaryAsOf(asOf) })); rerr != nil {
		return metrics.Summary{}, rerr
	}
	return s, err
}

// GroupStatsAsOf implements metrics.OfficeReader.
func (l *Live) GroupStatsAsOf(ctx context.Context, name string, asOf time.Time, minRevision int64) (metrics.GroupStats, error) {
	var st metrics.GroupStats
	var found bool
	var err error
	if rerr := l.read(ctx, minRevision, l.locked(func(p *Projection) { st, found, err = p.GroupStatsAsOf(name, asOf) })); rerr != nil {
		return metrics.GroupStats{}, rerr
	}
	if err != nil {
		return metrics.GroupStats{}, err
	}
	if !found {
		return metrics.GroupStats{}, metrics.NotFound(name)
	}
	return st, nil
}

// BreakdownAsOf implements metrics.OfficeReader.
func (l *Live) BreakdownAsOf(ctx context.Context, d metrics.Dimension, asOf time.Time, minRevision int64) (metrics.Breakdown, error) {
	var b metrics.Breakdown
	var err error
	if rerr := l.read(ctx, minRevision, l.locked(func(p *Projection) { b, err = p.BreakdownAsOf(d, asOf) })); rerr != nil {
		return metrics.Breakdown{}, rerr
	}
	return b, err
}

// SummaryHistory implements metrics.OfficeReader.
func (l *Live) SummaryHistory(ctx context.Context, times []time.Time) (metrics.History, error) {
	var h metrics.History
	var err error
	rerr := l.read(ctx, 0, l.locked(func(p *Projection) {
		h.CompleteFrom, h.ExactFrom, h.Revision = p.CompleteFrom(), p.ExactFrom(), p.revision
		h.Points, err = p.SummaryPoints(times)
	}))
	if rerr != nil {
		return metrics.History{}, rerr
	}
	return h, err
}

// buildSearch builds p's search index in the background, so that a bulk
// load (a snapshot bootstrap, a checkpoint restore) serves its figures
// without waiting for it; searches wait for it meanwhile. Called with mu
// held, before p is installed.
func (l *Live) buildSearch(p *Projection) {
	ready := make(chan struct{})
	l.searchReady.Store(&ready)
	docs := p.searchDocs
	go func() {
		defer close(ready)
		x := buildSearch(docs)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.p == p {
			p.InstallSearch(x)
		}
	}()
}

// SearchBuilding reports whether the search index of the projection
// installed last is still being built in the background.
func (l *Live) SearchBuilding() bool {
	ch := l.searchReady.Load()
	if ch == nil {
		return false
	}
	select {
	case <-*ch:
		return false
	default:
		return true
	}
}

// waitSearch waits until the search index being built is ready, bounded
// like a revision wait.
func (l *Live) waitSearch(ctx context.Context) error {
	ch := l.searchReady.Load()
	if ch == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.maxWait)
		defer cancel()
	}
	select {
	case <-*ch:
		return nil
	case <-ctx.Done():
		return &metrics.Error{Code: metrics.CodeUnavailable, Reason: metrics.ReasonSearchDisabled,
			Message: "the search index is still being built after a bootstrap; try again shortly", Err: ctx.Err()}
	}
}

// Search implements metrics.OfficeReader.
func (l *Live) Search(ctx context.Context, query string, offset, limit int, minRevision int64) (metrics.SearchPage, error) {
	if err := l.waitSearch(ctx); err != nil {
		return metrics.SearchPage{}, err
	}
	var page metrics.SearchPage
	off, pending := false, false
	if err := l.read(ctx, minRevision, l.locked(func(p *Projection) {
		switch {
		case p.Searching():
			page = p.Search(query, offset, limit)
		case p.SearchPending():
			pending = true
		default:
			off = true
		}
	})); err != nil {
		return metrics.SearchPage{}, err
	}
	switch {
	case off:
		return metrics.SearchPage{}, metrics.SearchDisabled()
	case pending: // a projection installed after the wait: rare
		return metrics.SearchPage{}, &metrics.Error{Code: metrics.CodeUnavailable, Reason: metrics.ReasonSearchDisabled,
			Message: "the search index is still being built after a bootstrap; try again shortly"}
	}
	return page, nil
}

// TargetProgress implements metrics.OfficeReader.
func (l *Live) TargetProgress(ctx context.Context, minRevision int64) ([]metrics.TargetProgress, int64, error) {
	var out []metrics.TargetProgress
	var rev int64
	if err := l.read(ctx, minRevision, l.locked(func(p *Projection) { out, rev = p.TargetProgress(), p.revision })); err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// OneTargetProgress implements metrics.OfficeReader.
func (l *Live) OneTargetProgress(ctx context.Context, name string, minRevision int64) (metrics.TargetProgress, error) {
	var t metrics.TargetProgress
	var found bool
	if err := l.read(ctx, minRevision, l.locked(func(p *Projection) { t, found = p.OneTargetProgress(name) })); err != nil {
		return metrics.TargetProgress{}, err
	}
	if !found {
		return metrics.TargetProgress{}, metrics.NotFound(name)
	}
	return t, nil
}

// SetSearch switches the search index off (on is the default): every
// projection installed afterwards drops its index, saving its memory.
// Call it before loading.
func (l *Live) SetSearch(on bool) { l.noSearch = !on }

// SetHistory switches the figures' history off (on is the default): every
// projection installed afterwards drops it, and as_of reads answer that
// the replica keeps none. Call it before loading.
func (l *Live) SetHistory(on bool) { l.noHistory = !on }

// SetHistoryExactFor bounds the history of the projections l is given
// from now on: exact to the transaction for d before the latest commit,
// at each UTC day boundary before that (see histbound.go); 0 keeps every
// transaction.
func (l *Live) SetHistoryExactFor(d time.Duration) { l.historyExactFor = d }
