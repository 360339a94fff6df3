package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"talentreg/deploy/image"
)

// TestDockerfile_MatchesTheDaemonlessImages: no Docker daemon runs here to
// build deploy/docker/Dockerfile, so this keeps it in step with the images
// deploy/image builds (and tests): for each service a target with the same
// binary, entrypoint, user, environment, ports, volume and healthcheck.
func TestDockerfile_MatchesTheDaemonlessImages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]string{}
	var name string
	for _, line := range strings.Split(string(b), "\n") {
		if m := regexp.MustCompile(`^FROM \S+ AS (\S+)$`).FindStringSubmatch(line); m != nil {
			name = m[1]
		}
		stages[name] += line + "\n"
	}
	if !strings.Contains(stages["base"], "FROM scratch AS base") || !strings.Contains(stages["base"], fmt.Sprintf("USER %d:%d", image.UID, image.GID)) {
		t.Errorf("base stage is not scratch as %d:%d:\n%s", image.UID, image.GID, stages["base"])
	}
	for _, s := range image.Services {
		st := stages[s.Name]
		want := []string{
			"FROM base AS " + s.Name,
			fmt.Sprintf("COPY --from=build-%s /out/%s /%s", s.Name, s.Name, s.Name),
			fmt.Sprintf(`ENTRYPOINT ["/%s"]`, s.Name),
			fmt.Sprintf(`CMD ["/%s", "healthcheck"]`, s.Name),
			"ENV " + strings.Join(s.Env, " "),
			"EXPOSE " + strings.Join(s.Ports, " "),
			fmt.Sprintf("--start-period=%s ", dockerDuration(s.StartPeriod)),
		}
		if s.DataDir != "" {
			want = append(want, "VOLUME /"+s.DataDir, fmt.Sprintf("--chown=%d:%d --chmod=0700 /rootfs/%s /%s", image.UID, image.GID, s.DataDir, s.DataDir))
		}
		for _, w := range want {
			if !strings.Contains(st, w) {
				t.Errorf("target %s lacks %q:\n%s", s.Name, w, st)
			}
		}
		if !strings.Contains(stages["build-"+s.Name], s.Package) {
			t.Errorf("stage build-%s does not build %s", s.Name, s.Package)
		}
	}
}

// dockerDuration writes d as a Dockerfile option does: "10s", "2m".
func dockerDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
