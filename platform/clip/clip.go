// Package clip shortens values a client sent before they are echoed in an
// error message or a log line, so that a megabyte-long name makes a short
// message, not a megabyte-long one.
package clip

import (
	"strconv"
	"unicode/utf8"
)

// Max is the longest echo, in bytes, that String and Quote keep by default.
const Max = 128

// String returns s cut to at most max bytes (Max when max ≤ 0), without
// splitting a character, the cut marked with "…" and the length of the
// whole: "abc… (1048576 bytes)". Invalid UTF-8 is kept as is up to the cut.
func String(s string, max int) string {
	if max <= 0 {
		max = Max
	}
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// Quote is strconv.Quote of s cut as String cuts it (at Max bytes).
func Quote(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	cut := String(s, Max)
	i := len(cut) - len("… (") - len(strconv.Itoa(len(s))) - len(" bytes)")
	return strconv.Quote(cut[:i]) + cut[i:]
}
