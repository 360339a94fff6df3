package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"talentreg/talentctl/demo"
	"talentreg/talentctl/internal/stack"
	"talentreg/talentctl/layout"
	"talentreg/talentctl/rowfile"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

func TestMain(m *testing.M) { os.Exit(stack.Main(m)) }

// registry starts a real registry and returns a client for it.
func registry(t testing.TB) registryv1.RegistryServiceClient {
	t.Helper()
	p := stack.Registry(t)
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registryv1.NewRegistryServiceClient(conn)
}

// writeFile writes content under name in a fresh directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// export writes resources to path in the layout.
func export(t *testing.T, path string, resources []*registryv1.Resource) {
	t.Helper()
	w, err := rowfile.Create(path, layout.Columns)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resources {
		if err := w.Write(layout.Values(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func total(r *registryv1.ImportResponse, get func(*registryv1.ImportCounts) int64) int64 {
	var n int64
	for _, c := range []*registryv1.ImportCounts{r.GetPrograms(), r.GetEntities(), r.GetGroups(), r.GetMemberships(), r.GetTalentRecords(), r.GetPolicies(), r.GetTargets()} {
		n += get(c)
	}
	return n
}

func TestCheck_RefusesAllWhenAnyFileIsBad(t *testing.T) {
	good := writeFile(t, "good.csv", "type,id,display_name,kind\nentity,a,A,enterprise\n")
	header := writeFile(t, "header.csv", "type,id,colour\nentity,a,red\n")
	gbk := writeFile(t, "gbk.csv", "type,id,display_name\nentity,b,\xcc\xec\xbd\xf2\n")
	truncated := writeFile(t, "book.xlsx", "PK\x03\x04 truncated")
	_, err := Check([]string{good, header, gbk, truncated})
	for _, want := range []error{rowfile.ErrHeader, rowfile.ErrEncoding, rowfile.ErrCorrupt} {
		if !errors.Is(err, want) {
			t.Errorf("Check error %v does not report %v", err, want)
		}
	}
	for _, name := range []string{"header.csv:1", "gbk.csv:2", "book.xlsx"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Check error %v does not name %s", err, name)
		}
	}
	if err != nil && strings.Contains(err.Error(), "good.csv") {
		t.Errorf("Check error %v blames the good file", err)
	}
}

func TestCheck_DetectsOrder(t *testing.T) {
	ent := "entity,e1,E,enterprise,,,\n"
	mem := "membership,,,,g1,e1,member\n"
	hdr := "type,id,display_name,kind,group,entity,role\n"
	for _, tc := range []struct {
		name    string
		files   []string
		ordered bool
	}{
		{"dependencies first", []string{hdr + ent + mem}, true},
		{"membership first", []string{hdr + mem + ent}, false},
		{"across files, in order", []string{hdr + ent, hdr + mem}, true},
		{"across files, reversed", []string{hdr + mem, hdr + ent}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths []string
			for _, content := range tc.files {
				paths = append(paths, writeFile(t, "f.csv", content))
			}
			p, err := Check(paths)
			if err != nil {
				t.Fatal(err)
			}
			if p.ordered != tc.ordered || p.Rows() != 2 {
				t.Errorf("ordered = %v, rows = %d; want %v, 2", p.ordered, p.Rows(), tc.ordered)
			}
		})
	}
}

// TestImport_Demo imports the demo set from each file format into a real
// registry, then again: the second run changes nothing. CSV carries the
// whole set; the slower formats its first items (every format's round trip
// of the whole set is tested in layout and rowfile).
func TestImport_Demo(t *testing.T) {
	all := demo.Generate().Resources()
	for name, items := range map[string][]*registryv1.Resource{"demo.csv": all, "demo.jsonl": all[:800], "demo.xlsx": all[:800]} {
		t.Run(name, func(t *testing.T) {
			c := registry(t)
			path := filepath.Join(t.TempDir(), name)
			export(t, path, items)
			p, err := Check([]string{path})
			if err != nil {
				t.Fatal(err)
			}
			var seen []int
			rep, err := p.Import(context.Background(), c, Options{ChunkSize: 1500, Progress: func(n int) { seen = append(seen, n) }})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rejected) > 0 {
				t.Fatalf("%d rows rejected, first: %v", len(rep.Rejected), rep.Rejected[0])
			}
			if got := total(rep.Response, (*registryv1.ImportCounts).GetCreated); got != int64(len(items)) {
				t.Errorf("created %d, want %d", got, len(items))
			}
			if len(seen) == 0 || seen[len(seen)-1] != len(items) {
				t.Errorf("progress reports %v, want it to end at %d", seen, len(items))
			}
			again, err := p.Import(context.Background(), c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := total(again.Response, (*registryv1.ImportCounts).GetUnchanged); got != int64(len(items)) || again.Response.Revision != rep.Response.Revision {
				t.Errorf("second import: %d unchanged at revision %d, want %d at %d", got, again.Response.Revision, len(items), rep.Response.Revision)
			}
		})
	}
}

// TestImport_ReportsRejectedRows mixes good rows with rows the reader, the
// layout and the registry each refuse: the report names every bad row by
// file, line and column, the good rows are stored and the bad are not.
func TestImport_ReportsRejectedRows(t *testing.T) {
	c := registry(t)
	path := writeFile(t, "mixed.csv", strings.Join([]string{
		"type,id,display_name,kind,credit_code,group,entity,role",
		"entity,good,Good Co.,enterprise,,,,",                          // 2 stored
		"entity,badcode,Bad Code Co.,enterprise,91350100M000100Y44,,,", // 3 registry: checksum
		"entity,badkind,Bad Kind Co.,company,,,,",                      // 4 layout: kind
		"entity,short,Short",                                           // 5 reader: field count
		"group,g,G,alliance,,,,",                                       // 6 stored
		"membership,,,,,g,ghost,member",                                // 7 registry: no such entity
		"membership,,,,,g,good,member",                                 // 8 stored
		"kitten,k,K,,,,,",                                              // 9 check: type
	}, "\n")+"\n")
	p, err := Check([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Import(context.Background(), c, Options{ChunkSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		column string
	}{{3, "credit_code"}, {4, "kind"}, {5, ""}, {7, "entity"}, {9, "type"}}
	if len(rep.Rejected) != len(want) {
		t.Fatalf("rejected %v, want lines %v", rep.Rejected, want)
	}
	for i, w := range want {
		r := rep.Rejected[i]
		if r.Pos.File != path || r.Pos.Line != w.line || r.Column != w.column || r.Message == "" {
			t.Errorf("rejection %d = %q (column %q), want line %d column %q", i, r, r.Column, w.line, w.column)
		}
	}
	if rep.Unlisted != 0 || rep.Rows != 8 {
		t.Errorf("unlisted %d, rows %d; want 0, 8", rep.Unlisted, rep.Rows)
	}
	// Rows refused before sending are counted: the bad kind as an entity,
	// the short row and the kitten without a readable type.
	if want := map[layout.Kind]int64{layout.Entity: 1, 0: 2}; !maps.Equal(rep.NotSent, want) {
		t.Errorf("not sent %v, want %v", rep.NotSent, want)
	}
	for name, want := range map[string]codes.Code{"entities/good": codes.OK, "entities/badcode": codes.NotFound, "entities/badkind": codes.NotFound, "entities/short": codes.NotFound} {
		_, err := c.GetEntity(context.Background(), &registryv1.GetEntityRequest{Name: name})
		if got := status.Code(err); got != want {
			t.Errorf("GetEntity(%s) = %v, want %v", name, got, want)
		}
	}
	if _, err := c.GetMembership(context.Background(), &registryv1.GetMembershipRequest{Name: "groups/g/memberships/good"}); err != nil {
		t.Errorf("membership of a good row not stored: %v", err)
	}
}

// TestImport_SendsDependenciesFirst gives memberships and records before
// the entities and groups they refer to: every row still imports.
func TestImport_SendsDependenciesFirst(t *testing.T) {
	c := registry(t)
	refs := writeFile(t, "refs.jsonl", strings.Join([]string{
		`{"type":"talent_record","id":"r1","subject":"groups/g","category":"cultivated","count":5,"program":"p"}`,
		`{"type":"membership","group":"g","entity":"e","role":"lead"}`,
	}, "\n"))
	bases := writeFile(t, "bases.csv", "type,id,display_name,kind,level\ngroup,g,G,consortium,\nentity,e,E,university,\nprogram,p,P,,district\n")
	p, err := Check([]string{refs, bases})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Import(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rejected) > 0 || total(rep.Response, (*registryv1.ImportCounts).GetCreated) != 5 {
		t.Errorf("rejected %v, response %v; want all 5 created", rep.Rejected, rep.Response)
	}
}

func TestStream_DemoTwice(t *testing.T) {
	c := registry(t)
	items := demo.Generate().Resources()
	send := func() *registryv1.ImportResponse {
		resp, err := Stream(context.Background(), c, Options{ChunkSize: 700}, func(add func(*registryv1.Resource, *fieldmaskpb.FieldMask) error) error {
			for _, r := range items {
				if err := add(r, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := send()
	if got := total(first, (*registryv1.ImportCounts).GetCreated); got != int64(demo.Items) || len(first.Errors) > 0 {
		t.Fatalf("first run created %d (errors %v), want %d", got, first.Errors, demo.Items)
	}
	second := send()
	if got := total(second, (*registryv1.ImportCounts).GetUnchanged); got != int64(demo.Items) || second.Revision != first.Revision {
		t.Errorf("second run: %d unchanged at revision %d, want %d at %d", got, second.Revision, demo.Items, first.Revision)
	}
}

// TestStream_ProduceErrorReportsCommitted: when the producer fails, the
// chunks already sent are committed and the error says so (count and last
// item); the chunk not yet sent is not imported.
func TestStream_ProduceErrorReportsCommitted(t *testing.T) {
	c := registry(t)
	boom := errors.New("boom")
	_, err := Stream(context.Background(), c, Options{ChunkSize: 1000}, func(add func(*registryv1.Resource, *fieldmaskpb.FieldMask) error) error {
		for i := range 2500 {
			p := &registryv1.Program{Name: fmt.Sprintf("programs/p%04d", i), DisplayName: "P", Level: registryv1.ProgramLevel_PROGRAM_LEVEL_DISTRICT}
			if err := add(&registryv1.Resource{Resource: &registryv1.Resource_Program{Program: p}}, nil); err != nil {
				return err
			}
		}
		return boom
	})
	var inc *IncompleteError
	if !errors.Is(err, boom) || !errors.As(err, &inc) || inc.Committed == nil {
		t.Fatalf("Stream = %v, want the producer's error with what was committed", err)
	}
	if got := inc.Committed; got.GetCommittedItems() != 2000 || got.GetLastCommittedItem() != "programs/p1999" || got.GetPrograms().GetCreated() != 2000 {
		t.Fatalf("committed %d up to %q (%v), want 2000 up to programs/p1999", got.GetCommittedItems(), got.GetLastCommittedItem(), got.GetPrograms())
	}
	if _, err := c.GetProgram(context.Background(), &registryv1.GetProgramRequest{Name: "programs/p2000"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetProgram of an unsent item = %v, want NotFound (the unsent chunk must not land)", err)
	}
}

// TestImport_OmittedColumnsKeepFields: a file that lacks a column leaves
// that field of existing resources as it is (before, the field was
// erased, or the row refused for a missing required column); a column
// present but empty clears it; a new resource still needs its required
// columns.
func TestImport_OmittedColumnsKeepFields(t *testing.T) {
	c := registry(t)
	ctx := context.Background()
	importFiles := func(paths ...string) *Report {
		t.Helper()
		p, err := Check(paths)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := p.Import(ctx, c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	importFiles(writeFile(t, "full.csv", "type,id,display_name,kind,region,industries,leading_enterprise\n"+
		"entity,acme,Acme Co.,enterprise,Binhai,aerospace;deep-sea,yes\n"))
	rep := importFiles(writeFile(t, "regions.csv", "type,id,region\nentity,acme,Hebei\nentity,newco,Hebei\n"))
	if c := rep.Response.GetEntities(); c.GetUpdated() != 1 || c.GetFailed() != 1 || len(rep.Rejected) != 1 ||
		rep.Rejected[0].Column != "display_name" || !strings.Contains(rep.Rejected[0].Message, "kind") {
		t.Fatalf("counts %v, rejected %v; want acme updated and newco refused for its display name and kind", c, rep.Rejected)
	}
	importFiles(writeFile(t, "clear.jsonl", `{"type":"entity","id":"acme","industries":null,"leading_enterprise":false}`+"\n"))
	got, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: "entities/acme"})
	if err != nil {
		t.Fatal(err)
	}
	if e := got.GetEntity(); e.GetDisplayName() != "Acme Co." || e.GetKind() != registryv1.EntityKind_ENTITY_KIND_ENTERPRISE ||
		e.GetRegion() != "Hebei" || len(e.GetIndustries()) != 0 || e.GetLeadingEnterprise() {
		t.Fatalf("acme = %v; want its name and kind kept, region Hebei, industries and leading_enterprise cleared", e)
	}
}

// cutClient lets the first sends of an Import through to a real registry,
// then fails the call as a registry failing at that point would: the
// status carries the registry's account of what it committed.
type cutClient struct {
	Client
	sends int
}

func (c cutClient) Import(ctx context.Context, opts ...grpc.CallOption) (grpc.ClientStreamingClient[registryv1.ImportRequest, registryv1.ImportResponse], error) {
	s, err := c.Client.Import(ctx, opts...)
	return &cutStream{ClientStreamingClient: s, left: c.sends}, err
}

type cutStream struct {
	grpc.ClientStreamingClient[registryv1.ImportRequest, registryv1.ImportResponse]
	left int
}

func (s *cutStream) Send(r *registryv1.ImportRequest) error {
	if s.left == 0 {
		return io.EOF // the server ended the call
	}
	s.left--
	return s.ClientStreamingClient.Send(r)
}

func (s *cutStream) CloseAndRecv() (*registryv1.ImportResponse, error) {
	resp, err := s.ClientStreamingClient.CloseAndRecv()
	if err != nil || s.left > 0 {
		return resp, err
	}
	st, err := status.New(codes.Unavailable, "registry is shutting down; retry").WithDetails(resp)
	if err != nil {
		return nil, err
	}
	return nil, st.Err()
}

// TestImport_StoppedMidwayReportsCommittedRows: an import the registry
// ends midway returns the report of what it committed, the last committed
// row named by file and line, with the error.
func TestImport_StoppedMidwayReportsCommittedRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("type,id,display_name,kind\n")
	for i := range 50 {
		fmt.Fprintf(&b, "entity,e%02d,E,other\n", i)
	}
	path := writeFile(t, "entities.csv", b.String())
	p, err := Check([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Import(context.Background(), cutClient{Client: registry(t), sends: 2}, Options{ChunkSize: 10})
	var inc *IncompleteError
	if status.Code(err) != codes.Unavailable || !errors.As(err, &inc) || rep == nil {
		t.Fatalf("Import = %v, %v; want UNAVAILABLE with a report", rep, err)
	}
	if rep.Committed != 20 || rep.LastCommitted.String() != path+":21" || rep.Response.GetLastCommittedItem() != "entities/e19" ||
		rep.Response.GetEntities().GetCreated() != 20 {
		t.Fatalf("committed %d, last %s (%s), counts %v; want 20 up to line 21 (entities/e19)",
			rep.Committed, rep.LastCommitted, rep.Response.GetLastCommittedItem(), rep.Response.GetEntities())
	}
}
