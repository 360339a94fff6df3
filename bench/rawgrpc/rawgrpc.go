// Package rawgrpc calls gRPC methods with pre-encoded request bytes and
// undecoded responses, so that the load generator spends no CPU on protobuf
// reflection, and so that it can speak to etcd without its client module.
// Messages are built and read with protowire.
package rawgrpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Frame is one message in wire form. As a response it reuses the capacity
// of B.
type Frame struct {
	// B holds the encoded message.
	B []byte
}

// Codec passes *Frame values through untouched and marshals proto.Message
// values as the default codec does, so one connection serves both. Its name
// is "proto": servers see the ordinary content type.
type Codec struct{}

// Name returns "proto".
func (Codec) Name() string { return "proto" }

// Marshal encodes v, a *Frame or a proto.Message.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Frame:
		return mem.BufferSlice{mem.SliceBuffer(m.B)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	return nil, fmt.Errorf("rawgrpc: cannot marshal %T", v)
}

// Unmarshal decodes data into v, a *Frame or a proto.Message.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *Frame:
		m.B = m.B[:0]
		for _, b := range data {
			m.B = append(m.B, b.ReadOnlyData()...)
		}
		return nil
	case proto.Message:
		return proto.Unmarshal(data.Materialize(), m)
	}
	return fmt.Errorf("rawgrpc: cannot unmarshal into %T", v)
}

// Dial returns a client connection to addr (host:port, plaintext) whose calls
// use Codec and accept responses up to 64 MiB.
func Dial(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}), grpc.MaxCallRecvMsgSize(64<<20)),
	}, opts...)
	return grpc.NewClient(addr, all...)
}

// Invoke calls the unary method (e.g. "/pkg.Service/Method") with req and
// stores the response in resp.
func Invoke(ctx context.Context, cc *grpc.ClientConn, method string, req []byte, resp *Frame, opts ...grpc.CallOption) error {
	return cc.Invoke(ctx, method, &Frame{B: req}, resp, opts...)
}

// AppendString appends field num with the string s.
func AppendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// AppendBytes appends field num with the bytes v.
func AppendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// AppendVarint appends field num with the varint v.
func AppendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// Scan calls fn for each top-level field of msg: for a length-delimited
// field with its bytes, for a varint with its value. It stops early when fn
// returns false.
func Scan(msg []byte, fn func(num protowire.Number, b []byte, v uint64) bool) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		var b []byte
		var v uint64
		switch typ {
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(msg)
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(msg)
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if !fn(num, b, v) {
			return nil
		}
	}
	return nil
}

// BytesField returns the last occurrence of the length-delimited field num,
// and how many times it occurs.
func BytesField(msg []byte, num protowire.Number) (last []byte, count int, err error) {
	err = Scan(msg, func(n protowire.Number, b []byte, _ uint64) bool {
		if n == num {
			last = b
			count++
		}
		return true
	})
	return last, count, err
}

// VarintField returns the varint field num, 0 when absent.
func VarintField(msg []byte, num protowire.Number) (v uint64, err error) {
	err = Scan(msg, func(n protowire.Number, _ []byte, x uint64) bool {
		if n == num {
			v = x
		}
		return true
	})
	return v, err
}
