package clip_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"talentreg/platform/clip"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijkl", 10, "abcdefghij… (12 bytes)"},
		{"滨海新区滨海新区", 10, "滨海新… (24 bytes)"}, // not inside a character
	} {
		if got := clip.String(tc.in, tc.max); got != tc.want {
			t.Errorf("String(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
	long := strings.Repeat("x", 1<<20)
	if got := clip.String(long, 0); len(got) > clip.Max+32 || !utf8.ValidString(got) || !strings.HasSuffix(got, "(1048576 bytes)") {
		t.Errorf("String of 1 MiB = %d bytes %q…", len(got), got[:40])
	}
	if got := clip.Quote(long); len(got) > clip.Max+40 || !strings.HasPrefix(got, `"xxx`) || !strings.HasSuffix(got, `x"… (1048576 bytes)`) {
		t.Errorf("Quote of 1 MiB = %d bytes %q", len(got), got)
	}
	if got := clip.Quote(`a"b`); got != `"a\"b"` {
		t.Errorf("Quote = %s", got)
	}
}
