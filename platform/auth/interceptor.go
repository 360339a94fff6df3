package auth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"talentreg/platform/grpcerr"
)

// openPrefixes are the methods anyone may call: health (probes) and
// reflection (switched off in the config when unwanted, by not serving
// it at all).
var openPrefixes = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// Open reports whether fullMethod needs no credential.
func Open(fullMethod string) bool {
	for _, p := range openPrefixes {
		if strings.HasPrefix(fullMethod, p) {
			return true
		}
	}
	return false
}

// UnaryServerInterceptor authenticates each unary call, checks the
// method's permission (and its flag permissions against the request), and
// puts the Principal in the handler's context.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if Open(info.FullMethod) {
			return handler(ctx, req)
		}
		m, _ := req.(proto.Message)
		ctx, err := a.check(ctx, info.FullMethod, m)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams. Flag
// permissions are not checked on streams: no streaming request has one (a
// test checks).
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if Open(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := a.check(ss.Context(), info.FullMethod, nil)
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

// check authenticates and authorizes one call.
func (a *Authenticator) check(ctx context.Context, fullMethod string, req proto.Message) (context.Context, error) {
	rule, ok := RuleFor(fullMethod)
	if !ok {
		return nil, grpcerr.Status(codes.PermissionDenied, "method "+fullMethod+" declares no permission: denied by default",
			"NO_ACCESS_RULE", map[string]string{"method": fullMethod}, nil)
	}
	p, err := a.Authenticate(ctx)
	if err != nil {
		return nil, StatusOf(err)
	}
	if perm := missing(p, rule, req); perm != "" {
		a.failures.WithLabelValues(ReasonPermissionDenied).Inc()
		return nil, StatusOf(&Error{Reason: ReasonPermissionDenied, Permission: perm,
			Message: "permission " + perm + " denied to " + p.Describe()})
	}
	if call := CallInfoFrom(ctx); call != nil {
		call.Principal = p
	}
	return NewContext(ctx, p), nil
}

// missing returns the first permission p lacks for a call, or "".
func missing(p *Principal, rule Rule, req proto.Message) string {
	if !p.Can(rule.Permission) {
		return rule.Permission
	}
	if len(rule.FlagPermissions) == 0 || req == nil {
		return ""
	}
	m := req.ProtoReflect()
	for field, perm := range rule.FlagPermissions {
		fd := m.Descriptor().Fields().ByName(field)
		if fd != nil && fd.Kind() == protoreflect.BoolKind && m.Get(fd).Bool() && !p.Can(perm) {
			return perm
		}
	}
	return ""
}

// StatusOf converts an authentication or authorization error to its gRPC
// status: UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED, with
// an ErrorInfo reason.
func StatusOf(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return grpcerr.Status(codes.Unauthenticated, "unauthenticated", ReasonTokenInvalid, nil, nil)
	}
	switch {
	case e.RateLimited:
		return grpcerr.Status(codes.ResourceExhausted, e.Message, e.Reason, nil, nil)
	case e.Unauthenticated:
		return grpcerr.Status(codes.Unauthenticated, e.Message, e.Reason, nil, nil)
	}
	return grpcerr.Status(codes.PermissionDenied, e.Message, e.Reason, map[string]string{"permission": e.Permission}, nil)
}

// CallInfo is filled in as a call passes the interceptors, for those
// outside (the call logger) to read once the handler returns.
type CallInfo struct {
	Principal *Principal
	// RequestID is the call's x-request-id: the one it came with, or the
	// one the call logger gave a mutation that came without (kept here,
	// not added to the incoming metadata: that would copy the whole map
	// on every mutation).
	RequestID string
}

type callInfoKey struct{}

// WithCallInfo returns ctx carrying a CallInfo to be filled in.
func WithCallInfo(ctx context.Context) (context.Context, *CallInfo) {
	c := &CallInfo{}
	return context.WithValue(ctx, callInfoKey{}, c), c
}

// RequestID returns the x-request-id of ctx's call: the one its CallInfo
// holds when the call logger made one (a mutation without one was given
// one there), otherwise the one in its metadata.
func RequestID(ctx context.Context) string {
	if c := CallInfoFrom(ctx); c != nil {
		return c.RequestID
	}
	if vs := metadata.ValueFromIncomingContext(ctx, "x-request-id"); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// CallInfoFrom returns the CallInfo of ctx's call, or nil.
func CallInfoFrom(ctx context.Context) *CallInfo {
	c, _ := ctx.Value(callInfoKey{}).(*CallInfo)
	return c
}
