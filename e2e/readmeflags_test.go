package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestReadme_FlagTablesListEveryFlag runs each built binary and each of
// its subcommands with -h (which must exit 0) and checks that README's
// flag table for it names every flag printed, and no flag it lacks. A
// table is the first one after the line "<binary>:" or "<binary>
// <subcommand>:" (the registry's etcd flags are in the table after the
// heading "### The registry on etcd"; one table serves the three
// healthchecks); "`--tls-*`" covers every flag starting "tls-".
func TestReadme_FlagTablesListEveryFlag(t *testing.T) {
	if binDir == "" {
		t.Skip("-short: the binaries are not built")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Split(string(b), "\n")
	health := flagTableAfter(t, readme, "healthcheck (`registry healthcheck`, `metrics healthcheck`, `gateway healthcheck`; exit 0 when healthy, 1 otherwise):")
	tables := map[string][]string{
		"registry":             append(flagTableAfter(t, readme, "registry:"), flagTableAfter(t, readme, "### The registry on etcd")...),
		"metrics":              flagTableAfter(t, readme, "metrics:"),
		"gateway":              flagTableAfter(t, readme, "gateway:"),
		"registry check":       flagTableAfter(t, readme, "registry check:"),
		"registry compact":     flagTableAfter(t, readme, "registry compact:"),
		"registry backup":      flagTableAfter(t, readme, "registry backup:"),
		"registry migrate":     flagTableAfter(t, readme, "registry migrate:"),
		"registry healthcheck": health,
		"metrics healthcheck":  health,
		"gateway healthcheck":  health,
	}
	for name, documented := range tables {
		args := strings.Fields(name)
		cmd := exec.Command(filepath.Join(binDir, args[0]), append(args[1:], "-h")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("`%s -h`: %v (want exit 0, the usage printed)\n%s", name, err, out)
		}
		printed := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1)
		if len(printed) < 3 {
			t.Fatalf("%s -h printed %d flags:\n%s", name, len(printed), out)
		}
		covered := func(flag string) bool {
			for _, d := range documented {
				if d == flag || strings.HasSuffix(d, "*") && strings.HasPrefix(flag, strings.TrimSuffix(d, "*")) {
					return true
				}
			}
			return false
		}
		have := map[string]bool{}
		var missing []string
		for _, m := range printed {
			have[m[1]] = true
			if !covered(m[1]) {
				missing = append(missing, "--"+m[1])
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			t.Errorf("README's %s flag table lacks %s (printed by `%s -h`)", name, strings.Join(missing, ", "), name)
		}
		for _, d := range documented {
			if !strings.HasSuffix(d, "*") && !have[d] {
				t.Errorf("README's %s flag table names --%s, which `%s -h` does not print", name, d, name)
			}
		}
	}
}

// flagTableAfter returns the flags named in the first column of the first
// Markdown table after the line equal to marker.
func flagTableAfter(t *testing.T, lines []string, marker string) []string {
	t.Helper()
	start := -1
	for i, l := range lines {
		if l == marker {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("README has no line %q", marker)
	}
	flagName := regexp.MustCompile("`--([a-z0-9*-]+)")
	var flags []string
	inTable := false
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		first := strings.SplitN(strings.TrimPrefix(l, "|"), "|", 2)[0]
		for _, m := range flagName.FindAllStringSubmatch(first, -1) {
			flags = append(flags, m[1])
		}
	}
	if len(flags) == 0 {
		t.Fatalf("README: no flag table after %q", marker)
	}
	return flags
}
