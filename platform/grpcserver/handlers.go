package grpcserver

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"
)

// Rerouted returns a copy of desc whose methods named in handlers are
// answered by those handlers instead of the generated ones: a service
// answers its hottest reads with Encoded messages it builds itself (see
// UnaryHandler). A name desc does not have is a programming error.
func Rerouted(desc *grpc.ServiceDesc, handlers map[string]grpc.MethodHandler) *grpc.ServiceDesc {
	d := *desc
	d.Methods = slices.Clone(d.Methods)
	found := 0
	for i := range d.Methods {
		if h, ok := handlers[d.Methods[i].MethodName]; ok {
			d.Methods[i].Handler = h
			found++
		}
	}
	if found != len(handlers) {
		panic(fmt.Sprintf("grpcserver.Rerouted: %s has %d of the %d methods named", desc.ServiceName, found, len(handlers)))
	}
	return &d
}

// UnaryHandler returns a method handler that works as the generated one of
// the unary method fullMethod — it decodes a Req and runs the interceptors
// — and calls fn on the service S, whose answer may be an Encoded in
// place of the generated response type.
func UnaryHandler[S, Req any](fullMethod string, fn func(s S, ctx context.Context, req *Req) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := new(Req)
		if err := dec(in); err != nil {
			return nil, err
		}
		s := srv.(S)
		if interceptor == nil {
			return fn(s, ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
		return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return fn(s, ctx, req.(*Req))
		})
	}
}
