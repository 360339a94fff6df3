package deploy

import (
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"talentreg/deploy/image"
)

// TestOCIImage_RegistryIsReproducibleAndWellFormed builds the registry's
// image twice without a Docker daemon (deploy/image) and checks the result
// with tools of its own: both builds have one digest; skopeo reads the
// layout and its config (non-root user, entrypoint); umoci unpacks it into
// a runtime bundle whose rootfs holds a static binary that runs, its data
// folder owned by the non-root user.
func TestOCIImage_RegistryIsReproducibleAndWellFormed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a static binary")
	}
	skopeo, umoci := needTool(t, "skopeo"), needTool(t, "umoci")
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var svc image.Service
	for _, s := range image.Services {
		if s.Name == "registry" {
			svc = s
		}
	}
	opts := image.Options{Repo: repo, Version: "v0.0.0-test", Revision: "test", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ctx := context.Background()
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	var digests []string
	for _, d := range dirs {
		h, err := image.Write(ctx, d, svc, opts)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, h.String())
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds of the same sources: %v", digests)
	}

	// The healthcheck Docker runs (not in the OCI config skopeo decodes).
	p, err := layout.FromPath(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	man, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(man.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if hc := cf.Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/registry", "healthcheck"}) {
		t.Errorf("healthcheck %+v", hc)
	}

	ref := "oci:" + dirs[0] + ":" + opts.Version
	out, err := exec.Command(skopeo, "inspect", "--config", ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --config %s: %v", ref, err)
	}
	var cfg struct {
		OS, Architecture string
		Config           struct {
			User       string
			Entrypoint []string
			Env        []string
			Volumes    map[string]any
		}
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/registry"}) || cfg.Config.Volumes["/data"] == nil {
		t.Fatalf("image config: %s", out)
	}

	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack", "--image", dirs[0] + ":" + opts.Version, bundle}
	root := os.Geteuid() == 0
	if !root {
		args = append(args[:1], append([]string{"--rootless"}, args[1:]...)...)
	}
	if b, err := exec.Command(umoci, args...).CombinedOutput(); err != nil {
		t.Fatalf("umoci %v: %v\n%s", args, err, b)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	var spec struct {
		Process struct {
			User struct{ UID, GID int }
			Args []string
		}
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Process.User.UID != 65532 || spec.Process.User.GID != 65532 || !slices.Equal(spec.Process.Args, []string{"/registry"}) {
		t.Errorf("runtime spec process: %+v", spec.Process)
	}
	bin := filepath.Join(rootfs, "registry")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked")
		}
	}
	f.Close()
	if passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc", "passwd")); !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd: %q", passwd)
	}
	if root {
		if uid, gid := owner(t, filepath.Join(rootfs, "data")); uid != 65532 || gid != 65532 {
			t.Errorf("/data owned by %d:%d, want 65532:65532", uid, gid)
		}
	}
	// It runs: a healthcheck with nothing listening exits 1, not an exec error.
	err = exec.Command(bin, "healthcheck", "--addr", "127.0.0.1:1", "--timeout", "200ms").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("the image's binary: %v, want exit status 1", err)
	}
}
