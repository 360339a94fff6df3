package metrics

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies an Error; the gRPC adapter maps each to one status code.
type Code uint8

// Error codes.
const (
	// CodeInvalidArgument: the request itself is wrong.
	CodeInvalidArgument Code = iota + 1
	// CodeNotFound: the named resource is not in the projection.
	CodeNotFound
	// CodeRevisionNotApplied: the projection did not reach the requested
	// revision before the deadline.
	CodeRevisionNotApplied
	// CodeUnavailable: the projection has not been loaded yet, or the
	// registry could not be reached.
	CodeUnavailable
	// CodeRevisionNotCommitted: the requested revision is past the
	// registry's head: no wait would reach it.
	CodeRevisionNotCommitted
	// CodeReplicaBehind: a read that asked not to wait found its
	// min_revision not applied yet (see WithoutWait).
	CodeReplicaBehind
	// CodeBeforeHistory: a read as of a time before this replica's
	// history is complete.
	CodeBeforeHistory
)

// Stable machine-readable reasons carried in google.rpc.ErrorInfo.
const (
	ReasonInvalidField       = "INVALID_FIELD"
	ReasonInvalidDimension   = "INVALID_DIMENSION"
	ReasonNotFound           = "RESOURCE_NOT_FOUND"
	ReasonRevisionNotApplied = "REVISION_NOT_APPLIED"
	ReasonNotCommitted       = "REVISION_NOT_COMMITTED"
	ReasonReplicaBehind      = "REPLICA_BEHIND"
	ReasonNotLoaded          = "PROJECTION_NOT_LOADED"
	ReasonRegistryError      = "REGISTRY_UNAVAILABLE"
	ReasonHistoryIncomplete  = "HISTORY_INCOMPLETE"
	ReasonSearchDisabled     = "SEARCH_DISABLED"
)

// FieldViolation names one invalid request field and the rule it breaks.
type FieldViolation struct {
	// Field is the request field's path, e.g. "dimension".
	Field string
	// Description says which rule the value breaks.
	Description string
}

// Error is a domain error: a code, a stable reason, a message naming what is
// wrong, and for invalid arguments the violated fields.
type Error struct {
	// Code classifies the error.
	Code Code
	// Reason is a stable UPPER_SNAKE reason (google.rpc.ErrorInfo).
	Reason string
	// Message names what is wrong and the rule broken.
	Message string
	// Violations lists the invalid fields of an invalid argument.
	Violations []FieldViolation
	// Metadata carries machine-readable facts (google.rpc.ErrorInfo).
	Metadata map[string]string
	// Err is the underlying cause, if any (e.g. context.DeadlineExceeded).
	Err error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the Code of err, or 0 when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// InvalidField returns an INVALID_ARGUMENT error "field: rule".
func InvalidField(field, reason, rule string) *Error {
	return &Error{
		Code:       CodeInvalidArgument,
		Reason:     reason,
		Message:    field + ": " + rule,
		Violations: []FieldViolation{{Field: field, Description: rule}},
	}
}

// NotFound returns a NOT_FOUND error for the resource name.
func NotFound(name string) *Error {
	return &Error{Code: CodeNotFound, Reason: ReasonNotFound, Message: name + ": not found",
		Metadata: map[string]string{"resource": name}}
}

// RevisionNotApplied returns the error of a read whose min_revision was not
// applied before cause (a context error) ended the wait.
func RevisionNotApplied(want, applied int64, cause error) *Error {
	return &Error{
		Code:   CodeRevisionNotApplied,
		Reason: ReasonRevisionNotApplied,
		Message: fmt.Sprintf("min_revision: revision %d not applied before the deadline (applied %d)",
			want, applied),
		Metadata: map[string]string{
			"min_revision":     fmt.Sprint(want),
			"applied_revision": fmt.Sprint(applied),
		},
		Err: cause,
	}
}

// RevisionNotCommitted returns the error of a read whose min_revision is
// past head, the registry's last committed revision.
func RevisionNotCommitted(want, head int64) *Error {
	return &Error{
		Code:   CodeRevisionNotCommitted,
		Reason: ReasonNotCommitted,
		Message: fmt.Sprintf("min_revision: revision %d is past the registry's last committed revision %d",
			want, head),
		Metadata: map[string]string{
			"min_revision":      fmt.Sprint(want),
			"registry_revision": fmt.Sprint(head),
		},
	}
}

// ReplicaBehind returns the error of a read that asked not to wait (see
// WithoutWait) and found min_revision not applied.
func ReplicaBehind(want, applied int64) *Error {
	return &Error{
		Code:    CodeReplicaBehind,
		Reason:  ReasonReplicaBehind,
		Message: fmt.Sprintf("min_revision: revision %d not applied yet (applied %d)", want, applied),
		Metadata: map[string]string{
			"min_revision":     fmt.Sprint(want),
			"applied_revision": fmt.Sprint(applied),
		},
	}
}

// ErrNotLoaded is returned by reads before the projection has been loaded
// from a checkpoint or a registry snapshot.
var ErrNotLoaded = &Error{Code: CodeUnavailable, Reason: ReasonNotLoaded,
	Message: "projection not loaded yet: waiting for a checkpoint or a registry snapshot"}

// Unavailable returns an UNAVAILABLE error for a failed registry call.
func Unavailable(what string, cause error) *Error {
	return &Error{Code: CodeUnavailable, Reason: ReasonRegistryError,
		Message: what + ": " + strings.TrimSpace(fmt.Sprint(cause)), Err: cause}
}

// BeforeHistory returns the error of a read as of t, before completeFrom,
// from when the replica's history is complete (zero: it keeps none).
func BeforeHistory(t, completeFrom time.Time) *Error {
	msg := fmt.Sprintf("as_of: %s is before this replica's history, complete from %s (it was bootstrapped from a registry snapshot then)",
		t.UTC().Format(time.RFC3339Nano), completeFrom.UTC().Format(time.RFC3339Nano))
	md := map[string]string{"as_of": t.UTC().Format(time.RFC3339Nano), "complete_from": completeFrom.UTC().Format(time.RFC3339Nano)}
	if completeFrom.IsZero() {
		msg = "as_of: this replica keeps no history"
		md = map[string]string{"as_of": t.UTC().Format(time.RFC3339Nano)}
	}
	return &Error{Code: CodeBeforeHistory, Reason: ReasonHistoryIncomplete, Message: msg, Metadata: md}
}

// SearchDisabled returns the error of a search on a replica that keeps no
// search index.
func SearchDisabled() *Error {
	return &Error{Code: CodeUnavailable, Reason: ReasonSearchDisabled,
		Message: "search is switched off on this metrics replica (--search=false)"}
}
