package rowfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

var testOpts = Options{
	Columns:  []string{"type", "id", "display_name", "count", "industries", "leading_enterprise"},
	Required: []string{"type"},
}

// write puts content in a fresh file called name and returns its path.
func write(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll returns every row and row error of the file at path, and the
// file error that stopped reading, if any.
func readAll(t *testing.T, path string, opts Options) (rows []Row, rowErrs []*RowError, err error) {
	t.Helper()
	r, err := Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	for {
		row, err := r.Next()
		var re *RowError
		switch {
		case err == io.EOF:
			return rows, rowErrs, nil
		case errors.As(err, &re):
			rowErrs = append(rowErrs, re)
		case err != nil:
			return rows, rowErrs, err
		default:
			row.Columns = slices.Clone(row.Columns)
			row.Values = slices.Clone(row.Values)
			rows = append(rows, row)
		}
	}
}

// wantFileError asserts err is a *FileError wrapping want at line.
func wantFileError(t *testing.T, err, want error, line int) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, want) {
		t.Fatalf("err = %v, want a *FileError wrapping %q", err, want)
	}
	if fe.Line != line {
		t.Errorf("error line = %d, want %d (%v)", fe.Line, line, err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"display_name":    "display_name",
		"Display Name":    "display_name",
		" display-name ":  "display_name",
		"displayName":     "display_name",
		"DisplayName":     "display_name",
		"TYPE":            "type",
		"creditCode":      "credit_code",
		"talent_record":   "talent_record",
		"futureIndustry_": "future_industry",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{"a.csv": CSV, "A.CSV": CSV, "b.jsonl": JSONLines, "b.ndjson": JSONLines, "c.xlsx": XLSX} {
		if got, err := FormatOf(path); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
	for _, path := range []string{"a.txt", "a.xls", "noext", "a.json"} {
		if _, err := FormatOf(path); !errors.Is(err, ErrFormat) {
			t.Errorf("FormatOf(%q) = %v, want ErrFormat", path, err)
		}
	}
}

func TestCSV_Reads(t *testing.T) {
	content := "\uFEFFType,ID,Display Name,count\n" +
		"entity,acme,\"Acme, \"\"Tianjin\"\" Co., Ltd.\",\n" +
		"\n" + // blank lines are skipped
		"talent_record,r1,\"two\nlines\",12\n" +
		"program,p1,天津,\n"
	rows, rowErrs, err := readAll(t, write(t, "x.csv", []byte(content)), testOpts)
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("err = %v, row errors = %v", err, rowErrs)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	if got, _ := rows[0].Get("display_name"); got != `Acme, "Tianjin" Co., Ltd.` {
		t.Errorf("display_name = %q", got)
	}
	if got, _ := rows[1].Get("display_name"); got != "two\nlines" {
		t.Errorf("multi-line value = %q", got)
	}
	if got, ok := rows[1].Get("count"); got != "12" || !ok {
		t.Errorf("count = %q, %v", got, ok)
	}
	if _, ok := rows[0].Get("industries"); ok {
		t.Error("Get of a column the header lacks reported it present")
	}
	if lines := []int{rows[0].Pos.Line, rows[1].Pos.Line, rows[2].Pos.Line}; !slices.Equal(lines, []int{2, 4, 6}) {
		t.Errorf("lines = %v, want [2 4 6] (a row's first line)", lines)
	}
	if got, _ := rows[2].Get("display_name"); got != "天津" {
		t.Errorf("UTF-8 value = %q", got)
	}
}

func TestCSV_WrongHeader(t *testing.T) {
	for _, tc := range []struct {
		name, content, detail string
	}{
		{"unknown column", "type,id,colour\n", `unknown column "colour" (known columns: type, id,`},
		{"misspelt columns", "type,ID,displayname,cuont\n", `unknown columns "displayname" (did you mean "display_name"?), "cuont" (did you mean "count"?)`},
		{"duplicate column", "type,id,ID\n", `"ID" appears twice`},
		{"missing required", "id,display_name\nacme,Acme\n", `no "type" column`},
		{"unnamed column", "type,,id\n", "column 2 has no name"},
		{"empty file", "", "empty"},
		{"data as header", "entity,acme,Acme\n", `unknown columns "entity", "acme", "Acme"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, write(t, "x.csv", []byte(tc.content)), testOpts)
			wantFileError(t, err, ErrHeader, map[bool]int{true: 0, false: 1}[tc.content == ""])
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
		})
	}
}

func TestCSV_BadEncoding(t *testing.T) {
	t.Run("GBK", func(t *testing.T) {
		gbk := []byte{0xcc, 0xec, 0xbd, 0xf2} // 天津 in GBK
		content := append([]byte("type,id,display_name\nentity,a,A\nentity,b,"), gbk...)
		_, _, err := readAll(t, write(t, "x.csv", append(content, '\n')), testOpts)
		wantFileError(t, err, ErrEncoding, 3)
		if !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("error %q does not name the fix", err)
		}
	})
	t.Run("UTF-16", func(t *testing.T) {
		_, _, err := readAll(t, write(t, "x.csv", []byte("\xff\xfet\x00y\x00")), testOpts)
		wantFileError(t, err, ErrEncoding, 1)
	})
}

// TestCSV_TenMegabyteLine feeds one 10 MB line: the reader must stop at
// the limit with a clear error instead of buffering it.
func TestCSV_TenMegabyteLine(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("type,id,display_name\nentity,a,A\nentity,b,")
	b.Write(bytes.Repeat([]byte("x"), 10<<20))
	b.WriteString("\nentity,c,C\n")
	rows, _, err := readAll(t, write(t, "x.csv", b.Bytes()), testOpts)
	wantFileError(t, err, ErrLineTooLong, 3)
	if len(rows) > 1 {
		t.Errorf("read %d rows; only the one before the long line may come out", len(rows))
	}
}

func TestCSV_BrokenQuoting(t *testing.T) {
	_, _, err := readAll(t, write(t, "x.csv", []byte("type,id,display_name\nentity,a,\"A\nentity,b,B\n")), testOpts)
	wantFileError(t, err, ErrCorrupt, 2)
}

func TestCSV_FieldCountIsARowError(t *testing.T) {
	rows, rowErrs, err := readAll(t, write(t, "x.csv", []byte("type,id\nentity,a,extra\nentity,b\nentity\n")), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rowErrs) != 2 || rowErrs[0].Pos.Line != 2 || rowErrs[1].Pos.Line != 4 {
		t.Errorf("rows %v, row errors %v; want row 3 read, rows 2 and 4 rejected", rows, rowErrs)
	}
}

func TestJSONLines_Reads(t *testing.T) {
	content := `{"type":"entity","id":"acme","displayName":"Acme","industries":["aerospace","deep-sea"],"leading_enterprise":true}` + "\n" +
		"   \n" +
		`{"type":"talent_record","id":"r1","count":12,"display_name":null}` + "\r\n"
	rows, rowErrs, err := readAll(t, write(t, "x.jsonl", []byte(content)), testOpts)
	if err != nil || len(rowErrs) > 0 || len(rows) != 2 {
		t.Fatalf("rows %v, row errors %v, err %v", rows, rowErrs, err)
	}
	for col, want := range map[string]string{"display_name": "Acme", "industries": "aerospace;deep-sea", "leading_enterprise": "true"} {
		if got, _ := rows[0].Get(col); got != want {
			t.Errorf("%s = %q, want %q", col, got, want)
		}
	}
	if got, _ := rows[1].Get("count"); got != "12" {
		t.Errorf("count = %q", got)
	}
	if rows[1].Pos.Line != 3 {
		t.Errorf("second row on line %d, want 3", rows[1].Pos.Line)
	}
}

func TestJSONLines_BadRowsAreRowErrors(t *testing.T) {
	content := `{"type":"entity","id":"a"}` + "\n" +
		`{"type":"entity","colour":"red"}` + "\n" +
		`{"type":"entity",` + "\n" +
		`["entity"]` + "\n" +
		`{"type":"entity","id":{"x":1}}` + "\n" +
		`{"id":"b"}` + "\n" +
		`{"type":"entity","id":"c"}` + "\n"
	rows, rowErrs, err := readAll(t, write(t, "x.jsonl", []byte(content)), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Pos.Line != 7 {
		t.Errorf("rows = %v, want lines 1 and 7", rows)
	}
	var got []string
	for _, re := range rowErrs {
		got = append(got, re.Error())
	}
	want := []string{"x.jsonl:2: colour: unknown field", "x.jsonl:3: not a JSON object", "x.jsonl:4: not a JSON object", "x.jsonl:5: id: want a string", "x.jsonl:6: type: missing"}
	if len(got) != len(want) {
		t.Fatalf("row errors = %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.Contains(got[i], strings.TrimPrefix(want[i], "x.jsonl")) {
			t.Errorf("row error %d = %q, want it to say %q", i, got[i], want[i])
		}
	}
}

func TestJSONLines_BadFiles(t *testing.T) {
	t.Run("bad encoding", func(t *testing.T) {
		content := []byte("{\"type\":\"entity\"}\n{\"type\":\"entity\",\"id\":\"\xcc\xec\"}\n")
		_, _, err := readAll(t, write(t, "x.jsonl", content), testOpts)
		wantFileError(t, err, ErrEncoding, 2)
	})
	t.Run("ten megabyte line", func(t *testing.T) {
		var b bytes.Buffer
		b.WriteString("{\"type\":\"entity\"}\n{\"type\":\"entity\",\"display_name\":\"")
		b.Write(bytes.Repeat([]byte("x"), 10<<20))
		b.WriteString("\"}\n")
		_, _, err := readAll(t, write(t, "x.jsonl", b.Bytes()), testOpts)
		wantFileError(t, err, ErrLineTooLong, 2)
	})
}

func TestXLSX_Reads(t *testing.T) {
	wb := excelize.NewFile()
	wb.SetSheetRow("Sheet1", "A1", &[]any{"type", "id", "count", "leading_enterprise"})
	wb.SetSheetRow("Sheet1", "A2", &[]any{"entity", "acme", nil, true})
	wb.SetSheetRow("Sheet1", "A4", &[]any{"talent_record", "r1", 1234567}) // row 3 empty
	wb.NewSheet("Notes")                                                   // empty: skipped
	wb.NewSheet("More")
	wb.SetSheetRow("More", "A2", &[]any{"Display Name", "Type"}) // header on row 2
	wb.SetSheetRow("More", "A3", &[]any{"Zhongke", "program"})
	path := filepath.Join(t.TempDir(), "x.xlsx")
	if err := wb.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	rows, rowErrs, err := readAll(t, path, testOpts)
	if err != nil || len(rowErrs) > 0 || len(rows) != 3 {
		t.Fatalf("rows %v, row errors %v, err %v", rows, rowErrs, err)
	}
	if got := rows[1].Pos.String(); !strings.HasSuffix(got, "x.xlsx[Sheet1]:4") {
		t.Errorf("pos = %s, want x.xlsx[Sheet1]:4", got)
	}
	if got, _ := rows[1].Get("count"); got != "1234567" {
		t.Errorf("count = %q, want the raw number, not a formatted one", got)
	}
	if got, _ := rows[0].Get("leading_enterprise"); got != "1" {
		t.Errorf("boolean cell = %q, want 1", got)
	}
	if got, _ := rows[2].Get("display_name"); got != "Zhongke" || rows[2].Pos.Sheet != "More" || rows[2].Pos.Line != 3 {
		t.Errorf("second sheet row = %+v", rows[2])
	}
}

func TestXLSX_BadFiles(t *testing.T) {
	good := func(t *testing.T) []byte {
		wb := excelize.NewFile()
		wb.SetSheetRow("Sheet1", "A1", &[]any{"type", "id", "display_name"})
		for i := 2; i < 200; i++ {
			cell, _ := excelize.CoordinatesToCellName(1, i)
			wb.SetSheetRow("Sheet1", cell, &[]any{"entity", "e", strings.Repeat("name ", 20)})
		}
		var b bytes.Buffer
		if err := wb.Write(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	t.Run("truncated", func(t *testing.T) {
		b := good(t)
		for _, n := range []int{len(b) / 2, len(b) - 10, 100} {
			_, _, err := readAll(t, write(t, "x.xlsx", b[:n]), testOpts)
			wantFileError(t, err, ErrCorrupt, 0)
		}
	})
	t.Run("not a workbook", func(t *testing.T) {
		_, _, err := readAll(t, write(t, "x.xlsx", []byte("type,id\nentity,a\n")), testOpts)
		wantFileError(t, err, ErrCorrupt, 0)
	})
	t.Run("wrong header", func(t *testing.T) {
		wb := excelize.NewFile()
		wb.SetSheetRow("Sheet1", "A1", &[]any{"type", "id"})
		wb.SetSheetRow("Sheet1", "A2", &[]any{"entity", "a"})
		wb.NewSheet("Other")
		wb.SetSheetRow("Other", "A1", &[]any{"type", "colour"})
		path := filepath.Join(t.TempDir(), "x.xlsx")
		if err := wb.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		_, _, err := readAll(t, path, testOpts)
		wantFileError(t, err, ErrHeader, 1)
		if !strings.Contains(err.Error(), "x.xlsx[Other]:1") {
			t.Errorf("error %q does not name the sheet", err)
		}
	})
	t.Run("row too long", func(t *testing.T) {
		wb := excelize.NewFile()
		wb.SetSheetRow("Sheet1", "A1", &[]any{"type", "display_name"})
		wb.SetSheetRow("Sheet1", "A2", &[]any{"entity", strings.Repeat("x", 2000)})
		path := filepath.Join(t.TempDir(), "x.xlsx")
		if err := wb.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		_, _, err := readAll(t, path, Options{Columns: testOpts.Columns, MaxLineBytes: 1000})
		wantFileError(t, err, ErrLineTooLong, 2)
	})
	t.Run("value beyond the header is a row error", func(t *testing.T) {
		wb := excelize.NewFile()
		wb.SetSheetRow("Sheet1", "A1", &[]any{"type", "id"})
		wb.SetSheetRow("Sheet1", "A2", &[]any{"entity", "a", "stray"})
		wb.SetSheetRow("Sheet1", "A3", &[]any{"entity", "b"})
		path := filepath.Join(t.TempDir(), "x.xlsx")
		if err := wb.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		rows, rowErrs, err := readAll(t, path, testOpts)
		if err != nil || len(rows) != 1 || len(rowErrs) != 1 || rowErrs[0].Pos.Line != 2 {
			t.Errorf("rows %v, row errors %v, err %v", rows, rowErrs, err)
		}
	})
}

func TestWriter_RoundTrip(t *testing.T) {
	cols := []string{"type", "id", "display_name", "industries"}
	data := [][]string{
		{"entity", "a", `Quote "and", comma`, "x;y"},
		{"program", "p", "天津 Haihe", ""},
	}
	for _, name := range []string{"out.csv", "out.jsonl", "out.xlsx"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			w, err := Create(path, cols)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range data {
				if err := w.Write(d); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rows, rowErrs, err := readAll(t, path, Options{Columns: cols, Required: []string{"type"}})
			if err != nil || len(rowErrs) > 0 || len(rows) != len(data) {
				t.Fatalf("rows %v, row errors %v, err %v", rows, rowErrs, err)
			}
			for i, d := range data {
				for j, col := range cols {
					if got, _ := rows[i].Get(col); got != d[j] {
						t.Errorf("row %d %s = %q, want %q", i, col, got, d[j])
					}
				}
			}
		})
	}
}

// TestWriter_SameFileModeInEveryFormat: an export is a data file, created
// as os.Create creates one (0666 less the umask), never executable.
func TestWriter_SameFileModeInEveryFormat(t *testing.T) {
	dir := t.TempDir()
	modes := map[string]os.FileMode{}
	for _, name := range []string{"out.csv", "out.jsonl", "out.xlsx"} {
		path := filepath.Join(dir, name)
		w, err := Create(path, []string{"type", "id"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write([]string{"entity", "a"}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		modes[name] = fi.Mode().Perm()
		if fi.Mode().Perm()&0o111 != 0 {
			t.Errorf("%s: mode %v, want no execute bit", name, fi.Mode().Perm())
		}
	}
	if modes["out.xlsx"] != modes["out.csv"] || modes["out.jsonl"] != modes["out.csv"] {
		t.Errorf("modes %v, want one mode for every format", modes)
	}
}
