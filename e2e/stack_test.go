package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"talentreg/platform/auth"
)

// binDir holds the binaries TestMain built.
var binDir string

// buildBinaries builds registry, metrics and gateway into dir, with the race
// detector when the tests themselves run with it.
func buildBinaries(dir string) error {
	// One go build for the three, so that they compile and link in
	// parallel; -o to a folder names each binary after its package:
	// registry, metrics, gateway.
	pkgs := []string{
		"talentreg/services/registry/cmd/registry",
		"talentreg/services/metrics/cmd/metrics",
		"talentreg/gateway/cmd/gateway",
	}
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(append(args, "-o", dir+string(filepath.Separator)), pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// proc is one binary running as a child process, its stderr (JSON logs)
// kept in a file. It is started on port 0 and learns its addresses from
// its "serving" log line; a restart reuses them, since the other processes
// were given them.
type proc struct {
	name    string
	args    []string
	logPath string
	env     []string // added to the test's environment at each start

	// The bound addresses, read from the log when the process started.
	grpcAddr  string // its gRPC address (registry, metrics)
	httpAddr  string // its HTTP API (gateway)
	adminAddr string // its /metrics, when it has one

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit error, once done is closed
}

func newProc(dir, name, bin string, args ...string) *proc {
	return &proc{name: name, args: append([]string{filepath.Join(binDir, bin)}, args...), logPath: filepath.Join(dir, name+".log")}
}

// startTimeout bounds the wait for a process's "serving" log line.
const startTimeout = 30 * time.Second

// pinnedFlags are the listen flags whose port-0 values the first start
// pins to the bound address: other processes are given those addresses.
// The admin address is not pinned: only the tests use it, and they read
// it again from each start's serving line, so a restart takes a fresh
// port instead of one that something else may have taken meanwhile.
var pinnedFlags = []string{"--grpc-addr", "--http-addr"}

// restartBindTimeout bounds how long a restart retries while its pinned
// address is in use: a port freed by the stop can be taken meanwhile as
// the local port of some other process's outgoing connection, which ends
// soon.
const restartBindTimeout = 10 * time.Second

// start starts (or restarts) the process and waits until it logs the
// addresses it serves on; the first start pins them into the arguments so
// that a restart listens where its clients expect it.
func (p *proc) start() error {
	deadline := time.Now().Add(restartBindTimeout)
	for {
		err := p.startOnce()
		if err == nil || !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond) // retry interval, under the deadline above
	}
}

func (p *proc) startOnce() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	served := make(chan servingLine, 1)
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stderr = &logWriter{file: logf, served: served}
	cmd.Stdout = io.Discard
	cmd.Env = append(os.Environ(), p.env...) // GORACE: childRace, from TestMain
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait() // returns once stderr is copied to the log
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	select {
	case line := <-served:
		p.pin(line)
		return nil
	case <-done:
		return fmt.Errorf("%s exited before serving: %v\n%s", p.name, p.wait(0), p.logTail(20))
	case <-time.After(startTimeout):
		p.signal(syscall.SIGKILL)
		_ = p.wait(5 * time.Second)
		return fmt.Errorf("%s logged no serving line within %v\n%s", p.name, startTimeout, p.logTail(20))
	}
}

// pin records the bound addresses and writes them into the arguments in
// place of the port-0 ones.
func (p *proc) pin(line servingLine) {
	bound := map[string]string{"--grpc-addr": line.GRPCAddr, "--http-addr": line.HTTPAddr, "--admin-addr": line.AdminAddr}
	p.grpcAddr, p.httpAddr, p.adminAddr = line.GRPCAddr, line.HTTPAddr, line.AdminAddr
	for i := 1; i+1 < len(p.args); i++ {
		if slices.Contains(pinnedFlags, p.args[i]) && strings.HasSuffix(p.args[i+1], ":0") && bound[p.args[i]] != "" {
			p.args[i+1] = bound[p.args[i]]
		}
	}
}

// servingLine is what a process says about where it serves: the registry
// and metrics log {"msg":"admin serving","addr":…} and then
// {"msg":"serving","grpc_addr":…}; the gateway one line
// {"msg":"serving","http_addr":…,"admin_addr":…}.
type servingLine struct {
	Msg       string `json:"msg"`
	Addr      string `json:"addr"`
	GRPCAddr  string `json:"grpc_addr"`
	HTTPAddr  string `json:"http_addr"`
	AdminAddr string `json:"admin_addr"`
}

// logWriter is a process's stderr: it appends everything to the log file
// and reports the addresses once the "serving" line has passed.
type logWriter struct {
	file    io.Writer
	partial []byte
	admin   string
	served  chan<- servingLine // nil once reported
}

// Write implements io.Writer; exec calls it from one goroutine.
func (w *logWriter) Write(b []byte) (int, error) {
	if _, err := w.file.Write(b); err != nil {
		return 0, err
	}
	if w.served == nil {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		var line servingLine
		if json.Unmarshal(w.partial[:i], &line) == nil {
			switch line.Msg {
			case "admin serving":
				w.admin = line.Addr
			case "serving":
				if line.AdminAddr == "" {
					line.AdminAddr = w.admin
				}
				w.served <- line
				w.served, w.partial = nil, nil
				return len(b), nil
			}
		}
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(sig os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0).
func (p *proc) wait(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return errors.New("never started")
	}
	exit := func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
	// An exited process reports its exit even with timeout 0 (one select
	// on both channels would pick at random).
	select {
	case <-done:
		return exit()
	default:
	}
	select {
	case <-done:
		return exit()
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

// stop sends SIGTERM and waits; it kills the process if it lingers.
func (p *proc) stop(timeout time.Duration) error {
	if !p.running() {
		return nil
	}
	p.signal(syscall.SIGTERM)
	err := p.wait(timeout)
	if p.running() {
		p.signal(syscall.SIGKILL)
		_ = p.wait(5 * time.Second)
	}
	return err
}

// logTail returns the last n lines of the process's log.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stackOptions shape a stack.
type stackOptions struct {
	replicas     int      // metrics replicas, default 1
	registryArgs []string // extra registry flags
	metricsArgs  []string // extra flags of every metrics replica
	gatewayArgs  []string // extra gateway flags
	// replicaRegistry, when set, gives the registry address replica i
	// (from 0) follows, e.g. a proxy to the registry's.
	replicaRegistry func(i int, registryAddr string) string
}

// stack is registry, metrics replicas and a gateway as processes on
// loopback ports of their own choosing, with their data in dir.
type stack struct {
	dir      string
	url      string // the gateway, https://host:port
	registry *proc
	metrics  []*proc
	gateway  *proc
}

// newStack starts a stack, each process on port 0 once the ones it needs
// have said where they serve, and waits until its gateway is ready.
func newStack(dir string, o stackOptions) (*stack, error) {
	if o.replicas == 0 {
		o.replicas = 1
	}
	s := &stack{dir: dir}
	s.registry = newProc(dir, "registry", "registry", append(append([]string{
		"--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--db", filepath.Join(dir, "registry.db"),
	}, serverSecurity("registry")...), o.registryArgs...)...)
	if err := s.registry.start(); err != nil {
		return nil, err
	}
	var metricsAddrs []string
	for i := range o.replicas {
		follow := s.registry.grpcAddr
		if o.replicaRegistry != nil {
			follow = o.replicaRegistry(i, follow)
		}
		m := newProc(dir, fmt.Sprintf("metrics-%d", i+1), "metrics", append(append([]string{
			"--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--registry", follow,
			"--db", filepath.Join(dir, fmt.Sprintf("metrics-%d.db", i+1)),
			"--registry-ca", devFile("ca.crt"), "--client-cert", devFile("metrics.crt"), "--client-key", devFile("metrics.key"),
		}, serverSecurity("metrics")...), o.metricsArgs...)...)
		if err := m.start(); err != nil {
			s.close()
			return nil, err
		}
		s.metrics = append(s.metrics, m)
		metricsAddrs = append(metricsAddrs, m.grpcAddr)
	}
	g := newProc(dir, "gateway", "gateway", append([]string{
		"--http-addr", "127.0.0.1:0", "--admin-addr", "", "--registry", s.registry.grpcAddr, "--metrics", strings.Join(metricsAddrs, ","),
		"--tls-cert", devFile("gateway.crt"), "--tls-key", devFile("gateway.key"),
		"--registry-ca", devFile("ca.crt"), "--metrics-ca", devFile("ca.crt"),
		"--client-cert", devFile("gateway.crt"), "--client-key", devFile("gateway.key"),
	}, o.gatewayArgs...)...)
	if err := g.start(); err != nil {
		s.close()
		return nil, err
	}
	s.gateway, s.url = g, "https://"+g.httpAddr
	if err := s.waitReady(60 * time.Second); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// procs lists the processes started so far, in start order.
func (s *stack) procs() []*proc {
	var ps []*proc
	for _, p := range append(append([]*proc{s.registry}, s.metrics...), s.gateway) {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// waitReady polls the gateway's /readyz until it answers 200.
func (s *stack) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range s.procs() {
			if !p.running() {
				return fmt.Errorf("%s exited: %v\n%s", p.name, p.wait(0), p.logTail(20))
			}
		}
		resp, err := httpClient.Get(s.url + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("gateway not ready within %v: %s", timeout, last)
}

// close stops every process, clients first.
func (s *stack) close() {
	ps := s.procs()
	for i := len(ps) - 1; i >= 0; i-- {
		_ = ps[i].stop(15 * time.Second)
	}
}

// logs returns the tail of every process's log, for failure reports.
func (s *stack) logs(n int) string {
	var b strings.Builder
	for _, p := range s.procs() {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.name, p.logPath, p.logTail(n))
	}
	return b.String()
}

// startStack starts a stack of its own for one test and stops it at the
// end, printing the logs if the test failed.
func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s, err := newStack(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", s.logs(15))
		}
		s.close()
	})
	return s
}

// httpClient is the client of every test request: it trusts the dev CA
// (set up by TestMain); its timeout is a backstop, well above any answer
// the API may take.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// devDir holds the auth config every stack runs with (auth.WriteDevConfig:
// a CA, service certificates, a static token per role).
var devDir string

// tokens are the dev config's static tokens by role.
var tokens = map[string]string{}

func devFile(name string) string { return filepath.Join(devDir, name) }

// setupAuth writes the dev auth config into dir and makes httpClient trust
// its CA.
func setupAuth(dir string) error {
	devDir = dir
	if err := auth.WriteDevConfig(dir, nil); err != nil {
		return err
	}
	// The tests send thousands of bad credentials on purpose: lift the
	// per-source limit on failures (TestAuth_FailuresAreRateLimited runs a
	// stack with a strict one).
	f, err := os.OpenFile(devFile("auth.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("failedAuth: {perMinute: 1000000, burst: 1000000}\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, role := range auth.DevTokenRoles {
		b, err := os.ReadFile(devFile(role + ".token"))
		if err != nil {
			return err
		}
		tokens[role] = strings.TrimSpace(string(b))
	}
	pem, err := os.ReadFile(devFile("ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	devTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	httpClient.Transport = &http.Transport{
		TLSClientConfig:     devTLS.Clone(),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
	}
	return nil
}

// devTLS is the client TLS config that trusts the dev CA.
var devTLS *tls.Config

// authed makes t trust the dev CA and send the admin token on every
// request that carries no Authorization of its own.
func authed(t *http.Transport) http.RoundTripper {
	t.TLSClientConfig = devTLS.Clone()
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tokens[auth.RoleAdmin])
		}
		return t.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// get is httpClient.Get with the admin token.
func get(url string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tokens[auth.RoleAdmin])
	return httpClient.Do(req)
}

// serverSecurity are the flags a service runs with: the dev auth config,
// TLS, and client certificates verified when given (token-only clients
// such as the tests' gRPC calls need none).
func serverSecurity(service string) []string {
	return []string{
		"--auth-config", devFile("auth.yaml"), "--tls-cert", devFile(service + ".crt"), "--tls-key", devFile(service + ".key"),
		"--tls-client-ca", devFile("ca.crt"), "--tls-client-auth", "optional",
	}
}

// resp is one HTTP answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) String() string {
	b := r.Body
	if len(b) > 600 {
		b = append(b[:600:600], "…"...)
	}
	return fmt.Sprintf("%d %s", r.Status, b)
}

// obj decodes the body as a JSON object.
func (r resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %v", err, r)
	}
	return m
}

// revision returns the X-Revision header as a number.
func (r resp) revision(t testing.TB) int64 {
	t.Helper()
	var rev int64
	if _, err := fmt.Sscan(r.Header.Get("X-Revision"), &rev); err != nil || rev <= 0 {
		t.Fatalf("X-Revision %q is not a positive revision: %v", r.Header.Get("X-Revision"), r)
	}
	return rev
}

// send makes one request. body may be nil, a string, []byte or any value
// to encode as JSON; header lists name, value pairs. Requests carry the
// admin token unless header sets Authorization ("" sends none).
func send(ctx context.Context, method, url string, body any, header ...string) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return resp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := tokens[auth.RoleAdmin]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	hr, err := httpClient.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer hr.Body.Close()
	b, err := io.ReadAll(hr.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{Status: hr.StatusCode, Header: hr.Header, Body: b}, nil
}

// call is send for a test: a transport error fails the test.
func (s *stack) call(t testing.TB, method, path string, body any, header ...string) resp {
	t.Helper()
	r, err := send(context.Background(), method, s.url+path, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// must is call that expects 200 and returns the decoded body.
func (s *stack) must(t testing.TB, method, path string, body any, header ...string) (map[string]any, resp) {
	t.Helper()
	r := s.call(t, method, path, body, header...)
	if r.Status != 200 {
		t.Fatalf("%s %s: %v", method, path, r)
	}
	return r.obj(t), r
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
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
		time.Sleep(50 * time.Millisecond)
	}
}
