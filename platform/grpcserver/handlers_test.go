package grpcserver

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
)

// Rerouted swaps the named handlers in a copy, leaves the original alone,
// and refuses a name the service does not have.
func TestRerouted(t *testing.T) {
	orig := func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
		return "generated", nil
	}
	mine := func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
		return "mine", nil
	}
	desc := &grpc.ServiceDesc{ServiceName: "t.S", Methods: []grpc.MethodDesc{{MethodName: "A", Handler: orig}, {MethodName: "B", Handler: orig}}}
	got := Rerouted(desc, map[string]grpc.MethodHandler{"B": mine})
	call := func(h grpc.MethodHandler) any { v, _ := h(nil, context.Background(), nil, nil); return v }
	if call(got.Methods[0].Handler) != "generated" || call(got.Methods[1].Handler) != "mine" || call(desc.Methods[1].Handler) != "generated" {
		t.Fatal("Rerouted swapped the wrong handlers, or changed the original")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "1 of the 2") {
			t.Fatalf("a name the service lacks: recovered %v", r)
		}
	}()
	Rerouted(desc, map[string]grpc.MethodHandler{"B": mine, "C": mine})
}
