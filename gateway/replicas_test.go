package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// keepAlive is an HTTP client holding one connection to the gateway.
func keepAlive() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
}

// summaryRevision reads /v1/summary on c and returns its revision and the
// replica that answered (its programme count, see fakeMetrics).
func summaryRevision(t *testing.T, c *http.Client, url string) (rev int64, replica string) {
	t.Helper()
	resp, err := c.Get(url + "/v1/summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if r.status != 200 {
		t.Fatalf("GET /v1/summary: %v", r)
	}
	m := r.json(t)
	rev, err = strconv.ParseInt(m["revision"].(string), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if h := resp.Header.Get("X-Revision"); h != m["revision"] {
		t.Fatalf("X-Revision %q, body revision %v", h, m["revision"])
	}
	return rev, m["programs"].(string)
}

// TestGateway_ReadsMonotonicPerConnection: of two replicas, one is held
// behind. Reads on one keep-alive connection never go back in revision —
// once the connection has seen the ahead replica's revision, the one
// behind is skipped — and a mutation's X-Revision counts as seen.
func TestGateway_ReadsMonotonicPerConnection(t *testing.T) {
	s, _, fms := startStack(t, 2, nil)
	fms[0].revision.Store(10)
	fms[1].revision.Store(5) // held behind
	c := keepAlive()
	var last int64
	replicas := map[string]int{}
	for i := range 20 {
		rev, replica := summaryRevision(t, c, s.url)
		if rev < last {
			t.Fatalf("read %d answered revision %d after %d on the same connection", i, rev, last)
		}
		last = rev
		replicas[replica]++
	}
	if last != 10 {
		t.Fatalf("never read the replica ahead: last revision %d", last)
	}

	// A write that committed at 7, on a fresh connection: the replica at
	// 5 must not answer its reads.
	s.registry.rev.Store(6)
	c = keepAlive()
	req, _ := http.NewRequest("POST", s.url+"/v1/entities?entityId=acme", strings.NewReader(`{"displayName":"Acme","kind":"ENTITY_KIND_ENTERPRISE"}`))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Revision") != "7" {
		t.Fatalf("POST: %d X-Revision %q, want 7", resp.StatusCode, resp.Header.Get("X-Revision"))
	}
	for range 10 {
		if rev, replica := summaryRevision(t, c, s.url); rev < 7 || replica != "1" {
			t.Fatalf("read after a write at 7 answered revision %d from replica %s", rev, replica)
		}
	}
}

// TestGateway_MinRevisionWaitIsTheReplicas: a read without Grpc-Timeout
// reaches the replica without a deadline, so the replica's own --max-wait
// bounds a minRevision wait (the gateway's limit is not passed on as the
// client's deadline); with Grpc-Timeout the client's deadline is.
func TestGateway_MinRevisionWaitIsTheReplicas(t *testing.T) {
	s, _, fms := startStack(t, 1, nil)
	if r := do(t, "GET", s.url+"/v1/summary?minRevision=1", nil, nil); r.status != 200 {
		t.Fatal(r)
	}
	if fms[0].deadline.Load() {
		t.Fatal("the read reached the replica with a deadline the client did not set")
	}
	if r := do(t, "GET", s.url+"/v1/summary?minRevision=1", nil, map[string]string{"Grpc-Timeout": "5S"}); r.status != 200 {
		t.Fatal(r)
	}
	if !fms[0].deadline.Load() {
		t.Fatal("the client's Grpc-Timeout did not reach the replica")
	}
}

// TestGateway_SummaryWatchSkipsReplicasDown: GET /v1/summary:watch is
// served by a replica that is SERVING, never by one that is not, as
// newline-delimited {"result":{"summary":…}} lines.
func TestGateway_SummaryWatchSkipsReplicasDown(t *testing.T) {
	s, backends, _ := startStack(t, 2, nil)
	backends[1].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	served := func() string {
		r := do(t, "GET", s.url+"/v1/summary:watch", nil, nil)
		if r.status != 200 {
			t.Fatalf("GET /v1/summary:watch: %v", r)
		}
		var line struct {
			Result struct {
				Summary struct {
					Programs string `json:"programs"`
				} `json:"summary"`
			} `json:"result"`
		}
		first, _, _ := strings.Cut(string(r.body), "\n")
		if err := json.Unmarshal([]byte(first), &line); err != nil {
			t.Fatalf("first line %q: %v", first, err)
		}
		return line.Result.Summary.Programs
	}
	// The gateway learns of the status change from the health stream.
	deadline := time.Now().Add(30 * time.Second)
	for served() != "2" {
		if time.Now().After(deadline) {
			t.Fatal("the replica that is NOT_SERVING is still asked")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	for range 10 {
		if r := served(); r != "2" {
			t.Fatalf("watch served by replica %s, NOT_SERVING", r)
		}
	}
}
