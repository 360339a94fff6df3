package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an Error; the gRPC adapter maps each to one status code.
type Code uint8

// Error codes.
const (
	CodeInvalidArgument    Code = iota + 1 // the request itself is wrong
	CodeNotFound                           // a named or referenced resource is missing
	CodeAlreadyExists                      // the id, credit code or membership is taken
	CodeAborted                            // the etag is stale
	CodeFailedPrecondition                 // dependants exist and force is false
	CodeOutOfRange                         // the start revision was compacted
)

// Stable machine-readable reasons carried in google.rpc.ErrorInfo.
const (
	ReasonInvalidField        = "INVALID_FIELD"
	ReasonNotFound            = "RESOURCE_NOT_FOUND"
	ReasonReferenceNotFound   = "REFERENCE_NOT_FOUND"
	ReasonAlreadyExists       = "RESOURCE_EXISTS"
	ReasonCreditCodeTaken     = "CREDIT_CODE_TAKEN"
	ReasonEtagMismatch        = "ETAG_MISMATCH"
	ReasonHasDependants       = "HAS_DEPENDANTS"
	ReasonRevisionCompacted   = "REVISION_COMPACTED"
	ReasonInvalidPageToken    = "INVALID_PAGE_TOKEN"
	ReasonInvalidFilter       = "INVALID_FILTER"
	ReasonInvalidUpdateMask   = "INVALID_UPDATE_MASK"
	ReasonBatchTooLarge       = "BATCH_TOO_LARGE"
	ReasonTransactionTooLarge = "TRANSACTION_TOO_LARGE"
	MetadataCompactedRevision = "compacted_revision"
)

// FieldViolation names one invalid field and the rule it breaks.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is a domain error: a code, a stable reason, a message naming the
// field and the rule, and for validation failures every violated field.
type Error struct {
	Code       Code
	Reason     string
	Message    string
	Violations []FieldViolation
	Metadata   map[string]string
}

func (e *Error) Error() string { return e.Message }

// ErrorCode returns the Code of err, or 0 when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Errorf returns an Error with code, reason and a formatted message.
func Errorf(code Code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an INVALID_ARGUMENT error for one field:
// "field: rule".
func InvalidField(field, rule string, args ...any) *Error {
	desc := fmt.Sprintf(rule, args...)
	return &Error{
		Code:       CodeInvalidArgument,
		Reason:     ReasonInvalidField,
		Message:    field + ": " + desc,
		Violations: []FieldViolation{{Field: field, Description: desc}},
	}
}

// Violations collects field violations during validation.
type Violations []FieldViolation

// Add records that field breaks rule.
func (v *Violations) Add(field, rule string, args ...any) {
	*v = append(*v, FieldViolation{Field: field, Description: fmt.Sprintf(rule, args...)})
}

// Merge adds the violations of err, which must be nil or an
// INVALID_ARGUMENT *Error; any other error is returned unchanged.
func (v *Violations) Merge(err error) error {
	var e *Error
	if err == nil {
		return nil
	}
	if errors.As(err, &e) && e.Code == CodeInvalidArgument && len(e.Violations) > 0 {
		*v = append(*v, e.Violations...)
		return nil
	}
	return err
}

// Err returns nil when nothing was violated, else one INVALID_ARGUMENT
// error whose message lists every violation.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.Field + ": " + f.Description
	}
	return &Error{
		Code:       CodeInvalidArgument,
		Reason:     ReasonInvalidField,
		Message:    strings.Join(parts, "; "),
		Violations: append([]FieldViolation(nil), v...),
	}
}

// NotFound returns a NOT_FOUND error for a missing resource.
func NotFound(name string) *Error {
	return &Error{Code: CodeNotFound, Reason: ReasonNotFound, Message: name + ": not found",
		Metadata: map[string]string{"resource": name}}
}

// ReferenceNotFound returns a NOT_FOUND error for a field naming a missing
// resource.
func ReferenceNotFound(field, name string) *Error {
	return &Error{Code: CodeNotFound, Reason: ReasonReferenceNotFound,
		Message:  fmt.Sprintf("%s: %s does not exist", field, name),
		Metadata: map[string]string{"field": field, "resource": name}}
}

// AlreadyExists returns an ALREADY_EXISTS error for a taken name.
func AlreadyExists(name string) *Error {
	return &Error{Code: CodeAlreadyExists, Reason: ReasonAlreadyExists, Message: name + ": already exists",
		Metadata: map[string]string{"resource": name}}
}

// EtagMismatch returns an ABORTED error for a stale etag.
func EtagMismatch(name, given, current string) *Error {
	return &Error{Code: CodeAborted, Reason: ReasonEtagMismatch,
		Message:  fmt.Sprintf("etag: %q is stale for %s (current %q); read it again and retry", clip(given), name, current),
		Metadata: map[string]string{"resource": name, "current_etag": current}}
}

// HasDependants returns a FAILED_PRECONDITION error for a delete without
// force of a resource others depend on; what says which, e.g.
// "3 memberships and 1 talent records".
func HasDependants(name, what string) *Error {
	return &Error{Code: CodeFailedPrecondition, Reason: ReasonHasDependants,
		Message:  fmt.Sprintf("%s: %s depend on it; delete them first or set force to delete them too", name, what),
		Metadata: map[string]string{"resource": name}}
}

// RevisionCompacted returns an OUT_OF_RANGE error for a start revision at
// or below the compacted revision.
func RevisionCompacted(start, compacted int64) *Error {
	return &Error{Code: CodeOutOfRange, Reason: ReasonRevisionCompacted,
		Message:  fmt.Sprintf("start_revision: %d has been compacted; the oldest retained revision is %d (re-bootstrap from a snapshot)", start, compacted+1),
		Metadata: map[string]string{MetadataCompactedRevision: fmt.Sprint(compacted)}}
}

// ErrStoreClosed is returned by a Store that is shutting down.
var ErrStoreClosed = errors.New("registry store is closed")

// ErrStorageUnavailable is returned (wrapped, with the engine's detail)
// when the storage engine cannot be reached or did not answer in time (an
// etcd cluster without a leader or quorum). A write that fails with it may
// or may not have been applied: retrying it with the same request id is
// safe.
var ErrStorageUnavailable = errors.New("storage unavailable")
