package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"talentreg/platform/freeport"
)

// rulesPath is deploy/prometheus/rules.yml, from the e2e folder.
var rulesPath = filepath.Join("..", "deploy", "prometheus", "rules.yml")

// promServer is a real Prometheus server on loopback.
type promServer struct {
	url string
}

// startPrometheus runs bin scraping the stack's three admin ports every
// second as the jobs rules.yml names, with the rules loaded (evaluated every
// second instead of their 15 s, so that the test waits seconds).
func startPrometheus(t *testing.T, bin string, s *stack) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.ReplaceAll(string(rules), "interval: 15s", "interval: 1s")
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(fast), 0o644); err != nil {
		t.Fatal(err)
	}
	var metricsTargets []string
	for _, m := range s.metrics {
		metricsTargets = append(metricsTargets, strconv.Quote(m.adminAddr))
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - {job_name: talentreg-registry, scheme: https, tls_config: {ca_file: %[4]q}, static_configs: [{targets: [%[1]q]}]}
  - {job_name: talentreg-metrics, scheme: https, tls_config: {ca_file: %[4]q}, static_configs: [{targets: [%[2]s]}]}
  - {job_name: talentreg-gateway, scheme: https, tls_config: {ca_file: %[4]q}, static_configs: [{targets: [%[3]q]}]}
`, s.registry.adminAddr, strings.Join(metricsTargets, ", "), s.gateway.adminAddr, devFile("ca.crt"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeport.For(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	})
	p := &promServer{url: "http://" + addr}
	eventually(t, 30*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v", err)
		default:
		}
		r, err := send(context.Background(), "GET", p.url+"/-/ready", nil)
		if err != nil {
			return err
		}
		if r.Status != 200 {
			return fmt.Errorf("not ready: %v", r)
		}
		return nil
	})
	return p
}

// promSample is one sample of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value() float64 {
	str, _ := s.Value[1].(string)
	v, _ := strconv.ParseFloat(str, 64)
	return v
}

// api calls a Prometheus HTTP API path and decodes its data.
func (p *promServer) api(path string, data any) error {
	r, err := send(context.Background(), "GET", p.url+path, nil)
	if err != nil {
		return err
	}
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return fmt.Errorf("%s: %v: %v", path, err, r)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, body.Status, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query evaluates an instant query and returns its vector.
func (p *promServer) query(q string) ([]promSample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: a %s, want a vector", q, data.ResultType)
	}
	var v []promSample
	return v, json.Unmarshal(data.Result, &v)
}

// byInstance returns each sample's value by its instance label.
func byInstance(v []promSample) map[string]float64 {
	m := map[string]float64{}
	for _, s := range v {
		m[s.Metric["instance"]] = s.value()
	}
	return m
}

// TestPrometheus_ScrapesTheStack starts a real Prometheus on loopback
// scraping the admin ports of a running stack (registry, two metrics
// replicas, gateway) with deploy/prometheus/rules.yml loaded, and reads
// through its HTTP API: every target up, each replica's applied revision
// equal to the registry's, the lag rule at 0 for each, every rule
// evaluating without error on metrics the services export, every dashboard
// expression valid; then the registry stops and TalentregRegistryDown
// goes pending.
func TestPrometheus_ScrapesTheStack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	bin := needTool(t, "prometheus", "apt-get install prometheus")
	s := opsStack(t)
	_, r := s.must(t, "POST", "/v1/entities?entityId="+uid("prom"), map[string]any{"displayName": "prometheus test", "kind": "ENTITY_KIND_UNIVERSITY"})
	head := r.revision(t)
	p := startPrometheus(t, bin, s)

	eventually(t, 30*time.Second, func() error {
		v, err := p.query(`up`)
		if err != nil {
			return err
		}
		up := map[string]float64{}
		for _, smp := range v {
			up[smp.Metric["job"]+" "+smp.Metric["instance"]] = smp.value()
		}
		for _, want := range append([]string{"talentreg-registry " + s.registry.adminAddr, "talentreg-gateway " + s.gateway.adminAddr},
			"talentreg-metrics "+s.metrics[0].adminAddr, "talentreg-metrics "+s.metrics[1].adminAddr) {
			if up[want] != 1 {
				return fmt.Errorf("up %v: %s not up", up, want)
			}
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		reg, err := p.query(`talentreg_registry_revision{job="talentreg-registry"}`)
		if err != nil {
			return err
		}
		if len(reg) != 1 || int64(reg[0].value()) != head {
			return fmt.Errorf("registry revision %v, want %d", reg, head)
		}
		applied, err := p.query(`talentreg_metrics_applied_revision{job="talentreg-metrics"}`)
		if err != nil {
			return err
		}
		lag, err := p.query(`talentreg:metrics_lag_revisions`)
		if err != nil {
			return err
		}
		a, l := byInstance(applied), byInstance(lag)
		for _, m := range s.metrics {
			got, ok := a[m.adminAddr]
			if !ok || int64(got) != head {
				return fmt.Errorf("applied revisions %v, want %d for %s", a, head, m.adminAddr)
			}
			if lv, ok := l[m.adminAddr]; !ok || lv != 0 {
				return fmt.Errorf("lag %v, want 0 for %s", l, m.adminAddr)
			}
		}
		return nil
	})

	// Every rule evaluates without error, on metrics that exist.
	names := scrapedNames(t, s)
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Query     string `json:"query"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
				Type      string `json:"type"`
			} `json:"rules"`
		} `json:"groups"`
	}
	recorded := map[string]bool{}
	eventually(t, 30*time.Second, func() error {
		if err := p.api("/api/v1/rules", &rules); err != nil {
			return err
		}
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				n++
				if r.Type == "recording" {
					recorded[r.Name] = true
				}
				if r.Health != "ok" {
					return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
				}
			}
		}
		if n < 20 {
			return fmt.Errorf("%d rules loaded", n)
		}
		return nil
	})
	// Prometheus's own and the kubelet's metrics come from elsewhere.
	external := func(n string) bool { return n == "up" || strings.HasPrefix(n, "kubelet_volume_stats_") }
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, n := range metricNames(r.Query) {
				if !names[n] && !recorded[n] && !external(n) {
					t.Errorf("rule %s queries %s, which no service exports", r.Name, n)
				}
			}
		}
	}
	// Every dashboard expression is valid PromQL that Prometheus evaluates.
	for _, e := range dashboardExprs(t) {
		q := strings.NewReplacer("$__rate_interval", "1m", "$namespace", ".*").Replace(e.expr)
		var data json.RawMessage
		if err := p.api("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
			t.Errorf("dashboard panel %q: %v", e.panel, err)
		}
	}

	// The registry goes away: up turns 0 and the alert is pending.
	if err := s.registry.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		var alerts struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := p.api("/api/v1/alerts", &alerts); err != nil {
			return err
		}
		for _, a := range alerts.Alerts {
			if a.Labels["alertname"] == "TalentregRegistryDown" && a.Labels["instance"] == s.registry.adminAddr && a.State == "pending" {
				return nil
			}
		}
		return fmt.Errorf("TalentregRegistryDown not pending: %+v", alerts.Alerts)
	})
}
