package grpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"talentreg/platform/grpcserver"
)

// rawCodec sends []byte as they are, to put bytes on the wire that no
// generated client would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// TestMalformedRequests_InvalidArgument: a request that is not protobuf, or
// has a string that is not UTF-8, is the client's fault — INVALID_ARGUMENT —
// on unary and streaming methods alike, not grpc-go's INTERNAL; and a good
// request on the same connection still works.
func TestMalformedRequests_InvalidArgument(t *testing.T) {
	srv := grpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), grpcserver.Options{})
	srv.Health.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Server.Serve(lis) }()
	t.Cleanup(srv.Server.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for name, req := range map[string][]byte{
		"not protobuf":      {0xff, 0xff, 0xff},
		"string not UTF-8":  {0x0a, 0x02, 0xff, 0xfe}, // service = "\xff\xfe"
		"truncated length":  {0x0a, 0x05, 's'},
		"field number zero": {0x02, 0x00},
	} {
		var resp []byte
		err := conn.Invoke(ctx, "/grpc.health.v1.Health/Check", &req, &resp, grpc.ForceCodecV2(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("unary, %s: %v, want INVALID_ARGUMENT", name, err)
		}
		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/grpc.health.v1.Health/Watch", grpc.ForceCodecV2(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(&req); err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		if err := stream.RecvMsg(&resp); status.Code(err) != codes.InvalidArgument {
			t.Errorf("stream, %s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	got, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("good request after bad ones: %v, %v", got, err)
	}
}
