// Package report holds a benchmark run's figures and renders them as
// markdown: the machine and versions, each case's median and min–max over
// the rounds, and each target's ratio computed within every round, with
// PASS or FAIL.
package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Figure names used by the harness. Latencies are in milliseconds, CPU per
// request in microseconds, sizes in MiB.
const (
	QPS          = "qps"
	P50          = "p50_ms"
	P99          = "p99_ms"
	Errors       = "errors"
	ServerUS     = "server_us"
	LoadUS       = "load_us"
	LoadShare    = "load_cpu_pct"
	ItemsPerSec  = "items_s"
	DBMiB        = "db_mib"
	RawMiB       = "raw_mib"
	DBRatio      = "db_ratio"
	BootstrapSec = "bootstrap_s"
	PeakRSSMiB   = "peak_rss_mib"
	Entities     = "entities"
	Items        = "items"
	Failed       = "failed"
	// MetricsCPUSec and RegistryCPUSec are CPU seconds spent by each during
	// a bootstrap.
	MetricsCPUSec  = "metrics_cpu_s"
	RegistryCPUSec = "registry_cpu_s"
	// SearchReadySec is how long a metrics service took, after its
	// bootstrap, to answer a name search (its index is built in the
	// background).
	SearchReadySec = "search_ready_s"
	// P99WorstShape is, of a case that mixes kinds of request, the
	// highest p99 of any one kind, in milliseconds.
	P99WorstShape = "p99_worst_shape_ms"
)

// Figures are one round's figures of one case, by name.
type Figures map[string]float64

// KV is one labelled value.
type KV struct {
	// Key is the label.
	Key string
	// Value is the value.
	Value string
}

// Case is one benchmark case over all rounds.
type Case struct {
	// Name identifies the case, e.g. "grpc-get/floor".
	Name string
	// Desc says what it runs.
	Desc string
	// Rounds holds the figures of each round; nil where the round failed.
	Rounds []Figures
	// Skip, when set, says why the case did not run at all.
	Skip string
	// Errors are the failures of individual rounds.
	Errors []string
}

// Ref names one figure of one case.
type Ref struct {
	// Case is the case name.
	Case string
	// Figure is the figure name.
	Figure string
}

// Check is one target: Num / Den (or Num alone when Den.Case is empty)
// compared with Threshold, round by round.
type Check struct {
	// Target describes the target for people, e.g. "GetEntity QPS ≥ 0.8× floor".
	Target string
	// Num is the figure checked.
	Num Ref
	// Den, when Den.Case is set, divides Num within each round.
	Den Ref
	// AtMost makes the check Num/Den ≤ Threshold; otherwise ≥.
	AtMost bool
	// Threshold is the bound.
	Threshold float64
	// Unit is printed after absolute values (with no Den), e.g. " ms".
	Unit string
}

// Comparison sets one figure side by side with another, round by round,
// with no target: Num / Den, or Num alone when Den.Case is empty.
type Comparison struct {
	// What describes it for people, e.g. "GetEntity on etcd vs on bbolt".
	What string
	// Num is the figure compared.
	Num Ref
	// Den, when Den.Case is set, divides Num within each round.
	Den Ref
	// Unit is printed after absolute values (with no Den), e.g. " ms".
	Unit string
}

// Verdicts of a Check.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Report is a whole run.
type Report struct {
	// Title heads the document.
	Title string
	// Command is the command line that produced the report.
	Command string
	// Started is when the run began.
	Started time.Time
	// Elapsed is how long it took.
	Elapsed time.Duration
	// Machine describes the host.
	Machine []KV
	// Versions lists the software measured.
	Versions []KV
	// Settings lists the run's parameters.
	Settings []KV
	// Cases are in the order they ran.
	Cases []*Case
	// Checks are the targets.
	Checks []Check
	// Comparisons are figures side by side, without a target.
	Comparisons []Comparison
	// Notes are free lines printed at the end.
	Notes []string
}

// Case returns the case named name, adding it (with desc) when missing.
func (r *Report) Case(name, desc string) *Case {
	for _, c := range r.Cases {
		if c.Name == name {
			return c
		}
	}
	c := &Case{Name: name, Desc: desc}
	r.Cases = append(r.Cases, c)
	return c
}

// Find returns the case named name, or nil.
func (r *Report) Find(name string) *Case {
	for _, c := range r.Cases {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Values returns figure f of every round that has it.
func (c *Case) Values(f string) []float64 {
	var out []float64
	for _, r := range c.Rounds {
		if v, ok := r[f]; ok {
			out = append(out, v)
		}
	}
	return out
}

// Median returns the median of figure f over the rounds and whether any
// round has it.
func (c *Case) Median(f string) (float64, bool) {
	v := c.Values(f)
	if len(v) == 0 {
		return 0, false
	}
	return Median(v), true
}

// Median returns the median of xs (the mean of the middle two for an even
// count); xs must not be empty.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Outcome is a Check evaluated on a report.
type Outcome struct {
	// Ratios holds the value of each round where both sides ran.
	Ratios []float64
	// Median is the median of Ratios.
	Median float64
	// Verdict is Pass, Fail or Skip.
	Verdict string
	// Why explains a Skip.
	Why string
}

// Evaluate computes the check round by round: a round counts only when
// both cases have the figure in that same round.
func (r *Report) Evaluate(ch Check) Outcome {
	o := r.ratios(ch.Num, ch.Den)
	if o.Verdict == Skip {
		return o
	}
	ok := o.Median >= ch.Threshold
	if ch.AtMost {
		ok = o.Median <= ch.Threshold
	}
	o.Verdict = Fail
	if ok {
		o.Verdict = Pass
	}
	return o
}

// Compare computes c round by round, as Evaluate does; its Verdict is Skip
// when a side has no figures, and empty otherwise.
func (r *Report) Compare(c Comparison) Outcome { return r.ratios(c.Num, c.Den) }

// ratios computes num / den (num alone when den.Case is empty) in every
// round where both have their figure, and their median; Verdict is Skip,
// with the reason, when there is no such round.
func (r *Report) ratios(numRef, denRef Ref) Outcome {
	num := r.Find(numRef.Case)
	if num == nil || num.Skip != "" {
		return Outcome{Verdict: Skip, Why: skipWhy(numRef.Case, num)}
	}
	var den *Case
	if denRef.Case != "" {
		den = r.Find(denRef.Case)
		if den == nil || den.Skip != "" {
			return Outcome{Verdict: Skip, Why: skipWhy(denRef.Case, den)}
		}
	}
	var o Outcome
	for i, fig := range num.Rounds {
		a, ok := fig[numRef.Figure]
		if !ok {
			continue
		}
		if den == nil {
			o.Ratios = append(o.Ratios, a)
			continue
		}
		if i >= len(den.Rounds) {
			continue
		}
		b, ok := den.Rounds[i][denRef.Figure]
		if !ok || b == 0 {
			continue
		}
		o.Ratios = append(o.Ratios, a/b)
	}
	if len(o.Ratios) == 0 {
		return Outcome{Verdict: Skip, Why: "no round where both ran"}
	}
	o.Median = Median(o.Ratios)
	return o
}

func skipWhy(name string, c *Case) string {
	if c == nil {
		return name + " not run"
	}
	return name + ": " + c.Skip
}

// loadColumns are the columns of the load-case table.
var loadColumns = []struct{ fig, head, format string }{
	{QPS, "QPS", "%.0f"},
	{P50, "p50 ms", "%.3f"},
	{P99, "p99 ms", "%.3f"},
	{Errors, "errors", "%.0f"},
	{ServerUS, "server CPU µs/req", "%.1f"},
	{LoadUS, "load-gen CPU µs/req", "%.1f"},
}

// otherFigures are shown, when present, for cases without a QPS.
var otherFigures = []struct{ fig, head, format string }{
	{Items, "items", "%.0f"},
	{ItemsPerSec, "items/s", "%.0f"},
	{Failed, "failed items", "%.0f"},
	{RawMiB, "raw payload MiB", "%.1f"},
	{DBMiB, "db file MiB", "%.1f"},
	{DBRatio, "db / raw", "%.2f"},
	{ServerUS, "registry CPU µs/item", "%.1f"},
	{BootstrapSec, "bootstrap s", "%.2f"},
	{SearchReadySec, "search index ready s", "%.2f"},
	{MetricsCPUSec, "metrics CPU s", "%.2f"},
	{RegistryCPUSec, "registry CPU s", "%.2f"},
	{PeakRSSMiB, "peak RSS MiB", "%.0f"},
	{Entities, "entities", "%.0f"},
}

func cell(c *Case, fig, format string) string {
	v := c.Values(fig)
	if len(v) == 0 {
		return "–"
	}
	m := fmt.Sprintf(format, Median(v))
	if len(v) == 1 {
		return m
	}
	return fmt.Sprintf("%s [%s–%s]", m, fmt.Sprintf(format, slices.Min(v)), fmt.Sprintf(format, slices.Max(v)))
}

// Markdown writes the report as markdown.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	if r.Command != "" {
		fmt.Fprintf(&b, "Produced by `%s` on %s (%s).\n\n", r.Command, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second))
	}
	b.WriteString("Every figure is the median over the rounds with [min–max]; each ratio is computed within one round, then its median is checked against the target. Server CPU is the utime+stime delta of the case's server processes (/proc, 10 ms ticks) over the measured window; load-gen CPU is the harness's own.\n\n")
	kvTable(&b, "Machine", r.Machine)
	kvTable(&b, "Versions", r.Versions)
	kvTable(&b, "Settings", r.Settings)

	b.WriteString("## Targets\n\n| target | per round | median | bound | verdict |\n|---|---|---|---|---|\n")
	for _, ch := range r.Checks {
		o := r.Evaluate(ch)
		op := "≥"
		if ch.AtMost {
			op = "≤"
		}
		unit := "×"
		if ch.Den.Case == "" {
			unit = ch.Unit
		}
		if o.Verdict == Skip {
			fmt.Fprintf(&b, "| %s | – | – | %s %s%s | SKIP (%s) |\n", ch.Target, op, num(ch.Threshold), unit, oneLine(o.Why))
			continue
		}
		per := make([]string, len(o.Ratios))
		for i, x := range o.Ratios {
			per[i] = num(x)
		}
		fmt.Fprintf(&b, "| %s | %s | **%s%s** | %s %s%s | %s |\n", ch.Target, strings.Join(per, ", "), num(o.Median), unit, op, num(ch.Threshold), unit, o.Verdict)
	}
	if len(r.Comparisons) > 0 {
		b.WriteString("\n## Side by side\n\nNo targets: each ratio computed within one round, as the targets' are.\n\n| comparison | per round | median |\n|---|---|---|\n")
		for _, c := range r.Comparisons {
			o := r.Compare(c)
			unit := "×"
			if c.Den.Case == "" {
				unit = c.Unit
			}
			if o.Verdict == Skip {
				fmt.Fprintf(&b, "| %s | – | – (%s) |\n", c.What, oneLine(o.Why))
				continue
			}
			per := make([]string, len(o.Ratios))
			for i, x := range o.Ratios {
				per[i] = num(x)
			}
			fmt.Fprintf(&b, "| %s | %s | **%s%s** |\n", c.What, strings.Join(per, ", "), num(o.Median), unit)
		}
	}
	b.WriteString("\n## Load cases\n\n| case | what | ")
	for _, col := range loadColumns {
		b.WriteString(col.head + " | ")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(loadColumns)) + "\n")
	for _, c := range r.Cases {
		if isOtherName(c.Name) {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | ", c.Name, c.Desc)
		if c.Skip != "" {
			fmt.Fprintf(&b, "skipped: %s |%s\n", oneLine(c.Skip), strings.Repeat(" |", len(loadColumns)-1))
			continue
		}
		for _, col := range loadColumns {
			b.WriteString(cell(c, col.fig, col.format) + " | ")
		}
		b.WriteString("\n")
	}
	var other []*Case
	for _, c := range r.Cases {
		if isOtherName(c.Name) {
			other = append(other, c)
		}
	}
	if len(other) > 0 {
		b.WriteString("\n## Bulk cases\n\n")
		for _, c := range other {
			fmt.Fprintf(&b, "- **%s** (%s): ", c.Name, c.Desc)
			if c.Skip != "" {
				fmt.Fprintf(&b, "skipped: %s\n", oneLine(c.Skip))
				continue
			}
			var parts []string
			for _, f := range otherFigures {
				if len(c.Values(f.fig)) > 0 {
					parts = append(parts, f.head+" "+cell(c, f.fig, f.format))
				}
			}
			b.WriteString(strings.Join(parts, "; ") + "\n")
		}
	}
	var errs []string
	for _, c := range r.Cases {
		for _, e := range c.Errors {
			errs = append(errs, fmt.Sprintf("- %s: %s", c.Name, oneLine(e)))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n## Failed rounds\n\n" + strings.Join(errs, "\n") + "\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// otherNames are the prefixes of bulk cases, reported without the load
// columns.
var otherNames = []string{"import/", "bootstrap/"}

func isOtherName(name string) bool {
	for _, p := range otherNames {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func kvTable(b *strings.Builder, title string, kvs []KV) {
	if len(kvs) == 0 {
		return
	}
	fmt.Fprintf(b, "## %s\n\n| | |\n|---|---|\n", title)
	for _, kv := range kvs {
		fmt.Fprintf(b, "| %s | %s |\n", kv.Key, oneLine(kv.Value))
	}
	b.WriteString("\n")
}

func num(x float64) string {
	switch {
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
