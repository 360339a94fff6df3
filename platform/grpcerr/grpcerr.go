// Package grpcerr builds the gRPC status errors of API.md: a message naming
// the field and the rule, a google.rpc.ErrorInfo (domain "talentreg", a
// stable UPPER_SNAKE reason) and, for bad input, a google.rpc.BadRequest.
// Each service keeps its own table from domain codes to gRPC codes; this is
// only the shared shape.
package grpcerr

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Domain is the google.rpc.ErrorInfo domain of every talentreg error.
const Domain = "talentreg"

// FieldViolation names one invalid field and the rule it breaks.
type FieldViolation struct {
	Field       string
	Description string
}

// Status returns a status error with code and message, an ErrorInfo with
// reason and metadata, and a BadRequest when violations are given.
func Status(code codes.Code, message, reason string, metadata map[string]string, violations []FieldViolation) error {
	st := status.New(code, message)
	details := []protoadapt.MessageV1{protoadapt.MessageV1Of(&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: metadata})}
	if len(violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details = append(details, protoadapt.MessageV1Of(br))
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		st = withDetails
	}
	return st.Err()
}
