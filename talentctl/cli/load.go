package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"talentreg/talentctl/demo"
	"talentreg/talentctl/importer"
	"talentreg/talentctl/layout"
	"talentreg/talentctl/rowfile"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

const importLong = `Import CSV (.csv), JSON Lines (.jsonl, .ndjson) and Excel (.xlsx) files into
the registry, upserting each row by its id: importing the same file again
changes nothing.

Every row is one resource, named by its "type" column: program, entity,
group, membership, talent_record, policy or target. The columns (header
names in any case, "display_name", "Display Name" and "displayName" alike)
are:

  type                      every row
  id                        program, entity, group, talent_record, policy, target
  display_name              program, entity, group, target
  kind                      entity: enterprise, university, research_institute,
                            incubator, other; group: consortium, alliance
  credit_code               entity: 18-character unified social credit code
  region                    entity: e.g. Binhai, Tianjin, Beijing, Hebei
  industries                entity, policy: industry ids separated by ";"
  leading_enterprise        entity: true/false (also yes/no, 1/0)
  future_industry_platform  entity: true/false
  group, entity             membership: the ids it links
  role                      membership: lead or member
  join_time                 membership: YYYY-MM-DD or RFC 3339 (optional)
  subject                   talent_record: entities/{id} or groups/{id}
  category                  talent_record: gathered, cultivated or assessed
  count                     talent_record: a whole number > 0
  program                   talent_record: the programme's id (optional)
  period                    talent_record: YYYY or YYYY-MM
  level                     program: municipal or district; policy: national,
                            municipal or district
  field                     group: a slug such as aerospace
  status                    entity, membership: active (or empty), inactive,
                            withdrawn
  end_time                  entity, membership: when it stopped being active
                            (YYYY-MM-DD or RFC 3339; empty with status
                            inactive/withdrawn: the commit time)
  title, issuer             policy: its title (required) and issuer
  issue_time                policy: YYYY-MM-DD or RFC 3339 (optional)
  pilot                     policy: true/false
  programs                  policy: programme ids separated by ";"
  metric                    target: platforms_or_leading_enterprises,
                            entities, pilot_policies, policies,
                            talents_cultivated, talents_gathered,
                            group_members
  goal_value                target: a whole number > 0
  scope                     target: a group id (empty: the whole ecosystem)
  deadline                  target: YYYY-MM-DD or RFC 3339 (optional)

A file needs only the columns it uses, plus "type". A row updates only the
columns it has: a column the file (or a JSON Lines object) lacks leaves that
field of an existing resource as it is, and an empty value (null in JSON
Lines) clears it; a new resource needs its required columns. A value in a
column that does not apply to its row's type rejects the row. JSON Lines
objects use the same names as keys; industries may be a JSON array. In a
workbook every non-empty sheet has its own header row.

Files are read twice: once to check them, once to send. A file that cannot be
read safely (unknown or duplicate header column, text not UTF-8, a line over
1 MiB, a damaged workbook) stops the import before anything is sent. A bad
row is skipped and reported by file, line and column; the others are
imported. Rows are sent in dependency order (programmes, entities, groups,
memberships, talent records) whatever their order in the files.

Rows rejected before sending count as FAILED with those the registry
refused. If the import stops midway (the registry or the connection fails),
talentctl says how many of the rows sent were committed and the last of
them; importing the same files again completes it.

Exit code 2 when any file or row was rejected, 1 when the import stopped.`

func (a *app) importCommand() *cobra.Command {
	var chunk, maxErrors int
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import resources from CSV, JSON Lines or XLSX files",
		Long:  importLong,
		Args:  argsBetween(1, -1, "FILE..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := importer.Check(args)
			if err != nil {
				return inputError{fmt.Errorf("nothing imported; unreadable files:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))}
			}
			c, err := a.registry()
			if err != nil {
				return err
			}
			update, finish := a.progress(plan.Rows(), "importing")
			rep, err := plan.Import(a.ctx, c, importer.Options{ChunkSize: chunk, Progress: update})
			finish()
			if err != nil {
				var inc *importer.IncompleteError
				if errors.As(err, &inc) {
					if rep != nil {
						if perr := a.printImport(rep, maxErrors); perr != nil {
							return perr
						}
					}
					a.printStopped(rep)
					err = inc.Err
				}
				return a.registryError(err)
			}
			if err := a.printImport(rep, maxErrors); err != nil {
				return err
			}
			if n := int64(len(rep.Rejected)) + rep.Unlisted; n > 0 {
				return inputError{fmt.Errorf("%d of %d rows rejected", n, rep.Rows)}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&chunk, "chunk-size", importer.DefaultChunkSize, "rows per Import message")
	cmd.Flags().IntVar(&maxErrors, "max-errors", 100, "rejected rows to list in table output (-o json lists all)")
	return cmd
}

// importJSON is the -o json form of an import report.
type importJSON struct {
	Rows     int                   `json:"rows"`
	Revision int64                 `json:"revision"`
	Counts   map[string]countsJSON `json:"counts"`
	Rejected []rejectionJSON       `json:"rejected"`
	Unlisted int64                 `json:"unlisted"`
	// Committed and LastCommitted: how many of the rows sent the registry
	// dealt with, and the name of the last.
	Committed     int64  `json:"committed"`
	LastCommitted string `json:"lastCommitted,omitempty"`
}

type countsJSON struct {
	Created   int64 `json:"created"`
	Updated   int64 `json:"updated"`
	Unchanged int64 `json:"unchanged"`
	Failed    int64 `json:"failed"`
}

type rejectionJSON struct {
	File    string `json:"file"`
	Sheet   string `json:"sheet,omitempty"`
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// kindCount is one kind's counts in an import response.
type kindCount struct {
	kind       string
	layoutKind layout.Kind
	counts     *registryv1.ImportCounts
}

// kindCounts pairs each kind with its counts in r, in dependency order.
func kindCounts(r *registryv1.ImportResponse) []kindCount {
	return []kindCount{
		{"program", layout.Program, r.GetPrograms()}, {"entity", layout.Entity, r.GetEntities()}, {"group", layout.Group, r.GetGroups()},
		{"membership", layout.Membership, r.GetMemberships()}, {"talent_record", layout.TalentRecord, r.GetTalentRecords()},
		{"policy", layout.Policy, r.GetPolicies()}, {"target", layout.Target, r.GetTargets()},
	}
}

func (a *app) printImport(rep *importer.Report, maxErrors int) error {
	if a.output == "json" {
		out := importJSON{Rows: rep.Rows, Revision: rep.Response.GetRevision(), Counts: map[string]countsJSON{}, Rejected: []rejectionJSON{}, Unlisted: rep.Unlisted}
		for _, kc := range kindCounts(rep.Response) {
			c := kc.counts
			out.Counts[kc.kind] = countsJSON{c.GetCreated(), c.GetUpdated(), c.GetUnchanged(), c.GetFailed() + rep.NotSent[kc.layoutKind]}
		}
		if n := rep.NotSent[0]; n > 0 {
			out.Counts["(no type)"] = countsJSON{Failed: n}
		}
		out.Committed, out.LastCommitted = rep.Committed, rep.Response.GetLastCommittedItem()
		for _, r := range rep.Rejected {
			out.Rejected = append(out.Rejected, rejectionJSON{r.Pos.File, r.Pos.Sheet, r.Pos.Line, r.Column, r.Message})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	a.printCounts(rep.Response, rep.NotSent)
	fmt.Fprintf(a.stdout, "%d rows read, %d rejected, registry revision %d\n", rep.Rows, int64(len(rep.Rejected))+rep.Unlisted, rep.Response.GetRevision())
	if len(rep.Rejected) > 0 {
		fmt.Fprintln(a.stderr, "rejected rows:")
		for i, r := range rep.Rejected {
			if maxErrors >= 0 && i == maxErrors {
				fmt.Fprintf(a.stderr, "  … and %d more (-o json lists them all)\n", len(rep.Rejected)-i)
				break
			}
			fmt.Fprintf(a.stderr, "  %s\n", r)
		}
	}
	if rep.Unlisted > 0 {
		fmt.Fprintf(a.stderr, "  … and %d more the registry did not list\n", rep.Unlisted)
	}
	return nil
}

// printCounts writes the per-kind counts of an import as a table, the rows
// rejected before sending counted as FAILED with those the registry
// refused (rows whose type could not be read on a line of their own).
func (a *app) printCounts(r *registryv1.ImportResponse, notSent map[layout.Kind]int64) {
	tw := newTable(a.stdout)
	row(tw, "TYPE", "CREATED", "UPDATED", "UNCHANGED", "FAILED")
	for _, kc := range kindCounts(r) {
		c := kc.counts
		row(tw, kc.kind, fmt.Sprint(c.GetCreated()), fmt.Sprint(c.GetUpdated()), fmt.Sprint(c.GetUnchanged()), fmt.Sprint(c.GetFailed()+notSent[kc.layoutKind]))
	}
	if n := notSent[0]; n > 0 {
		row(tw, "(no type)", "0", "0", "0", fmt.Sprint(n))
	}
	tw.Flush()
}

// printStopped says, after an import that stopped midway, what the
// registry committed and how to finish.
func (a *app) printStopped(rep *importer.Report) {
	const again = "importing the same files again completes the import: rows already imported come back unchanged"
	switch {
	case rep == nil:
		fmt.Fprintf(a.stderr, "import stopped before the registry could say what it committed; %s\n", again)
	case rep.Committed == 0:
		fmt.Fprintf(a.stderr, "import stopped: the registry committed none of the rows sent; %s\n", again)
	default:
		fmt.Fprintf(a.stderr, "import stopped: the registry committed the first %d rows sent, the last %s (%s); the rows after it were not imported; %s\n",
			rep.Committed, rep.LastCommitted, rep.Response.GetLastCommittedItem(), again)
	}
}

// progress returns a function setting a progress bar of total steps and
// one finishing it. Without a terminal on stderr both do nothing.
func (a *app) progress(total int, what string) (update func(int), finish func()) {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return func(n int) { bar.Set(n) }, func() { bar.Finish() }
}

const demoLong = `Load the Binhai 2024 demo data set into the registry through Import, wait
until the metrics service reflects it, and print the summary. The data set is
fixed: loading it again changes nothing.

After loading into an empty registry the summary shows exactly: 863000 talents
gathered, 3800 assessing entities, 150000 talents assessed, 4 consortia, 514
consortium members, 18000 talents cultivated, 19 alliances and 2198 alliance
members.

With --export FILE, write the data set as an import file (.csv, .jsonl or
.xlsx) instead, without contacting any service.`

func (a *app) demoCommand() *cobra.Command {
	var (
		chunk  int
		wait   time.Duration
		export string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Load the Binhai 2024 demo data set and print the summary",
		Long:  demoLong,
		Args:  argsBetween(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			items := demo.Generate().Resources()
			if export != "" {
				return a.exportDemo(export, items)
			}
			c, err := a.registry()
			if err != nil {
				return err
			}
			update, finish := a.progress(len(items), "loading the demo data set")
			resp, err := importer.Stream(a.ctx, c, importer.Options{ChunkSize: chunk, Progress: update}, func(add func(*registryv1.Resource, *fieldmaskpb.FieldMask) error) error {
				for _, r := range items {
					if err := add(r, nil); err != nil {
						return err
					}
				}
				return nil
			})
			finish()
			if err != nil {
				return a.registryError(err)
			}
			if n := importer.Failed(resp); n > 0 {
				for i, e := range resp.GetErrors() {
					if i == 20 {
						break
					}
					fmt.Fprintf(a.stderr, "  %s: %s: %s\n", e.GetName(), e.GetField(), e.GetMessage())
				}
				return fmt.Errorf("the registry rejected %d demo items", n)
			}
			var created, updated, unchanged int64
			for _, kc := range kindCounts(resp) {
				created, updated, unchanged = created+kc.counts.GetCreated(), updated+kc.counts.GetUpdated(), unchanged+kc.counts.GetUnchanged()
			}
			fmt.Fprintf(a.stderr, "demo data set loaded: %d created, %d updated, %d unchanged; registry revision %d\n", created, updated, unchanged, resp.GetRevision())
			s, err := a.summaryWithin(resp.GetRevision(), wait)
			if err != nil {
				return err
			}
			if err := a.printSummary(s); err != nil {
				return err
			}
			if diff := demoDifferences(s); diff != "" {
				fmt.Fprintf(a.stderr, "note: the summary differs from the Binhai 2024 figures (%s): the registry holds other data too\n", diff)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&chunk, "chunk-size", importer.DefaultChunkSize, "items per Import message")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for the metrics service to reflect the import")
	cmd.Flags().StringVar(&export, "export", "", "write the data set to this .csv, .jsonl or .xlsx file instead of loading it")
	return cmd
}

// summaryWithin fetches the summary at minRevision or later, waiting up to
// wait for the metrics service to catch up.
func (a *app) summaryWithin(minRevision int64, wait time.Duration) (*metricsv1.GetSummaryResponse, error) {
	saved := a.timeout
	a.timeout = wait
	defer func() { a.timeout = saved }()
	return a.summary(minRevision)
}

// demoDifferences lists the report figures s does not match.
func demoDifferences(s *metricsv1.GetSummaryResponse) string {
	var diffs []string
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"talentsGathered", s.GetTalentsGathered(), demo.TalentsGathered},
		{"assessingEntities", s.GetAssessingEntities(), demo.AssessingEntities},
		{"talentsAssessed", s.GetTalentsAssessed(), demo.TalentsAssessed},
		{"consortia", s.GetConsortia(), demo.Consortia},
		{"consortiumMembers", s.GetConsortiumMembers(), demo.ConsortiumMembers},
		{"talentsCultivated", s.GetTalentsCultivated(), demo.TalentsCultivated},
		{"alliances", s.GetAlliances(), demo.Alliances},
		{"allianceMembers", s.GetAllianceMembers(), demo.AllianceMembers},
	} {
		if f.got != f.want {
			diffs = append(diffs, fmt.Sprintf("%s %d, reference %d", f.name, f.got, f.want))
		}
	}
	return strings.Join(diffs, "; ")
}

// exportDemo writes items as an import file.
func (a *app) exportDemo(path string, items []*registryv1.Resource) error {
	if _, err := rowfile.FormatOf(path); err != nil {
		return usageError{err}
	}
	if err := writeRows(path, items); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "wrote %d rows to %s\n", len(items), path)
	return nil
}
