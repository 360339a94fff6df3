package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck_ReadsFormat2AsItIsAndCompactMigrates runs the offline tools on
// a format-2 file written by an earlier version (kvstore's fixture):
// check passes, prints format 2 and leaves the file as it was; compact
// opens (so migrates) it, and the copy checks as format 4.
func TestCheck_ReadsFormat2AsItIsAndCompactMigrates(t *testing.T) {
	checkAsItIsAndCompact(t, "../../kvstore/testdata/format2.db.gz", "talentreg-registry/2", 483)
}

// TestCheck_ReadsFormat3AsItIsAndCompactMigrates does the same with a
// format-3 file written by the version before format 4.
func TestCheck_ReadsFormat3AsItIsAndCompactMigrates(t *testing.T) {
	checkAsItIsAndCompact(t, "../../kvstore/testdata/format3.db.gz", "talentreg-registry/3", 664)
}

func checkAsItIsAndCompact(t *testing.T, fixture, format string, revision int) {
	ctx := context.Background()
	f, err := os.Open(fixture)
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
		want := fmt.Sprintf("consistent at revision %d ", revision)
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "format "+format+"\n") {
			t.Fatalf("check %s:\n%s\nwant revision %d, format %s", path, out.String(), revision, format)
		}
	}
	check(db, format)
	check(db, format) // the check did not migrate it
	compacted := filepath.Join(dir, "compacted.db")
	if err := run(ctx, []string{"compact", "--db", db, "--out", compacted}, noEnv, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	check(db, "talentreg-registry/4")
	check(compacted, "talentreg-registry/4")
}
