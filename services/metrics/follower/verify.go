package follower

import (
	"context"
	"errors"
	"fmt"
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
// snapshot's revision as soon as the first snapshot message names it: the
// follower applies up to exactly that revision and waits while the live
// figures are copied (O(groups + rows)), then goes on; readers are served
// throughout. If the live projection had already moved past the
// snapshot's revision, the verification starts again; the last attempt
// holds the projection before the snapshot starts, which always succeeds
// (a snapshot is never older than what was applied from the same
// registry).
//
// Figures of two registry databases are not comparable: when the
// snapshot's registry id is not the projection's (the registry was
// replaced and the follower has not reloaded yet), that is the one
// difference reported.
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
	// Once the hold is at the snapshot's revision, capture the live
	// figures as soon as the projection reaches it and release the hold:
	// the recount goes on reading while the projection follows the
	// registry again.
	var revision int64
	var live metrics.Figures
	var liveID string
	captured := make(chan error, 1)
	recount, err := Snapshot(ctx, v.client, false, func(rev int64, registryID string) error {
		revision = rev
		if id := v.live.RegistryID(); id != registryID {
			return &registryMismatch{live: id, registry: registryID}
		}
		if release != nil {
			if err := v.live.MoveHold(rev); err != nil {
				return err
			}
		} else {
			r, err := v.live.Hold(rev)
			if err != nil {
				return err
			}
			release = r
		}
		held := release
		go func() {
			defer held()
			captured <- v.live.WithFigures(ctx, rev, func(f metrics.Figures) {
				live, liveID = f, v.live.RegistryID() // the figures' id: Replace waits for the read lock
			})
		}()
		return nil
	})
	var mismatch *registryMismatch
	if errors.As(err, &mismatch) {
		return mismatch.verification(revision), nil
	}
	if err != nil {
		return metrics.Verification{}, err
	}
	if err := <-captured; err != nil {
		return metrics.Verification{}, err
	}
	if liveID != recount.RegistryID() {
		return (&registryMismatch{live: liveID, registry: recount.RegistryID()}).verification(revision), nil
	}
	return metrics.Verification{Revision: revision, Differences: metrics.Diff(live, recount.Figures())}, nil
}

// registryMismatch ends a verification whose snapshot is of another
// registry database than the live projection.
type registryMismatch struct{ live, registry string }

func (m *registryMismatch) Error() string {
	return fmt.Sprintf("registry id: live %q, recount %q", m.live, m.registry)
}

func (m *registryMismatch) verification(revision int64) metrics.Verification {
	return metrics.Verification{Revision: revision, Differences: []string{
		m.Error() + " (the registry's database was replaced; the projection is reloaded from a snapshot)"}}
}
