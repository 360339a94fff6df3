package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"talentreg/talentctl/layout"
	"talentreg/talentctl/rowfile"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

const exportLong = `Write the registry's data to FILE (.csv, .jsonl or .xlsx) in exactly the
layout 'talentctl import' reads (see 'talentctl import --help'): one row per
resource, in dependency order. Importing the file into an empty registry
reproduces every record and so every figure; importing it into the registry
it came from changes nothing.

The data is one consistent snapshot (StreamSnapshot, permission
talentreg.snapshots.stream). With --revision R it is the data as it stood at
revision R: the snapshot with the changes after R undone from the change log
(talentreg.changes.list), which must still hold them.

Output-only fields (create and update times, etags) are not written: an
import sets its own.`

func (a *app) exportCommand() *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write the registry's data (or its state at a revision) as an import file",
		Long:  exportLong,
		Args:  argsBetween(1, 1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if _, err := rowfile.FormatOf(path); err != nil {
				return usageError{err}
			}
			if revision < 0 {
				return usageError{fmt.Errorf("--revision %d: want a revision ≥ 1 (0: the latest)", revision)}
			}
			c, err := a.registry()
			if err != nil {
				return err
			}
			rs, rev, err := exportResources(a.ctx, c, revision)
			if err != nil {
				var ue usageError
				if errors.As(err, &ue) {
					return err
				}
				return a.registryError(err)
			}
			if err := writeRows(path, rs); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "wrote %d rows to %s (registry revision %d)\n", len(rs), path, rev)
			return nil
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "export the data as it stood at this revision (0: the latest)")
	return cmd
}

// exportResources returns every resource of the registry in dependency
// order, as of revision (0: the latest), and the revision they reflect.
func exportResources(ctx context.Context, c registryv1.RegistryServiceClient, revision int64) ([]*registryv1.Resource, int64, error) {
	stream, err := c.StreamSnapshot(ctx, &registryv1.StreamSnapshotRequest{View: registryv1.SnapshotView_SNAPSHOT_VIEW_FULL})
	if err != nil {
		return nil, 0, err
	}
	var rs []*registryv1.Resource
	var head int64
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return nil, 0, errors.New("the snapshot ended before its last message")
		}
		if err != nil {
			return nil, 0, err
		}
		rs = append(rs, msg.GetResources()...)
		head = msg.GetRevision()
		if msg.GetComplete() {
			break
		}
	}
	if revision == 0 || revision == head {
		return rs, head, nil
	}
	if revision > head {
		return nil, 0, usageError{fmt.Errorf("--revision %d: the registry is at revision %d", revision, head)}
	}
	rs, err = rewind(ctx, c, rs, revision, head)
	return rs, revision, err
}

// rewind undoes, newest first, the changes after revision up to head on
// the snapshot rs taken at head: what each changed is put back as its
// before image (or removed, for a creation).
func rewind(ctx context.Context, c registryv1.RegistryServiceClient, rs []*registryv1.Resource, revision, head int64) ([]*registryv1.Resource, error) {
	var changes []*registryv1.Change
	for token := ""; ; {
		page, err := c.ListChanges(ctx, &registryv1.ListChangesRequest{StartRevision: revision + 1, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		for _, ch := range page.GetChanges() {
			if ch.GetRevision() <= head {
				changes = append(changes, ch)
			}
		}
		token = page.GetNextPageToken()
		if token == "" || len(page.GetChanges()) == 0 || page.GetChanges()[len(page.GetChanges())-1].GetRevision() >= head {
			break
		}
	}
	if len(changes) > 0 && changes[0].GetRevision() != revision+1 {
		return nil, fmt.Errorf("the change log no longer holds revision %d: cannot rewind to %d", revision+1, revision)
	}
	state := map[string]*registryv1.Resource{}
	var order []string
	for _, r := range rs {
		n := nameOf(r)
		state[n] = r
		order = append(order, n)
	}
	for i := len(changes) - 1; i >= 0; i-- {
		ch := changes[i]
		if ch.GetBefore() == nil {
			delete(state, ch.GetName())
			continue
		}
		if _, ok := state[ch.GetName()]; !ok {
			order = append(order, ch.GetName())
		}
		state[ch.GetName()] = ch.GetBefore()
	}
	out := make([]*registryv1.Resource, 0, len(state))
	seen := map[string]bool{}
	for _, n := range order {
		if r, ok := state[n]; ok && !seen[n] {
			seen[n] = true
			out = append(out, r)
		}
	}
	// Dependency order, then key order: as a snapshot would list them.
	slices.SortStableFunc(out, func(x, y *registryv1.Resource) int {
		if d := kindOf(x) - kindOf(y); d != 0 {
			return int(d)
		}
		return strings.Compare(keyOf(x), keyOf(y))
	})
	return out, nil
}

// keyOf returns the registry's key of r, which orders a snapshot: the id,
// or for a membership group id \x00 entity id (so "g" sorts before
// "g-2", as tuples do).
func keyOf(r *registryv1.Resource) string {
	name := nameOf(r)
	if group, entity, ok := strings.Cut(name, "/memberships/"); ok {
		return strings.TrimPrefix(group, "groups/") + "\x00" + entity
	}
	return name[strings.IndexByte(name, '/')+1:]
}

// kindOf returns the layout kind of r.
func kindOf(r *registryv1.Resource) layout.Kind {
	switch r.GetResource().(type) {
	case *registryv1.Resource_Program:
		return layout.Program
	case *registryv1.Resource_Entity:
		return layout.Entity
	case *registryv1.Resource_Group:
		return layout.Group
	case *registryv1.Resource_Membership:
		return layout.Membership
	case *registryv1.Resource_TalentRecord:
		return layout.TalentRecord
	case *registryv1.Resource_Policy:
		return layout.Policy
	case *registryv1.Resource_Target:
		return layout.Target
	}
	return 0
}

// nameOf returns the resource name of r.
func nameOf(r *registryv1.Resource) string {
	type named interface{ GetName() string }
	if n, ok := resourceMessage(r).(named); ok {
		return n.GetName()
	}
	return ""
}

// writeRows writes rs as an import file at path; a file that could not be
// completed is removed.
func writeRows(path string, rs []*registryv1.Resource) error {
	w, err := rowfile.Create(path, layout.Columns)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := w.Write(layout.Values(r)); err != nil {
			w.Close()
			return errors.Join(err, os.Remove(path))
		}
	}
	if err := w.Close(); err != nil {
		return errors.Join(err, os.Remove(path))
	}
	return nil
}
