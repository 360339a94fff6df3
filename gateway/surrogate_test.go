package gateway

import (
	"strings"
	"testing"
)

// TestLoneSurrogate finds a half pair wherever it is, names the nearest
// field, and passes valid pairs, other escapes and escaped quotes.
func TestLoneSurrogate(t *testing.T) {
	for raw, want := range map[string]string{
		`{"a":"\ud83d\ude00 ok","b":"\"\\ud800"}`: "", // a pair; an escaped backslash before "ud800"
		`{"a":"x\u00e9\n"}`:                       "", // ordinary escapes
		`{"a":{"b":["\ud800"]}}`:                  "field b: \\ud800",
		`{"a":"\ude00\ud83d"}`:                    "field a: \\ude00", // the wrong order is two halves
		"{\n \"k\": \"\\uDBFF\"}":                 "(line 2:8)",
		`{"a":"\ud83d`:                            "field a: \\ud83d", // cut short
	} {
		err := loneSurrogate([]byte(raw))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v, want none", raw, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want one mentioning %q", raw, err, want)
		}
	}
}
