package grpcapi

import (
	"context"
	"errors"
	"reflect"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	"talentreg/platform/streams"
	"talentreg/services/metrics"
)

// WatchOptions configure WatchSummary streams. Zero fields take the
// defaults of DefaultWatchOptions.
type WatchOptions struct {
	// Interval is the shortest time between two messages of a stream:
	// the changes of a burst of writes are coalesced into one message.
	Interval time.Duration
	// MaxStreams caps the streams open at once; more are refused
	// RESOURCE_EXHAUSTED (reason STREAM_LIMIT).
	MaxStreams int
	// MaxStreamsPerClient caps the streams of one client (see ClientKey)
	// the same way.
	MaxStreamsPerClient int
	// StallTimeout ends a stream whose client has not taken a message for
	// this long (RESOURCE_EXHAUSTED, reason STREAM_STALLED).
	StallTimeout time.Duration
	// ClientKey names a call's client for MaxStreamsPerClient; nil means
	// streams.ClientOf (the principal, else the address).
	ClientKey func(ctx context.Context) string
}

// DefaultWatchOptions returns the defaults: a message at most every
// 500 ms, 1024 streams, 256 per client, 60 s without progress (longer than
// the gateway's 30 s, which can tell its own stalled client from itself).
func DefaultWatchOptions() WatchOptions {
	return WatchOptions{Interval: 500 * time.Millisecond, MaxStreams: 1024, MaxStreamsPerClient: 256, StallTimeout: 60 * time.Second}
}

func (o WatchOptions) withDefaults() WatchOptions {
	d := DefaultWatchOptions()
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = d.MaxStreams
	}
	if o.MaxStreamsPerClient <= 0 {
		o.MaxStreamsPerClient = d.MaxStreamsPerClient
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = d.StallTimeout
	}
	if o.ClientKey == nil {
		o.ClientKey = streams.ClientOf
	}
	return o
}

// errShuttingDown ends the open watches when the server stops, so that a
// graceful stop does not wait for clients that never hang up.
var errShuttingDown = status.Error(codes.Unavailable, "the metrics service is shutting down: watch again (another replica, or this one once restarted)")

// StreamStats reports the open Summary watches and how many were refused
// and ended stalled.
type StreamStats struct {
	Open             int
	Refused, Stalled int64
}

// StreamStats returns the server's stream counts.
func (s *Server) StreamStats() StreamStats {
	return StreamStats{Open: s.streams.Open(), Refused: s.streams.Refused(), Stalled: s.streams.StalledCount()}
}

// Shutdown ends every open watch (UNAVAILABLE) and refuses new ones.
func (s *Server) Shutdown() { s.stopOnce.Do(func() { close(s.stop) }) }

// WatchSummary implements metricsv1.MetricsServiceServer: the Summary at
// once, then each time it changes, at most one message per interval. After
// a wait the message is the Summary as it stands then, so a burst of
// changes costs one message and the last one sent is never stale.
func (s *Server) WatchSummary(_ *metricsv1.WatchSummaryRequest, stream grpc.ServerStreamingServer[metricsv1.WatchSummaryResponse]) error {
	ctx := stream.Context()
	if s.watcher == nil {
		return status.Error(codes.Unimplemented, "this metrics reader cannot be watched")
	}
	release, err := s.streams.Acquire(s.watch.ClientKey(ctx))
	if err != nil {
		return err
	}
	defer release()
	sum, loaded, changed := s.watcher.SummaryNow()
	if !loaded {
		return statusError(ctx, s.log, metrics.ErrNotLoaded)
	}
	setRevision(ctx, sum.Revision)
	var (
		sent  metrics.Summary
		first = true
		next  time.Time                  // the earliest time of the next message
		wait  = time.NewTimer(time.Hour) // reset before each use
	)
	defer wait.Stop()
	for {
		if loaded && (first || !reflect.DeepEqual(sum, sent)) {
			if d := time.Until(next); d > 0 {
				wait.Reset(d)
				select {
				case <-wait.C:
				case <-ctx.Done():
					return status.FromContextError(ctx.Err()).Err()
				case <-s.stop:
					return errShuttingDown
				}
				sum, loaded, changed = s.watcher.SummaryNow()
				continue
			}
			err := s.streams.Send(ctx, stream, &metricsv1.WatchSummaryResponse{Summary: summaryMessage(&sum)}, s.stop)
			switch {
			case errors.Is(err, streams.ErrStalled):
				return s.streams.Stalled("watch again: the first message is the Summary as it stands", nil)
			case errors.Is(err, streams.ErrStopped):
				return errShuttingDown
			case err != nil:
				return err
			}
			sent, first = sum, false
			next = time.Now().Add(s.watch.Interval)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stop:
			return errShuttingDown
		}
		sum, loaded, changed = s.watcher.SummaryNow()
	}
}
