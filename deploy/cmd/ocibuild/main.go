// Command ocibuild builds talentreg's container images without a Docker
// daemon, as OCI image layouts — one folder per service, tagged with the
// version:
//
//	go run ./deploy/cmd/ocibuild -out bin/images -version v0.1.0
//	skopeo copy oci:bin/images/registry:v0.1.0 docker://REGISTRY/talentreg/registry:v0.1.0
//
// The images are reproducible (deploy/image): file and creation times come
// from SOURCE_DATE_EPOCH, or else the last commit's time. It prints each
// image's digest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"talentreg/deploy/image"
)

func main() {
	out := flag.String("out", "bin/images", "folder to write one OCI layout per service into")
	version := flag.String("version", "", "release tag (default: git describe --tags)")
	services := flag.String("services", "registry,metrics,gateway", "comma-separated services to build")
	platforms := flag.String("platforms", "linux/amd64", "comma-separated OS/ARCH[/VARIANT] to build for; several give an image index")
	caBundle := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates to install in the images (empty: none)")
	repo := flag.String("repo", ".", "the repository's root")
	flag.Parse()
	if err := run(context.Background(), *out, *version, *services, *platforms, *caBundle, *repo); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, version, services, platforms, caBundle, repo string) error {
	o := image.Options{Repo: repo, Version: version, CABundle: caBundle}
	if o.Version == "" {
		o.Version = git(repo, "describe", "--tags", "--always", "--dirty")
	}
	if o.Version == "" {
		return errors.New("-version not given and git describe failed")
	}
	o.Revision = git(repo, "rev-parse", "HEAD")
	created, err := sourceDate(repo)
	if err != nil {
		return err
	}
	o.Created = created
	for _, p := range strings.Split(platforms, ",") {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return fmt.Errorf("-platforms %q: %w", p, err)
		}
		o.Platforms = append(o.Platforms, *plat)
	}
	if caBundle != "" {
		if _, err := os.Stat(caBundle); err != nil {
			return fmt.Errorf("-ca-bundle: %w (give -ca-bundle= for none)", err)
		}
	}
	for _, name := range strings.Split(services, ",") {
		s, ok := find(name)
		if !ok {
			return fmt.Errorf("-services: no service %q", name)
		}
		dir := filepath.Join(out, s.Name)
		if _, err := os.Stat(dir); err == nil {
			return fmt.Errorf("%s exists: remove it first", dir)
		}
		digest, err := image.Write(ctx, dir, s, o)
		if err != nil {
			return err
		}
		fmt.Printf("talentreg/%s:%s %s oci:%s:%s\n", s.Name, o.Version, digest, dir, o.Version)
	}
	return nil
}

func find(name string) (image.Service, bool) {
	for _, s := range image.Services {
		if s.Name == name {
			return s, true
		}
	}
	return image.Service{}, false
}

// sourceDate is SOURCE_DATE_EPOCH, else the last commit's time, else the
// Unix epoch.
func sourceDate(repo string) (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		v = git(repo, "log", "-1", "--format=%ct")
	}
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", v, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func git(repo string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	b, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
