package rowfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// csvReader reads a CSV file with a header row.
type csvReader struct {
	f     *os.File
	lim   *lineLimiter
	r     *csv.Reader
	pos   Pos
	cols  []string
	ended bool
}

func openCSV(path string, opts Options) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	br := bufio.NewReaderSize(f, 64<<10)
	if err := skipBOM(br, path); err != nil {
		f.Close()
		return nil, err
	}
	lim := &lineLimiter{r: br, max: opts.maxLine()}
	r := csv.NewReader(lim)
	r.FieldsPerRecord = -1 // checked here, to report the row
	r.ReuseRecord = true
	c := &csvReader{f: f, lim: lim, r: r, pos: Pos{File: path}}
	raw, err := c.record()
	if err == io.EOF {
		f.Close()
		return nil, &FileError{File: path, Err: ErrHeader, Detail: "the file is empty"}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if c.cols, err = header(raw, opts, c.pos); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// record reads one record and checks its encoding; errors other than
// io.EOF are *FileError.
func (c *csvReader) record() ([]string, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return nil, err
	}
	line, _ := c.r.FieldPos(0)
	c.pos.Line = line
	var pe *csv.ParseError
	switch {
	case errors.Is(err, ErrLineTooLong):
		return nil, &FileError{File: c.pos.File, Line: c.lim.line, Err: ErrLineTooLong, Detail: fmt.Sprintf("over %d bytes without a line break", c.lim.max)}
	case errors.As(err, &pe):
		return nil, &FileError{File: c.pos.File, Line: pe.StartLine, Err: ErrCorrupt, Detail: fmt.Sprintf("%v in the record starting here, at line %d column %d (check the quoting)", pe.Err, pe.Line, pe.Column)}
	case err != nil:
		return nil, &FileError{File: c.pos.File, Line: c.lim.line, Err: err}
	}
	for _, v := range rec {
		if !utf8.ValidString(v) {
			return nil, &FileError{File: c.pos.File, Line: line, Err: ErrEncoding, Detail: notUTF8}
		}
	}
	return rec, nil
}

// Next returns the next data row.
func (c *csvReader) Next() (Row, error) {
	if c.ended {
		return Row{}, io.EOF
	}
	rec, err := c.record()
	if err != nil {
		c.ended = true
		return Row{}, err
	}
	if len(rec) != len(c.cols) {
		return Row{}, &RowError{Pos: c.pos, Message: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(c.cols))}
	}
	return Row{Pos: c.pos, Columns: c.cols, Values: rec}, nil
}

// Close closes the file.
func (c *csvReader) Close() error { return c.f.Close() }

// notUTF8 is the advice given for text that is not UTF-8.
const notUTF8 = "save the file as UTF-8 (Excel: \"CSV UTF-8\"); GBK and other legacy encodings are not accepted"

// skipBOM drops a UTF-8 byte-order mark and rejects UTF-16 ones.
func skipBOM(br *bufio.Reader, path string) error {
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return &FileError{File: path, Line: 1, Err: ErrEncoding, Detail: "the file is UTF-16; " + notUTF8}
	}
	return nil
}

// lineLimiter passes bytes through and fails with ErrLineTooLong as soon as
// a line exceeds max bytes, so a huge line is never buffered whole.
type lineLimiter struct {
	r    io.Reader
	max  int
	cur  int // bytes in the current line so far
	line int // current line number, from 1
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.line == 0 {
		l.line = 1
	}
	n, err := l.r.Read(p)
	b := p[:n]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.cur += len(b)
			break
		}
		if l.cur+i > l.max {
			l.cur += i
			break
		}
		l.cur = 0
		l.line++
		b = b[i+1:]
	}
	if l.cur > l.max {
		return 0, ErrLineTooLong
	}
	return n, err
}
