package grpcapi

import (
	"context"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcerr"
)

// WatchLimiter caps the concurrent WatchChanges streams. Each one holds a
// goroutine and reads the store after every commit, and HTTP clients can
// open them through the gateway: past the cap a new stream is refused with
// RESOURCE_EXHAUSTED (reason WATCH_LIMIT_REACHED) instead of slowing every
// writer down.
type WatchLimiter struct {
	max  int64
	open atomic.Int64
}

// NewWatchLimiter returns a limiter of max concurrent streams (at least 1).
func NewWatchLimiter(limit int) *WatchLimiter { return &WatchLimiter{max: int64(max(limit, 1))} }

// Open returns how many WatchChanges streams are open.
func (l *WatchLimiter) Open() int64 { return l.open.Load() }

// Max returns the cap.
func (l *WatchLimiter) Max() int64 { return l.max }

// ServerOption returns the stream interceptor that applies the cap, for
// grpcserver.New.
func (l *WatchLimiter) ServerOption() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(l.intercept)
}

func (l *WatchLimiter) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != registryv1.RegistryService_WatchChanges_FullMethodName {
		return handler(srv, ss)
	}
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		return watchLimitReached(ss.Context(), l.max)
	}
	defer l.open.Add(-1)
	return handler(srv, ss)
}

func watchLimitReached(_ context.Context, limit int64) error {
	n := strconv.FormatInt(limit, 10)
	return grpcerr.Status(codes.ResourceExhausted, "the registry serves "+n+" watch streams already (--max-watch-streams); retry later",
		"WATCH_LIMIT_REACHED", map[string]string{"max_watch_streams": n}, nil)
}
