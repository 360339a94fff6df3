package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"talentreg/services/metrics"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatusError(t *testing.T) {
	_, badDimension := metrics.ParseDimension("colour")
	for _, tc := range []struct {
		name       string
		err        error
		code       codes.Code
		reason     string // ErrorInfo reason, "" for none
		violations int
	}{
		{"invalid dimension", badDimension, codes.InvalidArgument, metrics.ReasonInvalidDimension, 1},
		{"not found", metrics.NotFound("groups/x"), codes.NotFound, metrics.ReasonNotFound, 0},
		{"wrapped not found", fmt.Errorf("read: %w", metrics.NotFound("groups/x")), codes.NotFound, metrics.ReasonNotFound, 0},
		{"revision not applied", metrics.RevisionNotApplied(9, 3, context.DeadlineExceeded), codes.DeadlineExceeded, metrics.ReasonRevisionNotApplied, 0},
		{"not loaded", metrics.ErrNotLoaded, codes.Unavailable, metrics.ReasonNotLoaded, 0},
		{"registry unavailable", metrics.Unavailable("snapshot", errors.New("refused")), codes.Unavailable, metrics.ReasonRegistryError, 0},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), codes.Canceled, "", 0},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "", 0},
		{"unknown", errors.New("disk on fire"), codes.Internal, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := statusError(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("code %s, want %s", st.Code(), tc.code)
			}
			if tc.code == codes.Internal && st.Message() != "internal error" {
				t.Fatalf("internal error leaked its detail: %q", st.Message())
			}
			var info *errdetails.ErrorInfo
			var br *errdetails.BadRequest
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					info = d
				case *errdetails.BadRequest:
					br = d
				}
			}
			if tc.reason == "" {
				if info != nil {
					t.Fatalf("unexpected ErrorInfo %v", info)
				}
				return
			}
			if info == nil || info.GetReason() != tc.reason || info.GetDomain() != Domain {
				t.Fatalf("ErrorInfo %v, want reason %s domain %s", info, tc.reason, Domain)
			}
			if got := len(br.GetFieldViolations()); got != tc.violations {
				t.Fatalf("%d field violations, want %d", got, tc.violations)
			}
		})
	}
}

// Every domain code has a gRPC code.
func TestCodeTable_Complete(t *testing.T) {
	for c := metrics.CodeInvalidArgument; c <= metrics.CodeUnavailable; c++ {
		if _, ok := codeTable[c]; !ok {
			t.Errorf("code %d has no gRPC code", c)
		}
	}
}
