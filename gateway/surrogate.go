package gateway

import (
	"bytes"
	"fmt"
	"strconv"
)

// loneSurrogate finds the first \uXXXX escape in a JSON text that is half
// of a UTF-16 surrogate pair, which JSON allows and Unicode does not (a
// JavaScript client that cuts a string inside an emoji sends one).
// protojson refuses such a string with a message naming neither the field
// nor the cause ("unexpected EOF"); this error names both, worded as
// protojson words a bad field value so that the gateway's error mapping
// (invalidValueMsg) reports the field as it does for any other. It returns
// nil when raw has no lone surrogate.
func loneSurrogate(raw []byte) error {
	type level struct {
		object, expectKey bool
		key               string
	}
	var stack []level
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '{':
			stack = append(stack, level{object: true, expectKey: true})
		case '[':
			stack = append(stack, level{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			end, bad := scanJSONString(raw, i)
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				stack[n-1].key, stack[n-1].expectKey = string(raw[i+1:end]), false
			}
			if bad >= 0 {
				field := "(a name)"
				for k := len(stack) - 1; k >= 0; k-- {
					if stack[k].object && !stack[k].expectKey {
						field = stack[k].key
						break
					}
				}
				line := 1 + bytes.Count(raw[:bad], []byte{'\n'})
				col := bad - bytes.LastIndexByte(raw[:bad], '\n')
				return fmt.Errorf("proto: (line %d:%d): invalid value for string field %s: %s is half of a UTF-16 surrogate pair, not a character (strings must be valid Unicode)",
					line, col, field, raw[bad:bad+6])
			}
			i = end
		}
	}
	return nil
}

// scanJSONString returns the index of the quote closing the string that
// opens at raw[open], and the index of its first lone surrogate escape
// (-1 for none). An unterminated string ends at len(raw).
func scanJSONString(raw []byte, open int) (end, bad int) {
	bad = -1
	for j := open + 1; j < len(raw); j++ {
		switch raw[j] {
		case '"':
			return j, bad
		case '\\':
			u, ok := escapedUnit(raw, j)
			if !ok {
				j++ // a two-byte escape (\n, \", …)
				continue
			}
			switch {
			case u >= 0xD800 && u <= 0xDBFF:
				if lo, ok := escapedUnit(raw, j+6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					j += 11 // the pair
					continue
				}
				if bad < 0 {
					bad = j
				}
			case u >= 0xDC00 && u <= 0xDFFF:
				if bad < 0 {
					bad = j
				}
			}
			j += 5
		}
	}
	return len(raw), bad
}

// escapedUnit reads a \uXXXX escape at raw[i].
func escapedUnit(raw []byte, i int) (uint64, bool) {
	if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	u, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
	return u, err == nil
}
