package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// exposition is one scrape of a process's /metrics: every sample, keyed
// by its series as written ("name" or "name{labels}").
type exposition map[string]float64

// scrapeAdmin reads the Prometheus text exposition of a process's admin
// port.
func scrapeAdmin(p *proc) (exposition, error) {
	if p.adminAddr == "" {
		return nil, fmt.Errorf("%s has no admin address", p.name)
	}
	r, err := send(context.Background(), "GET", "https://"+p.adminAddr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	if r.Status != 200 {
		return nil, fmt.Errorf("%s /metrics: %v", p.name, r)
	}
	e := exposition{}
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("%s /metrics: malformed line %q", p.name, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s /metrics: line %q: %v", p.name, line, err)
		}
		e[line[:i]] = v
	}
	return e, sc.Err()
}

// value returns the sample of a series without labels.
func (e exposition) value(name string) (float64, error) {
	v, ok := e[name]
	if !ok {
		return 0, fmt.Errorf("no sample %s", name)
	}
	return v, nil
}

// names returns the metric names sampled, without the series' labels.
func (e exposition) names() map[string]bool {
	n := map[string]bool{}
	for series := range e {
		if i := strings.IndexByte(series, '{'); i >= 0 {
			series = series[:i]
		}
		n[series] = true
	}
	return n
}
