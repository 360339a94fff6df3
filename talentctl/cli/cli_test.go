package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"google.golang.org/protobuf/encoding/protojson"

	"talentreg/platform/freeport"
	"talentreg/talentctl/demo"
	"talentreg/talentctl/internal/stack"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

func TestMain(m *testing.M) { os.Exit(stack.Main(m)) }

// result is what one run of talentctl produced.
type result struct {
	code           int
	stdout, stderr string
}

// run runs talentctl in-process with args and env (TALENTREG_* only).
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runB(t, env, args...)
}

// runB is run for tests and benchmarks.
func runB(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// want fails the test unless r has exit code code and stderr mentions
// every one of says.
func (r result) want(t *testing.T, code int, says ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range says {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, r.stderr)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return freeport.For(t)
}

func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun_UsageErrorsExitTwo(t *testing.T) {
	nowhere := map[string]string{"TALENTREG_REGISTRY": closedAddr(t), "TALENTREG_METRICS": closedAddr(t)}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		says string
	}{
		{"unknown command", nowhere, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"verb without type", nowhere, []string{"get"}, "get: missing command (want one of: entity, group, membership, policy, program, talent-record, target)"},
		{"unknown type", nowhere, []string{"list", "kittens"}, `list: unknown command "kittens"`},
		{"missing id", nowhere, []string{"get", "entity"}, "get entity: missing ID"},
		{"extra argument", nowhere, []string{"delete", "group", "a", "b"}, `unexpected argument "b"`},
		{"membership name", nowhere, []string{"get", "membership", "g"}, "want GROUP ENTITY"},
		{"unknown flag", nowhere, []string{"summary", "--colour"}, "unknown flag: --colour"},
		{"bad output flag", nowhere, []string{"-o", "yaml", "summary"}, `--output "yaml": want table or json`},
		{"bad output env", map[string]string{"TALENTREG_OUTPUT": "yaml"}, []string{"summary"}, `--output "yaml"`},
		{"bad timeout env", map[string]string{"TALENTREG_TIMEOUT": "soon"}, []string{"summary"}, `TALENTREG_TIMEOUT="soon"`},
		{"unknown dimension", nowhere, []string{"breakdown", "colour"}, `unknown dimension "colour" (want one of entityKind, region, industry, groupField, program, period)`},
		{"import without files", nowhere, []string{"import"}, "import: missing FILE..."},
		{"create with a bad enum", nowhere, []string{"create", "entity", "acme", "--display-name", "Acme", "--kind", "company"}, `--kind: unknown value "company"`},
		{"create with a flag of another type", nowhere, []string{"create", "group", "g", "--display-name", "G", "--kind", "alliance", "--role", "lead"}, "unknown flag: --role"},
		{"demo export to an unknown format", nowhere, []string{"demo", "--export", filepath.Join(t.TempDir(), "demo.txt")}, "unsupported file type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, tc.env, tc.args...).want(t, ExitInput, tc.says)
		})
	}
}

func TestRun_HelpExitsZero(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"import", "--help"}, {"help", "demo"}} {
		r := run(t, nil, args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("talentctl %v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	if r := run(t, nil, "import", "--help"); !strings.Contains(r.stdout, "leading_enterprise") {
		t.Errorf("import --help does not document the columns:\n%s", r.stdout)
	}
}

func TestRun_UnreachableServicesExitOne(t *testing.T) {
	env := map[string]string{"TALENTREG_REGISTRY": closedAddr(t), "TALENTREG_METRICS": closedAddr(t), "TALENTREG_TIMEOUT": "5s"}
	run(t, env, "get", "entity", "acme").want(t, ExitError, "cannot reach the registry at "+env["TALENTREG_REGISTRY"])
	run(t, env, "summary").want(t, ExitError, "cannot reach the metrics service at "+env["TALENTREG_METRICS"])
	run(t, env, "demo").want(t, ExitError, "cannot reach the registry")
}

// TestImport_BadFilesImportNothing gives each kind of unreadable file next
// to a good one: exit 2, a message naming the file and the problem, and
// nothing reaches the registry — not even the good file's rows.
func TestImport_BadFilesImportNothing(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
	good := writeFile(t, "good.csv", []byte("type,id,display_name,level\nprogram,good,Good,district\n"))

	var long bytes.Buffer
	long.WriteString("type,id,display_name,level\nprogram,a,A,district\nprogram,b,")
	long.Write(bytes.Repeat([]byte("B"), 10<<20))
	long.WriteString(",district\nprogram,c,C,district\n")

	wb := excelize.NewFile()
	wb.SetSheetRow("Sheet1", "A1", &[]any{"type", "id", "display_name", "level"})
	for i := 2; i < 300; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i)
		wb.SetSheetRow("Sheet1", cell, &[]any{"program", "p", "a programme with a longish name", "district"})
	}
	var book bytes.Buffer
	if err := wb.Write(&book); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		file    string
		content []byte
		says    string
	}{
		{"wrong header", "header.csv", []byte("type,id,displayname,levle\nprogram,a,A,district\n"), `header.csv:1: bad header: unknown columns "displayname" (did you mean "display_name"?), "levle" (did you mean "level"?)`},
		{"missing type column", "notype.csv", []byte("id,display_name\na,A\n"), `notype.csv:1: bad header: no "type" column`},
		{"bad encoding", "gbk.csv", []byte("type,id,display_name,level\nprogram,a,\xba\xa3\xba\xd3,district\n"), "gbk.csv:2: not UTF-8: save the file as UTF-8"},
		{"bad encoding in JSON Lines", "gbk.jsonl", []byte("{\"type\":\"program\",\"id\":\"a\",\"display_name\":\"\xba\xa3\"}\n"), "gbk.jsonl:1: not UTF-8"},
		{"truncated XLSX", "book.xlsx", book.Bytes()[:book.Len()*2/3], "book.xlsx: corrupt file: not a readable XLSX workbook"},
		{"10 MB single line", "long.csv", long.Bytes(), "long.csv:3: line too long"},
		{"10 MB single line in JSON Lines", "long.jsonl", append(append([]byte(`{"type":"program","id":"a","display_name":"`), bytes.Repeat([]byte("x"), 10<<20)...), []byte("\"}\n")...), "long.jsonl:1: line too long"},
		{"broken quoting", "quote.csv", []byte("type,id,display_name,level\nprogram,a,\"A,district\nprogram,b,B,district\n"), "quote.csv:2: corrupt file"},
		{"unknown extension", "data.txt", []byte("type,id\n"), "data.txt: unsupported file type"},
		{"missing file", "", nil, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.csv")
			if tc.file != "" {
				path = writeFile(t, tc.file, tc.content)
			}
			run(t, env, "import", good, path).want(t, ExitInput, "nothing imported", tc.says)
			if r := run(t, env, "list", "programs", "-o", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
				t.Errorf("after a refused import the registry holds programmes: %s %s", r.stdout, r.stderr)
			}
		})
	}
}

// TestImport_RejectedRows imports a file with good and bad rows: the good
// are stored, each bad one is reported by file, line and column, exit 2.
func TestImport_RejectedRows(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
	path := writeFile(t, "entities.csv", []byte(strings.Join([]string{
		"type,id,display_name,kind,credit_code,region",
		"entity,acme,Acme Co.,enterprise,,Binhai",
		"entity,bad-code,Bad Code Co.,enterprise,91350100M000100Y44,Binhai",
		"entity,bad-kind,Bad Kind Co.,company,,Binhai",
		"entity,Bad_Id,Bad Id Co.,enterprise,,Binhai",
		"entity,zeta,Zeta Co.,university,,Beijing",
	}, "\n")+"\n"))
	r := run(t, env, "import", path)
	r.want(t, ExitInput,
		path+":3: credit_code: ",
		path+":4: kind: unknown value \"company\"",
		path+":5: id: \"Bad_Id\" is not an id",
		"3 of 5 rows rejected")
	if !strings.Contains(r.stdout, "entity         2        0") {
		t.Errorf("counts table does not show 2 entities created:\n%s", r.stdout)
	}
	for id, want := range map[string]int{"acme": ExitOK, "zeta": ExitOK, "bad-code": ExitError, "bad-kind": ExitError} {
		if got := run(t, env, "get", "entity", id).code; got != want {
			t.Errorf("get entity %s: exit %d, want %d", id, got, want)
		}
	}

	// -o json lists every rejection with its position.
	r = run(t, env, "import", path, "-o", "json")
	var rep struct {
		Rows     int
		Counts   map[string]struct{ Created, Unchanged, Failed int64 }
		Rejected []struct {
			File, Column, Message string
			Line                  int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("-o json output %q: %v", r.stdout, err)
	}
	if rep.Rows != 5 || len(rep.Rejected) != 3 || rep.Rejected[0].Line != 3 || rep.Rejected[0].Column != "credit_code" || rep.Counts["entity"].Unchanged != 2 {
		t.Errorf("-o json report = %+v", rep)
	}
}

// TestResources_CreateGetListDelete drives every resource through the CLI
// against a real registry.
func TestResources_CreateGetListDelete(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
	ok := func(args ...string) result {
		t.Helper()
		r := run(t, env, args...)
		r.want(t, ExitOK)
		return r
	}
	ok("create", "program", "haihe-talent", "--display-name", "Haihe Talent", "--level", "municipal")
	ok("create", "entity", "acme", "--display-name", "Tianjin Acme Aerospace Co., Ltd.", "--kind", "enterprise",
		"--credit-code", "91350100M000100Y43", "--region", "Binhai", "--industries", "aerospace,deep-sea", "--leading-enterprise")
	ok("create", "group", "alliance-aerospace", "--display-name", "Aerospace Alliance", "--kind", "alliance", "--field", "aerospace")
	ok("create", "membership", "--group", "alliance-aerospace", "--entity", "acme", "--role", "lead", "--join-time", "2021-05-01")
	r := ok("create", "talent-record", "r1", "--subject", "entities/acme", "--category", "gathered", "--count", "120", "--program", "haihe-talent", "--period", "2024-05")
	if !strings.Contains(r.stdout, "entities/acme  gathered  120    haihe-talent  2024-05") {
		t.Errorf("create talent-record table:\n%s", r.stdout)
	}
	// Without an id the registry makes one.
	ok("create", "record", "--subject", "groups/alliance-aerospace", "--category", "assessed", "--count", "7")

	r = ok("get", "entity", "entities/acme", "-o", "json")
	var e registryv1.Entity
	if err := protojson.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("get -o json: %v\n%s", err, r.stdout)
	}
	if e.DisplayName != "Tianjin Acme Aerospace Co., Ltd." || !e.LeadingEnterprise || len(e.Industries) != 2 || e.Etag == "" {
		t.Errorf("get entity = %v", &e)
	}
	r = ok("get", "membership", "alliance-aerospace", "acme")
	if !strings.Contains(r.stdout, "alliance-aerospace  acme    lead  2021-05-01") {
		t.Errorf("get membership table:\n%s", r.stdout)
	}
	r = ok("list", "records")
	if lines := strings.Count(r.stdout, "\n"); lines != 3 {
		t.Errorf("list records: %d lines, want header + 2:\n%s", lines, r.stdout)
	}
	r = ok("list", "memberships", "--entity", "acme", "-o", "json")
	var ms []json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil || len(ms) != 1 {
		t.Errorf("list memberships --entity -o json = %s (%v)", r.stdout, err)
	}
	r = ok("list", "entities", "--filter", `region = "Binhai"`, "--page-size", "1", "--limit", "5")
	if !strings.Contains(r.stdout, "acme") {
		t.Errorf("list entities --filter:\n%s", r.stdout)
	}

	// The registry's own refusals: a duplicate is a server error (1), an
	// invalid value bad input (2).
	run(t, env, "create", "program", "haihe-talent", "--display-name", "Again", "--level", "district").want(t, ExitError, "ALREADY_EXISTS")
	run(t, env, "create", "entity", "bad", "--display-name", "Bad", "--kind", "other", "--credit-code", "91350100M000100Y44").want(t, ExitInput, "INVALID_ARGUMENT")
	run(t, env, "get", "group", "nope").want(t, ExitError, "NOT_FOUND")
	run(t, env, "delete", "entity", "acme").want(t, ExitError, "FAILED_PRECONDITION")
	if r := ok("delete", "entity", "acme", "--force"); r.stdout != "deleted entities/acme\n" {
		t.Errorf("delete output %q", r.stdout)
	}
	run(t, env, "get", "membership", "groups/alliance-aerospace/memberships/acme").want(t, ExitError, "NOT_FOUND")
}

// TestRun_FlagsWinOverEnvironment points the environment at nothing and
// the flag at a real registry.
func TestRun_FlagsWinOverEnvironment(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": closedAddr(t), "TALENTREG_OUTPUT": "json"}
	r := run(t, env, "--registry", reg.Addr, "list", "groups")
	if r.code != ExitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("exit %d, stdout %q (want the flag's registry and the environment's json output)", r.code, r.stdout)
	}
}

func TestDemo_ExportReimports(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
	path := filepath.Join(t.TempDir(), "binhai.jsonl")
	run(t, env, "demo", "--export", path).want(t, ExitOK, "wrote "+strconv.Itoa(demo.Items)+" rows")
	r := run(t, env, "import", path, "-o", "json")
	r.want(t, ExitOK)
	var rep struct {
		Counts map[string]struct{ Created int64 }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if got := rep.Counts["entity"].Created; got != demo.Entities {
		t.Errorf("entities created from the export = %d, want %d", got, demo.Entities)
	}
}

// summaryOf parses the -o json summary talentctl printed.
func summaryOf(t *testing.T, stdout string) *metricsv1.GetSummaryResponse {
	t.Helper()
	var s metricsv1.GetSummaryResponse
	if err := protojson.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary JSON %q: %v", stdout, err)
	}
	return &s
}
