package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthcheckSubcommands: each binary's `healthcheck` (what container
// HEALTHCHECKs and Kubernetes exec probes run) exits 0 against its running
// service and 1 when nothing serves there.
func TestHealthcheckSubcommands(t *testing.T) {
	s := needShared(t)
	check := func(bin string, args ...string) (string, int) {
		out, err := exec.Command(filepath.Join(binDir, bin), append([]string{"healthcheck"}, args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, c := range []struct {
		bin  string
		args []string
	}{
		{"registry", []string{"--addr", s.registry.grpcAddr, "--ca", devFile("ca.crt")}},
		{"metrics", []string{"--addr", s.metrics[0].grpcAddr, "--ca", devFile("ca.crt")}},
		{"gateway", []string{"--url", s.url + "/healthz", "--ca", devFile("ca.crt")}},
		{"gateway", []string{"--url", s.url + "/readyz", "--ca", devFile("ca.crt")}},
	} {
		if out, code := check(c.bin, c.args...); code != 0 || !strings.Contains(out, "SERVING") {
			t.Errorf("%s healthcheck %v: exit %d: %s", c.bin, c.args, code, out)
		}
	}
	if out, code := check("registry", "--addr", "127.0.0.1:1", "--timeout", "1s"); code != 1 {
		t.Errorf("registry healthcheck with nothing listening: exit %d: %s", code, out)
	}
	if out, code := check("gateway", "--url", s.url+"/no-such-path"); code != 1 {
		t.Errorf("gateway healthcheck of a 404: exit %d: %s", code, out)
	}
}
