// Package stack runs the real talentreg services for tests: it builds the
// registry and metrics binaries from the workspace once per test process,
// starts them as processes on free loopback ports with databases in a
// temporary directory, waits until they serve, and stops them when the test
// ends. Nothing is mocked.
package stack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The main packages of the services.
const (
	// RegistryPkg is the registry's main package.
	RegistryPkg = "talentreg/services/registry/cmd/registry"
	// MetricsPkg is the metrics service's main package.
	MetricsPkg = "talentreg/services/metrics/cmd/metrics"
)

var (
	binDir  string
	builtMu sync.Mutex
	built   = map[string]string{} // package → binary, or "" if it does not build
	buildLg = map[string]string{} // package → build output on failure
)

// Main runs the tests of a package that uses stack and removes the binaries
// afterwards. Call it from TestMain: os.Exit(stack.Main(m)).
func Main(m *testing.M) int {
	defer func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	}()
	return m.Run()
}

// Binary returns the path of the binary built from pkg, building it on the
// first call. It skips the test when pkg does not build yet (the service
// has not landed) and fails it on any other build problem.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if bin, ok := built[pkg]; ok {
		if bin == "" {
			t.Skipf("%s does not build: %s", pkg, buildLg[pkg])
		}
		return bin
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "talentctl-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = dir
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		built[pkg], buildLg[pkg] = "", strings.TrimSpace(string(out))
		t.Skipf("%s does not build: %s", pkg, out)
	}
	built[pkg] = bin
	return bin
}

// Process is a started service.
type Process struct {
	// Addr is the gRPC address it serves on.
	Addr string
	// Dir is its temporary directory, holding its database.
	Dir string

	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

// CPU returns the processor time (user and system) the process has used so
// far, from /proc (Linux).
func (p *Process) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at
	// state; utime and stime are fields 14 and 15, in clock ticks of 1/100 s.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", p.cmd.Process.Pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Log returns everything the process has written to stderr so far.
func (p *Process) Log() string { return p.stderr.String() }

// Start runs bin with args plus --grpc-addr 127.0.0.1:0 and --admin-addr
// 127.0.0.1:0, reads the address it serves on from its "serving" log
// line, waits until its gRPC health check says SERVING (bounded by a
// deadline; no sleeps), and stops it with SIGTERM when the test ends,
// failing the test if it then exits with an error.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	return start(t, bin, insecure.NewCredentials(), args...)
}

// SecureRegistry starts a registry with a fresh database and the dev auth
// config in devDir (auth.WriteDevConfig): authentication and TLS on,
// client certificates optional.
func SecureRegistry(t testing.TB, devDir string) *Process {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(devDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	f := func(name string) string { return filepath.Join(devDir, name) }
	return start(t, Binary(t, RegistryPkg), credentials.NewTLS(&tls.Config{RootCAs: pool}),
		"--db", filepath.Join(t.TempDir(), "registry.db"), "--auth-config", f("auth.yaml"),
		"--tls-cert", f("registry.crt"), "--tls-key", f("registry.key"), "--tls-client-ca", f("ca.crt"), "--tls-client-auth", "optional")
}

func start(t testing.TB, bin string, creds credentials.TransportCredentials, args ...string) *Process {
	t.Helper()
	p := &Process{Dir: t.TempDir(), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	args = append(args, "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = cleanEnv()
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(line, '\n'))
			var entry struct {
				Msg      string `json:"msg"`
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "serving" && entry.GRPCAddr != "" {
				select {
				case addr <- entry.GRPCAddr:
				default:
				}
			}
		}
		io.Copy(io.Discard, pipe)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case p.Addr = <-addr:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("%s exited before serving (%v):\n%s", filepath.Base(bin), err, p.Log())
	case <-ctx.Done():
		t.Fatalf("%s did not log its address within 30s:\n%s", filepath.Base(bin), p.Log())
	}
	if err := waitServing(ctx, p.Addr, creds); err != nil {
		t.Fatalf("%s at %s: %v\n%s", filepath.Base(bin), p.Addr, err, p.Log())
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *Process) stop(t testing.TB) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM:\n%s", p.cmd.Path, err, p.Log())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 30s of SIGTERM", p.cmd.Path)
	}
}

// Registry starts a registry with a fresh database.
func Registry(t testing.TB) *Process {
	t.Helper()
	bin := Binary(t, RegistryPkg)
	dir := t.TempDir()
	return Start(t, bin, "--db", filepath.Join(dir, "registry.db"))
}

// Metrics starts a metrics service following the registry at registryAddr,
// with a fresh database.
func Metrics(t testing.TB, registryAddr string) *Process {
	t.Helper()
	bin := Binary(t, MetricsPkg)
	dir := t.TempDir()
	return Start(t, bin, "--registry", registryAddr, "--db", filepath.Join(dir, "metrics.db"))
}

// waitServing watches the gRPC health service until the server reports
// SERVING or ctx ends.
func waitServing(ctx context.Context, addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			return fmt.Errorf("not serving: %w", err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
	}
}

// cleanEnv is the test's environment without TALENTREG_ variables, so a
// developer's settings cannot reach the services under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TALENTREG_") {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
