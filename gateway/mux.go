package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"talentreg/platform/clip"
)

// Header names the gateway reads or writes.
const (
	// HeaderRevision carries the registry revision a mutation committed at.
	HeaderRevision = "X-Revision"
	// HeaderRequestID identifies a request end to end (AIP-155 style
	// tracing, not idempotency: that is the requestId query parameter).
	HeaderRequestID = "X-Request-Id"

	mdRevision  = "x-revision"
	mdRequestID = "x-request-id"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of errors the gateway
// makes itself.
const ErrorDomain = "talentreg"

// ErrorInfo reasons of errors the gateway makes itself. Every error body the
// gateway writes carries a google.rpc.ErrorInfo of ErrorDomain: the
// backend's own when it sent one, else one of these, else the name of the
// status code (e.g. DEADLINE_EXCEEDED, CANCELLED).
const (
	// ReasonBodyTooLarge: the request body is over --max-body-bytes (413).
	ReasonBodyTooLarge = "REQUEST_BODY_TOO_LARGE"
	// ReasonBodyIncomplete: the body ended before its announced length, or
	// did not arrive within --read-timeout (408).
	ReasonBodyIncomplete = "REQUEST_BODY_INCOMPLETE"
	// ReasonBackendUnavailable: the backend named in the message is down (503).
	ReasonBackendUnavailable = "BACKEND_UNAVAILABLE"
	// ReasonNoRoute: no route has this path (404).
	ReasonNoRoute = "NO_ROUTE"
	// ReasonMethodNotAllowed: the path exists, not with this method (405).
	ReasonMethodNotAllowed = "METHOD_NOT_ALLOWED"
	// ReasonInvalidEncoding: the path or query is not valid UTF-8 (400).
	ReasonInvalidEncoding = "INVALID_ENCODING"
	// ReasonInvalidJSON: the body is not JSON, or not an object (400).
	ReasonInvalidJSON = "INVALID_JSON"
	// ReasonUnknownField: the body has a field the resource lacks (400,
	// with a BadRequest field violation naming it).
	ReasonUnknownField = "UNKNOWN_FIELD"
	// ReasonInvalidField: a body field has a value of the wrong type or an
	// unknown enum name (400, with a BadRequest field violation naming it),
	// the registry's reason for an invalid field value.
	ReasonInvalidField = "INVALID_FIELD"
	// ReasonInvalidQueryParameter: a query parameter is malformed or of the
	// wrong type (400, with a BadRequest field violation naming it when its
	// name can be decoded).
	ReasonInvalidQueryParameter = "INVALID_QUERY_PARAMETER"
	// ReasonInvalidHeader: a header the gateway interprets (Grpc-Timeout)
	// is malformed (400); metadata "header" names it.
	ReasonInvalidHeader = "INVALID_HEADER"
	// ReasonUnsupportedMediaType: a request body is sent with a
	// Content-Type other than JSON (415); metadata "contentType" gives it.
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	// ReasonUnsupportedContentEncoding: a request body is sent with a
	// Content-Encoding (gzip, …) the gateway does not decode (415);
	// metadata "contentEncoding" gives it.
	ReasonUnsupportedContentEncoding = "UNSUPPORTED_CONTENT_ENCODING"
)

// marshaler is grpc-gateway's JSONPb with the options of API.md, marshaling
// proto messages without the intermediate buffer copy of JSONPb.Marshal.
type marshaler struct {
	runtime.JSONPb
}

func newMarshaler() *marshaler {
	return &marshaler{runtime.JSONPb{
		MarshalOptions: protojson.MarshalOptions{
			UseProtoNames:   false, // lowerCamelCase
			UseEnumNumbers:  false, // enum names
			EmitUnpopulated: true,
		},
		UnmarshalOptions: protojson.UnmarshalOptions{
			DiscardUnknown: false, // unknown field → 400 naming it
		},
	}}
}

// Marshal implements runtime.Marshaler.
func (m *marshaler) Marshal(v any) ([]byte, error) {
	if p, ok := v.(proto.Message); ok {
		return m.MarshalOptions.Marshal(p)
	}
	return m.JSONPb.Marshal(v)
}

// NewDecoder implements runtime.Marshaler: JSONPb's decoder reads one JSON
// value and ignores whatever follows it, so `{"a":1} garbage` or a second
// object (whose fields would be silently dropped) passed as valid. This one
// refuses anything but white space after the value.
func (m *marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	jd := json.NewDecoder(r)
	return &strictDecoder{json: jd, r: r, opts: m.UnmarshalOptions}
}

type strictDecoder struct {
	json *json.Decoder
	r    io.Reader
	opts protojson.UnmarshalOptions
}

// errTrailingData is the error for bytes after the body's JSON value,
// worded as encoding/json words it for json.Unmarshal.
type errTrailingData struct{ c byte }

func (e errTrailingData) Error() string {
	return fmt.Sprintf("invalid character %q after top-level value", e.c)
}

func (d *strictDecoder) Decode(v any) error {
	if err := d.decode(v); err != nil {
		return err
	}
	// The body is already bounded by the size limit; read what is left.
	rest := bufio.NewReader(io.MultiReader(d.json.Buffered(), d.r))
	for {
		c, err := rest.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // e.g. the body limit, answered 413
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return errTrailingData{c}
	}
}

// decode reads one JSON value into v as JSONPb's decoder does, except
// that a value refused for a lone UTF-16 surrogate gets an error naming
// its field (loneSurrogate). A message (the usual body) is unmarshalled
// from the value read; anything else goes through JSONPb's decoder.
func (d *strictDecoder) decode(v any) error {
	var raw json.RawMessage
	if err := d.json.Decode(&raw); err != nil {
		return err
	}
	var err error
	if m, ok := bodyMessage(v); ok {
		err = d.opts.Unmarshal(raw, m)
	} else {
		err = runtime.DecoderWrapper{Decoder: json.NewDecoder(bytes.NewReader(raw)), UnmarshalOptions: d.opts}.Decode(v)
	}
	if err != nil {
		if e := loneSurrogate(raw); e != nil {
			return e
		}
	}
	return err
}

// bodyMessage returns the message a generated handler decodes a body
// into: v itself (body "*": &req) or the message v points to, allocated
// if nil (body "entity": &req.Entity), as JSONPb's decoder does.
func bodyMessage(v any) (proto.Message, bool) {
	if m, ok := v.(proto.Message); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, false
	}
	e := rv.Elem()
	if e.Kind() != reflect.Pointer || !e.Type().Implements(messageType) {
		return nil, false
	}
	if e.IsNil() {
		e.Set(reflect.New(e.Type().Elem()))
	}
	return e.Interface().(proto.Message), true
}

var messageType = reflect.TypeFor[proto.Message]()

// strictQueryParser is grpc-gateway's query parser that refuses a
// parameter naming no field of the request: grpc-gateway ignores them, so a
// typo (`?filtr=…`, `?pagesize=…`) silently returned the unfiltered or
// default answer. Parameters bound by the path or body are left to the
// default parser, which skips them.
type strictQueryParser struct{ runtime.DefaultQueryParser }

// Parse implements runtime.QueryParameterParser.
func (p *strictQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	for key := range values {
		if !namesField(msg.ProtoReflect().Descriptor(), key) {
			return fmt.Errorf("unknown query parameter %s", clip.Quote(key))
		}
	}
	return p.DefaultQueryParser.Parse(msg, values, filter)
}

// namesField reports whether key (dotted, each part a proto or JSON field
// name, as grpc-gateway accepts them) names a field of md.
func namesField(md protoreflect.MessageDescriptor, key string) bool {
	parts := strings.Split(key, ".")
	for i, part := range parts {
		fd := md.Fields().ByTextName(part)
		if fd == nil {
			fd = md.Fields().ByJSONName(part)
		}
		if fd == nil {
			return false
		}
		if i < len(parts)-1 {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() {
				return false
			}
			md = fd.Message()
		}
	}
	return true
}

// incomingHeader decides which HTTP request headers reach the backends as
// gRPC metadata: only the request id. Authorization is forwarded by
// grpc-gateway itself, unprefixed, so the matcher must not add it twice;
// every other header stays at the gateway (fewer metadata, less work, and
// no client-chosen metadata reaches the services).
func incomingHeader(key string) (string, bool) {
	switch key {
	case HeaderRequestID:
		return mdRequestID, true
	case "User-Agent":
		return mdUserAgent, true
	}
	return "", false
}

// mdUserAgent carries the HTTP client's user agent to the services (gRPC's
// own user-agent names the gateway's gRPC library), as grpc-gateway's
// default header matcher names it.
const mdUserAgent = "grpcgateway-user-agent"

// outgoingHeader decides which gRPC response headers become HTTP headers:
// x-revision as exactly X-Revision; nothing else.
func outgoingHeader(key string) (string, bool) {
	if key == mdRevision {
		return HeaderRevision, true
	}
	return "", false
}

// noTrailers drops every gRPC trailer.
func noTrailers(string) (string, bool) { return "", false }

// backendOf names the backend serving a full gRPC method name.
func backendOf(rpcMethod string) string {
	switch {
	case strings.HasPrefix(rpcMethod, "/talentreg.registry."):
		return "registry"
	case strings.HasPrefix(rpcMethod, "/talentreg.metrics."):
		return "metrics"
	}
	return "backend"
}

// httpError is the status and body the gateway answers an error with.
type httpError struct {
	httpStatus int
	st         *status.Status
}

// classify turns an error from a handler into the HTTP answer: the body
// limit overrides whatever the handler made of a truncated body, UNAVAILABLE
// names the backend, and everything else keeps grpc-gateway's table.
func classify(ctx context.Context, r *http.Request, err error, maxBody int64) httpError {
	method, _ := runtime.RPCMethod(ctx)
	return classifyCall(r.Context(), method, r, err, maxBody)
}

// classifyCall is classify for a call to the given full gRPC method made
// with ctx (r's context, or one derived from it by ServeHTTP).
func classifyCall(ctx context.Context, method string, r *http.Request, err error, maxBody int64) httpError {
	if lb, ok := r.Body.(*limitedBody); ok && lb.exceeded {
		return bodyTooLarge(maxBody)
	} else if ok && lb.failed != nil {
		// Whatever the handler made of it (grpc-gateway says CANCELLED,
		// answered with the non-standard 499), the request never arrived
		// whole.
		sp := status.New(codes.InvalidArgument, "request body incomplete: "+lb.failed.Error()).Proto()
		sp.Details = []*anypb.Any{errorInfo(ReasonBodyIncomplete)}
		return httpError{httpStatus: http.StatusRequestTimeout, st: status.FromProto(sp)}
	}
	if ctx != nil && context.Cause(ctx) == errGatewayDeadline && !isDeadlineAnswer(err) {
		// The gateway's own limit cancelled the call (see ServeHTTP).
		sp := status.New(codes.DeadlineExceeded, "no answer from the "+backendOf(method)+" within the gateway's limit (--write-timeout)").Proto()
		sp.Details = []*anypb.Any{errorInfo(codeReason(codes.DeadlineExceeded))}
		return httpError{httpStatus: http.StatusGatewayTimeout, st: status.FromProto(sp)}
	}
	var custom *runtime.HTTPStatusError
	httpStatus := 0
	if e, ok := err.(*runtime.HTTPStatusError); ok {
		custom = e
		httpStatus = e.HTTPStatus
		err = e.Err
	}
	st := status.Convert(err)
	if st.Code() == codes.Unavailable {
		sp := st.Proto()
		sp.Message = backendOf(method) + " unavailable: " + sp.GetMessage()
		if len(sp.Details) == 0 {
			sp.Details = []*anypb.Any{errorInfo(ReasonBackendUnavailable)}
		}
		st = status.FromProto(sp)
	}
	if custom == nil {
		httpStatus = runtime.HTTPStatusFromCode(st.Code())
	}
	if !hasErrorInfo(st.Proto()) {
		sp := st.Proto()
		sp.Details = append(sp.Details, describe(method, r, st)...)
		st = status.FromProto(sp)
	}
	return httpError{httpStatus: httpStatus, st: st}
}

// errGatewayDeadline is the cause of a call the gateway cancelled at its
// own limit.
var errGatewayDeadline = errors.New("the gateway's limit on a call passed")

// isDeadlineAnswer reports whether err is already a DEADLINE_EXCEEDED
// that says why (e.g. which revision was not applied).
func isDeadlineAnswer(err error) bool {
	return status.Code(err) == codes.DeadlineExceeded && reasonOf(err) != nil
}

func bodyTooLarge(maxBody int64) httpError {
	sp := status.New(codes.InvalidArgument, "request body exceeds the limit of "+strconv.FormatInt(maxBody, 10)+" bytes").Proto()
	sp.Details = []*anypb.Any{errorInfo(ReasonBodyTooLarge)}
	return httpError{httpStatus: http.StatusRequestEntityTooLarge, st: status.FromProto(sp)}
}

// maxErrorMessage bounds the message of an error answer, in bytes.
const maxErrorMessage = 4096

// boundDetails clips the client values a backend's details may echo: the
// fields and descriptions of a BadRequest, the metadata of an ErrorInfo.
// Details of other types are kept as they are.
func boundDetails(details []*anypb.Any) []*anypb.Any {
	out := details[:0:0]
	for _, d := range details {
		switch d.GetTypeUrl() {
		case errorInfoURL:
			var info errdetails.ErrorInfo
			if d.UnmarshalTo(&info) == nil {
				for k, v := range info.Metadata {
					info.Metadata[k] = clip.String(v, 0)
				}
				if a, err := anypb.New(&info); err == nil {
					d = a
				}
			}
		case badRequestURL:
			var br errdetails.BadRequest
			if d.UnmarshalTo(&br) == nil {
				for _, v := range br.FieldViolations {
					v.Field, v.Description = clip.String(v.Field, 0), clip.String(v.Description, maxErrorMessage/4)
				}
				if a, err := anypb.New(&br); err == nil {
					d = a
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// writeError writes e as {"code","message","details"}. A detail the gateway
// cannot render (a type it does not know) is dropped rather than turning a
// client error into a 500; the body keeps an ErrorInfo all the same.
func writeError(w http.ResponseWriter, m runtime.Marshaler, e httpError, md metadata.MD) {
	sp := e.st.Proto()
	if !utf8.ValidString(sp.GetMessage()) {
		sp.Message = strings.ToValidUTF8(sp.GetMessage(), "\uFFFD")
	}
	// Messages quote client values, clipped where they are made; this
	// bounds the answer whatever a backend wrote.
	sp.Message = clip.String(sp.GetMessage(), maxErrorMessage)
	sp.Details = boundDetails(sp.Details)
	sp.Details = renderable(sp.Details)
	if !hasErrorInfo(sp) {
		sp.Details = append(sp.Details, errorInfo(codeReason(codes.Code(sp.GetCode()))))
	}
	buf, err := m.Marshal(sp)
	if err != nil {
		sp.Details = []*anypb.Any{errorInfo(codeReason(codes.Code(sp.GetCode())))}
		if buf, err = m.Marshal(sp); err != nil {
			buf = []byte(`{"code":13,"message":"failed to marshal error message","details":[]}`)
			e.httpStatus = http.StatusInternalServerError
		}
	}
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h["Content-Type"] = jsonContentType
	if v := md.Get(mdRevision); len(v) > 0 {
		h[HeaderRevision] = v
	}
	if e.st.Code() == codes.Unauthenticated {
		// RFC 6750 §3: a bad token is invalid_token; no token, no error.
		challenge := `Bearer realm="talentreg"`
		if reason := errorReason(sp); reason != "" && reason != "CREDENTIALS_MISSING" {
			challenge += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", challenge)
	}
	if rec, ok := w.(*recorder); ok {
		rec.errored = true
	}
	w.WriteHeader(e.httpStatus)
	_, _ = w.Write(buf)
}

var jsonContentType = []string{"application/json"}

// errorHandler is the mux's runtime.ErrorHandlerFunc.
func (g *Gateway) errorHandler(ctx context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if rec, ok := w.(*recorder); ok {
		rec.route, _ = runtime.RPCMethod(ctx)
	}
	var md metadata.MD
	if smd, ok := runtime.ServerMetadataFromContext(ctx); ok {
		md = smd.HeaderMD
	}
	writeError(w, m, classify(ctx, r, err, g.cfg.MaxBodyBytes), md)
}

// routingErrorHandler answers requests no route accepts: 404 for an unknown
// path, 405 for a known path with the wrong method, 400 for a malformed one.
func (g *Gateway) routingErrorHandler(_ context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	path, method := clip.String(r.URL.Path, 0), clip.String(r.Method, 0)
	var code codes.Code
	var msg, reason string
	switch httpStatus {
	case http.StatusNotFound:
		code, reason = codes.NotFound, ReasonNoRoute
		msg = "no route for " + method + " " + path
	case http.StatusMethodNotAllowed:
		code, reason = codes.Unimplemented, ReasonMethodNotAllowed
		msg = "method " + method + " not allowed on " + path
		if w.Header().Get("Allow") == "" {
			if allowed := allowedMethods(r.URL.Path); len(allowed) > 0 {
				w.Header().Set("Allow", strings.Join(allowed, ", "))
				msg += " (allowed: " + strings.Join(allowed, ", ") + ")"
			}
		}
	default:
		code, reason = codes.InvalidArgument, ReasonNoRoute
		msg = "malformed request path " + path
		httpStatus = http.StatusBadRequest
	}
	sp := status.New(code, msg).Proto()
	sp.Details = []*anypb.Any{errorInfo(reason)}
	writeError(w, m, httpError{httpStatus: httpStatus, st: status.FromProto(sp)}, nil)
}

// streamErrorHandler keeps grpc-gateway's in-stream error chunks, names
// the backend for UNAVAILABLE like the unary path, and gives every error
// an ErrorInfo.
func streamErrorHandler(ctx context.Context, err error) *status.Status {
	st := status.Convert(err)
	sp := st.Proto()
	if st.Code() == codes.Unavailable {
		method, _ := runtime.RPCMethod(ctx)
		sp.Message = backendOf(method) + " unavailable: " + sp.GetMessage()
		if !hasErrorInfo(sp) {
			sp.Details = append(sp.Details, errorInfo(ReasonBackendUnavailable))
		}
	}
	sp.Details = renderable(sp.Details)
	if !hasErrorInfo(sp) {
		sp.Details = append(sp.Details, errorInfo(codeReason(st.Code())))
	}
	return status.FromProto(sp)
}

// raiseConnFloor is a forward-response option that records a mutation's
// X-Revision as seen by the client's connection: later metrics reads on it
// answer from that revision on (see replicaSet).
func raiseConnFloor(ctx context.Context, _ http.ResponseWriter, _ proto.Message) error {
	cs := connStateFrom(ctx)
	if cs == nil {
		return nil
	}
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		raiseFloorTo(cs, md.HeaderMD.Get(mdRevision))
	}
	return nil
}

// raiseFloorTo raises the connection's floor to the revision an answer's
// x-revision metadata carries (one value; anything else is ignored).
func raiseFloorTo(cs *connState, revs []string) {
	if len(revs) != 1 {
		return
	}
	if rev, err := strconv.ParseInt(revs[0], 10, 64); err == nil {
		cs.raise(rev)
	}
}

// recordRoute is a forward-response option that tells the recorder which
// RPC served the request, for the per-RPC metrics.
func recordRoute(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	if rec, ok := w.(*recorder); ok && rec.route == "" {
		rec.route, _ = runtime.RPCMethod(ctx)
	}
	return nil
}
