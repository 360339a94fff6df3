package rowfile

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"

	"github.com/xuri/excelize/v2"
)

// Writer writes rows of fixed columns to a file in the format its name
// says; Open reads the file back.
type Writer interface {
	// Write appends one row; values align with the columns given to Create.
	Write(values []string) error
	// Close finishes and closes the file. The file is complete only after
	// Close returns nil.
	Close() error
}

// Create creates (or truncates) the file at path and writes a header of
// columns (CSV, XLSX). JSON Lines rows leave out empty values.
func Create(path string, columns []string) (Writer, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	if format == XLSX {
		wb := excelize.NewFile()
		sw, err := wb.NewStreamWriter("Sheet1")
		if err != nil {
			return nil, err
		}
		w := &xlsxWriter{path: path, wb: wb, sw: sw}
		return w, w.Write(columns)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if format == JSONLines {
		return &jsonlWriter{f: f, w: bw, cols: columns}, nil
	}
	w := &csvWriter{f: f, bw: bw, w: csv.NewWriter(bw)}
	return w, w.Write(columns)
}

type csvWriter struct {
	f  *os.File
	bw *bufio.Writer
	w  *csv.Writer
}

func (c *csvWriter) Write(values []string) error { return c.w.Write(values) }

func (c *csvWriter) Close() error {
	c.w.Flush()
	return errors.Join(c.w.Error(), c.bw.Flush(), c.f.Close())
}

type jsonlWriter struct {
	f    *os.File
	w    *bufio.Writer
	cols []string
	buf  []byte
}

func (j *jsonlWriter) Write(values []string) error {
	b := append(j.buf[:0], '{')
	for i, v := range values {
		if v == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(j.cols[i])
		s, _ := json.Marshal(v)
		b = append(append(append(b, k...), ':'), s...)
	}
	b = append(b, '}', '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlWriter) Close() error { return errors.Join(j.w.Flush(), j.f.Close()) }

type xlsxWriter struct {
	path string
	wb   *excelize.File
	sw   *excelize.StreamWriter
	row  int
}

func (x *xlsxWriter) Write(values []string) error {
	x.row++
	cells := make([]any, len(values))
	for i, v := range values {
		cells[i] = v
	}
	cell, err := excelize.CoordinatesToCellName(1, x.row)
	if err != nil {
		return err
	}
	return x.sw.SetRow(cell, cells)
}

func (x *xlsxWriter) Close() error {
	if err := x.sw.Flush(); err != nil {
		x.wb.Close()
		return err
	}
	// Not wb.SaveAs: it creates the file with mode 0777 (less the umask),
	// so an export would be executable unlike its CSV and JSON Lines twins.
	f, err := os.Create(x.path)
	if err != nil {
		x.wb.Close()
		return err
	}
	_, err = x.wb.WriteTo(f)
	return errors.Join(err, f.Close(), x.wb.Close())
}
