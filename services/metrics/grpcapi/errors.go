package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"talentreg/platform/auth"
	"talentreg/platform/grpcerr"
	"talentreg/services/metrics"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the google.rpc.ErrorInfo domain of every talentreg error.
const Domain = grpcerr.Domain

// codeTable maps each domain error code to its gRPC status code: the only
// place where that mapping is made.
var codeTable = map[metrics.Code]codes.Code{
	metrics.CodeInvalidArgument:    codes.InvalidArgument,
	metrics.CodeNotFound:           codes.NotFound,
	metrics.CodeRevisionNotApplied: codes.DeadlineExceeded,
	metrics.CodeUnavailable:        codes.Unavailable,
	// Like a compacted start revision: a revision outside the range
	// that exists.
	metrics.CodeRevisionNotCommitted: codes.OutOfRange,
	metrics.CodeReplicaBehind:        codes.FailedPrecondition,
	metrics.CodeBeforeHistory:        codes.FailedPrecondition,
}

// statusError converts err to a gRPC status error: a domain error keeps its
// message and gains an ErrorInfo (and for invalid arguments a BadRequest);
// context errors pass through as CANCELLED and DEADLINE_EXCEEDED; anything
// else is logged, with the call's request id, and becomes a bare INTERNAL,
// its detail not leaked.
func statusError(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var e *metrics.Error
	if errors.As(err, &e) {
		code, ok := codeTable[e.Code]
		if !ok {
			code = codes.Internal
		}
		violations := make([]grpcerr.FieldViolation, len(e.Violations))
		for i, v := range e.Violations {
			violations[i] = grpcerr.FieldViolation{Field: v.Field, Description: v.Description}
		}
		return grpcerr.Status(code, e.Message, e.Reason, e.Metadata, violations)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	log.ErrorContext(ctx, "internal error", append([]any{"err", err}, requestID(ctx)...)...)
	return status.Error(codes.Internal, "internal error")
}

// requestID returns the log attribute naming the call's x-request-id (the
// gateway forwards its X-Request-Id), under the key the server's call log
// uses, or nothing when the call has none.
func requestID(ctx context.Context) []any {
	if id := auth.RequestID(ctx); id != "" {
		return []any{"request_id", id}
	}
	return nil
}
