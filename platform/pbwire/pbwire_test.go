package pbwire

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Each appender writes what proto.Marshal writes for a well-known type
// whose field 1 (and 2) has the appender's kind, zero values included.
func TestAppenders_MatchMarshal(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  proto.Message
		got  []byte
	}{
		{"uint64 0", wrapperspb.UInt64(0), AppendVarintField(nil, 1, 0)},
		{"uint64 max", wrapperspb.UInt64(math.MaxUint64), AppendVarintField(nil, 1, math.MaxUint64)},
		{"int64 negative", wrapperspb.Int64(-3), AppendInt64Field(nil, 1, -3)},
		{"int64 and int32", &durationpb.Duration{Seconds: 300, Nanos: 7}, AppendEnumField(AppendInt64Field(nil, 1, 300), 2, 7)},
		{"int32 negative, as an enum", wrapperspb.Int32(-1), AppendEnumField(nil, 1, -1)},
		{"bool false", wrapperspb.Bool(false), AppendBoolField(nil, 1, false)},
		{"bool true", wrapperspb.Bool(true), AppendBoolField(nil, 1, true)},
		{"string empty", wrapperspb.String(""), AppendStringField(nil, 1, "")},
		{"string", wrapperspb.String("天津 Binhai"), AppendStringField(nil, 1, "天津 Binhai")},
	} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.got, want) {
			t.Errorf("%s: % x, proto.Marshal writes % x", c.name, c.got, want)
		}
	}
}
