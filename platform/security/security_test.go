package security_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"talentreg/platform/auth"
	"talentreg/platform/grpcserver"
	"talentreg/platform/security"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// authConfig writes an auth config holding one static token (and extra
// YAML) into a fresh folder and returns its path and the token file's.
func authConfig(t *testing.T, extra, token string) (cfg, tokens string) {
	t.Helper()
	dir := t.TempDir()
	tokens = filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(auth.TokenLine(token, "script", []string{auth.RoleViewer})+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(cfg, []byte("staticTokens: {file: tokens.csv}\n"+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, tokens
}

// serve builds a server from the security settings, as the binaries do,
// and dials it without any credential.
func serve(t *testing.T, s security.Server) *grpc.ClientConn {
	t.Helper()
	b, err := s.Build(discard, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Auth.Close() })
	srv := grpcserver.New(discard, prometheus.NewRegistry(), grpcserver.Options{Auth: b.Auth, NoReflection: b.NoReflection})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Server.Serve(lis) }()
	t.Cleanup(srv.Server.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// listServices asks server reflection for the services, without a
// credential.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	st, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	// A Send that meets a stream the server already ended returns io.EOF;
	// the stream's status (e.g. UNIMPLEMENTED) is then what Recv returns.
	if err := st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names, st.CloseSend()
}

// TestBuild_HealthAndReflectionOpenReflectionSwitchable: with
// authentication on, health and server reflection answer callers without
// a credential; `reflection: false` in the auth config leaves reflection
// out (UNIMPLEMENTED) while health stays open.
func TestBuild_HealthAndReflectionOpenReflectionSwitchable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, extra string
		reflection  bool
	}{
		{"default", "", true},
		{"reflection: true", "reflection: true\n", true},
		{"reflection: false", "reflection: false\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := authConfig(t, tc.extra, auth.NewToken())
			conn := serve(t, security.Server{AuthConfig: cfg})
			if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health without a credential: %v, %v", resp, err)
			}
			names, err := listServices(ctx, conn)
			switch {
			case tc.reflection && err != nil:
				t.Errorf("reflection without a credential: %v, want it open", err)
			case tc.reflection && len(names) == 0:
				t.Error("reflection listed no services")
			case !tc.reflection && status.Code(err) != codes.Unimplemented:
				t.Errorf("reflection switched off: %v (services %v), want UNIMPLEMENTED", err, names)
			}
		})
	}
}

// TestReloadOnSIGHUP: a real SIGHUP to the process makes the static token
// file be read again: a token added to it is accepted, a removed one
// refused, without a restart.
func TestReloadOnSIGHUP(t *testing.T) {
	old, fresh := auth.NewToken(), auth.NewToken()
	cfg, tokens := authConfig(t, "", old)
	b, err := (&security.Server{AuthConfig: cfg}).Build(discard, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Auth.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReloadOnSIGHUP(ctx, discard)

	call := func(token string) error {
		c := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}})
		_, err := b.Auth.Authenticate(metadata.NewIncomingContext(c, metadata.Pairs("authorization", "Bearer "+token)))
		return err
	}
	if err := call(old); err != nil {
		t.Fatalf("the token in the file: %v", err)
	}
	if err := os.WriteFile(tokens, []byte(auth.TokenLine(fresh, "script2", []string{auth.RoleViewer})+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := call(fresh); err == nil {
		t.Fatal("a token added to the file is accepted before any SIGHUP: the test proves nothing")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for call(fresh) != nil || call(old) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after SIGHUP: new token %v, removed token %v; want the new one accepted, the removed one refused", call(fresh), call(old))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
