package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"talentreg/platform/auth"
)

// summaryStream is an open GET /v1/summary:watch through the gateway.
type summaryStream struct {
	resp *http.Response
	r    *bufio.Reader
}

// watchSummaryHTTP opens the Summary's stream with token, as client c.
func watchSummaryHTTP(ctx context.Context, c *http.Client, url, token string) (*summaryStream, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/v1/summary:watch", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, resp, nil
	}
	return &summaryStream{resp: resp, r: bufio.NewReader(resp.Body)}, resp, nil
}

// next reads one line: the Summary (entities and revision), or the error
// the stream ended with.
func (s *summaryStream) next() (entities, revision int64, err error) {
	line, err := s.r.ReadBytes('\n')
	if err != nil {
		return 0, 0, err
	}
	var m struct {
		Result *struct {
			Summary struct {
				Revision string `json:"revision"`
				Entities string `json:"entities"`
			} `json:"summary"`
		} `json:"result"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return 0, 0, fmt.Errorf("line %q: %w", line, err)
	}
	if m.Result == nil {
		return 0, 0, fmt.Errorf("stream ended: %s", line)
	}
	entities, _ = strconv.ParseInt(m.Result.Summary.Entities, 10, 64)
	revision, err = strconv.ParseInt(m.Result.Summary.Revision, 10, 64)
	return entities, revision, err
}

func (s *summaryStream) close() { s.resp.Body.Close() }

// TestSummaryWatch_ThroughGateway: GET /v1/summary:watch streams the
// Summary as newline-delimited JSON to a viewer: at once, then a write as
// it commits; a burst of writes arrives coalesced (at most one message per
// --summary-watch-interval); the stream shares the gateway's watch slots
// with /v1/changes:watch; a token without the permission gets 403; and
// when the metrics process restarts the stream ends and a new one is
// served by the restarted process.
func TestSummaryWatch_ThroughGateway(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	const interval = 200 * time.Millisecond
	s := startStack(t, stackOptions{
		metricsArgs: []string{"--summary-watch-interval", interval.String()},
		gatewayArgs: []string{"--max-watch-streams-per-client", "2"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	viewer := tokens[auth.RoleViewer]
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: devTLS.Clone()}}

	w, resp, err := watchSummaryHTTP(ctx, c, s.url, viewer)
	if err != nil || w == nil {
		t.Fatalf("viewer's watch: %v %v", resp, err)
	}
	defer w.close()
	if ct := w.resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	before, rev0, err := w.next()
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := s.must(t, "GET", "/v1/summary", nil)
	if fmt.Sprint(sum["entities"]) != strconv.FormatInt(before, 10) {
		t.Fatalf("first message: %d entities at %d, GET /v1/summary says %v", before, rev0, sum["entities"])
	}

	// A write arrives.
	_, created := s.must(t, "POST", "/v1/entities?entityId="+uid("watched"), map[string]any{"displayName": "Watched", "kind": "ENTITY_KIND_ENTERPRISE"})
	rev := created.revision(t)
	for {
		n, r, err := w.next()
		if err != nil {
			t.Fatal(err)
		}
		if r >= rev {
			if n != before+1 {
				t.Fatalf("at revision %d: %d entities, want %d", r, n, before+1)
			}
			break
		}
	}

	// A burst: 40 writes, a handful of messages.
	start := time.Now()
	var last int64
	for i := range 40 {
		_, r := s.must(t, "POST", "/v1/entities?entityId="+uid(fmt.Sprintf("burst-%d", i)), map[string]any{"displayName": "Burst", "kind": "ENTITY_KIND_ENTERPRISE"})
		last = r.revision(t)
	}
	msgs := 0
	for {
		n, r, err := w.next()
		if err != nil {
			t.Fatal(err)
		}
		msgs++
		if r >= last {
			if n != before+41 {
				t.Fatalf("after the burst: %d entities, want %d", n, before+41)
			}
			break
		}
	}
	elapsed := time.Since(start)
	if limit := int(elapsed/interval) + 2; msgs > limit {
		t.Fatalf("%d messages for 40 writes in %v, want at most %d (one per %v)", msgs, elapsed, limit, interval)
	}
	t.Logf("40 writes in %v: %d messages", elapsed, msgs)

	// The watch slots are shared with /v1/changes:watch: with a summary
	// watch and a change watch open, a third watch of this client is 429.
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/v1/changes:watch", nil)
	req.Header.Set("Authorization", "Bearer "+tokens[auth.RoleAdmin])
	changes, err := c.Do(req)
	if err != nil || changes.StatusCode != 200 {
		t.Fatalf("a change watch beside the summary watch: %v %v", changes, err)
	}
	if _, resp, err := watchSummaryHTTP(ctx, c, s.url, viewer); err != nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third watch of one client (limit 2): %v %v, want 429", resp, err)
	}
	changes.Body.Close()

	// A token without the permission. The change watch's slot is given
	// back once the gateway sees its connection closed, a moment after
	// Close: until then the client's watches are still full (429).
	eventually(t, 10*time.Second, func() error {
		_, resp, err := watchSummaryHTTP(ctx, c, s.url, tokens[auth.RoleImporter])
		if err != nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			return fmt.Errorf("importer's watch: %v %v, want 403", resp, err)
		}
		return nil
	})

	// The metrics process restarts: the stream ends, a new one is served.
	if err := s.metrics[0].stop(15 * time.Second); err != nil {
		t.Logf("metrics stop: %v", err)
	}
	for {
		if _, _, err := w.next(); err != nil {
			t.Logf("the stream ended with the metrics process: %v", err)
			break
		}
	}
	if err := s.metrics[0].start(); err != nil {
		t.Fatal(err)
	}
	var again *summaryStream
	eventually(t, 60*time.Second, func() error {
		var err error
		var resp *http.Response
		if again, resp, err = watchSummaryHTTP(ctx, c, s.url, viewer); err != nil || again == nil {
			return fmt.Errorf("watch after the restart: %v %v", resp, err)
		}
		return nil
	})
	defer again.close()
	n, r, err := again.next()
	if err != nil || r < last || n != before+41 {
		t.Fatalf("after the restart: %d entities at %d (%v), want %d at %d or later", n, r, err, before+41, last)
	}
}
