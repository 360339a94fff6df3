package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"talentreg/bench/dataset"
	"talentreg/bench/load"
	"talentreg/bench/proc"
	"talentreg/bench/rawgrpc"
	"talentreg/bench/report"
	metricsv1 "talentreg/gen/talentreg/metrics/v1"
)

// Cases of name search on the bulk data set's metrics (issue 14: "1M
// entities: a query of a page of 20 within 10 ms p99"). They run inside
// the import step, on the metrics service whose bootstrap it has just
// measured, so the data set is imported once per round.
const (
	caseSearchIndex  = "bootstrap/talentreg-search"
	caseSearchBulk   = "grpc-search-bulk/talentreg"
	caseSearchBulkC1 = "grpc-search-bulk-c1/talentreg"
)

// searchPageSize is the page a talent office's search box asks for.
const searchPageSize = 20

// searchShape is one kind of query of the bulk search mix. Every query
// is a function of an entity index k of the bulk data set, so that the
// variants of a shape spread over the data set; names there read
// "Tianjin Binhai New Area <title> Technology Innovation and
// Industrialisation Research Institute Holding Co., Ltd. No. <k, 7 digits>"
// (package dataset), so a word common to the names matches all of them.
type searchShape struct {
	// name labels the shape's row in the report.
	name string
	// query returns the shape's query for entity k.
	query func(k int) string
	// finds, when set, is the entity that must come first: k itself.
	finds bool
	// page2 asks for the second page (the token from a first call).
	page2 bool
}

// titleZH are the dataset's titles in Chinese, as the search glossary
// maps them onto the English words of the names.
var titleZH = map[string]string{
	"Aerospace": "航天", "New Materials": "新材料", "Biomedicine": "生物医药",
	"Deep Sea": "深海", "Digital Economy": "数字经济", "Advanced Energy": "能源",
}

// entityTitle returns the title of bulk entity k (e.g. "Deep Sea").
func entityTitle(k int) string {
	d := dataset.NewEntity(k).GetDisplayName()
	d = strings.TrimPrefix(d, "Tianjin Binhai New Area ")
	t, _, _ := strings.Cut(d, " Technology Innovation")
	return t
}

// pick returns xs[k % len(xs)].
func pick(xs []string, k int) string { return xs[k%len(xs)] }

// bulkSearchShapes is the query mix: what a talent office types, from
// the words of one name (one result) to a syllable every name contains.
// Matches at 1M entities: name words, Chinese name words and credit code
// 1; one word and a place with a field ~1/6 of the names; a prefix, an
// infix, two common words, 天津 and the second page of "tianjin" all of
// them. The two place-and-field shapes differ in where the place is in
// the names: 滨海 (Binhai) is their second word, 天津 (Tianjin) their
// first, which the index ranks by a different walk.
var bulkSearchShapes = []searchShape{
	{name: "name words", query: func(k int) string {
		return entityTitle(k) + " " + fmt.Sprintf("%07d", k)
	}, finds: true},
	{name: "Chinese name words", query: func(k int) string {
		return titleZH[entityTitle(k)] + " " + fmt.Sprintf("%07d", k)
	}, finds: true},
	{name: "credit code", query: dataset.CreditCode, finds: true},
	{name: "one word", query: func(k int) string {
		return pick([]string{"aerospace", "biomedicine", "materials", "economy", "energy", "deep"}, k)
	}},
	{name: "prefix", query: func(k int) string { return pick([]string{"tian", "binh", "innov", "indus"}, k) }},
	{name: "infix", query: func(k int) string { return pick([]string{"jin", "hai", "novat", "ustrial"}, k) }},
	{name: "two words", query: func(k int) string {
		return pick([]string{"tianjin binhai", "research institute", "holding co", "new area"}, k)
	}},
	{name: "天津", query: func(k int) string { return pick([]string{"天津", "滨海", "滨海新区", "研究院"}, k) }},
	{name: "滨海 新材料", query: func(k int) string { return "滨海 " + titleZH[entityTitle(k)] }},
	{name: "天津 航天", query: func(k int) string { return "天津 " + titleZH[entityTitle(k)] }},
	{name: "second page", query: func(k int) string { return pick([]string{"tianjin", "binhai", "technology"}, k) }, page2: true},
}

// searchVariants is how many entities each shape's queries are built for.
const searchVariants = 64

// searchMix is the encoded requests of the mix, shape by shape in
// rotation, with each request's shape.
type searchMix struct {
	reqs   [][]byte
	shapes []int
}

// buildSearchMix encodes searchVariants queries of every shape for
// entities spread over n, checking each answer on the way (the first
// result where a shape finds one entity; a full page, or the rest of the
// results, otherwise): a case never measures a search that answers
// wrongly. Second-page requests carry the token of their first page.
func buildSearchMix(ctx context.Context, ep endpoint, n int) (searchMix, error) {
	cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
	if err != nil {
		return searchMix{}, err
	}
	defer cc.Close()
	call := func(req *metricsv1.SearchEntitiesRequest) (*metricsv1.SearchEntitiesResponse, []byte, error) {
		b, err := proto.Marshal(req)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var resp rawgrpc.Frame
		if err := rawgrpc.Invoke(ctx, cc, methodSearch, b, &resp); err != nil {
			return nil, nil, err
		}
		var r metricsv1.SearchEntitiesResponse
		return &r, b, proto.Unmarshal(resp.B, &r)
	}
	keys := readKeys(n)[:min(n, searchVariants)]
	var mix searchMix
	for _, k := range keys {
		for s, sh := range bulkSearchShapes {
			q := sh.query(k)
			req := &metricsv1.SearchEntitiesRequest{Query: q, PageSize: searchPageSize}
			offset := 0
			r, b, err := call(req)
			if err != nil {
				return searchMix{}, fmt.Errorf("%s %q: %w", sh.name, q, err)
			}
			if sh.page2 {
				if r.GetNextPageToken() == "" {
					return searchMix{}, fmt.Errorf("%s %q: no second page (total %d)", sh.name, q, r.GetTotalSize())
				}
				req.PageToken, offset = r.GetNextPageToken(), searchPageSize
				if r, b, err = call(req); err != nil {
					return searchMix{}, fmt.Errorf("%s %q: %w", sh.name, q, err)
				}
			}
			switch got := r.GetResults(); {
			case sh.finds && (len(got) == 0 || got[0].GetName() != dataset.EntityName(k)):
				first := ""
				if len(got) > 0 {
					first = got[0].GetName()
				}
				return searchMix{}, fmt.Errorf("%s %q found %q first of %d, want %s", sh.name, q, first, r.GetTotalSize(), dataset.EntityName(k))
			case !sh.finds && (len(got) == 0 || len(got) != min(searchPageSize, int(r.GetTotalSize())-offset)):
				return searchMix{}, fmt.Errorf("%s %q: %d results of %d from %d, want a full page", sh.name, q, len(got), r.GetTotalSize(), offset)
			}
			mix.reqs = append(mix.reqs, b)
			mix.shapes = append(mix.shapes, s)
		}
	}
	return mix, nil
}

// waitSearchIndex waits until the metrics service at ep answers a search
// (it builds its index in the background after a bootstrap and answers
// UNAVAILABLE until then) and returns how long that took.
func waitSearchIndex(ctx context.Context, ep endpoint, timeout time.Duration) (time.Duration, error) {
	cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	req, _ := proto.Marshal(&metricsv1.SearchEntitiesRequest{Query: "tianjin", PageSize: 1})
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// The server waits for the index up to its --max-wait: a short
		// deadline of our own keeps the measured time fine-grained.
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		var resp rawgrpc.Frame
		err := rawgrpc.Invoke(cctx, cc, methodSearch, req, &resp)
		ccancel()
		if err == nil {
			return time.Since(start), nil
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			return 0, fmt.Errorf("search: %w", err)
		}
		select {
		case <-ctx.Done():
			return 0, errors.Join(errors.New("the search index was not ready"), err)
		case <-tick.C:
		}
	}
}

// searchBulk measures name search on the metrics service met (at maddr)
// that has just bootstrapped from the bulk data set: how long its index
// takes to be ready, then the mix with Concurrency clients, then with one
// client, per shape. It adds the figures of the cases selected to out.
func (e *env) searchBulk(ctx context.Context, round int, met *proc.Process, maddr string, out map[string]report.Figures) error {
	ep := plain(maddr)
	cpu0, _ := proc.CPUTime(met.PID)
	ready, err := waitSearchIndex(ctx, ep, 10*time.Minute)
	if err != nil {
		return err
	}
	cpu1, _ := proc.CPUTime(met.PID)
	peak, _, err := proc.Memory(met.PID)
	if err != nil {
		return err
	}
	if e.selected(caseSearchIndex) {
		out[caseSearchIndex] = report.Figures{
			report.SearchReadySec: ready.Seconds(),
			report.MetricsCPUSec:  (cpu1 - cpu0).Seconds(),
			report.PeakRSSMiB:     mib(peak),
		}
	}
	mix, err := buildSearchMix(ctx, ep, e.cfg.ImportEntities)
	if err != nil {
		return fmt.Errorf("pre-flight: %w", err)
	}
	pool, err := e.newUnaryPool(ep, methodSearch, "")
	if err != nil {
		return err
	}
	defer pool.Close()
	if e.selected(caseSearchBulk) {
		f, err := e.loadFigures(ctx, caseSearchBulk, round, []int{met.PID}, []string{"metrics-import"}, 0, mixWorkers(pool, mix, e.cfg.Concurrency, nil))
		if f != nil {
			out[caseSearchBulk] = f
		}
		if err != nil {
			return fmt.Errorf("%s: %w", caseSearchBulk, err)
		}
	}
	shapesWanted := false
	for s := range bulkSearchShapes {
		shapesWanted = shapesWanted || e.selected(shapeCase(s))
	}
	if !e.selected(caseSearchBulkC1) && !shapesWanted {
		return nil
	}
	// One client: the latency of a query that waits for no other, kept
	// per shape as well.
	hists := make([]load.Histogram, len(bulkSearchShapes))
	var last int
	f, err := e.loadFiguresObserved(ctx, caseSearchBulkC1, round, []int{met.PID}, []string{"metrics-import"}, 0, 1,
		mixWorkers(pool, mix, 1, &last), func(_ int, lat time.Duration) { hists[last].Record(lat) })
	if f == nil {
		return err
	}
	worst := 0.0
	for s, h := range hists {
		if h.Count() == 0 {
			continue
		}
		p99 := ms(h.Quantile(0.99))
		worst = max(worst, p99)
		out[shapeCase(s)] = report.Figures{
			report.QPS: float64(h.Count()) / e.cfg.Duration.Seconds(),
			report.P50: ms(h.Quantile(0.5)),
			report.P99: p99,
		}
	}
	f[report.P99WorstShape] = worst
	if e.selected(caseSearchBulkC1) {
		out[caseSearchBulkC1] = f
	}
	return err
}

// searchBulkCases are the cases searchBulk produces, as name, desc pairs.
func (e *env) searchBulkCases() [][2]string {
	n := e.cfg.ImportEntities
	out := [][2]string{
		{caseSearchIndex, "that metrics building its name search index in the background after the bootstrap: GetSummary at the revision → first SearchEntities answered; metrics CPU over that time; peak RSS (VmHWM) with the index"},
		{caseSearchBulk, fmt.Sprintf("SearchEntities, a page of %d, at %d entities (that metrics), the %d query shapes below in turn", searchPageSize, n, len(bulkSearchShapes))},
		{caseSearchBulkC1, fmt.Sprintf("SearchEntities, a page of %d, at %d entities, one client: the latency of a query that waits for no other; the same mix, each shape's p50/p99 below", searchPageSize, n)},
	}
	for s, sh := range bulkSearchShapes {
		// The variants of a shape rotate with k (at most 6 of them);
		// a query naming one entity differs for every k.
		seen := map[string]bool{}
		var qs []string
		for k := range min(n, 12) {
			if q := sh.query(k); !seen[q] {
				seen[q] = true
				qs = append(qs, fmt.Sprintf("%q", q))
			}
		}
		what := strings.Join(qs, ", ")
		switch {
		case sh.finds:
			what = "one entity's, e.g. " + strings.Join(qs[:min(len(qs), 2)], ", ")
		case sh.page2:
			what = "the second page of " + what
		}
		out = append(out, [2]string{shapeCase(s), what})
	}
	return out
}

// shapeCase names the report row of shape s of the one-client case.
func shapeCase(s int) string { return caseSearchBulkC1 + " " + bulkSearchShapes[s].name }

// mixWorkers returns the workers of a mix case: conc workers, each
// starting at its own place in the rotation; with last set (one worker),
// the shape of the request sent last is stored there.
func mixWorkers(pool *unaryPool, mix searchMix, conc int, last *int) func(int) (load.Op, error) {
	return func(id int) (load.Op, error) {
		call := pool.worker(id)
		j := id * len(mix.reqs) / conc
		return func(ctx context.Context) (time.Duration, error) {
			req := mix.reqs[j]
			if last != nil {
				*last = mix.shapes[j]
			}
			if j++; j == len(mix.reqs) {
				j = 0
			}
			resp, _, err := call(ctx, req)
			if err == nil && len(resp) == 0 {
				err = errors.New("empty response")
			}
			return 0, err
		}, nil
	}
}
