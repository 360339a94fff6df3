package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestKubernetesSchemas_Fresh: regenerating the vendored schemas from the
// Kubernetes release's OpenAPI document (cmd/k8sschemas, which fetches it
// through the Go module proxy) gives the committed files.
func TestKubernetesSchemas_Fresh(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the k8s.io/kubernetes module (18 MB) unless cached")
	}
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./cmd/k8sschemas", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("k8sschemas: %v\n%s", err, b)
	}
	committed := filepath.Join("kubernetes", "schemas")
	want, err := os.ReadDir(committed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("regenerated %d files, %d committed", len(got), len(want))
	}
	for _, f := range want {
		a, _ := os.ReadFile(filepath.Join(committed, f.Name()))
		b, err := os.ReadFile(filepath.Join(out, f.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from its regeneration (%v): run go run ./deploy/cmd/k8sschemas", f.Name(), err)
		}
	}
}
