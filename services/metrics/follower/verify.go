package follower

import (
	"context"
	"errors"
	"sync"

	"talentreg/services/metrics"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Verifier recounts every figure from a fresh registry snapshot and
// compares the recount with the live projection at the snapshot's
// revision.
//
// To compare at the same revision, it holds the live projection at the
// snapshot's revision as soon as the first snapshot message names it:
// the follower applies up to exactly that revision and then waits, while
// readers go on being served. If the live projection had already moved
// past it, the verification starts again; the last attempt holds the
// projection before the snapshot starts, which always succeeds (a snapshot
// is never older than what was applied from the same registry).
type Verifier struct {
	client registryv1.RegistryServiceClient
	live   *projection.Live
	mu     sync.Mutex // one verification at a time
}

// NewVerifier returns a Verifier of live against client's snapshots.
func NewVerifier(client registryv1.RegistryServiceClient, live *projection.Live) *Verifier {
	return &Verifier{client: client, live: live}
}

var _ metrics.Verifier = (*Verifier)(nil)

const verifyAttempts = 3

// Verify implements metrics.Verifier.
func (v *Verifier) Verify(ctx context.Context) (metrics.Verification, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.live.Loaded() {
		return metrics.Verification{}, metrics.ErrNotLoaded
	}
	for attempt := 1; ; attempt++ {
		res, err := v.verify(ctx, attempt == verifyAttempts)
		if errors.Is(err, projection.ErrHoldPassed) && attempt < verifyAttempts {
			continue
		}
		if err != nil && ctx.Err() == nil && metrics.ErrorCode(err) == 0 {
			err = metrics.Unavailable("verify: registry snapshot", err)
		}
		return res, err
	}
}

func (v *Verifier) verify(ctx context.Context, holdFirst bool) (metrics.Verification, error) {
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	if holdFirst {
		for release == nil {
			r, err := v.live.Hold(v.live.Revision())
			if err != nil && !errors.Is(err, projection.ErrHoldPassed) {
				return metrics.Verification{}, err
			}
			release = r
		}
	}
	var revision int64
	recount, err := Snapshot(ctx, v.client, func(rev int64) error {
		revision = rev
		if release != nil {
			return v.live.MoveHold(rev)
		}
		r, err := v.live.Hold(rev)
		release = r
		return err
	})
	if err != nil {
		return metrics.Verification{}, err
	}
	out := metrics.Verification{Revision: revision}
	want := recount.Figures()
	err = v.live.WithFigures(ctx, revision, func(live metrics.Figures) {
		out.Differences = metrics.Diff(live, want)
	})
	return out, err
}
