package e2e

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// summaryCalls reads a metrics replica's count of GetSummary calls from its
// admin /metrics.
func summaryCalls(p *proc) (int, error) {
	r, err := send(context.Background(), "GET", "https://"+p.adminAddr+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("%s /metrics: %v", p.name, err)
	}
	re := regexp.MustCompile(`grpc_server_handled_total\{[^}]*grpc_method="GetSummary"[^}]*\} (\d+)`)
	n := 0
	for _, m := range re.FindAllSubmatch(r.Body, -1) {
		v, _ := strconv.Atoi(string(m[1]))
		n += v
	}
	return n, nil
}

// mustSummaryCalls is summaryCalls for a replica that must be up.
func mustSummaryCalls(t *testing.T, p *proc) int {
	t.Helper()
	n, err := summaryCalls(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readLoad reads the summary from workers goroutines until ctx ends,
// counting answers other than 200.
func readLoad(ctx context.Context, s *stack, workers int) (ok, failed *atomic.Int64, first *atomic.Value, wg *sync.WaitGroup) {
	ok, failed, first, wg = new(atomic.Int64), new(atomic.Int64), new(atomic.Value), new(sync.WaitGroup)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				hr, err := get(s.url + "/v1/summary")
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(hr.Body)
				hr.Body.Close()
				if hr.StatusCode != 200 {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("%d %s", hr.StatusCode, b))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	return
}

// TestReplicas_AgreeAndSurviveLoss runs two metrics replicas behind one
// gateway: both serve, their answers agree, and stopping one (SIGTERM, then
// SIGKILL of the other after the first is back) fails no request.
func TestReplicas_AgreeAndSurviveLoss(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	s := startStack(t, stackOptions{replicas: 2})
	var last int64
	for i := range 10 {
		_, r := s.must(t, "POST", "/v1/entities?entityId="+uid("rep"), map[string]any{"displayName": fmt.Sprint("replica test ", i), "kind": "ENTITY_KIND_RESEARCH_INSTITUTE"})
		last = r.revision(t)
	}
	before := []int{mustSummaryCalls(t, s.metrics[0]), mustSummaryCalls(t, s.metrics[1])}
	var first string
	for i := range 20 {
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(last, 10), nil)
		if r.Status != 200 {
			t.Fatal(r)
		}
		if i == 0 {
			first = string(r.Body)
			if m := r.obj(t); fmt.Sprint(m["entities"]) != "10" || fmt.Sprint(m["revision"]) != strconv.FormatInt(last, 10) {
				t.Errorf("summary = %s, want 10 entities at revision %d", r.Body, last)
			}
		} else if string(r.Body) != first {
			t.Errorf("replicas disagree:\n%s\n%s", first, r.Body)
		}
	}
	for i, p := range s.metrics {
		if n := mustSummaryCalls(t, p) - before[i]; n < 3 {
			t.Errorf("%s served %d of 20 summaries: the gateway does not balance", p.name, n)
		}
	}

	lose := func(name string, p *proc, sig syscall.Signal) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ok, failed, firstErr, wg := readLoad(ctx, s, 4)
			eventually(t, 10*time.Second, func() error {
				if ok.Load() < 50 {
					return fmt.Errorf("%d reads so far", ok.Load())
				}
				return nil
			})
			p.signal(sig)
			err := p.wait(15 * time.Second)
			if sig == syscall.SIGTERM && err != nil {
				t.Errorf("%s after SIGTERM: %v", p.name, err)
			}
			n := ok.Load()
			eventually(t, 10*time.Second, func() error {
				if ok.Load() < n+200 {
					return fmt.Errorf("%d reads since the replica went", ok.Load()-n)
				}
				return nil
			})
			cancel()
			wg.Wait()
			if f := failed.Load(); f > 0 {
				t.Errorf("%d of %d reads failed while %s went away; first: %v", f, f+ok.Load(), p.name, firstErr.Load())
			}
		})
	}
	lose("SIGTERM one replica", s.metrics[0], syscall.SIGTERM)
	if err := s.metrics[0].start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the restarted replica serves again before losing the other.
	// Its counters start again from zero.
	eventually(t, 30*time.Second, func() error {
		s.must(t, "GET", "/v1/summary", nil)
		n, err := summaryCalls(s.metrics[0])
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s not serving again", s.metrics[0].name)
		}
		return nil
	})
	lose("SIGKILL the other replica", s.metrics[1], syscall.SIGKILL)
}
