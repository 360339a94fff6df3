// Package etcd runs etcd for the benchmark as real etcd member processes
// of the etcdmember command (talentreg/etcdmember: etcd 3.7's server
// module, embedded, so that no etcd release has to be downloaded or
// installed): the peer users would otherwise put the same records in (one
// member, etcd's default limits and durability), and the clusters the
// registry's etcd backend runs on (one or three members with the limits the
// registry needs). It also encodes the few etcdserverpb messages the
// harness sends, so that no etcd client module is needed: the harness
// speaks etcd's gRPC API through rawgrpc.
package etcd

import (
	"context"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
)

// Package is the import path of the etcdmember command; the harness builds
// it with go build.
const Package = "talentreg/etcdmember"

// gRPC methods of etcd's KV service.
const (
	MethodPut   = "/etcdserverpb.KV/Put"
	MethodRange = "/etcdserverpb.KV/Range"
	MethodTxn   = "/etcdserverpb.KV/Txn"
)

// MaxTxnOps is etcd's default limit of operations in one transaction.
const MaxTxnOps = 128

// Limits are a member's transaction limits: etcd's --max-txn-ops and
// --max-request-bytes.
type Limits struct {
	// TxnOps is the most operations one transaction may hold.
	TxnOps int
	// RequestBytes is the largest request in bytes.
	RequestBytes int
}

var (
	// DefaultLimits are etcd's own defaults, the peer's.
	DefaultLimits = Limits{TxnOps: MaxTxnOps, RequestBytes: 1536 << 10}
	// RegistryLimits are what the registry's etcd backend needs (its
	// etcdkv.DefaultLimits of 45,056 operations and 15 MiB, with 1 MiB of
	// headroom: etcdkv.ServerFlags); it refuses to start below them.
	RegistryLimits = Limits{TxnOps: 45056, RequestBytes: 16777216}
)

// Version returns the etcd server version the etcdmember binary at path was
// built from, read from its build information.
func Version(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "unknown: " + err.Error()
	}
	for _, d := range bi.Deps {
		if d.Path == "go.etcd.io/etcd/server/v3" {
			v := d.Version
			if d.Replace != nil {
				v = d.Replace.Version
			}
			return fmt.Sprintf("etcd server %s (%s, embedded in %s), %s", strings.TrimPrefix(v, "v"), d.Path, Package, bi.GoVersion)
		}
	}
	return "unknown: no go.etcd.io/etcd/server/v3 in " + path
}

// Member is one running etcd member.
type Member struct {
	// Name is the member's name in its cluster (and its process's name).
	Name string
	// Addr is the client address, host:port: gRPC and the HTTP gateway.
	Addr string
	// Proc is the process.
	Proc *proc.Process
}

// Cluster is a running etcd cluster of one or more members.
type Cluster struct {
	// Members are the members, in start order.
	Members []*Member
}

// Endpoints returns the members' client URLs, comma-separated, as the
// registry's --etcd-endpoints takes them.
func (c *Cluster) Endpoints() string {
	urls := make([]string, len(c.Members))
	for i, m := range c.Members {
		urls[i] = "http://" + m.Addr
	}
	return strings.Join(urls, ",")
}

// PIDs returns the members' process ids.
func (c *Cluster) PIDs() []int {
	pids := make([]int, len(c.Members))
	for i, m := range c.Members {
		pids[i] = m.Proc.PID
	}
	return pids
}

// Stop stops every member, each within grace before it is killed.
func (c *Cluster) Stop(grace time.Duration) error {
	var errs []error
	for _, m := range c.Members {
		errs = append(errs, m.Proc.Stop(grace))
	}
	return errors.Join(errs...)
}

// Start starts an n-member etcd cluster of the etcdmember binary bin, its
// members named name (one member) or name-m1 … name-mn, each with its data
// in dir/<member>, on free loopback ports, and waits until every member
// reports healthy (the cluster has a leader). Durability is etcd's
// default: every commit is fsynced, on every member. On failure the
// members already started are stopped.
func Start(ctx context.Context, g *proc.Group, bin, name, dir string, n int, lim Limits, timeout time.Duration) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("etcd: a cluster needs at least one member, got %d", n)
	}
	var c *Cluster
	attempts := 0
	err := proc.RetryExited(ctx, func() error {
		if attempts++; attempts > 1 {
			// The members of the failed attempt wrote their cluster's
			// identity in their data directories: start afresh.
			for i := range n {
				if err := os.RemoveAll(filepath.Join(dir, memberName(name, n, i))); err != nil {
					return err
				}
			}
		}
		var err error
		c, err = start(ctx, g, bin, name, dir, n, lim, timeout)
		return err
	})
	return c, err
}

// memberName names member i of an n-member cluster called name.
func memberName(name string, n, i int) string {
	if n == 1 {
		return name
	}
	return fmt.Sprintf("%s-m%d", name, i+1)
}

// start makes one attempt at Start, on fresh addresses.
func start(ctx context.Context, g *proc.Group, bin, name, dir string, n int, lim Limits, timeout time.Duration) (*Cluster, error) {
	type addrs struct{ name, client, peer string }
	ms := make([]addrs, n)
	initial := make([]string, n)
	for i := range ms {
		ms[i].name = memberName(name, n, i)
		var err error
		if ms[i].client, err = proc.FreeAddr(); err != nil {
			return nil, err
		}
		if ms[i].peer, err = proc.FreeAddr(); err != nil {
			return nil, err
		}
		initial[i] = ms[i].name + "=http://" + ms[i].peer
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{}
	fail := func(err error) (*Cluster, error) {
		c.Stop(5 * time.Second)
		return nil, err
	}
	// The members of a new cluster wait for each other: start all, then
	// wait for each.
	for _, m := range ms {
		p, err := g.Start(proc.Spec{Name: m.name, Path: bin, Args: []string{
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name),
			"--client", m.client,
			"--peer", m.peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--max-txn-ops", strconv.Itoa(lim.TxnOps),
			"--max-request-bytes", strconv.Itoa(lim.RequestBytes),
			// The benchmark writes a few hundred MiB: a quota well above
			// etcd's 2 GiB default, so an alarm never ends a run.
			// Performance is unaffected.
			"--quota-backend-bytes", strconv.Itoa(8 << 30),
			"--log-level", "warn",
		}})
		if err != nil {
			return fail(err)
		}
		c.Members = append(c.Members, &Member{Name: m.name, Addr: m.client, Proc: p})
	}
	for _, m := range c.Members {
		if err := m.Proc.WaitReady(ctx, timeout, m.healthy); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// healthy checks etcd's /health: the member serves and sees a leader.
func (m *Member) healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+m.Addr+"/health", nil)
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
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return err
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd %s /health: %q %s", m.Name, h.Health, h.Reason)
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
