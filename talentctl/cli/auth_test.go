package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"talentreg/talentctl/internal/stack"
)

// TestAuth_DevConfigTokensAndHistory: a registry serving the config that
// `auth dev-config` wrote accepts its tokens as their roles, refuses
// callers without one, and `history` shows who changed what.
func TestAuth_DevConfigTokensAndHistory(t *testing.T) {
	t.Parallel()
	dev := filepath.Join(t.TempDir(), "dev")
	r := run(t, nil, "auth", "dev-config", "--out", dev)
	r.want(t, 0)
	for _, f := range []string{"auth.yaml", "ca.crt", "registry.crt", "registry.key", "metrics.crt", "gateway.key", "tokens.csv", "admin.token", "viewer.token", "jwks.json", "jwt-signing.key"} {
		if _, err := os.Stat(filepath.Join(dev, f)); err != nil {
			t.Errorf("dev-config wrote no %s: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dev, "admin.token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v (%v), want 0600", st.Mode(), err)
	}
	run(t, nil, "auth", "dev-config", "--out", dev).want(t, 2, "already holds a config")

	reg := stack.SecureRegistry(t, dev)
	env := func(role string) map[string]string {
		return map[string]string{"TALENTREG_REGISTRY": reg.Addr, "TALENTREG_CA": filepath.Join(dev, "ca.crt"), "TALENTREG_TOKEN_FILE": filepath.Join(dev, role+".token")}
	}
	run(t, map[string]string{"TALENTREG_REGISTRY": reg.Addr, "TALENTREG_CA": filepath.Join(dev, "ca.crt")}, "get", "entity", "x").
		want(t, 1, "refused the credentials", "TALENTREG_TOKEN")
	run(t, env("viewer"), "create", "entity", "acme", "--display-name", "Acme", "--kind", "enterprise").
		want(t, 1, "PERMISSION_DENIED", "talentreg.entities.create")
	run(t, env("editor"), "create", "entity", "acme", "--display-name", "Acme", "--kind", "enterprise").want(t, 0)

	// A JWT from the dev issuer, with its roles claim.
	tok := run(t, nil, "auth", "jwt", "--key", filepath.Join(dev, "jwt-signing.key"), "--subject", "alice", "--roles", "editor")
	tok.want(t, 0)
	jwtEnv := map[string]string{"TALENTREG_REGISTRY": reg.Addr, "TALENTREG_CA": filepath.Join(dev, "ca.crt"), "TALENTREG_TOKEN": strings.TrimSpace(tok.stdout)}
	run(t, jwtEnv, "delete", "entity", "acme").want(t, 0)

	h := run(t, env("auditor"), "history", "entity", "acme")
	h.want(t, 0)
	lines := strings.Split(strings.TrimSpace(h.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "created") || !strings.Contains(lines[1], "dev-editor") ||
		!strings.Contains(lines[2], "deleted") || !strings.Contains(lines[2], "alice") || !strings.Contains(lines[2], "jwt") {
		t.Errorf("history of entities/acme:\n%s\nwant a header, created by dev-editor, deleted by alice (jwt)", h.stdout)
	}
	byAlice := run(t, env("auditor"), "history", "--actor", "alice", "-o", "json")
	byAlice.want(t, 0)
	if !strings.Contains(byAlice.stdout, `"entities/acme"`) || !strings.Contains(byAlice.stdout, "CHANGE_TYPE_DELETED") {
		t.Errorf("history --actor alice -o json:\n%s", byAlice.stdout)
	}
	run(t, env("viewer"), "history", "entity", "acme").want(t, 1, "talentreg.history.list")

	line := run(t, nil, "auth", "new-token", "script", "--roles", "importer")
	line.want(t, 0)
	if !strings.Contains(line.stdout, "sha256:") || !strings.Contains(line.stdout, ",script,importer") {
		t.Errorf("new-token printed:\n%s", line.stdout)
	}
}
