package etcd

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"talentreg/bench/load"
	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
)

func TestServer_PutTxnRangeAndGateway(t *testing.T) {
	path, err := Find(context.Background(), "")
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	g := &proc.Group{LogDir: t.TempDir()}
	defer g.StopAll(5 * time.Second)
	ctx := context.Background()
	s, err := Start(ctx, g, path, "etcd-test", filepath.Join(t.TempDir(), "data"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := rawgrpc.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := Load(ctx, cc, 300, 3, func(i int) (string, []byte) {
		return "k" + string(rune('a'+i%26)) + string(rune('0'+i/26)), []byte("v")
	}); err != nil {
		t.Fatal(err)
	}
	var resp rawgrpc.Frame
	if err := rawgrpc.Invoke(ctx, cc, MethodPut, PutRequest("entities/x", []byte("hello")), &resp); err != nil {
		t.Fatal(err)
	}
	if err := rawgrpc.Invoke(ctx, cc, MethodRange, RangeRequest("entities/x"), &resp); err != nil {
		t.Fatal(err)
	}
	if n, err := RangeCount(resp.B); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	if err := rawgrpc.Invoke(ctx, cc, MethodRange, RangeRequest("ka0"), &resp); err != nil {
		t.Fatal(err)
	}
	if n, _ := RangeCount(resp.B); n != 1 {
		t.Fatalf("txn-loaded key missing: count %d", n)
	}
	hc := &load.HTTPConn{Addr: s.Addr}
	defer hc.Close()
	var body []byte
	if err := hc.Do(load.NewRequest("POST", s.Addr, "/v3/kv/range", "application/json", GatewayRangeBody("entities/x")), &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"value":"aGVsbG8="`) {
		t.Fatalf("gateway range: %s", body)
	}
}
