// Command etcdmember runs one real etcd member, built from the etcd
// server module (go.etcd.io/etcd/server/v3/embed), for tests and
// benchmarks that need etcd without a binary download: the registry's etcd
// backend tests, the fault test that kills members, and the benchmark's
// etcd peer. It is not part of a deployment: production runs etcd's own
// releases.
//
//	etcdmember --name m1 --data-dir DIR --client 127.0.0.1:2379 --peer 127.0.0.1:2380 \
//	           --initial-cluster m1=http://127.0.0.1:2380,m2=…
//
// Once the member serves it prints one JSON line to stdout:
// {"msg":"ready","name":…,"client":"http://…"}; SIGTERM stops it cleanly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("etcdmember", flag.ContinueOnError)
	name := fs.String("name", "default", "member name")
	dir := fs.String("data-dir", "", "data directory (required)")
	client := fs.String("client", "127.0.0.1:2379", "client listen address host:port")
	peer := fs.String("peer", "127.0.0.1:2380", "peer listen address host:port")
	cluster := fs.String("initial-cluster", "", "name=http://peer,… (default: this member alone)")
	state := fs.String("initial-cluster-state", "new", "new or existing")
	maxTxnOps := fs.Uint("max-txn-ops", 128, "operations allowed in one transaction (etcd's default is 128; the registry needs --max-txn-ops=45056)")
	maxReqBytes := fs.Uint("max-request-bytes", 1572864, "largest request in bytes (etcd's default is 1.5 MiB; the registry needs --max-request-bytes=16777216)")
	quota := fs.Int64("quota-backend-bytes", 8<<30, "backend size quota in bytes")
	electionMs := fs.Uint("election-timeout", 1000, "election timeout in milliseconds (etcd's default); a request not applied within 5 s plus twice this is answered \"request timed out\"")
	unsafeNoSync := fs.Bool("unsafe-no-fsync", false, "skip fsync (never for durability tests)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--data-dir is required")
	}
	cu, err := url.Parse("http://" + *client)
	if err != nil {
		return fmt.Errorf("--client: %w", err)
	}
	pu, err := url.Parse("http://" + *peer)
	if err != nil {
		return fmt.Errorf("--peer: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = *name, *dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = *cluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = *name + "=" + pu.String()
	}
	cfg.ClusterState = *state
	cfg.InitialClusterToken = "talentreg-test"
	cfg.MaxTxnOps = *maxTxnOps
	cfg.MaxRequestBytes = *maxReqBytes
	cfg.QuotaBackendBytes = *quota
	cfg.UnsafeNoFsync = *unsafeNoSync
	cfg.ElectionMs = *electionMs
	cfg.LogLevel = *logLevel
	cfg.LogOutputs = []string{"stderr"}
	// Progress notifications on quiet watches, as the registry's watch of
	// the change log asks for them.
	cfg.WatchProgressNotifyInterval = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		return err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
	line, _ := json.Marshal(map[string]string{"msg": "ready", "name": *name, "client": cu.String(), "members": strings.TrimSpace(cfg.InitialCluster)})
	fmt.Println(string(line))
	select {
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
}
