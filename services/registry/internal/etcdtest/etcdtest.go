// Package etcdtest runs real etcd members for tests: the etcdmember
// command (the etcd server module, embedded) built once per test binary,
// started as processes on free loopback ports with data in a temporary
// folder. Nothing is mocked.
package etcdtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"talentreg/platform/freeport"
	"talentreg/services/registry/etcdkv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the etcdmember binary, building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func binary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "etcdmember-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "etcdmember")
		out, err := exec.Command("go", "build", "-o", binPath, "talentreg/etcdmember").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build talentreg/etcdmember: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// Member is one etcd member process.
type Member struct {
	Name       string
	ClientURL  string
	PeerURL    string
	dir        string
	args       []string
	bin        string
	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	stderrPath string
}

// Cluster is a set of members started together.
type Cluster struct {
	Members []*Member
}

// Endpoints returns the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Options tune a cluster.
type Options struct {
	// MaxTxnOps and MaxRequestBytes are the members' limits (defaults:
	// what the registry needs, etcdkv.ServerFlags(etcdkv.DefaultLimits):
	// 45056 and 16777216).
	MaxTxnOps       int
	MaxRequestBytes int
	// NoFsync runs the members without fsync: for tests of logic, never
	// of durability.
	NoFsync bool
	// SlowApply lets a member take up to 25 s (instead of etcd's 7 s) to
	// apply one request before answering "request timed out": for tests
	// of the largest transactions on a loaded test machine (an election
	// timeout of 10 s; a single member elects itself at once).
	SlowApply bool
}

// Start starts an n-member cluster and stops it when the test ends.
func Start(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c, err := StartCluster(n, o, t.TempDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Stop stops every member.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// StartCluster starts an n-member cluster with its data in folders made
// by tempDir; the caller stops it (Stop). For TestMain, where there is no
// testing.TB.
func StartCluster(n int, o Options, tempDir func() string) (*Cluster, error) {
	ops, reqBytes := etcdkv.ServerFlags(etcdkv.DefaultLimits)
	if o.MaxTxnOps == 0 {
		o.MaxTxnOps = ops
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = reqBytes
	}
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	// Below the ephemeral range: the members bind them later (freeport).
	addrs, err := freeport.Addrs(2 * n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i+1), bin: bin, dir: tempDir()}
		m.ClientURL, m.PeerURL = "http://"+addrs[2*i], "http://"+addrs[2*i+1]
		initial = append(initial, m.Name+"="+m.PeerURL)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.args = []string{"--name", m.Name, "--data-dir", filepath.Join(m.dir, "data"),
			"--client", strings.TrimPrefix(m.ClientURL, "http://"), "--peer", strings.TrimPrefix(m.PeerURL, "http://"),
			"--initial-cluster", strings.Join(initial, ","), "--log-level", "error",
			"--max-txn-ops", fmt.Sprint(o.MaxTxnOps), "--max-request-bytes", fmt.Sprint(o.MaxRequestBytes)}
		if o.NoFsync {
			m.args = append(m.args, "--unsafe-no-fsync")
		}
		if o.SlowApply {
			m.args = append(m.args, "--election-timeout", "10000")
		}
		m.stderrPath = filepath.Join(m.dir, "stderr.log")
	}
	// Members of a new cluster wait for each other: start all, then wait.
	ready := make([]chan error, n)
	for i, m := range c.Members {
		ready[i] = make(chan error, 1)
		if err := m.launch(ready[i]); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for i, m := range c.Members {
		select {
		case err := <-ready[i]:
			if err != nil {
				c.Stop()
				return nil, fmt.Errorf("etcd member %s: %v\n%s", m.Name, err, m.Log())
			}
		case <-time.After(60 * time.Second):
			c.Stop()
			return nil, fmt.Errorf("etcd member %s not ready within 60s\n%s", m.Name, m.Log())
		}
	}
	return c, nil
}

// launch starts the member process; ready receives nil once it serves.
func (m *Member) launch(ready chan<- error) error {
	errf, err := os.OpenFile(m.stderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stderr = errf
	out, err := cmd.StdoutPipe()
	if err != nil {
		errf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		errf.Close()
		return err
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			var line struct{ Msg string }
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "ready" {
				ready <- nil
				sent = true
			}
		}
		err := cmd.Wait()
		errf.Close()
		if !sent {
			ready <- fmt.Errorf("exited before ready: %v", err)
		}
		close(done)
	}()
	return nil
}

// Kill kills the member with SIGKILL and waits for it to exit.
func (m *Member) Kill() {
	m.signal(syscall.SIGKILL)
	m.wait()
}

// Pause freezes the member (SIGSTOP): its connections stay open and
// nothing answers, like a machine cut off from the network.
func (m *Member) Pause() { m.signal(syscall.SIGSTOP) }

// Resume lets a paused member run again (SIGCONT).
func (m *Member) Resume() { m.signal(syscall.SIGCONT) }

// Stop stops the member with SIGTERM (SIGKILL after 10 s).
func (m *Member) Stop() {
	m.signal(syscall.SIGTERM)
	select {
	case <-m.doneCh():
	case <-time.After(10 * time.Second):
		m.Kill()
	}
}

// Restart starts a stopped or killed member again on its data and ports.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	m.wait()
	args := append([]string{}, m.args...)
	args = append(args, "--initial-cluster-state", "existing")
	m.args = args
	ready := make(chan error, 1)
	if err := m.launch(ready); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("restart %s: %v\n%s", m.Name, err, m.Log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("restarted %s not ready within 60s", m.Name)
	}
}

func (m *Member) signal(sig os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Signal(sig)
	}
}

func (m *Member) doneCh() chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return m.done
}

func (m *Member) wait() { <-m.doneCh() }

// Log returns the member's stderr.
func (m *Member) Log() string {
	b, _ := os.ReadFile(m.stderrPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
