package cli

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"talentreg/talentctl/demo"
	"talentreg/talentctl/internal/stack"
	"talentreg/talentctl/layout"
	"talentreg/talentctl/rowfile"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// TestExport_ReimportReproducesEveryRecordAndFigure loads the demo into a
// real registry and metrics service (processes), ends an entity and a
// membership, exports as CSV, imports it into an empty registry and
// compares every record (all client-set fields) and every figure: the
// Summary, each breakdown and each group's stats. The JSON Lines export
// imports into that registry unchanged; the Excel export reads as the same
// rows as the CSV.
// It also exports at the revision before the lifecycle changes and finds
// exactly the demo set's own export.
func TestExport_ReimportReproducesEveryRecordAndFigure(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	met := stack.Metrics(t, reg.Addr)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr, "TALENTREG_METRICS": met.Addr}
	run(t, env, "demo").want(t, ExitOK)
	dir := t.TempDir()

	src := registryClient(t, reg.Addr)
	atStart, beforeEnds := snapshot(t, src)
	// Lifecycles: an organisation leaves an alliance on a date, another
	// closes (ending now); the target is raised.
	m := firstMembership(t, src)
	group, entity, _ := strings.Cut(strings.TrimPrefix(m.GetName(), "groups/"), "/memberships/")
	run(t, env, "update", "membership", group, entity, "--status", "withdrawn", "--end-time", "2024-06-30").want(t, ExitOK)
	run(t, env, "update", "entity", "tianjin-university", "--status", "inactive").want(t, ExitOK)
	run(t, env, "update", "target", "future-industry-platforms", "--goal-value", "120").want(t, ExitOK)

	// At the revision before the changes: the rows of the snapshot taken
	// then.
	atDemo, startFile := filepath.Join(dir, "at-demo.csv"), filepath.Join(dir, "start.csv")
	run(t, env, "export", atDemo, "--revision", strconv.FormatInt(beforeEnds, 10)).want(t, ExitOK, "wrote "+strconv.Itoa(demo.Items)+" rows")
	if err := writeRows(startFile, atStart); err != nil {
		t.Fatal(err)
	}
	if a, b := readFile(t, atDemo), readFile(t, startFile); a != b {
		t.Errorf("export --revision %d differs from the snapshot taken at that revision", beforeEnds)
	}

	want, head := snapshot(t, src)
	wantFigures := figures(t, metricsClient(t, met.Addr), head)
	if s := wantFigures[0].(*metricsv1.GetSummaryResponse); s.AllianceMembers == 0 {
		t.Fatal("no figures")
	}
	// CSV into an empty registry: every record and every figure.
	csvFile := filepath.Join(dir, "export.csv")
	run(t, env, "export", csvFile).want(t, ExitOK, "wrote "+strconv.Itoa(len(want))+" rows")
	reg2 := stack.Registry(t)
	met2 := stack.Metrics(t, reg2.Addr)
	env2 := map[string]string{"TALENTREG_REGISTRY": reg2.Addr, "TALENTREG_METRICS": met2.Addr}
	run(t, env2, "import", csvFile).want(t, ExitOK)
	got, head2 := snapshot(t, registryClient(t, reg2.Addr))
	compareRecords(t, got, want)
	gotFigures := figures(t, metricsClient(t, met2.Addr), head2)
	for i := range wantFigures {
		if !proto.Equal(gotFigures[i], wantFigures[i]) {
			t.Errorf("figures differ after re-import:\n got %v\nwant %v", gotFigures[i], wantFigures[i])
		}
	}
	// JSON Lines holds the same records: imported into that registry,
	// every row comes back unchanged. (Its records equal the source's,
	// compared above, so an import into the source would say the same.)
	jsonlFile := filepath.Join(dir, "export.jsonl")
	run(t, env, "export", jsonlFile).want(t, ExitOK, "wrote "+strconv.Itoa(len(want))+" rows")
	r := run(t, env2, "import", jsonlFile, "-o", "json")
	r.want(t, ExitOK)
	var out importJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("import -o json: %v\n%s", err, r.stdout)
	}
	var unchanged int64
	for kind, c := range out.Counts {
		if c.Created+c.Updated+c.Failed != 0 {
			t.Errorf("jsonl import into %s: %s %+v, want all unchanged", reg2.Addr, kind, c)
		}
		unchanged += c.Unchanged
	}
	if unchanged != int64(len(want)) {
		t.Errorf("jsonl import: %d unchanged, want %d", unchanged, len(want))
	}
	// Excel: the importer reads every format through rowfile and works on
	// its rows alone, so an Excel export whose rows, as read, are the CSV
	// export's imports as the CSV did above. Reading it is all an import
	// would add here (importing it took ~25 s under -race).
	xlsxFile := filepath.Join(dir, "export.xlsx")
	run(t, env, "export", xlsxFile).want(t, ExitOK, "wrote "+strconv.Itoa(len(want))+" rows")
	csvRows, xlsxRows := readRows(t, csvFile), readRows(t, xlsxFile)
	if len(xlsxRows) != len(csvRows) {
		t.Fatalf("the Excel export reads as %d rows, the CSV export as %d", len(xlsxRows), len(csvRows))
	}
	for i := range csvRows {
		if !maps.Equal(xlsxRows[i], csvRows[i]) {
			t.Fatalf("row %d: the Excel export reads as\n%v\nthe CSV export as\n%v", i+1, xlsxRows[i], csvRows[i])
		}
	}
}

// readRows reads an import file as the importer does, each row as its
// non-empty cells by column.
func readRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	rf, err := rowfile.Open(path, rowfile.Options{Columns: layout.Columns, Required: layout.Required})
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	var rows []map[string]string
	for {
		row, err := rf.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cells := map[string]string{}
		for i, c := range row.Columns {
			if row.Values[i] != "" {
				cells[c] = row.Values[i]
			}
		}
		rows = append(rows, cells)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dialT(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func registryClient(t *testing.T, addr string) registryv1.RegistryServiceClient {
	return registryv1.NewRegistryServiceClient(dialT(t, addr))
}

func metricsClient(t *testing.T, addr string) metricsv1.MetricsServiceClient {
	return metricsv1.NewMetricsServiceClient(dialT(t, addr))
}

// snapshot returns every resource of the registry and its revision.
func snapshot(t *testing.T, c registryv1.RegistryServiceClient) ([]*registryv1.Resource, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, rev, err := exportResources(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs, rev
}

func firstMembership(t *testing.T, c registryv1.RegistryServiceClient) *registryv1.Membership {
	t.Helper()
	resp, err := c.ListMemberships(context.Background(), &registryv1.ListMembershipsRequest{Parent: "groups/-", PageSize: 1})
	if err != nil || len(resp.GetMemberships()) != 1 {
		t.Fatalf("list memberships: %v, %v", resp, err)
	}
	return resp.GetMemberships()[0]
}

// compareRecords compares two registries' resources field by field, but
// for what the registry sets itself (create and update times, etags).
func compareRecords(t *testing.T, got, want []*registryv1.Resource) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d resources, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := clientFieldsOf(got[i]), clientFieldsOf(want[i])
		if !proto.Equal(g, w) {
			t.Fatalf("resource %d differs:\n got %v\nwant %v", i, g, w)
		}
	}
}

func clientFieldsOf(r *registryv1.Resource) proto.Message {
	m := proto.Clone(resourceMessage(r))
	fields := m.ProtoReflect().Descriptor().Fields()
	for _, name := range []protoreflect.Name{"create_time", "update_time", "etag"} {
		m.ProtoReflect().Clear(fields.ByName(name))
	}
	return m
}

// figures returns the Summary, every breakdown and every group's stats at
// revision (waiting for it), with the revision cleared.
func figures(t *testing.T, c metricsv1.MetricsServiceClient, revision int64) []proto.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := c.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: revision})
	if err != nil {
		t.Fatal(err)
	}
	s.Revision = 0
	out := []proto.Message{s}
	for _, dim := range []string{"entityKind", "region", "industry", "groupField", "program", "period"} {
		b, err := c.GetBreakdown(ctx, &metricsv1.GetBreakdownRequest{Dimension: dim, MinRevision: revision})
		if err != nil {
			t.Fatalf("breakdown %s: %v", dim, err)
		}
		b.Revision = 0
		out = append(out, b)
	}
	for _, g := range demo.Generate().Groups {
		st, err := c.GetGroupStats(ctx, &metricsv1.GetGroupStatsRequest{Name: g.GetName(), MinRevision: revision})
		if err != nil {
			t.Fatalf("stats %s: %v", g.GetName(), err)
		}
		st.Revision = 0
		out = append(out, st)
	}
	return out
}

// TestKeyOf_OrdersAsTheRegistry: memberships order by (group, entity), so
// a rewound export lists them as a snapshot does.
func TestKeyOf_OrdersAsTheRegistry(t *testing.T) {
	m := func(g, e string) *registryv1.Resource {
		return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: "groups/" + g + "/memberships/" + e}}}
	}
	if !(keyOf(m("a", "z")) < keyOf(m("a-b", "a"))) {
		t.Error(`groups/a sorts after groups/a-b`)
	}
	if got := keyOf(&registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{Name: "policies/p-1"}}}); got != "p-1" {
		t.Errorf("key of a policy = %q", got)
	}
}
