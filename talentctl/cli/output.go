package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// jsonOptions render messages as the HTTP API does: lowerCamelCase names,
// enums by name, unpopulated fields included.
var jsonOptions = protojson.MarshalOptions{EmitUnpopulated: true}

// printJSON writes m as indented JSON.
func (a *app) printJSON(m proto.Message) error {
	opts := jsonOptions
	opts.Multiline, opts.Indent = true, "  "
	b, err := opts.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// newTable returns a writer aligning tab-separated cells in columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// cellSpaces turns the tabs and newlines that would break a table's
// alignment into spaces.
var cellSpaces = strings.NewReplacer("\t", " ", "\n", " ")

// row writes cells as one table row.
func row(tw io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = cellSpaces.Replace(c)
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// resourceWriter prints resources as they arrive, page by page: a table
// (flushed each page) or a JSON array with one resource per line.
type resourceWriter struct {
	a     *app
	rt    *resourceType
	tw    *tabwriter.Writer
	count int
}

func (a *app) newResourceWriter(rt *resourceType) *resourceWriter {
	w := &resourceWriter{a: a, rt: rt}
	if a.output == "table" {
		w.tw = newTable(a.stdout)
		row(w.tw, rt.header...)
	} else {
		fmt.Fprint(a.stdout, "[")
	}
	return w
}

func (w *resourceWriter) write(page []*registryv1.Resource) error {
	for _, r := range page {
		if w.tw != nil {
			row(w.tw, w.rt.cells(r)...)
			continue
		}
		b, err := jsonOptions.Marshal(resourceMessage(r))
		if err != nil {
			return err
		}
		sep := ",\n"
		if w.count == 0 {
			sep = "\n"
		}
		fmt.Fprintf(w.a.stdout, "%s  %s", sep, b)
		w.count++
	}
	if w.tw != nil {
		return w.tw.Flush()
	}
	return nil
}

func (w *resourceWriter) close() error {
	if w.tw != nil {
		return w.tw.Flush()
	}
	if w.count > 0 {
		fmt.Fprint(w.a.stdout, "\n")
	}
	_, err := fmt.Fprint(w.a.stdout, "]\n")
	return err
}

// printResources prints resources as a table, or as JSON: one object when
// single, else an array.
func (a *app) printResources(rt *resourceType, rs []*registryv1.Resource, single bool) error {
	if a.output == "json" && single && len(rs) == 1 {
		return a.printJSON(resourceMessage(rs[0]))
	}
	w := a.newResourceWriter(rt)
	if err := w.write(rs); err != nil {
		return err
	}
	return w.close()
}

// resourceMessage unwraps the resource held by r.
func resourceMessage(r *registryv1.Resource) proto.Message {
	switch x := r.GetResource().(type) {
	case *registryv1.Resource_Program:
		return x.Program
	case *registryv1.Resource_Entity:
		return x.Entity
	case *registryv1.Resource_Group:
		return x.Group
	case *registryv1.Resource_Membership:
		return x.Membership
	case *registryv1.Resource_TalentRecord:
		return x.TalentRecord
	case *registryv1.Resource_Policy:
		return x.Policy
	case *registryv1.Resource_Target:
		return x.Target
	}
	return r
}
