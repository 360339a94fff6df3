package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/internal/etcdtest"

	"talentreg/platform/freeport"
)

// etcdLeader returns the index in c.Members of the member that leads.
func etcdLeader(t *testing.T, c *etcdtest.Cluster) int {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, m := range c.Members {
		st, err := cli.Status(ctx, m.ClientURL)
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no member says it leads")
	return -1
}

// waitHealth polls the registry's health, for the whole server and for
// the registry service, until both are want, failing after timeout.
func waitHealth(t *testing.T, health healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus, timeout time.Duration, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		var last string
		for _, service := range []string{"", registryv1.RegistryService_ServiceDesc.ServiceName} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			cancel()
			if err != nil || resp.GetStatus() != want {
				ok, last = false, fmt.Sprintf("service %q: %v %v", service, resp.GetStatus(), err)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health not %v within %v: %s\nlog:\n%s", want, timeout, last, log)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// TestRun_EtcdQuorumLostNotServingThenBack: a replica on etcd whose
// cluster loses its quorum (the leader and one more member of three
// killed) turns NOT_SERVING, for the whole server and the registry
// service, within the probe's bound, and ends its watch streams
// UNAVAILABLE (STORE_UNAVAILABLE) so that consumers go elsewhere; once the
// members are back it serves again by itself — health, writes, watches —
// with no restart.
func TestRun_EtcdQuorumLostNotServingThenBack(t *testing.T) {
	cluster := etcdtest.Start(t, 3, etcdtest.Options{NoFsync: true})
	addr := freeport.For(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		// A 1 MiB request limit: the start-up check of the limit proposes a
		// request that large to the cluster, which a loaded machine may not
		// commit within etcd's request timeout; this test is about health.
		done <- run(ctx, []string{"--grpc-addr", addr, "--admin-addr", "", "--store", "etcd",
			"--etcd-endpoints", strings.Join(cluster.Endpoints(), ","), "--etcd-health-interval", "200ms",
			"--etcd-max-request-bytes", "1048576", "--progress-interval", "100ms"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	client := registryv1.NewRegistryServiceClient(conn)
	waitHealth(t, health, healthpb.HealthCheckResponse_SERVING, 30*time.Second, &stderr)

	callCtx, callCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer callCancel()
	create := func(id string) error {
		_, err := client.CreateEntity(callCtx, &registryv1.CreateEntityRequest{EntityId: id,
			Entity: &registryv1.Entity{DisplayName: id, Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}})
		return err
	}
	if err := create("before"); err != nil {
		t.Fatal(err)
	}
	stream, err := client.WatchChanges(callCtx, &registryv1.WatchChangesRequest{StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || len(m.GetChanges()) != 1 {
		t.Fatalf("watch from revision 1: %v, %v", m, err)
	}

	leader := etcdLeader(t, cluster)
	killed := []*etcdtest.Member{cluster.Members[leader], cluster.Members[(leader+1)%3]}
	for _, m := range killed {
		m.Kill()
	}
	// 3 failed probes 200 ms apart, each bounded by 200 ms: well within 20 s.
	waitHealth(t, health, healthpb.HealthCheckResponse_NOT_SERVING, 20*time.Second, &stderr)
	for {
		_, err := stream.Recv()
		if err == nil {
			continue // progress messages sent before the store was lost
		}
		st := status.Convert(err)
		var reason string
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		if st.Code() != codes.Unavailable || reason != grpcapi.ReasonStoreUnavailable {
			t.Fatalf("the watch ended with %v (reason %q), want UNAVAILABLE %s", err, reason, grpcapi.ReasonStoreUnavailable)
		}
		break
	}

	for _, m := range killed {
		m.Restart(t)
	}
	waitHealth(t, health, healthpb.HealthCheckResponse_SERVING, 30*time.Second, &stderr)
	if err := create("after"); err != nil {
		t.Fatalf("a write once serving again: %v", err)
	}
	stream, err = client.WatchChanges(callCtx, &registryv1.WatchChangesRequest{StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch once serving again: %v", err)
		}
		for _, c := range m.GetChanges() {
			got = append(got, c.GetName())
		}
	}
	if want := []string{"entities/before", "entities/after"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if !strings.Contains(stderr.String(), "the store does not answer") || !strings.Contains(stderr.String(), "the store answers again") {
		t.Errorf("the log does not say when the store was lost and back:\n%s", stderr.String())
	}
}

// TestConfig_EtcdHealthInterval: the probe's period is a flag with a
// floor, named in the error; --etcd-auto-sync-interval 0 turns the member
// list's re-reading off.
func TestConfig_EtcdHealthInterval(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{{"1s", true}, {"10ms", true}, {"5ms", false}, {"0s", false}} {
		cfg := DefaultConfig()
		cfg.Store, cfg.Etcd.Endpoints = "etcd", "http://127.0.0.1:2379"
		var err error
		if cfg.Etcd.HealthInterval, err = time.ParseDuration(tc.value); err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "--etcd-health-interval")) {
			t.Errorf("--etcd-health-interval %s: %v", tc.value, err)
		}
	}
	if d := DefaultConfig().Etcd.HealthInterval; d != time.Second {
		t.Errorf("default --etcd-health-interval %v, want 1s", d)
	}
	cfg := DefaultConfig()
	cfg.Store, cfg.Etcd.Endpoints, cfg.Etcd.AutoSyncInterval = "etcd", "http://127.0.0.1:2379", -time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--etcd-auto-sync-interval") {
		t.Errorf("negative --etcd-auto-sync-interval: %v", err)
	}
	for interval, want := range map[time.Duration]time.Duration{0: -1, time.Minute: time.Minute} {
		cfg.Etcd.AutoSyncInterval = interval
		if eo, err := cfg.Etcd.options(); err != nil || eo.AutoSyncInterval != want {
			t.Errorf("--etcd-auto-sync-interval %v: etcdkv AutoSyncInterval %v (%v), want %v", interval, eo.AutoSyncInterval, err, want)
		}
	}
}
