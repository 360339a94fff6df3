package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck_ReadsFormat2AsItIsAndCompactMigrates runs the offline tools on
// a format-2 file written by the previous version (kvstore's fixture):
// check passes, prints format 2 and leaves the file as it was; compact
// opens (so migrates) it, and the copy checks as format 3.
func TestCheck_ReadsFormat2AsItIsAndCompactMigrates(t *testing.T) {
	ctx := context.Background()
	f, err := os.Open("../../kvstore/testdata/format2.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	check := func(path, format string) {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, []string{"check", "--db", path}, noEnv, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("check %s: %v", path, err)
		}
		if !strings.Contains(out.String(), "consistent at revision 483 ") || !strings.Contains(out.String(), "format "+format+"\n") {
			t.Fatalf("check %s:\n%s\nwant revision 483, format %s", path, out.String(), format)
		}
	}
	check(db, "talentreg-registry/2")
	check(db, "talentreg-registry/2") // the check did not migrate it
	compacted := filepath.Join(dir, "compacted.db")
	if err := run(ctx, []string{"compact", "--db", db, "--out", compacted}, noEnv, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	check(db, "talentreg-registry/3")
	check(compacted, "talentreg-registry/3")
}
