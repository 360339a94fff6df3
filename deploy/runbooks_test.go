package deploy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRunbookLinks_Resolve holds every docs/runbooks.md#anchor named by an
// alert rule (or anywhere in deploy/) to a heading of docs/runbooks.md, as
// GitHub makes anchors: an on-call engineer following an alert's link must
// land on its section.
func TestRunbookLinks_Resolve(t *testing.T) {
	doc, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "#") {
			anchors[githubAnchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	link := regexp.MustCompile(`runbooks\.md#([A-Za-z0-9_-]+)`)
	found := 0
	for _, dir := range []string{"prometheus", "kubernetes", "grafana"} {
		walkFiles(t, dir, func(path string, data []byte) {
			for _, m := range link.FindAllStringSubmatch(string(data), -1) {
				found++
				if !anchors[m[1]] {
					t.Errorf("%s links docs/runbooks.md#%s, which no heading of docs/runbooks.md makes", path, m[1])
				}
			}
		})
	}
	if found == 0 {
		t.Fatal("no runbook link found in deploy/: the test looks in the wrong place")
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case,
// punctuation other than '-' and '_' dropped, spaces turned into '-'.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// walkFiles calls f with every regular file under dir (relative to deploy/);
// a missing dir is skipped.
func walkFiles(t *testing.T, dir string, f func(path string, data []byte)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f(path, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
