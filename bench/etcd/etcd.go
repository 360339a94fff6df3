// Package etcd runs the benchmark's peer, a single-node etcd (3.4 from
// Debian) with default durability, and encodes the few etcdserverpb
// messages the harness sends, so that no etcd client module is needed: the
// harness speaks etcd's gRPC API through rawgrpc.
package etcd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"

	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
)

// gRPC methods of etcd's KV service.
const (
	MethodPut   = "/etcdserverpb.KV/Put"
	MethodRange = "/etcdserverpb.KV/Range"
	MethodTxn   = "/etcdserverpb.KV/Txn"
)

// MaxTxnOps is etcd's default limit of operations in one transaction.
const MaxTxnOps = 128

// ErrNotInstalled is returned by Find when no etcd binary is on PATH.
var ErrNotInstalled = errors.New("etcd not installed (run scripts/bench-setup.sh)")

// Find returns the path of the etcd binary, running setup (a script that
// installs it, e.g. scripts/bench-setup.sh) first when it is missing and
// setup is not empty.
func Find(ctx context.Context, setup string) (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if setup == "" {
		return "", ErrNotInstalled
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, setup).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", setup, err, tail(out))
	}
	p, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("%s ran but etcd is still missing: %w", setup, ErrNotInstalled)
	}
	return p, nil
}

// Version returns the first line of `etcd --version`.
func Version(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// Server is a running etcd.
type Server struct {
	// Addr is the client address, host:port: gRPC and the HTTP gateway.
	Addr string
	// Proc is the process.
	Proc *proc.Process
}

// Start starts a single-node etcd named name with its data in dir, on free
// loopback ports, and waits until it reports healthy. Durability is etcd's
// default: every commit is fsynced.
func Start(ctx context.Context, g *proc.Group, path, name, dir string, timeout time.Duration) (*Server, error) {
	client, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	peer, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	p, err := g.Start(proc.Spec{Name: name, Path: path, Args: []string{
		"--name", name,
		"--data-dir", dir,
		"--listen-client-urls", "http://" + client,
		"--advertise-client-urls", "http://" + client,
		"--listen-peer-urls", "http://" + peer,
		"--initial-advertise-peer-urls", "http://" + peer,
		"--initial-cluster", name + "=http://" + peer,
		"--logger", "zap",
		"--log-level", "warn",
		// The benchmark writes a few hundred MiB: lift the 2 GiB default
		// quota so an alarm never ends a run. Performance is unaffected.
		"--quota-backend-bytes", "8589934592",
	}})
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: client, Proc: p}
	if err := p.WaitReady(ctx, timeout, s.healthy); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return err
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd /health: %q", h.Health)
	}
	return nil
}

// PutRequest encodes etcdserverpb.PutRequest{key, value}.
func PutRequest(key string, value []byte) []byte {
	b := rawgrpc.AppendString(make([]byte, 0, len(key)+len(value)+8), 1, key)
	return rawgrpc.AppendBytes(b, 2, value)
}

// RangeRequest encodes etcdserverpb.RangeRequest{key}: a point read,
// linearizable as by default.
func RangeRequest(key string) []byte { return rawgrpc.AppendString(nil, 1, key) }

// RangeCount returns the count field of an encoded RangeResponse.
func RangeCount(resp []byte) (uint64, error) { return rawgrpc.VarintField(resp, 4) }

// TxnPuts encodes etcdserverpb.TxnRequest whose success branch holds one
// RequestOp{request_put} per encoded PutRequest (at most MaxTxnOps).
func TxnPuts(puts [][]byte) []byte {
	var b []byte
	for _, p := range puts {
		op := rawgrpc.AppendBytes(nil, 2, p) // RequestOp.request_put
		b = rawgrpc.AppendBytes(b, 2, op)    // TxnRequest.success
	}
	return b
}

// GatewayRangeBody returns the JSON body of `POST /v3/kv/range` for key.
func GatewayRangeBody(key string) []byte {
	return []byte(`{"key":"` + base64.StdEncoding.EncodeToString([]byte(key)) + `"}`)
}

// Load puts every key/value of kv(i) for i in [0, n) through transactions of
// MaxTxnOps puts, conc at a time.
func Load(ctx context.Context, cc *grpc.ClientConn, n, conc int, kv func(i int) (string, []byte)) error {
	errc := make(chan error, conc)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; i < n; i += MaxTxnOps {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range conc {
		go func() {
			var resp rawgrpc.Frame
			for start := range next {
				var puts [][]byte
				for i := start; i < min(start+MaxTxnOps, n); i++ {
					k, v := kv(i)
					puts = append(puts, PutRequest(k, v))
				}
				if err := rawgrpc.Invoke(ctx, cc, MethodTxn, TxnPuts(puts), &resp); err != nil {
					errc <- err
					for range next {
					}
					return
				}
			}
			errc <- nil
		}()
	}
	var errs []error
	for range conc {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[len(s)-500:]
	}
	return s
}
