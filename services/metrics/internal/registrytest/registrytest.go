// Package registrytest runs the real registry binary for the metrics
// service's integration tests: built once per test binary, started as a
// process on a free loopback port with a database in a temporary folder,
// and stopped, killed or restarted at will. Nothing is mocked.
package registrytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/freeport"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Build compiles the registry into dir and returns the binary's path. Call
// it from TestMain: it takes a while the first time.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "registry")
	cmd := exec.Command("go", "build", "-o", bin, "talentreg/services/registry/cmd/registry")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build registry: %w\n%s", err, out)
	}
	return bin, nil
}

// Options configure a registry process.
type Options struct {
	// RetainChanges is --retain-changes (0: the registry's default).
	RetainChanges int64
	// ProgressInterval is --progress-interval (0: 200 ms, so quiet streams
	// checkpoint quickly in tests).
	ProgressInterval time.Duration
	// Addr is the address to listen on (default: a free loopback port).
	Addr string
}

// Process is a running registry.
type Process struct {
	t    testing.TB
	bin  string
	opts Options
	// Addr is the registry's gRPC address; it stays the same across
	// restarts.
	Addr string
	// DB is the database file.
	DB string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
	stderr *syncBuffer
	conn   *grpc.ClientConn
}

// syncBuffer is a bytes.Buffer safe to read while the process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start starts a registry with a fresh database and waits until its health
// service reports SERVING. It is stopped when the test ends.
func Start(t testing.TB, bin string, opts Options) *Process {
	t.Helper()
	if opts.ProgressInterval == 0 {
		opts.ProgressInterval = 200 * time.Millisecond
	}
	p := &Process{t: t, bin: bin, opts: opts, DB: filepath.Join(t.TempDir(), "registry.db")}
	for attempt := 0; ; attempt++ {
		p.Addr = opts.Addr
		if p.Addr == "" {
			p.Addr = freeport.For(t)
		}
		err := p.start()
		if err == nil {
			break
		}
		if attempt == 2 || opts.Addr != "" {
			t.Fatal(err)
		}
	}
	// Calls wait for the registry to be back after a restart, and the
	// channel retries quickly rather than backing off for minutes.
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: connectTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	p.conn = conn
	t.Cleanup(func() {
		p.Stop()
		_ = conn.Close()
	})
	return p
}

func (p *Process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	args := []string{"--grpc-addr", p.Addr, "--db", p.DB, "--admin-addr", "",
		"--progress-interval", p.opts.ProgressInterval.String(), "--log-level", "warn"}
	if p.opts.RetainChanges > 0 {
		args = append(args, "--retain-changes", strconv.FormatInt(p.opts.RetainChanges, 10))
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Env = []string{} // no TALENTREG_* from the test's environment
	p.stderr = &syncBuffer{}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.cmd, p.exited = cmd, exited
	return p.waitServing(exited)
}

// waitServing polls the health service until SERVING, the process exits,
// or 30 s pass.
func (p *Process) waitServing(exited chan error) error {
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("registry exited while starting: %v\n%s", err, p.stderr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	_ = p.cmd.Process.Kill()
	return fmt.Errorf("registry not serving within 30 s\n%s", p.stderr)
}

// Client returns a registry client over a connection that survives
// restarts.
func (p *Process) Client() registryv1.RegistryServiceClient {
	return registryv1.NewRegistryServiceClient(p.conn)
}

// connectTimeout bounds one connection attempt. Left zero, grpc-go would
// give an attempt only the backoff delay (20 ms), too short on a loaded
// machine.
const connectTimeout = 20 * time.Second

// FailFastClient returns a registry client over its own connection whose
// calls fail at once while the registry is down, as the metrics service's
// do, so that its own retries are what the test exercises.
func (p *Process) FailFastClient() registryv1.RegistryServiceClient {
	p.t.Helper()
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: connectTimeout}))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { _ = conn.Close() })
	return registryv1.NewRegistryServiceClient(conn)
}

// Stop sends SIGTERM and requires a clean exit (code 0) within 30 s. It
// does nothing when the registry is not running.
func (p *Process) Stop() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Errorf("registry exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("registry did not stop within 30 s of SIGTERM\n%s", p.stderr)
	}
	p.cmd = nil
}

// Kill kills the registry with SIGKILL: no shutdown at all.
func (p *Process) Kill() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	err := <-p.exited
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		p.t.Errorf("registry after SIGKILL: %v", err)
	}
	p.cmd = nil
}

// Restart starts the registry again on the same address and database.
func (p *Process) Restart() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatal(err)
	}
}

// Stderr returns what the registry logged (warnings and errors).
func (p *Process) Stderr() string {
	p.mu.Lock()
	buf := p.stderr
	p.mu.Unlock()
	return buf.String()
}

// Main builds the registry into a temporary folder, runs the tests with
// the binary's path in *bin, and exits; use it as TestMain's body.
func Main(m interface{ Run() int }, bin *string) {
	dir, err := os.MkdirTemp("", "registrytest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
