package command

import (
	"errors"
	"flag"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("disk full"), 1},
		{UsageError{errors.New("--db: empty")}, 2},
		{fmt.Errorf("wrapped: %w", UsageError{errors.New("x")}), 2},
		{UsageError{flag.ErrHelp}, 0}, // -h: the usage was asked for
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
