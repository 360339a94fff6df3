package grpcapi

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"

	"talentreg/platform/grpcerr"
)

// ReasonStoreUnavailable is the reason of the UNAVAILABLE error that ends
// a watch or snapshot stream while the store cannot serve.
const ReasonStoreUnavailable = "STORE_UNAVAILABLE"

// availability is whether the store can serve; its zero value is
// available.
type availability struct {
	mu   sync.Mutex
	lost chan struct{} // closed while the store is lost; made on first use
	down bool
}

// lostCh returns a channel closed when the store is lost (already closed
// if it is now).
func (a *availability) lostCh() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lost == nil {
		a.lost = make(chan struct{})
	}
	return a.lost
}

func (a *availability) set(up bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lost == nil {
		a.lost = make(chan struct{})
	}
	switch {
	case !up && !a.down:
		close(a.lost)
		a.down = true
	case up && a.down:
		a.lost = make(chan struct{})
		a.down = false
	}
}

// SetStoreAvailable tells the server whether its store can serve (the
// registry's store probe calls it; a store on a local file always can).
// While it cannot, WatchChanges and StreamSnapshot streams end UNAVAILABLE
// (reason STORE_UNAVAILABLE): those open when the store is lost, and new
// ones at once. Their clients then resume on a replica that can serve
// instead of waiting on one whose store does not answer. Unary calls are
// served as usual: each succeeds or fails on its own.
func (s *Server) SetStoreAvailable(up bool) { s.avail.set(up) }

// errStoreLost is the cause of a stream's context ended by a lost store.
var errStoreLost = errors.New("store lost")

// whileStoreAvailable returns a context of ctx that ends, with cause
// errStoreLost, when the store is lost, or the STORE_UNAVAILABLE error
// when it is lost now (nothing is to be read or sent then).
func (s *Server) whileStoreAvailable(ctx context.Context) (context.Context, context.CancelFunc, error) {
	lost := s.avail.lostCh()
	select {
	case <-lost:
		return ctx, func() {}, errStoreUnavailable()
	default:
	}
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lost:
			cancel(errStoreLost)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }, nil
}

// storeLostErr returns the stream's error: the STORE_UNAVAILABLE status
// when ctx (from whileStoreAvailable) ended because the store was lost,
// err otherwise.
func storeLostErr(ctx context.Context, err error) error {
	if err == nil || !errors.Is(context.Cause(ctx), errStoreLost) {
		return err
	}
	return errStoreUnavailable()
}

func errStoreUnavailable() error {
	return grpcerr.Status(codes.Unavailable,
		"this registry replica cannot reach its store (etcd): resume on another replica from the revision after the last received",
		ReasonStoreUnavailable, nil, nil)
}
