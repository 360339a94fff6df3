package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"talentreg/gateway"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// registryPkg is the registry command the real-backend tests build.
const registryPkg = "talentreg/services/registry/cmd/registry"

// buildRegistry builds the registry command into the test's temporary
// directory (the go build cache makes a rebuild cheap).
func buildRegistry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "registry")
	if out, err := exec.Command("go", "build", "-o", bin, registryPkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", registryPkg, err, out)
	}
	return bin
}

// startRegistry runs the real registry on port 0 with a fresh database,
// reads its address from its {"msg":"serving","grpc_addr":…} log line, and
// stops it with SIGTERM when the test ends (it must exit 0).
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := buildRegistry(t)
	cmd := exec.Command(bin, "--grpc-addr", "127.0.0.1:0", "--admin-addr", "", "--db", filepath.Join(t.TempDir(), "registry.db"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var log strings.Builder
	addrc := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			var line struct {
				Msg      string `json:"msg"`
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" && line.GRPCAddr != "" {
				select {
				case addrc <- line.GRPCAddr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	logs := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return log.String()
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("registry exited with %v after SIGTERM\n%s", err, logs())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("registry still running 15 s after SIGTERM")
		}
	})
	select {
	case addr := <-addrc:
		return addr
	case err := <-exited:
		exited <- err
		t.Fatalf("registry exited before serving: %v\n%s", err, logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("registry logged no serving line within 30 s\n%s", logs())
	}
	return ""
}

// TestGateway_FastPathMatchesGeneric_RealRegistry is the fast-path parity
// check against the real registry rather than a fake: GET
// /v1/entities/{id} through the fast path and through the generated handler
// (forced by a query parameter the handler ignores) gives the same status,
// headers (X-Request-Id included) and body, for a found entity, a unicode
// one, a missing one and malformed names.
func TestGateway_FastPathMatchesGeneric_RealRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the registry")
	}
	addr := startRegistry(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := registryv1.NewRegistryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for id, e := range map[string]*registryv1.Entity{
		"tju": {DisplayName: "Tianjin University", Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY, Region: "Tianjin",
			Industries: []string{"biomedicine", "aerospace"}, LeadingEnterprise: true},
		"unicode": {DisplayName: "天津大学 · Café e\u0301 🚀 \u202eevil", Kind: registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE, Region: "滨海"},
	} {
		if _, err := client.CreateEntity(ctx, &registryv1.CreateEntityRequest{EntityId: id, Entity: e}); err != nil {
			t.Fatalf("CreateEntity %s: %v", id, err)
		}
	}

	metrics := startBackend(t, "127.0.0.1:0", func(s *grpc.Server) { metricsv1.RegisterMetricsServiceServer(s, &fakeMetrics{}) })
	cfg := gateway.DefaultConfig()
	cfg.Registry, cfg.Metrics = addr, []string{metrics.addr}
	s := startGateway(t, cfg)

	for i, tc := range []struct {
		name, id string
		status   int
	}{
		{"found", "tju", 200},
		{"unicode display name", "unicode", 200},
		{"not found", "missing", 404},
		{"invalid name", "UPPER", 400},
		{"id too long", strings.Repeat("a", 64), 400},
		{"unicode id", "天津", 400},
		{"escaped unicode id", url.PathEscape("滨海"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, hdr := range []map[string]string{
				{"X-Request-Id": fmt.Sprintf("parity-%d", i), "Authorization": "Bearer abc"},
				nil, // a generated request id
			} {
				fast := do(t, "GET", s.url+"/v1/entities/"+tc.id, nil, hdr)
				generic := do(t, "GET", s.url+"/v1/entities/"+tc.id+"?&", nil, hdr)
				if fast.status != tc.status {
					t.Errorf("status %v, want %d", fast, tc.status)
				}
				if fast.status != generic.status || !sameJSON(fast.body, generic.body) {
					t.Errorf("fast %v\ngeneric %v", fast, generic)
				}
				fh, gh := fast.header.Clone(), generic.header.Clone()
				for _, h := range []http.Header{fh, gh} {
					h.Del("Date")
					// protojson spaces its output at random per binary;
					// the fast path's JSON is compact.
					h.Del("Content-Length")
					if id := h.Get(gateway.HeaderRequestID); id == "" || (hdr != nil && id != hdr["X-Request-Id"]) {
						t.Errorf("X-Request-Id %q, sent %q", id, hdr["X-Request-Id"])
					}
					if hdr == nil {
						h.Del(gateway.HeaderRequestID) // generated: one per request
					}
				}
				if !maps.EqualFunc(fh, gh, slices.Equal) {
					t.Errorf("headers differ:\nfast    %v\ngeneric %v", fh, gh)
				}
			}
		})
	}
}

// sameJSON reports whether a and b are the same JSON value (protojson
// adds random white space that a byte comparison would trip on).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}
