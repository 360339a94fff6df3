package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pausableProxy forwards TCP connections to a target. While paused it
// passes nothing from the target back: a metrics replica following the
// registry through it keeps its watch stream open but receives no
// changes — held behind, yet not cut off.
type pausableProxy struct {
	lis net.Listener

	mu     sync.Mutex
	target string
	open   chan struct{} // closed while forwarding
	conns  []net.Conn
}

func newPausableProxy(t *testing.T) *pausableProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pausableProxy{lis: lis, open: make(chan struct{})}
	close(p.open)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *pausableProxy) addr() string { return p.lis.Addr().String() }

func (p *pausableProxy) setTarget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = addr
}

func (p *pausableProxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { p.gatedCopy(c, up); c.Close() }()
	}
}

// gatedCopy copies src to dst, holding each chunk while paused.
func (p *pausableProxy) gatedCopy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			open := p.open
			p.mu.Unlock()
			<-open
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pausableProxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = make(chan struct{})
}

func (p *pausableProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

func (p *pausableProxy) close() {
	p.resume()
	p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// appliedRevision reads a metrics replica's applied revision from its
// admin /metrics.
func appliedRevision(p *proc) (int64, error) {
	r, err := send(context.Background(), "GET", "https://"+p.adminAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^talentreg_metrics_applied_revision (\S+)$`).FindSubmatch(r.Body)
	if m == nil {
		return 0, errors.New("no talentreg_metrics_applied_revision")
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	return int64(f), err
}

// waitApplied waits until the replica has applied rev.
func waitApplied(t *testing.T, p *proc, rev int64) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		got, err := appliedRevision(p)
		if err != nil {
			return err
		}
		if got < rev {
			return fmt.Errorf("%s at %d, want %d", p.name, got, rev)
		}
		return nil
	})
}

// TestReplicas_ReadsNeverGoBackInRevision: two replicas, one held behind
// the registry. Reads on one client connection never answer from a lower
// revision than the connection has been given; a minRevision the only
// replica left has not applied waits that replica's --max-wait and the
// 504 names the revision; a revision past the registry's head is refused
// at once.
func TestReplicas_ReadsNeverGoBackInRevision(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	px := newPausableProxy(t)
	s := startStack(t, stackOptions{
		replicas:    2,
		metricsArgs: []string{"--max-wait", "1s"},
		replicaRegistry: func(i int, addr string) string {
			if i == 1 {
				px.setTarget(addr)
				return px.addr()
			}
			return addr
		},
	})
	held := s.metrics[1]
	var behind int64
	for range 3 {
		_, r := s.must(t, "POST", "/v1/entities?entityId="+uid("mono"), map[string]any{"displayName": "Monotonic", "kind": "ENTITY_KIND_ENTERPRISE"})
		behind = r.revision(t)
	}
	waitApplied(t, held, behind)
	px.pause()
	var ahead int64
	for range 3 {
		_, r := s.must(t, "POST", "/v1/entities?entityId="+uid("mono"), map[string]any{"displayName": "Monotonic", "kind": "ENTITY_KIND_ENTERPRISE"})
		ahead = r.revision(t)
	}
	waitApplied(t, s.metrics[0], ahead)
	if got, err := appliedRevision(held); err != nil || got != behind {
		t.Fatalf("held replica at %d (%v), want %d: it is not held", got, err, behind)
	}

	seen := map[int64]bool{}
	for c := range 4 {
		client := &http.Client{Timeout: 30 * time.Second, Transport: authed(&http.Transport{MaxConnsPerHost: 1})}
		var last int64
		for i := range 20 {
			hr, err := client.Get(s.url + "/v1/summary")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(hr.Body)
			hr.Body.Close()
			r := resp{Status: hr.StatusCode, Header: hr.Header, Body: b}
			if r.Status != 200 {
				t.Fatalf("connection %d read %d: %v", c, i, r)
			}
			rev, err := strconv.ParseInt(fmt.Sprint(r.obj(t)["revision"]), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if rev < last {
				t.Fatalf("connection %d read %d answered revision %d after %d: it went back in time", c, i, rev, last)
			}
			last = rev
			seen[rev] = true
		}
		client.CloseIdleConnections()
	}
	if !seen[ahead] {
		t.Fatalf("no read answered from the replica ahead (%d): revisions %v", ahead, seen)
	}

	t.Run("past the head", func(t *testing.T) {
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(ahead+1000, 10), nil)
		info := errorInfo(checkError(t, r, 400, codeOutOfRange))
		md, _ := info["metadata"].(map[string]any)
		if info["reason"] != "REVISION_NOT_COMMITTED" || md["registry_revision"] != strconv.FormatInt(ahead, 10) {
			t.Fatalf("ErrorInfo %v, want REVISION_NOT_COMMITTED with registry_revision %d", info, ahead)
		}
	})

	t.Run("not applied within --max-wait", func(t *testing.T) {
		if err := s.metrics[0].stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		// httpClient gives up after 30 s: a wait bounded by the gateway's
		// own limit (--write-timeout 60 s) would get no answer at all.
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(ahead, 10), nil)
		m := checkError(t, r, 504, codeDeadlineExceeded)
		info := errorInfo(m)
		msg := fmt.Sprint(m["message"])
		if info["reason"] != "REVISION_NOT_APPLIED" || !strings.Contains(msg, "revision "+strconv.FormatInt(ahead, 10)+" not applied") || strings.Contains(msg, "RST_STREAM") {
			t.Fatalf("504 %v, want REVISION_NOT_APPLIED naming revision %d", m, ahead)
		}
	})

	px.resume()
	eventually(t, 30*time.Second, func() error {
		r := s.call(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(ahead, 10), nil)
		if r.Status != 200 {
			return fmt.Errorf("after the held replica was released: %v", r)
		}
		return nil
	})
}
