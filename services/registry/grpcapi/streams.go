package grpcapi

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"talentreg/platform/streams"
)

// StreamLimits bound what WatchChanges and StreamSnapshot streams may hold.
// Zero fields take the defaults of DefaultStreamLimits.
type StreamLimits struct {
	// MaxStreams caps the streams open at once; more are refused
	// RESOURCE_EXHAUSTED (reason STREAM_LIMIT).
	MaxStreams int
	// MaxStreamsPerClient caps the streams of one client (see
	// Options.ClientKey) the same way.
	MaxStreamsPerClient int
	// StallTimeout ends a stream whose client has not taken a message for
	// this long (RESOURCE_EXHAUSTED, reason STREAM_STALLED): a stalled
	// reader would otherwise hold the message, its buffers and, for a
	// snapshot, a read transaction, for as long as it likes.
	StallTimeout time.Duration
	// SnapshotMaxDuration ends a snapshot still running after it
	// (RESOURCE_EXHAUSTED, reason SNAPSHOT_TIME_LIMIT): its read
	// transaction keeps the file from reusing the pages written since.
	SnapshotMaxDuration time.Duration
}

// DefaultStreamLimits returns the defaults: 1024 streams, 256 per client,
// 60 s without progress (longer than the gateway's 30 s: a gateway slowed
// down by its own stalled client should be ended by the gateway, which can
// tell), 10 minutes for a snapshot.
func DefaultStreamLimits() StreamLimits {
	return StreamLimits{MaxStreams: 1024, MaxStreamsPerClient: 256, StallTimeout: 60 * time.Second, SnapshotMaxDuration: 10 * time.Minute}
}

func (l StreamLimits) withDefaults() StreamLimits {
	d := DefaultStreamLimits()
	if l.MaxStreams <= 0 {
		l.MaxStreams = d.MaxStreams
	}
	if l.MaxStreamsPerClient <= 0 {
		l.MaxStreamsPerClient = d.MaxStreamsPerClient
	}
	if l.StallTimeout <= 0 {
		l.StallTimeout = d.StallTimeout
	}
	if l.SnapshotMaxDuration <= 0 {
		l.SnapshotMaxDuration = d.SnapshotMaxDuration
	}
	return l
}

// Reasons of the errors that end or refuse a stream.
const (
	ReasonStreamLimit       = streams.ReasonStreamLimit
	ReasonStreamStalled     = streams.ReasonStreamStalled
	ReasonSnapshotTimeLimit = "SNAPSHOT_TIME_LIMIT"
)

// ClientOf is the default Options.ClientKey: the authenticated principal
// (so that every watch a person opens through the gateway counts as
// theirs), else the client's address (the original client's through a
// trusted proxy), else the host of the connection's peer.
func ClientOf(ctx context.Context) string { return streams.ClientOf(ctx) }

// PeerHost is the host of the connection's peer, so that one machine's
// connections count together.
func PeerHost(ctx context.Context) string { return streams.PeerHost(ctx) }

// streamLimiter counts open streams (see StreamLimits), the streams
// refused and ended stalled, and the snapshots ended at their time limit.
type streamLimiter struct {
	*streams.Limiter
	timedOut atomic.Int64
}

// StreamStats reports the open streams and how many were refused, ended
// stalled, and ended at the snapshot time limit.
type StreamStats struct {
	Open                       int
	Refused, Stalled, TimedOut int64
}

// StreamStats returns the server's stream counts.
func (s *Server) StreamStats() StreamStats {
	return StreamStats{Open: s.streams.Open(), Refused: s.streams.Refused(), Stalled: s.streams.StalledCount(), TimedOut: s.streams.timedOut.Load()}
}

// openStream takes a stream slot for the call's client.
func (s *Server) openStream(ctx context.Context) (release func(), err error) {
	return s.streams.Acquire(s.clientKey(ctx))
}

// errStalled is the error of a send the client did not take in time;
// resume says how to go on.
func (s *Server) errStalled(resume string, metadata map[string]string) error {
	return s.streams.Stalled(resume, metadata)
}

// send sends msg on stream unless the client does not take it within the
// stall timeout (then it returns stalled()), the call's context ends, or
// the server shuts down. When it gives up the send is still in flight: the
// caller must return at once, which ends the stream and with it the send.
// The message is marshaled before the send can block, so the caller may
// reuse it once send returns.
func (s *Server) send(ctx context.Context, stream grpc.ServerStream, msg any, stalled func() error) error {
	err := s.streams.Send(ctx, stream, msg, s.stop)
	switch {
	case errors.Is(err, streams.ErrStalled):
		return stalled()
	case errors.Is(err, streams.ErrStopped):
		return errShuttingDown
	}
	return err
}
