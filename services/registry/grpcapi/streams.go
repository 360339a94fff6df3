package grpcapi

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"talentreg/platform/auth"
	"talentreg/platform/grpcerr"
	"talentreg/platform/limiter"
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
	ReasonStreamLimit       = "STREAM_LIMIT"
	ReasonStreamStalled     = "STREAM_STALLED"
	ReasonSnapshotTimeLimit = "SNAPSHOT_TIME_LIMIT"
)

// ClientOf is the default Options.ClientKey: the authenticated principal
// (so that every watch a person opens through the gateway counts as
// theirs), else the client's address (the original client's through a
// trusted proxy), else the host of the connection's peer.
func ClientOf(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		switch {
		case p.Name != "":
			return "principal:" + p.Name
		case p.Peer != "":
			if host, _, err := net.SplitHostPort(p.Peer); err == nil {
				return host
			}
			return p.Peer
		}
	}
	return PeerHost(ctx)
}

// PeerHost is the host of the connection's peer, so that one machine's
// connections count together.
func PeerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}

// streamLimiter counts open streams (see StreamLimits) and the streams
// refused and ended.
type streamLimiter struct {
	slots                      *limiter.Limiter
	refused, stalled, timedOut atomic.Int64
}

// acquire takes a slot for a stream of client, or returns the
// RESOURCE_EXHAUSTED error refusing it.
func (l *streamLimiter) acquire(client string) (release func(), err error) {
	release, scope, limit, open := l.slots.Acquire(client)
	if release != nil {
		return release, nil
	}
	l.refused.Add(1)
	msg := fmt.Sprintf("the registry has %d watch and snapshot streams open, its limit: retry later", open)
	if scope == limiter.ScopeClient {
		msg = fmt.Sprintf("this client has %d watch and snapshot streams open, its limit: close one first", open)
	}
	return nil, grpcerr.Status(codes.ResourceExhausted, msg, ReasonStreamLimit,
		map[string]string{"limit": strconv.Itoa(limit), "scope": string(scope)}, nil)
}

// StreamStats reports the open streams and how many were refused, ended
// stalled, and ended at the snapshot time limit.
type StreamStats struct {
	Open                       int
	Refused, Stalled, TimedOut int64
}

// StreamStats returns the server's stream counts.
func (s *Server) StreamStats() StreamStats {
	return StreamStats{Open: s.streams.slots.Open(), Refused: s.streams.refused.Load(), Stalled: s.streams.stalled.Load(), TimedOut: s.streams.timedOut.Load()}
}

// openStream takes a stream slot for the call's client.
func (s *Server) openStream(ctx context.Context) (release func(), err error) {
	return s.streams.acquire(s.clientKey(ctx))
}

// errStalled is the error of a send the client did not take in time;
// resume says how to go on.
func (s *Server) errStalled(resume string, metadata map[string]string) error {
	s.streams.stalled.Add(1)
	return grpcerr.Status(codes.ResourceExhausted,
		fmt.Sprintf("the client took no message for %v: the stream was ended to free what it held; %s", s.limits.StallTimeout, resume),
		ReasonStreamStalled, metadata, nil)
}

// send sends msg on stream unless the client does not take it within the
// stall timeout, the call's context ends, or the server shuts down. When
// it gives up the send is still in flight: the caller must return at once,
// which ends the stream and with it the send. The message is marshaled
// before the send can block, so the caller may reuse it once send returns.
func (s *Server) send(ctx context.Context, stream grpc.ServerStream, msg any, stalled func() error) error {
	done := make(chan error, 1)
	go func() { done <- stream.SendMsg(msg) }()
	t := time.NewTimer(s.limits.StallTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return stalled()
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return errShuttingDown
	}
}
