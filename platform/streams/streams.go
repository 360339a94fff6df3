// Package streams bounds a gRPC server's long-lived server streams (the
// registry's watches and snapshots, the metrics service's Summary
// watches): how many are open in all and per client, and how long one send
// may wait for a client that takes nothing. A stream past either limit is
// refused, and one whose client stalls is ended, RESOURCE_EXHAUSTED with
// the reasons below, so that a client cannot hold a server's memory (or a
// read transaction) for as long as it likes.
package streams

import (
	"context"
	"errors"
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

// Reasons of the errors that refuse or end a stream.
const (
	ReasonStreamLimit   = "STREAM_LIMIT"
	ReasonStreamStalled = "STREAM_STALLED"
)

// Errors of Send that the caller turns into its own answer.
var (
	// ErrStalled is returned by Send when the client took no message for
	// the stall timeout (see Limiter.Stalled).
	ErrStalled = errors.New("streams: the client took no message for the stall timeout")
	// ErrStopped is returned by Send when the stop channel closed first.
	ErrStopped = errors.New("streams: the server is shutting down")
)

// ClientOf is the default key of a stream's client: the authenticated
// principal (so that every stream a person opens through the gateway
// counts as theirs), else the client's address (the original client's
// through a trusted proxy), else the host of the connection's peer.
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

// Limiter counts a server's open streams, refuses one past its limits,
// and counts the streams refused and ended stalled. It is safe for
// concurrent use.
type Limiter struct {
	slots        *limiter.Limiter
	stallTimeout time.Duration
	server, what string // for messages: "the registry", "watch and snapshot streams"

	refused, stalled atomic.Int64
}

// New returns a Limiter of at most maxStreams streams in all and
// maxPerClient per client, ending a send that waits longer than
// stallTimeout. server and what name the server and its streams in the
// refusal's message ("the registry has 12 watch streams open, …").
func New(server, what string, maxStreams, maxPerClient int, stallTimeout time.Duration) *Limiter {
	return &Limiter{slots: limiter.New(maxStreams, maxPerClient), stallTimeout: stallTimeout, server: server, what: what}
}

// Acquire takes a slot for a stream of client. It returns release (call it
// when the stream ends) or the RESOURCE_EXHAUSTED error refusing the
// stream (reason STREAM_LIMIT, with the limit and its scope in the
// metadata).
func (l *Limiter) Acquire(client string) (release func(), err error) {
	release, scope, limit, open := l.slots.Acquire(client)
	if release != nil {
		return release, nil
	}
	l.refused.Add(1)
	msg := fmt.Sprintf("%s has %d %s open, its limit: retry later", l.server, open, l.what)
	if scope == limiter.ScopeClient {
		msg = fmt.Sprintf("this client has %d %s open, its limit: close one first", open, l.what)
	}
	return nil, grpcerr.Status(codes.ResourceExhausted, msg, ReasonStreamLimit,
		map[string]string{"limit": strconv.Itoa(limit), "scope": string(scope)}, nil)
}

// StallTimeout returns the stall timeout.
func (l *Limiter) StallTimeout() time.Duration { return l.stallTimeout }

// Open returns how many streams are open.
func (l *Limiter) Open() int { return l.slots.Open() }

// Refused returns how many streams were refused at a limit.
func (l *Limiter) Refused() int64 { return l.refused.Load() }

// StalledCount returns how many streams were ended stalled.
func (l *Limiter) StalledCount() int64 { return l.stalled.Load() }

// Stalled counts a stream ended stalled and returns its error
// (RESOURCE_EXHAUSTED, reason STREAM_STALLED, metadata as given); resume
// tells the client how to go on.
func (l *Limiter) Stalled(resume string, metadata map[string]string) error {
	l.stalled.Add(1)
	return grpcerr.Status(codes.ResourceExhausted,
		fmt.Sprintf("the client took no message for %v: the stream was ended to free what it held; %s", l.stallTimeout, resume),
		ReasonStreamStalled, metadata, nil)
}

// Send sends msg on stream unless the client does not take it within the
// stall timeout (ErrStalled), the call's context ends (its error), or stop
// closes (ErrStopped). When it gives up the send is still in flight: the
// caller must return at once, which ends the stream and with it the send.
// The message is marshaled before the send can block, so the caller may
// reuse it once Send returns.
func (l *Limiter) Send(ctx context.Context, stream grpc.ServerStream, msg any, stop <-chan struct{}) error {
	done := make(chan error, 1)
	go func() { done <- stream.SendMsg(msg) }()
	t := time.NewTimer(l.stallTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return ErrStalled
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrStopped
	}
}
