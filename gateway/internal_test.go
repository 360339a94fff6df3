package gateway

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestIncomingHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   string
		ok     bool
	}{
		{"request id forwarded", "X-Request-Id", "x-request-id", true},
		{"authorization left to grpc-gateway", "Authorization", "", false},
		{"grpc metadata prefix dropped", "Grpc-Metadata-Foo", "", false},
		{"user agent forwarded for the audit trail", "User-Agent", "grpcgateway-user-agent", true},
		{"ordinary header dropped", "Accept-Language", "", false},
		{"hop-by-hop header dropped", "Connection", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := incomingHeader(tc.header)
			if got != tc.want || ok != tc.ok {
				t.Errorf("incomingHeader(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestOutgoingHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		md   string
		want string
		ok   bool
	}{
		{"revision renamed exactly", "x-revision", "X-Revision", true},
		{"content type dropped", "content-type", "", false},
		{"other metadata dropped", "x-backend-secret", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := outgoingHeader(tc.md)
			if got != tc.want || ok != tc.ok {
				t.Errorf("outgoingHeader(%q) = %q, %v; want %q, %v", tc.md, got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := noTrailers("x-revision"); ok {
		t.Error("noTrailers forwarded a trailer")
	}
}

func TestValidRequestID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"uuid", "3f0c8a52-8f7e-4f43-9c55-9b1f8d3e2a10", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"non-ascii", "é", false},
		{"control", "a\x01", false},
		{"128 chars", strings.Repeat("a", 128), true},
		{"129 chars", strings.Repeat("a", 129), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := validRequestID(tc.id); got != tc.want {
				t.Errorf("validRequestID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestIDGen_UniqueAndValid(t *testing.T) {
	g := newIDGen()
	seen := map[string]bool{}
	for range 1000 {
		id := g.next()
		if !validRequestID(id) {
			t.Fatalf("generated id %q is not a valid request id", id)
		}
		if seen[id] {
			t.Fatalf("generated id %q twice", id)
		}
		seen[id] = true
	}
}

func TestValidQueryUTF8(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		want  bool
	}{
		{"empty", "", true},
		{"plain", "pageSize=10&filter=x", true},
		{"escaped ascii", "filter=kind%20%3D%20ENTITY_KIND_UNIVERSITY", true},
		{"escaped utf-8", "filter=region%20%3D%20%22%E5%A4%A9%E6%B4%A5%22", true},
		{"escaped invalid byte", "filter=%FF", false},
		{"escaped truncated rune", "filter=%E5%A4", false},
		{"invalid byte in key", "%FF=1", false},
		{"rune split across params is invalid", "a=%E5&b=%A4%A9", false},
		{"malformed escape left to the parser", "filter=%zz", true},
		{"trailing percent", "filter=%", true},
		{"long valid", "filter=" + strings.Repeat("%E5%A4%A9", 300), true},
		{"long invalid", "filter=" + strings.Repeat("%E5%A4%A9", 300) + "%FF", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := validQueryUTF8(tc.query); got != tc.want {
				t.Errorf("validQueryUTF8(%q) = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
}

func TestLimitedBody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		limit    int64
		exceeded bool
	}{
		{"under", 10, 11, false},
		{"exactly at the limit", 11, 11, false},
		{"one over", 12, 11, true},
		{"far over", 1 << 20, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := io.NopCloser(iotest.OneByteReader(bytes.NewReader(make([]byte, tc.size))))
			b := &limitedBody{rc: src, n: tc.limit}
			got, err := io.ReadAll(b)
			if tc.exceeded {
				if !errors.Is(err, errBodyTooLarge) || !b.exceeded {
					t.Fatalf("err = %v, exceeded = %v; want errBodyTooLarge", err, b.exceeded)
				}
				if int64(len(got)) != tc.limit {
					t.Errorf("read %d bytes before failing, want the limit %d", len(got), tc.limit)
				}
				return
			}
			if err != nil || b.exceeded || len(got) != tc.size {
				t.Errorf("read %d bytes, err %v, exceeded %v; want %d, nil, false", len(got), err, b.exceeded, tc.size)
			}
		})
	}
}

func TestBackendOf(t *testing.T) {
	for method, want := range map[string]string{
		"/talentreg.registry.v1.RegistryService/GetEntity": "registry",
		"/talentreg.metrics.v1.MetricsService/GetSummary":  "metrics",
		"": "backend",
	} {
		if got := backendOf(method); got != want {
			t.Errorf("backendOf(%q) = %q, want %q", method, got, want)
		}
	}
}

func TestStatusSlot(t *testing.T) {
	for i, code := range trackedStatuses {
		if got := statusSlot(code); got != i {
			t.Errorf("statusSlot(%d) = %d, want %d", code, got, i)
		}
	}
	if got := statusSlot(418); got != len(trackedStatuses) {
		t.Errorf("statusSlot(418) = %d, want the shared slot %d", got, len(trackedStatuses))
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"admin off", func(c *Config) { c.AdminAddr = "" }, ""},
		{"several metrics replicas", func(c *Config) { c.Metrics = []string{"127.0.0.1:1", "127.0.0.1:2"} }, ""},
		{"http addr without port", func(c *Config) { c.HTTPAddr = "localhost" }, "--http-addr"},
		{"no registry", func(c *Config) { c.Registry = "" }, "--registry"},
		{"registry replicas", func(c *Config) { c.Registry = "127.0.0.1:1, 127.0.0.1:2," }, ""},
		{"registry replica without port", func(c *Config) { c.Registry = "127.0.0.1:1,registry" }, `--registry "registry"`},
		{"duplicate registry replicas", func(c *Config) { c.Registry = "127.0.0.1:1,127.0.0.1:1" }, "listed twice"},
		{"no metrics", func(c *Config) { c.Metrics = nil }, "--metrics"},
		{"duplicate metrics", func(c *Config) { c.Metrics = []string{"127.0.0.1:1", "127.0.0.1:1"} }, "listed twice"},
		{"zero body limit", func(c *Config) { c.MaxBodyBytes = 0 }, "--max-body-bytes"},
		{"zero write timeout", func(c *Config) { c.WriteTimeout = 0 }, "--write-timeout"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		{"negative gc percent", func(c *Config) { c.GCPercent = -1 }, "--gc-percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfig_AddFlags(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.AddFlags(fs)
	err := fs.Parse([]string{
		"--http-addr", "127.0.0.1:1", "--metrics", "127.0.0.1:2, 127.0.0.1:3,",
		"--max-body-bytes", "10", "--write-timeout", "3s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:1" || c.MaxBodyBytes != 10 || c.WriteTimeout != 3*time.Second {
		t.Errorf("flags not applied: %+v", c)
	}
	if len(c.Metrics) != 2 || c.Metrics[0] != "127.0.0.1:2" || c.Metrics[1] != "127.0.0.1:3" {
		t.Errorf("Metrics = %q, want the two listed replicas", c.Metrics)
	}
}

// TestStreamingPath: only the HTTP server-streaming route outlives the
// server's timeouts; the gRPC-only snapshot stream has no HTTP route to
// exempt, and unary routes keep their deadlines.
func TestStreamingPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/v1/changes:watch": true,
		"/v1/summary:watch": true,
		"/v1/snapshot":      false,
		"/v1/changes":       false,
		"/v1:import":        false,
		"/v1/entities":      false,
	} {
		if got := streamingPath(path); got != want {
			t.Errorf("streamingPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestAllowedMethods(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/summary":                      "GET, HEAD",
		"/v1/entities":                     "GET, HEAD, POST",
		"/v1/entities/acme":                "DELETE, GET, HEAD, PATCH",
		"/v1/entities:batchCreate":         "POST",
		"/v1/groups/-/memberships":         "GET, HEAD, POST",
		"/v1/groups/g/memberships/acme":    "DELETE, GET, HEAD, PATCH",
		"/v1/changes:watch":                "GET", // a stream has no HEAD
		"/v1/summary:watch":                "GET",
		"/v1/entities/acme/extra/segments": "",
		"/v1/entities/":                    "",
	} {
		if got := strings.Join(allowedMethods(path), ", "); got != want {
			t.Errorf("allowedMethods(%q) = %q, want %q", path, got, want)
		}
	}
}
