package projection

import (
	"strings"

	"talentreg/services/metrics"
	"talentreg/services/metrics/search"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// The projection keeps the search index of names (package search) in step
// with the feed, and its documents in the checkpoint (SectionSearch, one
// record per resource: display name, kind, credit code).

func (p *Projection) indexPut(d search.Doc) {
	switch {
	case p.search != nil:
		p.search.Put(d)
	case p.searchLog == nil:
		return // search is off
	case p.bulk:
		// No clones: a snapshot message's and a checkpoint record's
		// strings are decoded copies, and a million documents would
		// cost a million copies more.
		p.searchDocs.add(d)
		return
	default:
		d.Name, d.DisplayName, d.Kind, d.CreditCode = strings.Clone(d.Name), strings.Clone(d.DisplayName), strings.Clone(d.Kind), strings.Clone(d.CreditCode)
		p.searchLog[d.Name] = &d
	}
	p.searchDirty[strings.Clone(d.Name)] = struct{}{}
}

func (p *Projection) indexDelete(name string) {
	switch {
	case p.search != nil:
		p.search.Delete(name)
	case p.searchLog == nil:
		return
	default:
		p.searchLog[strings.Clone(name)] = nil
	}
	p.searchDirty[strings.Clone(name)] = struct{}{}
}

// SearchPending reports whether the projection's search index is still
// to be built from the documents of a bulk load (see BuildSearch).
func (p *Projection) SearchPending() bool { return p.search == nil && p.searchLog != nil }

// SearchDocs returns a copy of the documents of a bulk load whose index
// is still to be built.
func (p *Projection) SearchDocs() []search.Doc { return p.searchDocs.slice() }

// buildSearch builds an index of docs (a bulk load's, which are not changed
// afterwards): it costs O(names) and touches no projection, so it runs
// without a lock.
func buildSearch(docs chunked[search.Doc]) *search.Index {
	return search.BuildFunc(docs.n, func(yield func(search.Doc)) {
		docs.each(0, func(d *search.Doc) { yield(*d) })
	})
}

// InstallSearch makes x, built by buildSearch from searchDocs, the
// projection's index, with what changed since replayed into it.
func (p *Projection) InstallSearch(x *search.Index) {
	if !p.SearchPending() {
		return
	}
	for name, d := range p.searchLog {
		if d == nil {
			x.Delete(name)
		} else {
			x.Put(*d)
		}
	}
	p.search, p.searchDocs, p.searchLog = x, chunked[search.Doc]{}, nil
}

func (p *Projection) indexEntity(a *registryv1.Entity) {
	p.indexPut(search.Doc{Name: a.GetName(), DisplayName: a.GetDisplayName(), Kind: a.GetKind().String(), CreditCode: a.GetCreditCode()})
}

func (p *Projection) indexGroup(a *registryv1.Group) {
	p.indexPut(search.Doc{Name: a.GetName(), DisplayName: a.GetDisplayName(), Kind: a.GetKind().String()})
}

func (p *Projection) indexProgram(a *registryv1.Program) {
	p.indexPut(search.Doc{Name: a.GetName(), DisplayName: a.GetDisplayName(), Kind: "program"})
}

// DropSearch discards the search index (a replica run with search off).
func (p *Projection) DropSearch() {
	p.search, p.searchDirty, p.searchDocs, p.searchLog = nil, map[string]struct{}{}, chunked[search.Doc]{}, nil
}

// Searching reports whether the projection keeps a search index.
func (p *Projection) Searching() bool { return p.search != nil }

// Search returns one page of the results of query; see package search.
func (p *Projection) Search(query string, offset, limit int) metrics.SearchPage {
	res := p.search.Query(query, offset, limit)
	out := metrics.SearchPage{Results: make([]metrics.SearchResult, len(res.Results)), Total: res.Total,
		TotalExact: res.TotalExact, More: res.More, Revision: p.revision}
	for i, r := range res.Results {
		out.Results[i] = metrics.SearchResult{Name: r.Name, DisplayName: r.DisplayName, Kind: r.Kind, CreditCode: r.CreditCode, Score: r.Score}
	}
	return out
}

// searchTake is the search documents a Delta must write, taken under the
// projection's lock and encoded afterwards without it (documents are
// values: the index may change meanwhile).
type searchTake struct {
	docs []search.Doc
	// base holds a bulk load's documents (never changed afterwards),
	// written unless their name is in changed.
	base    chunked[search.Doc]
	changed map[string]struct{}
	deleted []string
}

// takeSearch takes the search documents to write: every document (full)
// or those changed since the last call.
func (p *Projection) takeSearch(full bool) *searchTake {
	defer clear(p.searchDirty)
	get := func(name string) (search.Doc, bool) {
		if p.search != nil {
			return p.search.Get(name)
		}
		if d, ok := p.searchLog[name]; ok && d != nil {
			return *d, true
		}
		return search.Doc{}, false
	}
	t := &searchTake{}
	switch {
	case p.search == nil && p.searchLog == nil:
		return nil
	case full && p.search != nil:
		t.docs = make([]search.Doc, 0, p.search.Len())
		p.search.Each(func(d search.Doc) { t.docs = append(t.docs, d) })
	case full:
		t.base, t.changed = p.searchDocs, make(map[string]struct{}, len(p.searchLog))
		for name, d := range p.searchLog {
			t.changed[name] = struct{}{}
			if d != nil {
				t.docs = append(t.docs, *d)
			}
		}
	default:
		for name := range p.searchDirty {
			if d, ok := get(name); ok {
				t.docs = append(t.docs, d)
			} else {
				t.deleted = append(t.deleted, name)
			}
		}
	}
	return t
}

// records encodes what t took.
func (t *searchTake) records() (put, del []Record) {
	if t == nil {
		return nil, nil
	}
	put = make([]Record, 0, t.base.n+len(t.docs))
	var buf []byte
	add := func(d *search.Doc) {
		if cap(buf)-len(buf) < 512 {
			buf = make([]byte, 0, 64<<10)
		}
		start := len(buf)
		buf = appendString(buf, d.DisplayName)
		buf = appendString(buf, d.Kind)
		buf = appendString(buf, d.CreditCode)
		put = append(put, Record{Section: SectionSearch, Key: d.Name, Value: buf[start:len(buf):len(buf)]})
	}
	t.base.each(0, func(d *search.Doc) {
		if _, changed := t.changed[d.Name]; !changed {
			add(d)
		}
	})
	for i := range t.docs {
		add(&t.docs[i])
	}
	for _, name := range t.deleted {
		del = append(del, Record{Section: SectionSearch, Key: name})
	}
	return put, del
}

func (p *Projection) restoreSearch(key string, d *decoder) {
	doc := search.Doc{Name: key, DisplayName: d.string(), Kind: d.string(), CreditCode: d.string()}
	if d.err == nil {
		p.indexPut(doc)
	}
}
