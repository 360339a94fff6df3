package gateway

import (
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"talentreg/platform/auth"
	"talentreg/platform/clip"
)

// Type URLs of the details the gateway reads.
const (
	errorInfoURL  = "type.googleapis.com/google.rpc.ErrorInfo"
	badRequestURL = "type.googleapis.com/google.rpc.BadRequest"
)

// errorInfo returns a google.rpc.ErrorInfo detail of the gateway's domain
// with metadata given as key, value pairs.
func errorInfo(reason string, kv ...string) *anypb.Any {
	info := &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}
	if len(kv) > 1 {
		info.Metadata = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			info.Metadata[kv[i]] = kv[i+1]
		}
	}
	a, _ := anypb.New(info)
	return a
}

// badRequest returns a google.rpc.BadRequest detail with one field
// violation.
func badRequest(field, description string) *anypb.Any {
	a, _ := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Description: description},
	}})
	return a
}

// hasErrorInfo reports whether sp carries a google.rpc.ErrorInfo.
func hasErrorInfo(sp *spb.Status) bool {
	for _, d := range sp.GetDetails() {
		if d.GetTypeUrl() == errorInfoURL {
			return true
		}
	}
	return false
}

// errorReason returns the reason of sp's ErrorInfo, or "".
func errorReason(sp *spb.Status) string {
	for _, d := range sp.GetDetails() {
		if d.GetTypeUrl() != errorInfoURL {
			continue
		}
		var info errdetails.ErrorInfo
		if d.UnmarshalTo(&info) == nil {
			return info.GetReason()
		}
	}
	return ""
}

// renderable returns the details whose type the gateway knows, the only
// ones it can write as JSON.
func renderable(details []*anypb.Any) []*anypb.Any {
	out := details[:0:0]
	for _, d := range details {
		if _, err := protoregistry.GlobalTypes.FindMessageByURL(d.GetTypeUrl()); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// codeReason is the fallback reason of an error nothing more specific
// describes: the google.rpc.Code name of c (INVALID_ARGUMENT,
// DEADLINE_EXCEEDED, CANCELLED, …).
func codeReason(c codes.Code) string {
	if name, ok := code.Code_name[int32(c)]; ok {
		return name
	}
	return "UNKNOWN"
}

// Messages of the body decoders: protojson for fields, encoding/json (used
// by grpc-gateway's JSONPb to split the stream) for syntax. protojson
// follows "proto:" with a space or, by design to deter parsing, a
// no-break space; TestGateway_Errors pins the forms matched here.
var (
	unknownFieldMsg = regexp.MustCompile(`^proto:[ \x{a0}]\(line \d+:\d+\): unknown field "([^"]*)"$`)
	invalidValueMsg = regexp.MustCompile(`^proto:[ \x{a0}]\(line \d+:\d+\): (invalid value for [a-z0-9]+ field ([A-Za-z0-9_]+): .*)$`)
)

// describe returns the details of an error that carries no ErrorInfo: an
// error the gateway's generated handlers made before any call (a malformed
// body, query parameter or header), or a status without details from the
// gRPC client (a deadline, a cancellation). The generated handlers flatten
// their errors into a message, so the cause is recovered from the message
// and the request; for INVALID_ARGUMENT a BadRequest names the field when it
// is known.
func describe(method string, r *http.Request, st *status.Status) []*anypb.Any {
	msg := st.Message()
	if st.Code() != codes.InvalidArgument {
		return []*anypb.Any{errorInfo(codeReason(st.Code()))}
	}
	if strings.HasPrefix(msg, "invalid grpc-timeout: ") {
		return []*anypb.Any{errorInfo(ReasonInvalidHeader, "header", "Grpc-Timeout")}
	}
	if name, ok := badQueryParameter(method, r, msg); ok {
		if name == "" {
			return []*anypb.Any{errorInfo(ReasonInvalidQueryParameter)}
		}
		return []*anypb.Any{errorInfo(ReasonInvalidQueryParameter), badRequest(clip.String(name, 0), msg)}
	}
	if m := unknownFieldMsg.FindStringSubmatch(msg); m != nil {
		return []*anypb.Any{errorInfo(ReasonUnknownField), badRequest(clip.String(m[1], 0), "unknown field")}
	}
	if m := invalidValueMsg.FindStringSubmatch(msg); m != nil {
		return []*anypb.Any{errorInfo(ReasonInvalidField), badRequest(m[2], m[1])}
	}
	if r != nil && r.Body != nil && r.Body != http.NoBody && bodyMethod(r.Method) {
		return []*anypb.Any{errorInfo(ReasonInvalidJSON)}
	}
	return []*anypb.Any{errorInfo(codeReason(st.Code()))}
}

// bodyMethod reports whether requests of this method carry a body the
// gateway decodes.
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPatch || m == http.MethodPut
}

// badQueryParameter reports whether msg is the error of parsing r's query
// for method, and which parameter (as the client spelled it) failed; the
// name is empty when the parameter's own name is malformed. It parses each
// parameter alone into the method's request message, as the generated
// handler parsed them all, and compares the errors.
func badQueryParameter(method string, r *http.Request, msg string) (string, bool) {
	if r == nil || r.URL.RawQuery == "" {
		return "", false
	}
	raw := r.URL.RawQuery
	values, err := url.ParseQuery(raw)
	if err != nil {
		if err.Error() != msg {
			return "", false
		}
		for _, part := range strings.Split(raw, "&") {
			k, v, _ := strings.Cut(part, "=")
			key, kerr := url.QueryUnescape(k)
			if kerr != nil || strings.Contains(k, ";") {
				return "", true
			}
			if _, verr := url.QueryUnescape(v); verr != nil {
				return key, true
			}
		}
		return "", true
	}
	mt := requestType(method)
	if mt == nil {
		return "", false
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		err := runtime.PopulateQueryParameters(mt.New().Interface(), url.Values{k: values[k]}, utilities.NewDoubleArray(nil))
		if err != nil && err.Error() == msg {
			return k, true
		}
	}
	return "", false
}

// requestType returns the request message type of a full gRPC method name
// ("/pkg.Service/Method"), or nil.
func requestType(method string) protoreflect.MessageType {
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", "."))
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	if err != nil {
		return nil
	}
	return mt
}

// jsonMediaType reports whether a request body of Content-Type ct is read
// as JSON: application/json or a +json type, in UTF-8 (the only charset
// JSON has); no Content-Type at all is taken for JSON too.
func jsonMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// encodedBody reports whether r's body claims a content coding other
// than identity: the gateway decodes none, so such a body would be read
// as JSON that it is not (or a plain one accepted under a false label).
func encodedBody(r *http.Request) (string, bool) {
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return v, true
			}
		}
	}
	return "", false
}

// unsupportedContentEncoding answers a body with a content coding
// (RFC 9110 15.5.16: 415, with the codings accepted in Accept-Encoding).
func unsupportedContentEncoding(w http.ResponseWriter, ce string) httpError {
	w.Header().Set("Accept-Encoding", "identity")
	sp := status.New(codes.InvalidArgument, "Content-Encoding "+clip.Quote(ce)+
		" is not supported: send the JSON body uncompressed, without a Content-Encoding header").Proto()
	sp.Details = []*anypb.Any{errorInfo(ReasonUnsupportedContentEncoding, "contentEncoding", clip.String(ce, 0))}
	return httpError{httpStatus: http.StatusUnsupportedMediaType, st: status.FromProto(sp)}
}

// malformedAuthorization answers an Authorization header holding a
// character no credential has (a tab, a control or non-ASCII character):
// 401 TOKEN_MALFORMED, as the services answer a token they cannot read.
func malformedAuthorization(w http.ResponseWriter) httpError {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	sp := status.New(codes.Unauthenticated, "the Authorization header holds a tab, control or non-ASCII character: send \"Bearer <token>\" with one space").Proto()
	sp.Details = []*anypb.Any{errorInfo(auth.ReasonTokenMalformed)}
	return httpError{httpStatus: http.StatusUnauthorized, st: status.FromProto(sp)}
}

// unsupportedMediaType is the answer to a body that is not JSON: 415.
func unsupportedMediaType(ct string) httpError {
	sp := status.New(codes.InvalidArgument, "Content-Type "+clip.Quote(ct)+
		" is not supported: the body must be JSON, sent with Content-Type: application/json (curl: -H 'Content-Type: application/json')").Proto()
	sp.Details = []*anypb.Any{errorInfo(ReasonUnsupportedMediaType, "contentType", clip.String(ct, 0))}
	return httpError{httpStatus: http.StatusUnsupportedMediaType, st: status.FromProto(sp)}
}
