package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"talentreg/platform/grpcerr"
	"talentreg/services/registry"
)

// Domain is the google.rpc.ErrorInfo domain of every talentreg error.
const Domain = grpcerr.Domain

// grpcCodes is the one mapping from domain error codes to gRPC codes.
var grpcCodes = map[registry.Code]codes.Code{
	registry.CodeInvalidArgument:    codes.InvalidArgument,
	registry.CodeNotFound:           codes.NotFound,
	registry.CodeAlreadyExists:      codes.AlreadyExists,
	registry.CodeAborted:            codes.Aborted,
	registry.CodeFailedPrecondition: codes.FailedPrecondition,
	registry.CodeOutOfRange:         codes.OutOfRange,
}

// toStatus turns any error from the domain or the store into a gRPC status
// error. Domain errors carry ErrorInfo and, for validation failures,
// BadRequest details; context errors pass through; anything else is
// INTERNAL, its detail logged and not leaked.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var de *registry.Error
	switch {
	case errors.As(err, &de) && grpcCodes[de.Code] != codes.OK:
		violations := make([]grpcerr.FieldViolation, len(de.Violations))
		for i, v := range de.Violations {
			violations[i] = grpcerr.FieldViolation{Field: v.Field, Description: v.Description}
		}
		return grpcerr.Status(grpcCodes[de.Code], de.Message, de.Reason, de.Metadata, violations)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, registry.ErrStoreClosed):
		return status.Error(codes.Unavailable, "registry is shutting down; retry")
	case errors.Is(err, registry.ErrStorageUnavailable):
		log.WarnContext(ctx, "storage unavailable", "err", err)
		return status.Error(codes.Unavailable, "storage unavailable; retry (a write may or may not have been applied: retry it with the same request_id)")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return status.Error(codes.Internal, "internal error")
}
