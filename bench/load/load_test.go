package load

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun_ClosedLoopCountsOnlyTheWindow(t *testing.T) {
	var calls atomic.Int64
	res, err := Run(context.Background(), Config{
		Concurrency: 4,
		Warmup:      50 * time.Millisecond,
		Duration:    200 * time.Millisecond,
		NewWorker: func(int) (Op, error) {
			return func(context.Context) (time.Duration, error) {
				calls.Add(1)
				return 100 * time.Microsecond, nil
			}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests >= uint64(calls.Load()) {
		t.Fatalf("Requests = %d of %d calls: warm-up not excluded", res.Requests, calls.Load())
	}
	if res.P50 < 99*time.Microsecond || res.P50 > 101*time.Microsecond {
		t.Fatalf("P50 = %v, want the returned 100µs", res.P50)
	}
	if res.QPS <= 0 || res.LoadCPU <= 0 {
		t.Fatalf("QPS %v, LoadCPU %v", res.QPS, res.LoadCPU)
	}
}

func TestRun_ObserveSeesExactlyTheCountedOperations(t *testing.T) {
	const workers = 3
	var calls atomic.Int64
	seen := make([][]time.Duration, workers)
	res, err := Run(context.Background(), Config{
		Concurrency: workers,
		Warmup:      50 * time.Millisecond,
		Duration:    200 * time.Millisecond,
		NewWorker: func(id int) (Op, error) {
			var k int
			return func(context.Context) (time.Duration, error) {
				calls.Add(1)
				k++
				if k%5 == 0 {
					return 0, errors.New("every fifth fails")
				}
				return time.Duration(100+id) * time.Microsecond, nil
			}, nil
		},
		Observe: func(id int, lat time.Duration) { seen[id] = append(seen[id], lat) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for id, lats := range seen {
		for _, lat := range lats {
			if lat != time.Duration(100+id)*time.Microsecond {
				t.Fatalf("worker %d observed %v, not its own latency", id, lat)
			}
		}
		n += uint64(len(lats))
	}
	if n != res.Requests || n == 0 || n >= uint64(calls.Load()) {
		t.Fatalf("observed %d operations, counted %d of %d calls", n, res.Requests, calls.Load())
	}
}

func TestRun_PacedRate(t *testing.T) {
	res, err := Run(context.Background(), Config{
		Concurrency: 5,
		Duration:    500 * time.Millisecond,
		Rate:        200,
		NewWorker: func(int) (Op, error) {
			return func(context.Context) (time.Duration, error) { return 0, nil }, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.QPS < 150 || res.QPS > 250 {
		t.Fatalf("QPS = %.0f at rate 200", res.QPS)
	}
}

func TestRun_CountsErrors(t *testing.T) {
	res, err := Run(context.Background(), Config{
		Concurrency: 2,
		Duration:    100 * time.Millisecond,
		NewWorker: func(int) (Op, error) {
			return func(context.Context) (time.Duration, error) {
				time.Sleep(time.Millisecond)
				return 0, errors.New("boom")
			}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Requests != 0 || res.FirstError != "boom" {
		t.Fatalf("got %+v", res)
	}
}

func TestHTTPConn_ClosesWhenTheServerSaysSo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	})}
	go srv.Serve(l)
	defer srv.Close()
	c := &HTTPConn{Addr: l.Addr().String()}
	defer c.Close()
	var body []byte
	for range 2 {
		if err := c.Do(NewRequest("GET", c.Addr, "/", "", nil), &body); err != nil || string(body) != "bye" {
			t.Fatalf("%q, %v", body, err)
		}
	}
}

func TestHTTPConn_KeepAliveAndChunked(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/missing" {
				http.Error(w, "no such thing", http.StatusNotFound)
				return
			}
			w.Header().Set("X-Revision", "7")
			w.Write([]byte(strings.Repeat("x", 10000))) // beyond the buffer: chunked
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(l)
	defer srv.Close()

	c := &HTTPConn{Addr: l.Addr().String(), Want: "x-revision"}
	defer c.Close()
	req := NewRequest("GET", c.Addr, "/x", "", nil)
	var body []byte
	for range 3 {
		if err := c.Do(req, &body); err != nil {
			t.Fatal(err)
		}
		if len(body) != 10000 || body[9999] != 'x' || c.Header != "7" {
			t.Fatalf("body %d bytes, X-Revision %q", len(body), c.Header)
		}
	}
	if err := c.Do(NewRequest("GET", c.Addr, "/missing", "", nil), nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing: %v", err)
	}
	if err := c.Do(NewRequest("GET", c.Addr, "/missing", "", nil), &body); err == nil || !strings.Contains(err.Error(), "no such thing") {
		t.Fatalf("missing, with body: %v", err)
	}
	if err := c.Do(req, nil); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 kept alive", n)
	}
}
