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
	if p.search == nil {
		return
	}
	p.search.Put(d)
	p.searchDirty[d.Name] = struct{}{}
}

func (p *Projection) indexDelete(name string) {
	if p.search == nil {
		return
	}
	p.search.Delete(name)
	p.searchDirty[strings.Clone(name)] = struct{}{}
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
	p.search, p.searchDirty = nil, nil
}

// Searching reports whether the projection keeps a search index.
func (p *Projection) Searching() bool { return p.search != nil }

// Search returns one page of the results of query; see package search.
func (p *Projection) Search(query string, offset, limit int) metrics.SearchPage {
	res, total := p.search.Search(query, offset, limit)
	out := metrics.SearchPage{Results: make([]metrics.SearchResult, len(res)), Total: total, Revision: p.revision}
	for i, r := range res {
		out.Results[i] = metrics.SearchResult{Name: r.Name, DisplayName: r.DisplayName, Kind: r.Kind, CreditCode: r.CreditCode, Score: r.Score}
	}
	return out
}

// takeSearch returns the search records to write: every document (full)
// or those changed since the last call.
func (p *Projection) takeSearch(full bool) (put, del []Record) {
	if p.search == nil {
		return nil, nil
	}
	if full {
		p.search.Each(func(d search.Doc) { put = append(put, searchRecord(d)) })
	} else {
		for name := range p.searchDirty {
			if d, ok := p.search.Get(name); ok {
				put = append(put, searchRecord(d))
			} else {
				del = append(del, Record{Section: SectionSearch, Key: name})
			}
		}
	}
	clear(p.searchDirty)
	return put, del
}

func searchRecord(d search.Doc) Record {
	b := appendString(nil, d.DisplayName)
	b = appendString(b, d.Kind)
	b = appendString(b, d.CreditCode)
	return Record{Section: SectionSearch, Key: d.Name, Value: b}
}

func (p *Projection) restoreSearch(key string, d *decoder) {
	doc := search.Doc{Name: key, DisplayName: d.string(), Kind: d.string(), CreditCode: d.string()}
	if d.err == nil && p.search != nil {
		p.search.Put(doc)
	}
}
