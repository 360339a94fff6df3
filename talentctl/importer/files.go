package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"talentreg/talentctl/layout"
	"talentreg/talentctl/rowfile"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// rowOptions are the columns import files may have.
var rowOptions = rowfile.Options{Columns: layout.Columns, Required: layout.Required}

// Plan is a set of files that passed Check, ready to import.
type Plan struct {
	files    []*file
	rows     int
	ordered  bool        // every row comes after the kinds it may refer to
	rejected []Rejection // rows rejected while checking
	// notSent counts the rows rejected while checking by type, 0 for rows
	// whose type could not be read.
	notSent map[layout.Kind]int64
}

// file is one checked file.
type file struct {
	path   string
	kinds  map[layout.Kind]bool
	sheets []string // XLSX sheets with rows, in order
}

// Rejection is one row that was not imported.
type Rejection struct {
	// Pos is where the row is.
	Pos rowfile.Pos
	// Column is the offending column, empty when the whole row is at fault.
	Column string
	// Message says what is wrong.
	Message string

	file, sheet int // for ordering
}

// String formats r as "file:line: column: message".
func (r Rejection) String() string {
	if r.Column == "" {
		return r.Pos.String() + ": " + r.Message
	}
	return r.Pos.String() + ": " + r.Column + ": " + r.Message
}

// Check reads every file once, sending nothing. It returns the errors of
// all unreadable files together (each a *rowfile.FileError): if any file is
// unreadable nothing may be imported, since a file can fail on its last
// line. Rows that are unusable on their own are kept as rejections.
func Check(paths []string) (*Plan, error) {
	p := &Plan{ordered: true, notSent: map[layout.Kind]int64{}}
	var errs []error
	last := layout.Kind(0)
	for i, path := range paths {
		f := &file{path: path, kinds: map[layout.Kind]bool{}}
		p.files = append(p.files, f)
		err := f.each(func(row rowfile.Row, rowErr *rowfile.RowError) error {
			p.rows++
			if rowErr != nil {
				p.reject(i, f, rowErr.Pos, rowErr.Field, rowErr.Message)
				p.notSent[0]++ // a row the reader could not split has no type to count it under
				return nil
			}
			typ, _ := row.Get("type")
			kind, err := layout.ParseKind(typ)
			if err != nil {
				p.reject(i, f, row.Pos, "type", err.Error())
				p.notSent[0]++
				return nil
			}
			f.kinds[kind] = true
			if kind < last {
				p.ordered = false
			}
			last = kind
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Rows returns the number of data rows in the files.
func (p *Plan) Rows() int { return p.rows }

// each calls fn with every row of f, or with the row's error, until fn
// returns an error; it returns that error or the file's
// *rowfile.FileError, if any. It records the sheets it sees.
func (f *file) each(fn func(rowfile.Row, *rowfile.RowError) error) error {
	r, err := rowfile.Open(f.path, rowOptions)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		row, err := r.Next()
		var rowErr *rowfile.RowError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &rowErr):
			f.sheet(rowErr.Pos.Sheet)
			err = fn(row, rowErr)
		case err == nil:
			f.sheet(row.Pos.Sheet)
			err = fn(row, nil)
		}
		if err != nil {
			return err
		}
	}
}

// sheet returns the index of sheet in f, adding it when new.
func (f *file) sheet(name string) int {
	if i := slices.Index(f.sheets, name); i >= 0 {
		return i
	}
	f.sheets = append(f.sheets, name)
	return len(f.sheets) - 1
}

func (p *Plan) reject(fileIdx int, f *file, pos rowfile.Pos, column, message string) {
	p.rejected = append(p.rejected, Rejection{Pos: pos, Column: column, Message: message, file: fileIdx, sheet: f.sheet(pos.Sheet)})
}

// Report is the outcome of an import.
type Report struct {
	// Response is the registry's answer: counts per kind, item errors, the
	// revision. Rows rejected before sending are not in its counts.
	Response *registryv1.ImportResponse
	// Rows is the number of data rows read.
	Rows int
	// Rejected lists every row not imported, by file, sheet and line: those
	// refused by the reader or the column layout, and those the registry
	// refused.
	Rejected []Rejection
	// NotSent counts the rows rejected before sending, by type (under 0
	// those whose type could not be read). They are in Rejected, not in
	// Response's counts.
	NotSent map[layout.Kind]int64
	// Unlisted counts rows the registry refused beyond the errors it
	// listed (it bounds the list).
	Unlisted int64
	// Committed is how many of the items sent the registry dealt with:
	// all of them, unless the import stopped midway. LastCommitted is
	// where the last of them came from.
	Committed     int64
	LastCommitted rowfile.Pos
}

// origin is where a sent item came from.
type origin struct {
	file, sheet int32
	line        int32
}

// Import streams the rows of the checked files into one Import call, in
// dependency order: when some row precedes a row it may refer to (a
// membership before its entity), the files are read once per kind,
// programmes first, then entities, groups, memberships, talent records.
// A file that has become unreadable since Check cancels the call and is
// returned as an error.
func (p *Plan) Import(ctx context.Context, c Client, opts Options) (*Report, error) {
	rep := &Report{Rows: p.rows, Rejected: slices.Clone(p.rejected), NotSent: maps.Clone(p.notSent)}
	var origins []origin
	handled := 0
	progress := opts.Progress
	opts.Progress = func(int) {
		if progress != nil {
			progress(handled)
		}
	}
	passes := [][]layout.Kind{layout.Kinds}
	if !p.ordered {
		passes = passes[:0]
		for _, k := range layout.Kinds {
			passes = append(passes, []layout.Kind{k})
		}
	}
	resp, err := Stream(ctx, c, opts, func(add func(*registryv1.Resource, *fieldmaskpb.FieldMask) error) error {
		for _, kinds := range passes {
			for i, f := range p.files {
				if !slices.ContainsFunc(kinds, func(k layout.Kind) bool { return f.kinds[k] }) {
					continue
				}
				var sendErr error
				err := f.each(func(row rowfile.Row, rowErr *rowfile.RowError) error {
					if rowErr != nil {
						return nil // rejected by Check
					}
					typ, _ := row.Get("type")
					kind, err := layout.ParseKind(typ)
					if err != nil || !slices.Contains(kinds, kind) {
						return nil // rejected by Check, or sent in another pass
					}
					handled++
					r, mask, err := layout.Item(row.Get)
					if err != nil {
						var fe *layout.FieldError
						errors.As(err, &fe)
						rep.Rejected = append(rep.Rejected, Rejection{Pos: row.Pos, Column: fe.Column, Message: fe.Message, file: i, sheet: f.sheet(row.Pos.Sheet)})
						rep.NotSent[kind]++
						return nil
					}
					origins = append(origins, origin{file: int32(i), sheet: int32(f.sheet(row.Pos.Sheet)), line: int32(row.Pos.Line)})
					sendErr = add(r, mask)
					return sendErr
				})
				switch {
				case sendErr != nil:
					return sendErr
				case err != nil:
					return fmt.Errorf("the file changed since it was checked: %w", err)
				}
			}
		}
		return nil
	})
	var inc *IncompleteError
	switch {
	case errors.As(err, &inc) && inc.Committed != nil:
		// Stopped midway: report what the registry committed, and why.
		if rerr := p.account(rep, inc.Committed, origins); rerr != nil {
			return nil, rerr
		}
		return rep, err
	case err != nil:
		return nil, err
	}
	if progress != nil {
		progress(p.rows)
	}
	if err := p.account(rep, resp, origins); err != nil {
		return nil, err
	}
	return rep, nil
}

// account fills rep from the registry's response: its counts, and its
// errors mapped back to the rows they came from.
func (p *Plan) account(rep *Report, resp *registryv1.ImportResponse, origins []origin) error {
	rep.Response = resp
	rep.Committed = resp.GetCommittedItems()
	if n := rep.Committed; n > 0 && n <= int64(len(origins)) {
		o := origins[n-1]
		f := p.files[o.file]
		rep.LastCommitted = rowfile.Pos{File: f.path, Sheet: f.sheets[o.sheet], Line: int(o.line)}
	}
	for _, e := range resp.GetErrors() {
		if e.GetIndex() < 0 || e.GetIndex() >= int64(len(origins)) {
			return fmt.Errorf("the registry reported an error for item %d of %d sent: %s", e.GetIndex(), len(origins), e.GetMessage())
		}
		o := origins[e.GetIndex()]
		f := p.files[o.file]
		rep.Rejected = append(rep.Rejected, Rejection{
			Pos:     rowfile.Pos{File: f.path, Sheet: f.sheets[o.sheet], Line: int(o.line)},
			Column:  layout.ColumnOf(e.GetField()),
			Message: e.GetMessage(),
			file:    int(o.file), sheet: int(o.sheet),
		})
	}
	rep.Unlisted = Failed(resp) - int64(len(resp.GetErrors()))
	slices.SortStableFunc(rep.Rejected, func(a, b Rejection) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.sheet, b.sheet), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	return nil
}

// Failed returns the number of items the registry refused.
func Failed(r *registryv1.ImportResponse) int64 {
	var n int64
	for _, c := range []*registryv1.ImportCounts{r.GetPrograms(), r.GetEntities(), r.GetGroups(), r.GetMemberships(), r.GetTalentRecords(), r.GetPolicies(), r.GetTargets()} {
		n += c.GetFailed()
	}
	return n
}
