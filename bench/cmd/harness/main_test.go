package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHasFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-smoke"}, true},
		{[]string{"--smoke=true", "-rounds", "2"}, true},
		{[]string{"-rounds", "2"}, false},
		{[]string{"--", "-smoke"}, false},
		{[]string{"-smoke=false"}, false},
	} {
		if got := hasFlag(tc.args, "smoke"); got != tc.want {
			t.Errorf("hasFlag(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestRun_RejectsBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"harness", "-only", "("}, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-only") {
		t.Fatalf("run with a bad regexp: %v", err)
	}
	if err := run(context.Background(), []string{"harness", "-no-such-flag"}, &bytes.Buffer{}, &stderr); err == nil {
		t.Fatal("run accepted an unknown flag")
	}
}
