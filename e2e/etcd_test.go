package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/health" // client-side health checking
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"talentreg/platform/auth"
	"talentreg/platform/freeport"
)

// The etcd tests run the registry on a real etcd cluster: members of the
// etcdmember command (the etcd server module, embedded), built here on
// first use, so a fresh machine needs nothing but the Go module proxy.

var (
	etcdBuild    sync.Once
	etcdBin      string
	etcdBuildErr error
)

// etcdMemberBinary builds talentreg/etcdmember into binDir once (without
// -race: it is a peer of the code under test).
func etcdMemberBinary(t *testing.T) string {
	t.Helper()
	etcdBuild.Do(func() {
		etcdBin = filepath.Join(binDir, "etcdmember")
		if out, err := exec.Command("go", "build", "-o", etcdBin, "talentreg/etcdmember").CombinedOutput(); err != nil {
			etcdBuildErr = fmt.Errorf("go build talentreg/etcdmember: %v\n%s", err, out)
		}
	})
	if etcdBuildErr != nil {
		t.Fatal(etcdBuildErr)
	}
	return etcdBin
}

// etcdMember is one etcd member process, restartable on its data and
// ports.
type etcdMember struct {
	name      string
	clientURL string
	args      []string
	logPath   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// etcdCluster is the members of one cluster.
type etcdCluster struct {
	members []*etcdMember
}

// startEtcd starts an n-member cluster with the limits the registry needs
// and fsync on (the tests kill members), and stops it when the test ends.
func startEtcd(t *testing.T, n int) *etcdCluster {
	t.Helper()
	bin := etcdMemberBinary(t)
	dir := t.TempDir()
	c := &etcdCluster{}
	var initial []string
	peers := make([]string, n)
	for i := range n {
		m := &etcdMember{name: fmt.Sprintf("etcd-%d", i+1), logPath: filepath.Join(dir, fmt.Sprintf("etcd-%d.log", i+1))}
		m.clientURL = "http://" + freeport.For(t)
		peers[i] = freeport.For(t)
		initial = append(initial, m.name+"=http://"+peers[i])
		c.members = append(c.members, m)
	}
	for i, m := range c.members {
		m.args = []string{bin, "--name", m.name, "--data-dir", filepath.Join(dir, m.name),
			"--client", strings.TrimPrefix(m.clientURL, "http://"), "--peer", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--log-level", "error",
			"--max-txn-ops", "45056", "--max-request-bytes", "16777216"} // what the registry needs (etcdkv.ServerFlags)
	}
	// A new cluster's members wait for each other: start all, then wait.
	ready := make([]chan error, n)
	for i, m := range c.members {
		ready[i] = m.launch(t)
	}
	t.Cleanup(c.stop)
	for i, m := range c.members {
		m.await(t, ready[i])
	}
	return c
}

// endpoints returns the members' client URLs, comma-separated.
func (c *etcdCluster) endpoints() string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.clientURL)
	}
	return strings.Join(out, ",")
}

// stop stops the members one after the other. Signalled together, the
// graceful stops waited on each other (a leader transfers leadership to
// a member that is stopping too): 7.0 s for the 3 members of
// TestMigrate_BoltStackOntoEtcd, 1.2 s in turn.
func (c *etcdCluster) stop() {
	for _, m := range c.members {
		m.signal(syscall.SIGTERM)
		select {
		case <-m.doneCh():
		case <-time.After(10 * time.Second):
			m.kill()
		}
	}
}

// leader returns the index of the member that leads, asking each through
// the maintenance Status API (etcd's JSON gateway).
func (c *etcdCluster) leader(t *testing.T) int {
	t.Helper()
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			if !m.running() {
				continue
			}
			var st struct {
				Header struct {
					MemberID string `json:"member_id"`
				} `json:"header"`
				Leader string `json:"leader"`
			}
			resp, err := http.Post(m.clientURL+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
			if err != nil {
				last = err
				continue
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil {
				last = err
				continue
			}
			if st.Leader != "" && st.Leader == st.Header.MemberID {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("no etcd member leads within 30 s: %v", last)
	return -1
}

// launch starts the member; the channel receives nil once it serves.
func (m *etcdMember) launch(t *testing.T) chan error {
	t.Helper()
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(m.args[0], m.args[1:]...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent && bytes.Contains(sc.Bytes(), []byte(`"msg":"ready"`)) {
				ready <- nil
				sent = true
			}
		}
		err := cmd.Wait()
		logf.Close()
		if !sent {
			ready <- fmt.Errorf("exited before ready: %v", err)
		}
		close(done)
	}()
	return ready
}

func (m *etcdMember) await(t *testing.T, ready chan error) {
	t.Helper()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("etcd member %s: %v\n%s", m.name, err, tail(m.logPath, 20))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("etcd member %s not ready within 60 s\n%s", m.name, tail(m.logPath, 20))
	}
}

// kill kills the member with SIGKILL and waits for it to exit.
func (m *etcdMember) kill() {
	m.signal(syscall.SIGKILL)
	<-m.doneCh()
}

// restart starts a killed member again on its data, as a member of the
// existing cluster, and waits until it serves.
func (m *etcdMember) restart(t *testing.T) {
	t.Helper()
	<-m.doneCh()
	if !strings.Contains(strings.Join(m.args, " "), "--initial-cluster-state") {
		m.args = append(m.args, "--initial-cluster-state", "existing")
	}
	m.await(t, m.launch(t))
}

func (m *etcdMember) signal(sig os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Signal(sig)
	}
}

func (m *etcdMember) doneCh() chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return m.done
}

func (m *etcdMember) running() bool {
	select {
	case <-m.doneCh():
		return false
	default:
		return true
	}
}

// tail returns the last n lines of a log file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// registryArgs are the flags of a registry replica on the cluster, on
// grpcAddr (127.0.0.1:0 for any port), probing its quorum every
// healthInterval.
func registryArgs(dir, grpcAddr, endpoints, healthInterval string) []string {
	return append([]string{"--grpc-addr", grpcAddr, "--admin-addr", "127.0.0.1:0", "--db", filepath.Join(dir, "unused.db"),
		"--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", "/talentreg/",
		"--etcd-health-interval", healthInterval, "--progress-interval", "200ms"}, serverSecurity("registry")...)
}

// metricsArgs are the flags of a metrics replica following registries.
func metricsArgs(dir, registries string) []string {
	return append([]string{"--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--registry", registries,
		"--db", filepath.Join(dir, "metrics.db"), "--reconnect-max", "500ms", "--checkpoint-interval", "200ms",
		"--registry-ca", devFile("ca.crt"), "--client-cert", devFile("metrics.crt"), "--client-key", devFile("metrics.key"),
	}, serverSecurity("metrics")...)
}

// gatewayArgs are the flags of a gateway in front of registries and one
// metrics replica.
func gatewayArgs(registries, metrics string) []string {
	return []string{"--http-addr", "127.0.0.1:0", "--admin-addr", "", "--registry", registries, "--metrics", metrics,
		"--tls-cert", devFile("gateway.crt"), "--tls-key", devFile("gateway.key"),
		"--registry-ca", devFile("ca.crt"), "--metrics-ca", devFile("ca.crt"),
		"--client-cert", devFile("gateway.crt"), "--client-key", devFile("gateway.key"), "--reconnect-max-delay", "500ms"}
}

// startProc starts p, stopping it when the test ends and printing its log
// if the test failed.
func startProc(t *testing.T, p *proc) *proc {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s\n%s", p.name, p.logTail(30))
		}
		_ = p.stop(15 * time.Second)
	})
	return p
}

// adminToken sends the admin token on every call.
type adminToken struct{}

func (adminToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + tokens[auth.RoleAdmin]}, nil
}

func (adminToken) RequireTransportSecurity() bool { return true }

// replicasConn dials the registry or metrics replicas at addrs over TLS
// with the admin token. With several addresses calls are balanced over
// those whose health is SERVING, as the metrics service and the gateway
// do; reconnects are quick.
func replicasConn(t *testing.T, addrs ...string) *grpc.ClientConn {
	t.Helper()
	r := manual.NewBuilderWithScheme("e2e-replicas")
	var state resolver.State
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: "127.0.0.1"})
	}
	r.InitialState(state)
	conn, err := grpc.NewClient(r.Scheme()+":///replicas", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(credentials.NewTLS(devTLS.Clone())),
		grpc.WithPerRPCCredentials(adminToken{}),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: 500 * time.Millisecond},
			// Without it the handshake's deadline is the backoff delay (50 ms),
			// which a TLS handshake on a loaded machine overruns.
			MinConnectTimeout: 20 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// healthOf returns the grpc.health.v1 status of service at addr, on a
// connection of its own (not balanced).
func healthOf(addr, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(devTLS.Clone())))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	return resp.GetStatus(), err
}

// waitHealth waits until service at addr reports want.
func waitHealth(t *testing.T, p *proc, service string, want healthpb.HealthCheckResponse_ServingStatus, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		if !p.running() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.wait(0), p.logTail(20))
		}
		if got, err := healthOf(p.grpcAddr, service); got != want {
			return fmt.Errorf("%s: %v %v, want %v", p.name, got, err, want)
		}
		return nil
	})
}

// sample returns the value of an unlabelled metric on p's admin port.
func sample(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	e, err := scrapeAdmin(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.value(name)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return v
}
