package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// historyCommand shows the audit trail: who changed one resource, or what
// one principal changed.
func (a *app) historyCommand() *cobra.Command {
	var actor string
	var limit int
	cmd := &cobra.Command{
		Use:   "history TYPE NAME | history --actor PRINCIPAL",
		Short: "Who changed what: a resource's changes, or a principal's",
		Long: `history lists changes oldest first, each with who made it: the principal,
how it authenticated, the client's address and the request id.

  talentctl history entity tianjin-university
  talentctl history membership alliance-aerospace tianjin-university
  talentctl history --actor alice

Changes are kept as long as the registry's change log keeps them
(--retain-changes).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("history: unknown type %q (want one of: %s)", args[0], subcommands(cmd))}
			}
			if actor == "" {
				return usageError{fmt.Errorf("history: give a resource (history TYPE NAME) or --actor PRINCIPAL")}
			}
			filter := "actor = " + strconv.Quote(actor)
			return a.printHistory(true, limit, func(token string) ([]*registryv1.Change, string, error) {
				c, err := a.registry()
				if err != nil {
					return nil, "", err
				}
				ctx, cancel := a.call()
				defer cancel()
				resp, err := c.ListChanges(ctx, &registryv1.ListChangesRequest{Filter: filter, PageSize: 500, PageToken: token})
				return resp.GetChanges(), resp.GetNextPageToken(), err
			})
		},
	}
	cmd.Flags().StringVar(&actor, "actor", "", "list the changes this principal made")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many changes (0: all)")
	for _, rt := range resourceTypes {
		cmd.AddCommand(&cobra.Command{
			Use:     rt.name + " " + rt.nameArgs(),
			Aliases: rt.aliases,
			Short:   "The changes of one " + rt.name,
			Args:    argsBetween(1, rt.nameArity(), rt.nameArgs()),
			RunE: func(_ *cobra.Command, args []string) error {
				name, err := rt.nameOf(args)
				if err != nil {
					return err
				}
				return a.printHistory(false, limit, func(token string) ([]*registryv1.Change, string, error) {
					c, err := a.registry()
					if err != nil {
						return nil, "", err
					}
					ctx, cancel := a.call()
					defer cancel()
					resp, err := c.ListHistory(ctx, &registryv1.ListHistoryRequest{Name: name, PageSize: 500, PageToken: token})
					return resp.GetChanges(), resp.GetNextPageToken(), err
				})
			},
		})
	}
	return cmd
}

// printHistory pages through changes, printing a table (withName adds the
// resource column) or a JSON array.
func (a *app) printHistory(withName bool, limit int, page func(token string) ([]*registryv1.Change, string, error)) error {
	header := []string{"REVISION", "TIME", "CHANGE", "PRINCIPAL", "AUTH", "PEER", "REQUEST ID", "FIELDS"}
	if withName {
		header = append(header[:3:3], append([]string{"RESOURCE"}, header[3:]...)...)
	}
	tw := newTable(a.stdout)
	if a.output == "table" {
		row(tw, header...)
	} else {
		fmt.Fprint(a.stdout, "[")
	}
	n := 0
	token := ""
	for {
		changes, next, err := page(token)
		if err != nil {
			return a.registryError(err)
		}
		for _, ch := range changes {
			if limit > 0 && n == limit {
				next = ""
				break
			}
			if a.output == "table" {
				cells := historyCells(ch)
				if withName {
					cells = append(cells[:3:3], append([]string{ch.GetName()}, cells[3:]...)...)
				}
				row(tw, cells...)
			} else {
				b, err := jsonOptions.Marshal(ch)
				if err != nil {
					return err
				}
				sep := ",\n"
				if n == 0 {
					sep = "\n"
				}
				fmt.Fprintf(a.stdout, "%s  %s", sep, b)
			}
			n++
		}
		if a.output == "table" {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	if a.output != "table" {
		if n > 0 {
			fmt.Fprint(a.stdout, "\n")
		}
		fmt.Fprint(a.stdout, "]\n")
	}
	return nil
}

func historyCells(ch *registryv1.Change) []string {
	act := ch.GetActor()
	principal, method := act.GetPrincipal(), enumName(act.GetAuthMethod().String(), "AUTH_METHOD_")
	switch {
	case act == nil:
		principal, method = "(not recorded)", ""
	case principal == "":
		principal = "(auth off)"
	}
	peer := act.GetPeer()
	if act.GetVia() != "" {
		peer += " via " + strings.TrimPrefix(act.GetVia(), "spiffe://talentreg/")
	}
	return []string{
		strconv.FormatInt(ch.GetRevision(), 10),
		ch.GetCommitTime().AsTime().UTC().Format(time.RFC3339),
		enumName(ch.GetType().String(), "CHANGE_TYPE_"),
		principal, method, peer, act.GetRequestId(),
		strings.Join(changedFields(ch), ","),
	}
}

// changedFields names the fields an update changed (in JSON spelling),
// leaving out the bookkeeping every update changes.
func changedFields(ch *registryv1.Change) []string {
	if ch.GetType() != registryv1.ChangeType_CHANGE_TYPE_UPDATED {
		return nil
	}
	before, after := resourceMessage(ch.GetBefore()), resourceMessage(ch.GetAfter())
	if before == nil || after == nil {
		return nil
	}
	b, af := before.ProtoReflect(), after.ProtoReflect()
	var out []string
	fields := af.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch fd.Name() {
		case "etag", "update_time", "create_time", "revision":
			continue
		}
		if !equalField(b, af, fd) {
			out = append(out, fd.JSONName())
		}
	}
	return out
}

func equalField(a, b protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if a.Has(fd) != b.Has(fd) {
		return false
	}
	if !a.Has(fd) {
		return true
	}
	va, vb := a.Get(fd), b.Get(fd)
	switch {
	case fd.IsList():
		la, lb := va.List(), vb.List()
		if la.Len() != lb.Len() {
			return false
		}
		for i := 0; i < la.Len(); i++ {
			if !la.Get(i).Equal(lb.Get(i)) {
				return false
			}
		}
		return true
	case fd.Message() != nil:
		return proto.Equal(va.Message().Interface(), vb.Message().Interface())
	}
	return va.Equal(vb)
}
