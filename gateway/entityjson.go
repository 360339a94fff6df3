package gateway

import (
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// appendEntityJSON appends e as the gateway's marshaler writes it
// (protojson: lowerCamelCase names, enum names, unpopulated fields
// included), without protojson's reflection, which was a tenth of the
// gateway's CPU on GET /v1/entities/{id}. It reports false, having
// appended nothing, for what it does not write exactly as protojson does
// (an enum value without a name, a string that is not UTF-8, a time out
// of protojson's range); the caller then uses protojson, which also
// returns protojson's error. TestEntityJSON_MatchesProtojson holds it to
// protojson for every field of Entity: a field added to the message fails
// that test until it is written here.
func appendEntityJSON(b []byte, e *registryv1.Entity) ([]byte, bool) {
	kind, ok := registryv1.EntityKind_name[int32(e.GetKind())]
	if !ok {
		return b, false
	}
	status, ok := registryv1.LifecycleStatus_name[int32(e.GetStatus())]
	if !ok {
		return b, false
	}
	start := len(b)
	b = append(b, `{"name":`...)
	if b, ok = appendJSONString(b, e.GetName()); !ok {
		return b[:start], false
	}
	b = append(b, `,"displayName":`...)
	if b, ok = appendJSONString(b, e.GetDisplayName()); !ok {
		return b[:start], false
	}
	b = append(b, `,"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","creditCode":`...)
	if b, ok = appendJSONString(b, e.GetCreditCode()); !ok {
		return b[:start], false
	}
	b = append(b, `,"region":`...)
	if b, ok = appendJSONString(b, e.GetRegion()); !ok {
		return b[:start], false
	}
	b = append(b, `,"industries":[`...)
	for i, s := range e.GetIndustries() {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = appendJSONString(b, s); !ok {
			return b[:start], false
		}
	}
	b = append(b, `],"leadingEnterprise":`...)
	b = strconv.AppendBool(b, e.GetLeadingEnterprise())
	b = append(b, `,"futureIndustryPlatform":`...)
	b = strconv.AppendBool(b, e.GetFutureIndustryPlatform())
	b = append(b, `,"createTime":`...)
	if b, ok = appendJSONTime(b, e.GetCreateTime()); !ok {
		return b[:start], false
	}
	b = append(b, `,"updateTime":`...)
	if b, ok = appendJSONTime(b, e.GetUpdateTime()); !ok {
		return b[:start], false
	}
	b = append(b, `,"etag":`...)
	if b, ok = appendJSONString(b, e.GetEtag()); !ok {
		return b[:start], false
	}
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `","endTime":`...)
	if b, ok = appendJSONTime(b, e.GetEndTime()); !ok {
		return b[:start], false
	}
	return append(b, '}'), true
}

// appendJSONString appends s as a JSON string, escaping what JSON
// requires; false for a string that is not valid UTF-8 (protojson refuses
// those).
func appendJSONString(b []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return b, false
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[last:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		last = i + 1
	}
	b = append(b, s[last:]...)
	return append(b, '"'), true
}

// appendJSONTime appends t as protojson does: null when unset, else
// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits; false outside the
// years 1-9999 or for invalid nanos, which protojson refuses.
func appendJSONTime(b []byte, t *timestamppb.Timestamp) ([]byte, bool) {
	if t == nil {
		return append(b, "null"...), true
	}
	const minSecs, maxSecs = -62135596800, 253402300799 // 0001-01-01, 9999-12-31T23:59:59
	s, n := t.GetSeconds(), t.GetNanos()
	if s < minSecs || s > maxSecs || n < 0 || n >= 1e9 {
		return b, false
	}
	b = append(b, '"')
	b = time.Unix(s, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05")
	if n != 0 {
		digits, v := 9, n
		for digits > 0 && v%1000 == 0 {
			digits, v = digits-3, v/1000
		}
		b = append(b, '.')
		var frac [9]byte
		for i := digits - 1; i >= 0; i-- {
			frac[i] = byte('0' + v%10)
			v /= 10
		}
		b = append(b, frac[:digits]...)
	}
	return append(b, 'Z', '"'), true
}
