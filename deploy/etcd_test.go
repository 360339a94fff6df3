package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/devcerts"
	"talentreg/platform/freeport"
)

// TestEtcdManifests_RunForReal runs what overlays/production-ha and the
// migration jobs render, with real processes: three etcd members of the
// release the image pins (built from the etcd server module of
// etcdmember/go.mod, which the etcd image is built from) start with the
// StatefulSet's flags and environment — host names, ports and file paths
// mapped onto loopback and temporary folders, nothing else changed — and
// form a cluster over mutual TLS with certificates made as the runbook
// says; every probe path answers 200. A bbolt registry is copied into the
// cluster with the arguments of jobs/migrate-to-etcd and checked with its
// check container's; a registry replica started with the StatefulSet's
// arguments (its TLS and auth towards clients left out) serves it — its
// check of etcd's limits passed — with the bbolt registry's id and the
// entity written on bbolt. Every
// metric etcd-rules.yml queries is exported by a member; then
// jobs/migrate-to-bolt copies the registry back into a file its check
// container verifies.
func TestEtcdManifests_RunForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd and the registry, runs three etcd members")
	}
	kustomize := needTool(t, "kustomize")
	ha := renderObjects(t, kustomize, "overlays/production-ha")
	toEtcd := renderObjects(t, kustomize, "jobs/migrate-to-etcd").byName["Job/registry-migrate-to-etcd"]
	toBolt := renderObjects(t, kustomize, "jobs/migrate-to-bolt").byName["Job/registry-migrate-to-bolt"]
	etcdSts, regSts := ha.byName["StatefulSet/etcd"], ha.byName["StatefulSet/registry"]
	if etcdSts == nil || regSts == nil || toEtcd == nil || toBolt == nil {
		t.Fatal("production-ha or the migration jobs lack a workload")
	}

	dir := t.TempDir()
	bin := func(name, pkg string) string {
		out := filepath.Join(dir, "bin", name)
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		return out
	}
	etcdBin := bin("etcd", "go.etcd.io/etcd/server/v3")
	registryBin := bin("registry", "talentreg/services/registry/cmd/registry")

	// One CA for the members' client and peer certificates and the
	// registry's, as the runbook makes them; each Secret's layout
	// (tls.crt, tls.key, ca.crt) in a folder of its own.
	certs := filepath.Join(dir, "certs")
	ca, err := devcerts.NewCA("talentreg-etcd-ca")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ secret, name string }{{"server", "etcd-server"}, {"peer", "etcd-peer"}, {"client", "talentreg-registry"}} {
		d := filepath.Join(certs, c.secret)
		leaf, err := ca.Issue(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := leaf.Write(d, "tls"); err != nil {
			t.Fatal(err)
		}
		if err := ca.Write(d, "ca"); err != nil {
			t.Fatal(err)
		}
	}

	members, _ := etcdSts.get("spec", "replicas").(int)
	ports := freePorts(t, 3*members+2)
	etcdPort := func(member int, kind string) int {
		return ports[3*member+map[string]int{"2379": 0, "2380": 1, "2381": 2}[kind]]
	}
	regGRPC, regAdmin := ports[3*members], ports[3*members+1]
	hostPort := regexp.MustCompile(`etcd-(\d+)\.etcd:(2379|2380)|0\.0\.0\.0:(2379|2380|2381)`)
	var paths []string // container path prefix, local folder: set per use
	localize := func(member int, s string) string {
		s = strings.ReplaceAll(s, "$(POD_NAME)", fmt.Sprintf("etcd-%d", member))
		s = hostPort.ReplaceAllStringFunc(s, func(m string) string {
			sm := hostPort.FindStringSubmatch(m)
			if sm[1] != "" {
				var j int
				fmt.Sscan(sm[1], &j)
				return fmt.Sprintf("127.0.0.1:%d", etcdPort(j, sm[2]))
			}
			return fmt.Sprintf("127.0.0.1:%d", etcdPort(member, sm[3]))
		})
		for i := 0; i+1 < len(paths); i += 2 {
			s = strings.ReplaceAll(s, paths[i], paths[i+1])
		}
		return s
	}
	// mustBeLocal: nothing of the cluster's names or paths is left.
	leftover := regexp.MustCompile(`\.etcd:|0\.0\.0\.0|\$\(|=/etc/|=/var/|=/data/|:/data/`)
	localArgs := func(t *testing.T, member int, args []string) []string {
		t.Helper()
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = localize(member, a)
			if leftover.MatchString(out[i]) {
				t.Fatalf("argument %q is not mapped onto this machine (%q)", a, out[i])
			}
		}
		return out
	}

	// The etcd members.
	c := containerOf(etcdSts, "etcd")
	command, _ := c["command"].([]any)
	if len(command) != 1 || command[0] != "/usr/local/bin/etcd" {
		t.Fatalf("etcd command %v, want the image's /usr/local/bin/etcd", command)
	}
	for i := range members {
		data := filepath.Join(dir, fmt.Sprintf("etcd-%d", i))
		paths = []string{"/etc/etcd/tls/", certs + "/", "/var/lib/etcd/", data + "/"}
		env := []string{"PATH=" + os.Getenv("PATH")}
		envs, _ := c["env"].([]any)
		for _, e := range envs {
			em := object(e.(map[string]any))
			value := fmt.Sprint(em["value"])
			switch {
			case em.get("valueFrom", "fieldRef", "fieldPath") == "metadata.name":
				value = fmt.Sprintf("etcd-%d", i)
			case em.get("valueFrom", "configMapKeyRef") != nil:
				value = fmt.Sprint(ha.byName[fmt.Sprint("ConfigMap/", em.get("valueFrom", "configMapKeyRef", "name"))].
					get("data", fmt.Sprint(em.get("valueFrom", "configMapKeyRef", "key"))))
			}
			env = append(env, fmt.Sprint(em["name"])+"="+localize(i, value))
		}
		startProc(t, fmt.Sprintf("etcd-%d", i), etcdBin, localArgs(t, i, stringList(c["args"])), env)
	}
	for i := range members {
		for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			url := fmt.Sprintf("http://127.0.0.1:%d%v", etcdPort(i, "2381"), c.get(probe, "httpGet", "path"))
			waitFor(t, 60*time.Second, func() error { return get200(url) })
		}
	}

	// A registry on bbolt, as the single-replica overlays run it.
	boltDir := filepath.Join(dir, "bolt")
	bolt := startProc(t, "registry-bolt", registryBin, []string{"--db=" + filepath.Join(boltDir, "registry.db"),
		fmt.Sprintf("--grpc-addr=127.0.0.1:%d", regGRPC), "--admin-addr="}, nil)
	waitServing(t, registryBin, regGRPC)
	boltID := bolt.registryID(t)
	created := createEntity(t, regGRPC)
	bolt.stop(t)

	// jobs/migrate-to-etcd: migrate, then check.
	paths = []string{"/etc/talentreg/etcd/", filepath.Join(certs, "client") + "/", "/data/", boltDir + "/"}
	for _, name := range []string{"migrate", "check"} {
		runJobContainer(t, registryBin, localArgs(t, 0, jobArgs(toEtcd, name)))
	}

	// A registry replica as the StatefulSet runs it.
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range stringList(containerOf(regSts, "registry")["args"]) {
		switch flag, _, _ := strings.Cut(a, "="); flag {
		case "--auth-config", "--tls-cert", "--tls-key", "--tls-client-ca":
			continue // towards its clients: e2e tests these
		case "--grpc-addr":
			a = fmt.Sprintf("--grpc-addr=127.0.0.1:%d", regGRPC)
		case "--admin-addr":
			a = fmt.Sprintf("--admin-addr=127.0.0.1:%d", regAdmin)
		}
		args = append(args, a)
	}
	replica := startProc(t, "registry-etcd", registryBin, localArgs(t, 0, args), []string{"TMPDIR=" + tmp})
	waitServing(t, registryBin, regGRPC)
	if id := replica.registryID(t); id != boltID {
		t.Errorf("the registry on etcd has id %s, the bbolt one had %s: migrate keeps it", id, boltID)
	}
	if got := getEntity(t, regGRPC, created.GetName()); !proto.Equal(got, created) {
		t.Errorf("on etcd the entity reads %v; on bbolt it was %v", got, created)
	}

	// Every metric the etcd rules query, exported by a member or the
	// registry (kubelet_volume_stats_* and up come from elsewhere).
	exported := map[string]bool{}
	for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/metrics", etcdPort(0, "2381")), fmt.Sprintf("http://127.0.0.1:%d/metrics", regAdmin)} {
		for n := range scrapeNames(t, url) {
			exported[n] = true
		}
	}
	queried := 0
	for _, expr := range ruleExprs(t, "prometheus/etcd-rules.yml") {
		for _, n := range metricNames(expr) {
			queried++
			if !exported[n] && n != "up" && !strings.HasPrefix(n, "kubelet_volume_stats_") {
				t.Errorf("etcd-rules.yml queries %s, which etcd %s does not export", n, strings.TrimPrefix(fmt.Sprint(containerOf(etcdSts, "etcd")["image"]), "quay.io/coreos/etcd:"))
			}
		}
	}
	if queried < 10 {
		t.Errorf("only %d metric names in etcd-rules.yml: did it parse?", queried)
	}
	replica.stop(t)

	// jobs/migrate-to-bolt: into a new file, then check it.
	backDir := filepath.Join(dir, "back")
	if err := os.MkdirAll(backDir, 0o700); err != nil {
		t.Fatal(err)
	}
	paths = []string{"/etc/talentreg/etcd/", filepath.Join(certs, "client") + "/", "/data/", backDir + "/"}
	for _, name := range []string{"migrate", "check"} {
		runJobContainer(t, registryBin, localArgs(t, 0, jobArgs(toBolt, name)))
	}
}

// registryClient connects to a registry on loopback, without TLS.
func registryClient(t *testing.T, port int) registryv1.RegistryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registryv1.NewRegistryServiceClient(conn)
}

func createEntity(t *testing.T, port int) *registryv1.Entity {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := registryClient(t, port).CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: "tianjin-university",
		Entity: &registryv1.Entity{DisplayName: "Tianjin University", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, Region: "Tianjin"}})
	if err != nil {
		t.Fatalf("CreateEntity: %v", err)
	}
	return r.GetEntity()
}

func getEntity(t *testing.T, port int, name string) *registryv1.Entity {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := registryClient(t, port).GetEntity(ctx, &registryv1.GetEntityRequest{Name: name})
	if err != nil {
		t.Fatalf("GetEntity %s: %v", name, err)
	}
	return r.GetEntity()
}

// proc is a process a test started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

// startProc starts bin with args and env (added to none of the test's
// environment but PATH) and stops it when the test ends, showing its log
// when the test failed.
func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan error, 1)}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
	return p
}

// stop ends the process with SIGTERM (SIGKILL after 20 s) once.
func (p *proc) stop(t *testing.T) {
	if p.done == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop on SIGTERM within 20s", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.done = nil
}

// registryID returns the registry id the registry logged when it started
// serving.
func (p *proc) registryID(t *testing.T) string {
	t.Helper()
	f, err := os.Open(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			ID  string `json:"registry_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" && line.ID != "" {
			return line.ID
		}
	}
	t.Fatalf("%s logged no serving line with its registry id", p.name)
	return ""
}

// runJobContainer runs the registry binary with a job container's
// arguments; it must exit 0.
func runJobContainer(t *testing.T, bin string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("registry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("registry %s:\n%s", args[0], out)
}

// jobArgs returns the arguments of a Job's container or init container.
func jobArgs(job object, container string) []string {
	ps, _ := podSpecOf(job)
	cs, _ := ps["containers"].([]any)
	ics, _ := ps["initContainers"].([]any)
	for _, c := range append(cs, ics...) {
		if cm, _ := c.(map[string]any); cm["name"] == container {
			return stringList(cm["args"])
		}
	}
	return nil
}

func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// waitServing waits until `registry healthcheck` finds the registry on
// port SERVING.
func waitServing(t *testing.T, bin string, port int) {
	t.Helper()
	waitFor(t, 60*time.Second, func() error {
		out, err := exec.Command(bin, "healthcheck", fmt.Sprintf("--addr=127.0.0.1:%d", port)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// waitFor polls f until it succeeds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get200(url string) error {
	c := http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		return fmt.Errorf("%s: %s %s", url, r.Status, b)
	}
	return nil
}

// scrapeNames returns the metric names of a /metrics page (histogram
// series under their _bucket, _sum and _count names).
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("%s: %v %v", url, r.Status, err)
	}
	names := map[string]bool{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if i := bytes.IndexAny(line, "{ "); i > 0 {
			names[string(line[:i])] = true
		}
	}
	return names
}

// ruleExprs returns the expression of every rule in a rules file.
func ruleExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// freePorts returns n distinct loopback ports below the ephemeral range,
// free a moment ago (freeport).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	addrs, err := freeport.Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, n)
	for i, a := range addrs {
		_, port, _ := net.SplitHostPort(a)
		out[i], _ = strconv.Atoi(port)
	}
	return out
}
