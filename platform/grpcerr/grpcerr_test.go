package grpcerr

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatus(t *testing.T) {
	err := Status(codes.InvalidArgument, "entity.kind: is required", "INVALID_FIELD", map[string]string{"k": "v"},
		[]FieldViolation{{Field: "entity.kind", Description: "is required"}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || st.Message() != "entity.kind: is required" {
		t.Fatalf("status = %v", st)
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
	if info == nil || info.Domain != "talentreg" || info.Reason != "INVALID_FIELD" || info.Metadata["k"] != "v" {
		t.Fatalf("ErrorInfo = %v", info)
	}
	if br == nil || len(br.FieldViolations) != 1 || br.FieldViolations[0].Field != "entity.kind" {
		t.Fatalf("BadRequest = %v", br)
	}
	if d := status.Convert(Status(codes.NotFound, "x", "RESOURCE_NOT_FOUND", nil, nil)).Details(); len(d) != 1 {
		t.Fatalf("a NOT_FOUND carries %d details, want only the ErrorInfo", len(d))
	}
}
