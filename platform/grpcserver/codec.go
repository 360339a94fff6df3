package grpcserver

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// grpc-go answers a request it cannot unmarshal (bytes that are not
// protobuf, a string that is not UTF-8) with INTERNAL, a server fault, and
// gives no hook to change that: the message is decoded before any
// interceptor runs. So the codec below decodes leniently — a message that
// fails is reset to empty, never half-filled, and its error recorded — and
// the interceptors answer it INVALID_ARGUMENT before any handler sees it.

// Codec is gRPC's proto codec with lenient decoding (see above). Services
// that wrap the codec for their own reasons should wrap this one.
type Codec struct{ encoding.CodecV2 }

// Encoded is a message already in protobuf wire form, which Codec sends as
// it is: a service whose hottest answers cost more to build as message
// trees and marshal than to read encodes them itself, from a method
// handler of its own (see the registry's GetEntity and the metrics
// service's GetSummary), and returns it in place of the generated type.
type Encoded struct{ B []byte }

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*Encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(e.B)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// NewCodec returns the Codec over gRPC's proto codec.
func NewCodec() Codec { return Codec{encoding.GetCodecV2("proto")} }

// malformed maps a message that failed to decode to its error, until the
// interceptor of its call takes it.
var malformed sync.Map

// Unmarshal implements encoding.CodecV2.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	proto.Reset(m)
	malformed.Store(v, err)
	return nil
}

// takeMalformed returns the decoding error of v, if it had one.
func takeMalformed(v any) error {
	err, ok := malformed.LoadAndDelete(v)
	if !ok {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "malformed request message: %v", err)
}

func unaryRejectMalformed(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := takeMalformed(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func streamRejectMalformed(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, malformedCheckingStream{ss})
}

type malformedCheckingStream struct{ grpc.ServerStream }

// RecvMsg implements grpc.ServerStream.
func (s malformedCheckingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return takeMalformed(m)
}
