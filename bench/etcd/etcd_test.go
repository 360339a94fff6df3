package etcd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"talentreg/bench/load"
	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
)

// bin is the etcdmember binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bench-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "etcdmember")
	// etcd is not our code: built without -race even under go test -race,
	// so that it runs at its own speed.
	if out, err := exec.Command("go", "build", "-o", bin, Package).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", Package, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestVersion_NamesTheEmbeddedServer(t *testing.T) {
	v := Version(bin)
	if !strings.HasPrefix(v, "etcd server 3.7.") || !strings.Contains(v, Package) {
		t.Fatalf("Version = %q, want etcd server 3.7.x embedded in %s", v, Package)
	}
}

func TestStart_PeerPutTxnRangeAndGateway(t *testing.T) {
	g := &proc.Group{LogDir: t.TempDir()}
	defer g.StopAll(5 * time.Second)
	ctx := context.Background()
	c, err := Start(ctx, g, bin, "etcd-test", t.TempDir(), 1, DefaultLimits, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Members) != 1 || c.Members[0].Name != "etcd-test" || c.Endpoints() != "http://"+c.Members[0].Addr {
		t.Fatalf("cluster %+v, endpoints %q", c.Members, c.Endpoints())
	}
	s := c.Members[0]
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
	// The peer keeps etcd's default limits: one operation too many is
	// refused.
	if err := rawgrpc.Invoke(ctx, cc, MethodTxn, TxnPuts(puts(MaxTxnOps+1)), &resp); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a transaction of %d puts on etcd's default limits: %v, want INVALID_ARGUMENT", MaxTxnOps+1, err)
	}
}

func TestStart_ThreeMembersWithTheRegistrysLimits(t *testing.T) {
	g := &proc.Group{LogDir: t.TempDir()}
	defer g.StopAll(5 * time.Second)
	ctx := context.Background()
	c, err := Start(ctx, g, bin, "etcd3", t.TempDir(), 3, RegistryLimits, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Members) != 3 || c.Members[2].Name != "etcd3-m3" || strings.Count(c.Endpoints(), "http://") != 3 || len(c.PIDs()) != 3 {
		t.Fatalf("cluster %+v, endpoints %q", c.Members, c.Endpoints())
	}
	first, err := rawgrpc.Dial(c.Members[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// Larger than etcd's defaults allow: the limits reached every member.
	var resp rawgrpc.Frame
	if err := rawgrpc.Invoke(ctx, first, MethodTxn, TxnPuts(puts(4*MaxTxnOps)), &resp); err != nil {
		t.Fatalf("a transaction of %d puts with the registry's limits: %v", 4*MaxTxnOps, err)
	}
	// A linearizable read on another member sees the write.
	last, err := rawgrpc.Dial(c.Members[2].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	if err := rawgrpc.Invoke(ctx, last, MethodRange, RangeRequest("p511"), &resp); err != nil {
		t.Fatal(err)
	}
	if n, _ := RangeCount(resp.B); n != 1 {
		t.Fatalf("member 3 does not see member 1's write: count %d", n)
	}
	if err := c.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, pid := range c.PIDs() {
		if live, err := proc.GroupRunning(pid); err != nil || live {
			t.Fatalf("member pid %d still runs after Stop (%v)", pid, err)
		}
	}
}

// puts returns n encoded PutRequests of keys p0 … p<n-1>.
func puts(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = PutRequest(fmt.Sprintf("p%d", i), []byte("v"))
	}
	return out
}
