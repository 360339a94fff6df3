// Package rowfile reads and writes tabular files — CSV, JSON Lines and
// XLSX — as rows of named columns, and rejects files that cannot be read
// safely: a header with unknown, duplicate or missing columns, text that is
// not UTF-8, a line longer than a limit, a corrupt or truncated workbook.
//
// A file-level problem is a *FileError: the caller must not trust any row of
// that file. A problem confined to one row is a *RowError: that row is
// unusable and reading continues.
package rowfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// Format is a file format.
type Format int

// The supported formats.
const (
	// CSV is comma-separated values (RFC 4180) with a header row.
	CSV Format = iota + 1
	// JSONLines is one JSON object per line, keyed by column name.
	JSONLines
	// XLSX is an Excel workbook; every non-empty sheet has a header row.
	XLSX
)

// String returns the format's usual name.
func (f Format) String() string {
	switch f {
	case CSV:
		return "CSV"
	case JSONLines:
		return "JSON Lines"
	case XLSX:
		return "XLSX"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// FormatOf returns the format named by path's extension: .csv, .jsonl or
// .ndjson, .xlsx. Any other extension is an error wrapping ErrFormat.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONLines, nil
	case ".xlsx":
		return XLSX, nil
	}
	return 0, &FileError{File: path, Err: ErrFormat, Detail: "want .csv, .jsonl (or .ndjson) or .xlsx"}
}

// DefaultMaxLineBytes is the longest line (CSV, JSON Lines) or row (XLSX,
// all cells together) accepted when Options.MaxLineBytes is zero.
const DefaultMaxLineBytes = 1 << 20

// Errors wrapped by FileError, one per kind of unreadable file.
var (
	// ErrFormat is returned for a file whose extension names no format.
	ErrFormat = errors.New("unsupported file type")
	// ErrHeader is returned for a missing, unknown, duplicate or unnamed
	// column in a header row, or a header with no data.
	ErrHeader = errors.New("bad header")
	// ErrEncoding is returned for text that is not UTF-8.
	ErrEncoding = errors.New("not UTF-8")
	// ErrLineTooLong is returned for a line or row over the size limit.
	ErrLineTooLong = errors.New("line too long")
	// ErrCorrupt is returned for a file that does not parse as its format:
	// broken CSV quoting, a truncated or damaged workbook.
	ErrCorrupt = errors.New("corrupt file")
)

// Pos is where a row sits: the file, the sheet (XLSX only) and the line
// (CSV: the line the record starts on; JSON Lines: the line; XLSX: the row
// number), all from 1.
type Pos struct {
	// File is the path as given to Open.
	File string
	// Sheet is the XLSX sheet name, empty for other formats.
	Sheet string
	// Line is the line or row number, from 1; 0 for the whole file.
	Line int
}

// String formats p as "file:line" or "file[sheet]:line".
func (p Pos) String() string {
	s := p.File
	if p.Sheet != "" {
		s += "[" + p.Sheet + "]"
	}
	if p.Line > 0 {
		s += fmt.Sprintf(":%d", p.Line)
	}
	return s
}

// FileError reports a file that must not be imported at all.
type FileError struct {
	// File is the path as given to Open.
	File string
	// Sheet is the XLSX sheet, when the problem is in one.
	Sheet string
	// Line is the line or row the problem was found on, 0 if none.
	Line int
	// Err is one of ErrFormat, ErrHeader, ErrEncoding, ErrLineTooLong,
	// ErrCorrupt, or an error from the file system.
	Err error
	// Detail says what exactly is wrong and, where possible, how to fix it.
	Detail string
}

// Error formats e as "pos: what: detail".
func (e *FileError) Error() string {
	s := Pos{e.File, e.Sheet, e.Line}.String() + ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns e.Err.
func (e *FileError) Unwrap() error { return e.Err }

// RowError reports one unusable row; the rest of the file is fine.
type RowError struct {
	// Pos is where the row is.
	Pos Pos
	// Field is the offending column, empty when the whole row is at fault.
	Field string
	// Message says what is wrong.
	Message string
}

// Error formats e as "pos: field: message".
func (e *RowError) Error() string {
	if e.Field == "" {
		return e.Pos.String() + ": " + e.Message
	}
	return e.Pos.String() + ": " + e.Field + ": " + e.Message
}

// Row is one data row. Its slices belong to the reader and may change on
// the next call to Next; the strings themselves are never reused.
type Row struct {
	// Pos is where the row is.
	Pos Pos
	// Columns are the normalised names of the row's columns.
	Columns []string
	// Values are the row's values, aligned with Columns.
	Values []string
}

// Get returns the value of column col and whether the row has the column.
func (r Row) Get(col string) (string, bool) {
	for i, c := range r.Columns {
		if c == col {
			return r.Values[i], true
		}
	}
	return "", false
}

// Options say which columns a file may have.
type Options struct {
	// Columns are the known column names, normalised (see Normalize). A
	// header naming any other column is rejected.
	Columns []string
	// Required are the columns every header must have.
	Required []string
	// MaxLineBytes is the longest line or row accepted; 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
}

func (o Options) maxLine() int {
	if o.MaxLineBytes > 0 {
		return o.MaxLineBytes
	}
	return DefaultMaxLineBytes
}

// Reader reads the rows of one file.
type Reader interface {
	// Next returns the next row, or io.EOF after the last. A *RowError
	// means that row is unusable and reading may go on; a *FileError means
	// the file is unusable and Next must not be called again.
	Next() (Row, error)
	// Close releases the file.
	Close() error
}

// Open opens the file at path, reads its header and returns a reader of its
// rows. Errors are *FileError.
func Open(path string, opts Options) (Reader, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	switch format {
	case CSV:
		return openCSV(path, opts)
	case JSONLines:
		return openJSONLines(path, opts)
	default:
		return openXLSX(path, opts)
	}
}

// Normalize returns the canonical spelling of a column name: trimmed, lower
// case, words joined by "_". "Display Name", "display-name" and
// "displayName" all become "display_name".
func Normalize(name string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range strings.TrimSpace(name) {
		switch {
		case r == ' ' || r == '-' || r == '_' || r == '.':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			prevLower = false
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		default:
			b.WriteRune(r)
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// header checks the raw names of a header row against opts and returns
// them normalised; the error is a *FileError at pos.
func header(raw []string, opts Options, pos Pos) ([]string, error) {
	bad := func(format string, args ...any) error {
		return &FileError{File: pos.File, Sheet: pos.Sheet, Line: pos.Line, Err: ErrHeader, Detail: fmt.Sprintf(format, args...)}
	}
	cols := make([]string, len(raw))
	var unknown []string
	for i, name := range raw {
		c := Normalize(name)
		switch {
		case c == "":
			return nil, bad("column %d has no name", i+1)
		case !slices.Contains(opts.Columns, c):
			unknown = append(unknown, fmt.Sprintf("%q%s", name, suggest(c, opts.Columns)))
		case slices.Contains(cols[:i], c):
			return nil, bad("column %q appears twice", name)
		}
		cols[i] = c
	}
	if len(unknown) == 1 {
		return nil, bad("unknown column %s (known columns: %s)", unknown[0], strings.Join(opts.Columns, ", "))
	}
	if len(unknown) > 1 {
		return nil, bad("unknown columns %s (known columns: %s)", strings.Join(unknown, ", "), strings.Join(opts.Columns, ", "))
	}
	for _, req := range opts.Required {
		if !slices.Contains(cols, req) {
			return nil, bad("no %q column", req)
		}
	}
	return cols, nil
}

// suggest returns ` (did you mean "x"?)` when col is a known column
// without its underscores or with two letters swapped, else "".
func suggest(col string, known []string) string {
	flat := strings.ReplaceAll(col, "_", "")
	for _, k := range known {
		if kf := strings.ReplaceAll(k, "_", ""); kf == flat || swapped(kf, flat) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

// swapped reports whether b is a with two adjacent letters exchanged.
func swapped(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i+1 < len(a); i++ {
		if a[i] != b[i] {
			return a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
		}
	}
	return false
}
