package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcerr"
	"talentreg/services/registry"
)

// watchBatch is how many changes one WatchChanges message carries at most.
const watchBatch = 500

// snapshotBatch is how many resources one StreamSnapshot message carries.
const snapshotBatch = 1000

// ListChanges implements registryv1.RegistryServiceServer.
func (s *Server) ListChanges(ctx context.Context, req *registryv1.ListChangesRequest) (*registryv1.ListChangesResponse, error) {
	if req.GetStartRevision() < 0 {
		return nil, s.err(ctx, registry.InvalidField("start_revision", "must not be negative, got %d", req.GetStartRevision()))
	}
	// A token continues the listing it came from (AIP-158): it is bound
	// to the start revision and the filter.
	scope := "changes\x00" + strconv.FormatInt(req.GetStartRevision(), 10) + "\x00" + req.GetFilter()
	limit, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	q, err := changeQuery(req.GetFilter())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	from := req.GetStartRevision()
	cursor, err := s.tokens.decode(scope, req.GetPageToken())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	if cursor != "" {
		if from, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return nil, s.err(ctx, invalidToken())
		}
	}
	page, err := s.store.ListChangesBy(ctx, q, from, limit)
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListChangesResponse{Changes: changesToProto(page.Changes), Revision: page.Revision, RegistryId: s.store.ID()}
	if n := len(page.Changes); n > 0 && page.More {
		resp.NextPageToken = s.tokens.encode(scope, strconv.FormatInt(page.Changes[n-1].Revision+1, 10))
	}
	return resp, nil
}

// WatchChanges implements registryv1.RegistryServiceServer. It reads the
// log from bbolt in revision order and, once caught up, waits for the next
// commit and reads again: replay and live tail are the same loop over the
// same log, so the switch between them can neither skip nor repeat a
// revision. The first time the stream is caught up it sends a progress
// message at once; after that, one per quiet progress interval.
//
// Streams count against the stream limits, and one whose client takes no
// message for the stall timeout ends RESOURCE_EXHAUSTED (STREAM_STALLED)
// with the revision to resume from in the metadata. While the store is
// lost the stream ends UNAVAILABLE (see SetStoreAvailable).
func (s *Server) WatchChanges(req *registryv1.WatchChangesRequest, stream grpc.ServerStreamingServer[registryv1.WatchChangesResponse]) error {
	ctx, stop, err := s.whileStoreAvailable(stream.Context())
	if err != nil {
		return err
	}
	defer stop()
	return storeLostErr(ctx, s.watchChanges(ctx, req, stream))
}

func (s *Server) watchChanges(ctx context.Context, req *registryv1.WatchChangesRequest, stream grpc.ServerStreamingServer[registryv1.WatchChangesResponse]) error {
	next := req.GetStartRevision()
	switch {
	case next < 0:
		return s.err(ctx, registry.InvalidField("start_revision", "must not be negative, got %d", next))
	case next == 0:
		next = s.store.Revision() + 1
	}
	release, err := s.openStream(ctx)
	if err != nil {
		return err
	}
	defer release()
	send := func(msg *registryv1.WatchChangesResponse) error {
		return s.send(ctx, stream, msg, func() error {
			from := strconv.FormatInt(next, 10)
			return s.errStalled("watch again from revision "+from+" (the one after the last received)",
				map[string]string{"resume_revision": from})
		})
	}
	ticker := time.NewTicker(s.progress)
	defer ticker.Stop()
	// A stream that starts caught up says so at once, so a consumer learns
	// the head without waiting for the first tick.
	caughtUpSent := false
	// The first read sees every change acknowledged before the call; the
	// tail after it needs only what Committed signalled.
	readCtx := ctx
	for {
		// Take the commit signal before reading, so a commit landing
		// between the read and the wait still wakes us.
		committed := s.store.Committed()
		page, err := s.store.ListChanges(readCtx, next, watchBatch)
		if err != nil {
			return s.err(ctx, err)
		}
		readCtx = registry.Tailing(ctx)
		if n := len(page.Changes); n > 0 {
			msg := &registryv1.WatchChangesResponse{Changes: changesToProto(page.Changes), Revision: page.Changes[n-1].Revision, RegistryId: s.store.ID()}
			if err := send(msg); err != nil {
				return s.err(ctx, err)
			}
			next = page.Changes[n-1].Revision + 1
			caughtUpSent = true
			continue
		}
		if !caughtUpSent {
			caughtUpSent = true
			if err := send(&registryv1.WatchChangesResponse{Revision: page.Revision, RegistryId: s.store.ID()}); err != nil {
				return s.err(ctx, err)
			}
		}
		select {
		case <-committed:
		case <-ticker.C:
			// The page was empty: every change up to the head it was read
			// at has been sent.
			if err := send(&registryv1.WatchChangesResponse{Revision: page.Revision, RegistryId: s.store.ID()}); err != nil {
				return s.err(ctx, err)
			}
		case <-ctx.Done():
			return s.err(ctx, ctx.Err())
		case <-s.stop:
			return errShuttingDown
		}
	}
}

// errShuttingDown ends the streams open when the server stops.
var errShuttingDown = status.Error(codes.Unavailable, "registry is shutting down; resume from the last revision received")

// StreamSnapshot implements registryv1.RegistryServiceServer. Snapshots
// count against the stream limits; one whose client takes no message for
// the stall timeout, or that runs past the snapshot time limit, ends
// RESOURCE_EXHAUSTED and releases its read transaction. While the store
// is lost the stream ends UNAVAILABLE (see SetStoreAvailable).
func (s *Server) StreamSnapshot(req *registryv1.StreamSnapshotRequest, stream grpc.ServerStreamingServer[registryv1.StreamSnapshotResponse]) error {
	ctx, stop, err := s.whileStoreAvailable(stream.Context())
	if err != nil {
		return err
	}
	defer stop()
	return storeLostErr(ctx, s.streamSnapshot(ctx, req, stream))
}

func (s *Server) streamSnapshot(ctx context.Context, req *registryv1.StreamSnapshotRequest, stream grpc.ServerStreamingServer[registryv1.StreamSnapshotResponse]) error {
	release, err := s.openStream(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithTimeoutCause(ctx, s.limits.SnapshotMaxDuration, errSnapshotTimeLimit)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	switch req.GetView() {
	case registryv1.SnapshotView_SNAPSHOT_VIEW_UNSPECIFIED, registryv1.SnapshotView_SNAPSHOT_VIEW_FULL:
	case registryv1.SnapshotView_SNAPSHOT_VIEW_AGGREGATE, registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED:
		return s.snapshotErr(ctx, s.aggregateSnapshot(ctx, stream, req.GetView() == registryv1.SnapshotView_SNAPSHOT_VIEW_NAMED))
	default:
		return s.err(ctx, registry.InvalidField("view", "unknown snapshot view %d", req.GetView()))
	}
	msg := &registryv1.StreamSnapshotResponse{RegistryId: s.store.ID()}
	err = s.store.Snapshot(ctx, func(rev int64) error {
		msg.Revision = rev
		return nil
	}, func(r registry.Resource) error {
		msg.Resources = append(msg.Resources, resourceToProto(r))
		if len(msg.Resources) < snapshotBatch {
			return nil
		}
		if err := s.sendSnapshot(ctx, stream, msg); err != nil {
			return err // msg may still be in a send given up on: leave it alone
		}
		msg.Resources = msg.Resources[:0] // marshaled by the send: reusable
		return nil
	})
	if err != nil {
		return s.snapshotErr(ctx, err)
	}
	msg.Complete = true
	return s.snapshotErr(ctx, s.sendSnapshot(ctx, stream, msg))
}

// errSnapshotTimeLimit is the cause of a snapshot ended at the time limit.
var errSnapshotTimeLimit = errors.New("snapshot time limit")

// sendSnapshot sends one snapshot message (see send).
func (s *Server) sendSnapshot(ctx context.Context, stream grpc.ServerStream, msg any) error {
	return s.send(ctx, stream, msg, func() error {
		return s.errStalled("start the snapshot again", nil)
	})
}

// snapshotErr turns the end of a snapshot at the time limit into its
// RESOURCE_EXHAUSTED error, and any other error into its status.
func (s *Server) snapshotErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if context.Cause(ctx) == errSnapshotTimeLimit {
		s.streams.timedOut.Add(1)
		return grpcerr.Status(codes.ResourceExhausted,
			fmt.Sprintf("the snapshot ran past its limit of %v: it holds a read transaction, which keeps the database from reusing pages; read it faster, or start it again", s.limits.SnapshotMaxDuration),
			ReasonSnapshotTimeLimit, map[string]string{"limit": s.limits.SnapshotMaxDuration.String()}, nil)
	}
	return s.err(ctx, err)
}

// aggregateSnapshot streams the aggregate view, or with names the named
// one, encoded straight to the wire (see wire.go).
func (s *Server) aggregateSnapshot(ctx context.Context, stream grpc.ServerStreamingServer[registryv1.StreamSnapshotResponse], names bool) error {
	w := wireBuilder{registryID: s.store.ID(), names: names}
	var rev int64
	err := s.store.Snapshot(ctx, func(r int64) error {
		rev = r
		return nil
	}, func(r registry.Resource) error {
		w.add(r)
		if w.n < snapshotBatch {
			return nil
		}
		return s.sendSnapshot(ctx, stream, w.take(rev, false))
	})
	if err != nil {
		return err
	}
	return s.sendSnapshot(ctx, stream, w.take(rev, true))
}
