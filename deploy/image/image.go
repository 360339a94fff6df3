// Package image builds talentreg's container images without a Docker
// daemon: each one a static Go binary in a single layer over nothing, run
// as a non-root user, written as an OCI image layout. Builds are
// reproducible: the same sources, Go version and Options give the same
// digests (file times are Options.Created, the tar is ordered, the binary
// is built with -trimpath and no VCS stamp).
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID of the user every image runs as (distroless's "nonroot").
const (
	UID = 65532
	GID = 65532
)

// Service describes one service's image.
type Service struct {
	// Name is the binary's name, its path in the image (/Name) and the
	// image's name (talentreg/Name).
	Name string
	// Package is the Go package of its main, relative to the repository.
	Package string
	// Env configures it to listen on every interface, with its data where
	// the volume is.
	Env []string
	// Ports are exposed ports ("9090/tcp").
	Ports []string
	// DataDir is a folder owned by the user, declared a volume ("" none).
	DataDir string
	// StartPeriod is the healthcheck's grace period after start.
	StartPeriod time.Duration
}

// Services are the three images.
var Services = []Service{
	{Name: "registry", Package: "./services/registry/cmd/registry",
		Env:   []string{"TALENTREG_GRPC_ADDR=:9090", "TALENTREG_ADMIN_ADDR=:9091", "TALENTREG_DB=/data/registry.db"},
		Ports: []string{"9090/tcp", "9091/tcp"}, DataDir: "data", StartPeriod: 10 * time.Second},
	{Name: "metrics", Package: "./services/metrics/cmd/metrics",
		Env:   []string{"TALENTREG_GRPC_ADDR=:9190", "TALENTREG_ADMIN_ADDR=:9191", "TALENTREG_DB=/var/lib/talentreg/metrics.db"},
		Ports: []string{"9190/tcp", "9191/tcp"}, DataDir: "var/lib/talentreg", StartPeriod: 2 * time.Minute},
	{Name: "gateway", Package: "./gateway/cmd/gateway",
		Env:   []string{"TALENTREG_HTTP_ADDR=:8080", "TALENTREG_ADMIN_ADDR=:8081"},
		Ports: []string{"8080/tcp", "8081/tcp"}, StartPeriod: 10 * time.Second},
}

// Options are a build's inputs besides the sources.
type Options struct {
	// Repo is the repository's root, where go build runs.
	Repo string
	// Version is the release (the layout's tag), Revision the VCS
	// revision, both recorded as labels.
	Version, Revision string
	// Created is every file's time and the image's creation time.
	Created time.Time
	// Platforms to build for (linux/amd64 when empty); more than one gives
	// an image index.
	Platforms []v1.Platform
	// CABundle is a PEM file installed as /etc/ssl/certs/ca-certificates.crt
	// ("" for none), for services that call out over TLS.
	CABundle string
}

// Build compiles the service for p and returns its image.
func Build(ctx context.Context, s Service, p v1.Platform, o Options) (v1.Image, error) {
	bin, err := compile(ctx, s, p, o.Repo)
	if err != nil {
		return nil, err
	}
	files := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID))},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID))},
		{name: s.Name, mode: 0o755, data: bin},
	}
	if o.CABundle != "" {
		pem, err := os.ReadFile(o.CABundle)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: "etc/ssl/", mode: 0o755, dir: true}, file{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: pem})
	}
	if s.DataDir != "" {
		parts := strings.Split(s.DataDir, "/")
		for i := range parts {
			f := file{name: strings.Join(parts[:i+1], "/") + "/", mode: 0o755, dir: true}
			if i == len(parts)-1 {
				f.mode, f.owned = 0o700, true
			}
			files = append(files, f)
		}
	}
	layerTar, err := tarFiles(files, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS, cfg.Variant = p.Architecture, p.OS, p.Variant
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Author = "talentreg"
	cfg.History = []v1.History{{Created: v1.Time{Time: o.Created}, CreatedBy: "talentreg deploy/cmd/ocibuild: " + s.Name}}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, GID),
		Entrypoint: []string{"/" + s.Name},
		Env:        s.Env,
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":    "talentreg " + s.Name,
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.licenses": "UNLICENSED",
		},
		Healthcheck: &v1.HealthConfig{
			Test:        []string{"CMD", "/" + s.Name, "healthcheck"},
			Interval:    10 * time.Second,
			Timeout:     5 * time.Second,
			StartPeriod: s.StartPeriod,
			Retries:     3,
		},
		ExposedPorts: map[string]struct{}{},
		StopSignal:   "SIGTERM",
	}
	for _, port := range s.Ports {
		cfg.Config.ExposedPorts[port] = struct{}{}
	}
	if s.DataDir != "" {
		cfg.Config.Volumes = map[string]struct{}{"/" + s.DataDir: {}}
	}
	return mutate.ConfigFile(img, cfg)
}

// compile builds a static binary of s for p.
func compile(ctx context.Context, s Service, p v1.Platform, repo string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "ocibuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, s.Name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, s.Package)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=")
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s for %s/%s: %w\n%s", s.Package, p.OS, p.Architecture, err, b)
	}
	return os.ReadFile(out)
}

// file is one entry of the layer.
type file struct {
	name  string
	mode  int64 // permission bits
	dir   bool
	data  []byte
	owned bool // by UID:GID rather than root
}

// tarFiles writes files in name order, every time set to t, owners
// numeric only.
func tarFiles(files []file, t time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, ModTime: t, Format: tar.FormatPAX, Mode: f.mode, Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if f.owned {
			h.Uid, h.Gid = UID, GID
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the service's image for every platform as the OCI image
// layout dir (created; it must not hold a layout already), tagged
// o.Version (its org.opencontainers.image.ref.name). It returns the digest
// of what the tag names: the image, or the index of several platforms.
func Write(ctx context.Context, dir string, s Service, o Options) (v1.Hash, error) {
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}}
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
	}
	path, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	tag := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.Version})
	var imgs []v1.Image
	for _, p := range platforms {
		img, err := Build(ctx, s, p, o)
		if err != nil {
			return v1.Hash{}, err
		}
		imgs = append(imgs, img)
	}
	if len(imgs) == 1 {
		if err := path.AppendImage(imgs[0], tag); err != nil {
			return v1.Hash{}, err
		}
		return imgs[0].Digest()
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range imgs {
		p := platforms[i]
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	if err := path.AppendIndex(idx, tag); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}
