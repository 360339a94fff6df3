// Package pbwire appends proto3 scalar fields with implicit presence to a
// message's wire form, as protobuf-go's Marshal writes them: nothing at the
// zero value, otherwise the tag and the value. The services' hand-written
// encoders of hot answers (registry snapshots and entities, metrics
// summaries) share these instead of each keeping its own.
package pbwire

import "google.golang.org/protobuf/encoding/protowire"

// AppendVarintField appends a uint64 (or int64, enum or bool, converted)
// field numbered num.
func AppendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// AppendInt64Field appends an int64 field; negative values take ten bytes,
// as in protobuf.
func AppendInt64Field(b []byte, num protowire.Number, v int64) []byte {
	return AppendVarintField(b, num, uint64(v))
}

// AppendEnumField appends an enum field.
func AppendEnumField(b []byte, num protowire.Number, v int32) []byte {
	return AppendVarintField(b, num, uint64(int64(v)))
}

// AppendBoolField appends a bool field.
func AppendBoolField(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return AppendVarintField(b, num, 1)
}

// AppendStringField appends a string (or bytes) field.
func AppendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
