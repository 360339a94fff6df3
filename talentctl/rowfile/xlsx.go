package rowfile

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
	"unicode/utf8"
)

// xlsxReader reads every non-empty sheet of a workbook in order; each sheet
// starts with its own header row.
type xlsxReader struct {
	wb     *excelize.File
	opts   Options
	sheets []string
	rows   *excelize.Rows // current sheet, nil between sheets
	pos    Pos
	cols   []string
	ended  bool
}

func openXLSX(path string, opts Options) (r *xlsxReader, err error) {
	defer recoverCorrupt(path, "", &err)
	wb, err := excelize.OpenFile(path, excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, &FileError{File: path, Err: ErrCorrupt, Detail: "not a readable XLSX workbook (truncated or damaged?): " + err.Error()}
	}
	r = &xlsxReader{wb: wb, opts: opts, sheets: wb.GetSheetList(), pos: Pos{File: path}}
	return r, nil
}

// recoverCorrupt turns a panic inside the workbook parser into a
// *FileError: a damaged file must fail cleanly, not crash the client.
func recoverCorrupt(path, sheet string, err *error) {
	if v := recover(); v != nil {
		*err = &FileError{File: path, Sheet: sheet, Err: ErrCorrupt, Detail: fmt.Sprintf("the workbook parser failed: %v", v)}
	}
}

// Next returns the next data row of the current or a following sheet.
func (x *xlsxReader) Next() (row Row, err error) {
	defer recoverCorrupt(x.pos.File, x.pos.Sheet, &err)
	defer func() {
		if _, ok := err.(*FileError); ok {
			x.ended = true
		}
	}()
	for !x.ended {
		if x.rows == nil {
			if len(x.sheets) == 0 {
				x.ended = true
				break
			}
			x.pos.Sheet, x.sheets = x.sheets[0], x.sheets[1:]
			x.pos.Line, x.cols = 0, nil
			if x.rows, err = x.wb.Rows(x.pos.Sheet); err != nil {
				return Row{}, x.corrupt(err)
			}
		}
		if !x.rows.Next() {
			if err := x.rows.Error(); err != nil {
				return Row{}, x.corrupt(err)
			}
			x.rows.Close()
			x.rows = nil
			continue
		}
		x.pos.Line++
		vals, err := x.rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return Row{}, x.corrupt(err)
		}
		if err := x.check(vals); err != nil {
			return Row{}, err
		}
		if blank(vals) {
			continue
		}
		if x.cols == nil {
			if x.cols, err = header(trimTrailing(vals), x.opts, x.pos); err != nil {
				return Row{}, err
			}
			continue
		}
		vals = trimTrailing(vals)
		if len(vals) > len(x.cols) {
			return Row{}, &RowError{Pos: x.pos, Message: fmt.Sprintf("has a value in column %d, the header has %d columns", len(vals), len(x.cols))}
		}
		// Trailing empty cells are not stored: pad to the header's width.
		for len(vals) < len(x.cols) {
			vals = append(vals, "")
		}
		return Row{Pos: x.pos, Columns: x.cols, Values: vals}, nil
	}
	return Row{}, io.EOF
}

// check rejects a row whose cells are not UTF-8 or too long together.
func (x *xlsxReader) check(vals []string) error {
	n := 0
	for _, v := range vals {
		n += len(v)
		if !utf8.ValidString(v) {
			return &FileError{File: x.pos.File, Sheet: x.pos.Sheet, Line: x.pos.Line, Err: ErrEncoding, Detail: "a cell holds bytes that are not UTF-8"}
		}
	}
	if n > x.opts.maxLine() {
		return &FileError{File: x.pos.File, Sheet: x.pos.Sheet, Line: x.pos.Line, Err: ErrLineTooLong, Detail: fmt.Sprintf("the row's cells hold over %d bytes", x.opts.maxLine())}
	}
	return nil
}

func (x *xlsxReader) corrupt(err error) error {
	return &FileError{File: x.pos.File, Sheet: x.pos.Sheet, Line: x.pos.Line, Err: ErrCorrupt, Detail: err.Error()}
}

// Close closes the workbook.
func (x *xlsxReader) Close() error {
	if x.rows != nil {
		x.rows.Close()
	}
	return x.wb.Close()
}

// blank reports whether every value is empty.
func blank(vals []string) bool {
	for _, v := range vals {
		if v != "" {
			return false
		}
	}
	return true
}

// trimTrailing drops empty values at the end.
func trimTrailing(vals []string) []string {
	for len(vals) > 0 && vals[len(vals)-1] == "" {
		vals = vals[:len(vals)-1]
	}
	return vals
}
