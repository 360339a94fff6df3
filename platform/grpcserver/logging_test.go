package grpcserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"talentreg/platform/auth"
)

func TestUnaryLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	intercept := unaryLogger(log)
	info := &grpc.UnaryServerInfo{FullMethod: "/talentreg.registry.v1.RegistryService/GetEntity"}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-request-id", "req-42"))

	// A success is debug: not logged at info.
	if _, err := intercept(ctx, nil, info, func(context.Context, any) (any, error) { return "ok", nil }); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("a successful call was logged at info: %s", buf.String())
	}
	// A failure is logged with its code, message, method and request id,
	// and the error passes through unchanged.
	want := status.Error(codes.NotFound, "entities/x: not found")
	_, err := intercept(ctx, nil, info, func(context.Context, any) (any, error) { return nil, want })
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want the handler's", err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	for k, v := range map[string]any{
		"level": "INFO", "grpc.code": "NotFound", "grpc.error": "entities/x: not found",
		"grpc.method": info.FullMethod, "request_id": "req-42",
	} {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.String())
		}
	}
	if d, ok := line["grpc.duration"].(float64); !ok || d < 0 || time.Duration(d) > time.Minute {
		t.Errorf("grpc.duration = %v", line["grpc.duration"])
	}
}

// TestUnaryLogger_BoundsEchoedValues: a message and a request id of a
// megabyte each (a client's value echoed in the error, a client-chosen
// metadata value) make a log line of a few hundred bytes, not megabytes.
func TestUnaryLogger_BoundsEchoedValues(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	huge := strings.Repeat("x", 1<<20)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-request-id", huge))
	info := &grpc.UnaryServerInfo{FullMethod: "/talentreg.metrics.v1.MetricsService/GetBreakdown"}
	_, _ = unaryLogger(log)(ctx, nil, info, func(context.Context, any) (any, error) {
		return nil, status.Error(codes.InvalidArgument, "dimension: \""+huge+"\" is not a dimension")
	})
	if n := buf.Len(); n == 0 || n > 4096 {
		t.Fatalf("log line of %d bytes, want a short one", n)
	}
	if !strings.Contains(buf.String(), "(1048576 bytes)") {
		t.Errorf("the cut is not marked: %s", buf.String())
	}
}

func TestLevelOf(t *testing.T) {
	for c, want := range map[codes.Code]slog.Level{
		codes.OK: slog.LevelDebug, codes.InvalidArgument: slog.LevelInfo, codes.Unavailable: slog.LevelWarn,
		codes.Internal: slog.LevelError, codes.Canceled: slog.LevelDebug,
	} {
		if got := levelOf(c); got != want {
			t.Errorf("levelOf(%v) = %v, want %v", c, got, want)
		}
	}
}

// TestUnaryLogger_Mutations: a successful mutation is one info line with
// its principal and request id, and one without an x-request-id gets one
// (in the call's CallInfo, where the authenticator reads it for the
// change event's actor).
func TestUnaryLogger_Mutations(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	intercept := unaryLogger(log)
	info := &grpc.UnaryServerInfo{FullMethod: "/talentreg.registry.v1.RegistryService/CreateEntity"}
	var seenID string
	_, err := intercept(context.Background(), nil, info, func(ctx context.Context, _ any) (any, error) {
		// The auth interceptor, inside this one, fills in the caller.
		if call := auth.CallInfoFrom(ctx); call != nil {
			call.Principal = &auth.Principal{Name: "alice", Method: auth.MethodJWT, Peer: "192.0.2.1"}
			seenID = call.RequestID
		}
		return "ok", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seenID == "" {
		t.Fatal("the handler of a mutation without x-request-id saw none")
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	for k, v := range map[string]any{
		"level": "INFO", "msg": "mutation", "principal": "alice", "auth_method": "jwt", "peer": "192.0.2.1", "request_id": seenID,
	} {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.String())
		}
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("%d lines for one mutation", n)
	}
}

func TestLogCall_ClipsLongMessages(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	logCall(context.Background(), log, "unary", "/x/Y", time.Now(), status.Error(codes.InvalidArgument, string(bytes.Repeat([]byte("é"), 1<<20))), &auth.CallInfo{})
	if buf.Len() > 4096 {
		t.Errorf("a 2 MB error message made a %d-byte log line", buf.Len())
	}
}
