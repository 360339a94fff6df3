package grpcserver_test

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"

	"talentreg/platform/grpcserver"
)

// rawConn serves a grpcserver.Server on loopback and opens a bare HTTP/2
// connection to it, preface and SETTINGS sent.
func rawConn(t *testing.T) (*http2.Framer, net.Conn) {
	t.Helper()
	srv := grpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), grpcserver.Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Server.Serve(lis) }()
	t.Cleanup(srv.Server.Stop)
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	f := http2.NewFramer(c, c)
	if err := f.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestServer_AdvertisesMaxConcurrentStreams(t *testing.T) {
	f, _ := rawConn(t)
	for {
		fr, err := f.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := fr.(*http2.SettingsFrame); ok && !s.IsAck() {
			v, ok := s.Value(http2.SettingMaxConcurrentStreams)
			if !ok || v != grpcserver.MaxConcurrentStreams {
				t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (set %v), want %d", v, ok, grpcserver.MaxConcurrentStreams)
			}
			return
		}
	}
}

// TestServer_EnforcesKeepalive: a client pinging far more often than the
// policy allows is sent GOAWAY ENHANCE_YOUR_CALM.
func TestServer_EnforcesKeepalive(t *testing.T) {
	f, _ := rawConn(t)
	for i := range 5 {
		if err := f.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		fr, err := f.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if g, ok := fr.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeEnhanceYourCalm || string(g.DebugData()) != "too_many_pings" {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", g.ErrCode, g.DebugData())
			}
			return
		}
	}
}
