package rowfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// jsonlReader reads a JSON Lines file: one object per line, keyed by column
// name. Each line carries its own keys, so there is no header; an unknown
// key rejects that line only.
type jsonlReader struct {
	f     *os.File
	sc    *bufio.Scanner
	opts  Options
	pos   Pos
	cols  []string
	vals  []string
	ended bool
}

func openJSONLines(path string, opts Options) (*jsonlReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	br := bufio.NewReaderSize(f, 64<<10)
	if err := skipBOM(br, path); err != nil {
		f.Close()
		return nil, err
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), opts.maxLine()+1)
	return &jsonlReader{f: f, sc: sc, opts: opts, pos: Pos{File: path}}, nil
}

// Next returns the next non-blank line as a row.
func (j *jsonlReader) Next() (Row, error) {
	for !j.ended {
		if !j.sc.Scan() {
			j.ended = true
			switch err := j.sc.Err(); {
			case errors.Is(err, bufio.ErrTooLong):
				return Row{}, &FileError{File: j.pos.File, Line: j.pos.Line + 1, Err: ErrLineTooLong, Detail: fmt.Sprintf("over %d bytes without a line break", j.opts.maxLine())}
			case err != nil:
				return Row{}, &FileError{File: j.pos.File, Line: j.pos.Line + 1, Err: err}
			}
			return Row{}, io.EOF
		}
		j.pos.Line++
		line := j.sc.Bytes()
		if len(line) > j.opts.maxLine() {
			j.ended = true
			return Row{}, &FileError{File: j.pos.File, Line: j.pos.Line, Err: ErrLineTooLong, Detail: fmt.Sprintf("over %d bytes without a line break", j.opts.maxLine())}
		}
		if !utf8.Valid(line) {
			j.ended = true
			return Row{}, &FileError{File: j.pos.File, Line: j.pos.Line, Err: ErrEncoding, Detail: notUTF8}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := j.parse(line); err != nil {
			return Row{}, err
		}
		return Row{Pos: j.pos, Columns: j.cols, Values: j.vals}, nil
	}
	return Row{}, io.EOF
}

// parse decodes one line into j.cols and j.vals; the error is a *RowError.
func (j *jsonlReader) parse(line []byte) error {
	bad := func(field, format string, args ...any) error {
		return &RowError{Pos: j.pos, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return bad("", "not a JSON object: %v", err)
	}
	if obj == nil {
		return bad("", "not a JSON object: null")
	}
	j.cols, j.vals = j.cols[:0], j.vals[:0]
	keys := slices.Sorted(maps.Keys(obj))
	for _, key := range keys {
		raw := obj[key]
		col := Normalize(key)
		if !slices.Contains(j.opts.Columns, col) {
			return bad(key, "unknown field (known: %s)", strings.Join(j.opts.Columns, ", "))
		}
		if slices.Contains(j.cols, col) {
			return bad(key, "given twice")
		}
		v, err := jsonValue(raw)
		if err != nil {
			return bad(col, "%v", err)
		}
		j.cols = append(j.cols, col)
		j.vals = append(j.vals, v)
	}
	for _, req := range j.opts.Required {
		if !slices.Contains(j.cols, req) {
			return bad(req, "missing")
		}
	}
	return nil
}

// jsonValue turns a JSON value into the text a CSV cell would hold: a
// string as is, a number as written, a boolean as true or false, null as
// empty and an array of strings joined by ";".
func jsonValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 'n':
		return "", nil
	case 't', 'f':
		var b bool
		err := json.Unmarshal(raw, &b)
		return fmt.Sprint(b), err
	case '[':
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return "", errors.New("want an array of strings")
		}
		for _, s := range list {
			if strings.Contains(s, ";") {
				return "", fmt.Errorf("list element %q holds a \";\"", s)
			}
		}
		return strings.Join(list, ";"), nil
	case '{':
		return "", errors.New("want a string, number, boolean or array of strings, not an object")
	default:
		var n json.Number
		err := json.Unmarshal(raw, &n)
		return n.String(), err
	}
}

// Close closes the file.
func (j *jsonlReader) Close() error { return j.f.Close() }
