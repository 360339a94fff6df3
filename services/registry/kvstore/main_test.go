package kvstore

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
)

func TestMain(m *testing.M) {
	if engine != "etcd" {
		flag.Parse()
		if !testing.Short() && selected("TestConformance_Etcd") {
			etcdRun = startEtcdRun()
		}
		code := m.Run()
		etcdRun.stop()
		os.Exit(code)
	}
	// The etcd run: one member for every test, each test on a prefix of
	// its own. SlowApply: the largest transactions (TestLimits_*) can take
	// etcd longer than its default 7 s to apply on a loaded test machine.
	var dirs []string
	c, err := etcdtest.StartCluster(1, etcdtest.Options{NoFsync: true, SlowApply: true}, func() string {
		d, err := os.MkdirTemp("", "kvstore-etcd-")
		if err != nil {
			panic(err)
		}
		dirs = append(dirs, d)
		return d
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
	etcdEndpoints = c.Endpoints()
	// Check once that the member accepts the registry's limits: openTest
	// skips the check, whose request of etcdkv.DefaultLimits.Bytes per
	// test cost more than most tests.
	e, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: etcdEndpoints, Prefix: "/limits-check/"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		c.Stop()
		os.Exit(1)
	}
	e.Close()
	code := m.Run()
	c.Stop()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// etcdRun is the etcd run of this package's tests (TestConformance_Etcd's
// subject). TestMain starts it as a child process before the bbolt tests,
// so that the two runs overlap: the etcd run spends much of its time
// waiting on the etcd member, and run one after the other they took
// longer than any other package of `make test`.
var etcdRun *childRun

// childRun is a test binary run as a child process.
type childRun struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// startEtcdRun starts this test binary again with KVSTORE_ENGINE=etcd,
// with the run's -test.timeout.
func startEtcdRun() *childRun {
	args := []string{"-test.count=1", "-test.v"}
	if f := flag.Lookup("test.timeout"); f != nil && f.Value.String() != "0s" {
		args = append(args, "-test.timeout="+f.Value.String())
	}
	r := &childRun{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	r.cmd.Env = append(os.Environ(), "KVSTORE_ENGINE=etcd")
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if r.err = r.cmd.Start(); r.err != nil {
		close(r.done)
		return r
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	return r
}

// stop kills the run if it is still going (its test was not run, or
// failed on a deadline) and waits for it.
func (r *childRun) stop() {
	if r == nil {
		return
	}
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// selected reports whether the -test.run and -test.skip patterns select
// the top-level test name (an error in a pattern selects it: the testing
// package reports the error itself).
func selected(name string) bool {
	match := func(flagName string, empty bool) bool {
		f := flag.Lookup(flagName)
		if f == nil || f.Value.String() == "" {
			return empty
		}
		ok, err := regexp.MatchString(strings.Split(f.Value.String(), "/")[0], name)
		return ok || err != nil
	}
	return match("test.run", true) && !match("test.skip", false)
}

// TestConformance_Etcd runs this package's tests again with the store on
// a real etcd member instead of a bbolt file: the same rules, the same
// assertions (the property tests included), so that the two engines cannot
// drift. Tests of the bbolt engine's own behaviour (files, fsync, locks)
// skip themselves there (needBolt). The run itself started in TestMain,
// beside the bbolt tests; this test waits for its end.
func TestConformance_Etcd(t *testing.T) {
	if engine == "etcd" {
		t.Skip("this is the etcd run")
	}
	if testing.Short() {
		t.Skip("-short: starts etcd")
	}
	if etcdRun == nil {
		t.Fatal("TestMain did not start the etcd run: it did not expect this test to be selected")
	}
	var timeout <-chan time.Time
	if d, ok := t.Deadline(); ok {
		timeout = time.After(time.Until(d) - 5*time.Second)
	}
	select {
	case <-etcdRun.done:
	case <-timeout:
		etcdRun.stop()
		t.Fatalf("the suite on etcd did not finish before the test deadline:\n%s", etcdRun.out.String())
	}
	out := etcdRun.out.String()
	if etcdRun.err != nil {
		t.Fatalf("the suite on etcd failed: %v\n%s", etcdRun.err, out)
	}
	if !strings.Contains(out, "PASS") {
		t.Fatalf("the suite on etcd did not pass:\n%s", out)
	}
	t.Logf("the suite on etcd: %d tests passed, %d skipped (bbolt only)\n%s",
		strings.Count(out, "--- PASS"), strings.Count(out, "--- SKIP"), lastLines(out, 2))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
