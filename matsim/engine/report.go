package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/flowsim/flowsim/lib/junit"
	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/matsim/result"
)

// WriteText writes the human report. rerun is a command line reproducing the run,
// holding no secret (cmdline.Session.RerunLine).
func (r *Report) WriteText(w io.Writer, rerun string) error {
	return r.writeText(w, rerun, false)
}

// WriteSummary writes the report's outcome, failures and rerun line only (-q).
func (r *Report) WriteSummary(w io.Writer, rerun string) error {
	return r.writeText(w, rerun, true)
}

// StatusWords maps an outcome to the word the text report shows for it.
var StatusWords = map[result.Outcome]string{result.Passed: "PASSED", result.Failed: "FAILED", result.Error: "SETUP ERROR", result.Interrupted: "INTERRUPTED"}

// maxPhaseWidth bounds the transaction column, so that the table stays within 120
// columns.
const maxPhaseWidth = 50

// splitPhase splits a transaction's phase at the first ": " outside parentheses into
// its group and step ("fence 3 of 4 (split: child range inside the parent)" and
// "stream A, first transaction"); a phase without one is a step of no group.
func splitPhase(phase string) (group, step string) {
	var depth int
	for i := 0; i+1 < len(phase); i++ {
		switch phase[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ':':
			if depth == 0 && phase[i+1] == ' ' {
				return phase[:i], phase[i+2:]
			}
		}
	}
	return "", phase
}

func (r *Report) writeText(w io.Writer, rerun string, summary bool) error {
	var b strings.Builder
	var paint = r.paint
	if paint == nil {
		paint = func(_ result.Outcome, s string) string { return s }
	}
	fmt.Fprintf(&b, "matsim %s: %s", r.Result.Test, paint(r.Result.Outcome, StatusWords[r.Result.Outcome]))
	if r.Result.Check != "" {
		fmt.Fprintf(&b, " (%s)", r.Result.Check)
	} else if r.Result.Outcome == result.Interrupted {
		fmt.Fprintf(&b, " (%s)", r.Result.Message)
	}
	if r.Result.AtLeastOnceOnly {
		fmt.Fprintf(&b, ", %s: the connector returned no Flow checkpoint from Open, so exactly-once could not be checked (--exactly-once asserts it)", result.AtLeastOnceHeadline)
	}
	b.WriteString("\n")
	if !summary {
		fmt.Fprintf(&b, "  connector: %s\n", r.Connector)
		fmt.Fprintf(&b, "  seed:      %d\n", r.Result.Seed)
		if len(r.ResourcePath) != 0 {
			var mode = "standard updates"
			if r.DeltaUpdates {
				mode = "delta updates"
			}
			fmt.Fprintf(&b, "  resource:  %s (%s)\n", strings.Join(r.ResourcePath, "."), mode)
		}
		for _, d := range r.DroppedFields {
			fmt.Fprintf(&b, "  note: optional field not materialized: %s\n", d)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  note: %s\n", n)
		}
		if r.Result.Cleanup != "" {
			fmt.Fprintf(&b, "  cleanup:   %s\n", r.Result.Cleanup)
		}
		if len(r.Loops) != 0 {
			// A transaction of a group (fence's key ranges, recovery's crash point) is
			// a line under the group's own, so that both are shown whole. The
			// transaction column is left-aligned (padded here), the numbers right-aligned.
			var width = len("transaction")
			for _, l := range r.Loops {
				var group, step = splitPhase(l.Phase)
				if group != "" {
					step = "  " + step
				}
				width = max(width, min(utf8.RuneCountInString(step), maxPhaseWidth))
			}
			var cell = func(s string) string {
				if rs := []rune(s); len(rs) > width { // keep both ends of what is left
					var head = width / 2
					s = string(rs[:head]) + "…" + string(rs[len(rs)-(width-head-1):])
				}
				return s + strings.Repeat(" ", width-utf8.RuneCountInString(s))
			}
			var table strings.Builder
			var tw = tabwriter.NewWriter(&table, 2, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "%s\trequested\tloaded\tstored\tload ms\tstore ms\tcommit ms\tdocs/s\t\n", cell("transaction"))
			var groups = make([]string, len(r.Loops)) // the group line before row i, if any
			var last string
			for i, l := range r.Loops {
				var group, step = splitPhase(l.Phase)
				if group != "" {
					if group != last {
						groups[i] = group
					}
					step = "  " + step
				}
				last = group
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%.0f\t\n", cell(step), l.Requested, l.Loaded, l.Stored,
					millis(l.LoadTime), millis(l.StoreTime), millis(l.CommitTime), l.DocsPerSec)
			}
			tw.Flush()
			// The group lines go between the rows, outside the columns.
			for i, line := range strings.SplitAfter(table.String(), "\n") {
				if i > 0 && i <= len(groups) && groups[i-1] != "" {
					fmt.Fprintf(&b, "  %s\n", groups[i-1])
				}
				b.WriteString(line)
			}
		}
		var t = r.Result
		fmt.Fprintf(&b, "  total: %d stored, %d loaded (%d verified); %.0f docs/s over %s of transactions; run %s\n",
			t.Stored, t.Loaded, t.Verified, t.DocsPerSecond, seconds(r.txnTime), seconds(time.Duration(t.DurationMillis)*time.Millisecond))
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  %s %s\n", paint(result.Failed, "FAIL"), indent(f.Error(), "    "))
	}
	if _, err := io.WriteString(w, b.String()); err != nil || rerun == "" {
		return err
	}
	// RerunLine put every secret in a variable: the line goes out as it is, also
	// past a redacting writer, so that it pastes (--start=500 with a password 500).
	return writeRedacted(w, []byte("\n  reproduce: "+rerun+"\n"))
}

// millis renders a latency in the one notation of the table: milliseconds with one
// decimal ("-" when the step did not happen).
func millis(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// SetTransactionsTime sets the time spent in the transactions phase, for a Report rebuilt
// from a compact result (which keeps docs/s, not the time): `flowsim kube` does.
func (r *Report) SetTransactionsTime(d time.Duration) { r.txnTime = d }

// SetPaint makes the text report colour its status words with paint.
func (r *Report) SetPaint(paint func(result.Outcome, string) string) { r.paint = paint }

// WriteJSON writes the whole report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	var c = *r
	c.Result.V = result.Version // as in the result file
	r = &c
	var enc = json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteJUnit writes a JUnit XML report with one test case per run.
func (r *Report) WriteJUnit(w io.Writer) error { return r.WriteJUnitRedacted(w, nil) }

// WriteJUnitRedacted writes the JUnit report with every string redacted by red as a
// value (never as text over the XML: tests="1" stays a number when a password is 1).
func (r *Report) WriteJUnitRedacted(w io.Writer, red *redact.Redactor) error {
	var c = junit.Case{
		Name:      r.Result.Test,
		Classname: "flowsim.matsim",
		SystemOut: fmt.Sprintf("connector: %s\nseed: %d\nloaded: %d, stored: %d, verified: %d, docs/s: %.0f",
			r.Connector, r.Result.Seed, r.Result.Loaded, r.Result.Stored, r.Result.Verified, r.Result.DocsPerSecond),
	}
	if r.Result.AtLeastOnceOnly {
		c.Name += " (" + result.AtLeastOnceHeadline + ")"
		c.SystemOut = result.AtLeastOnceHeadline + "\n" + c.SystemOut
	}
	if r.Result.Cleanup != "" {
		c.SystemOut += "\ncleanup: " + r.Result.Cleanup
	}
	var s = junit.Suite{Name: "matsim", Tests: 1}
	if len(r.Failures) != 0 {
		var text []string
		for _, f := range r.Failures {
			text = append(text, f.Error())
		}
		var jf = &junit.Message{Message: r.Failures[0].Error(), Type: string(r.Failures[0].Check), Text: strings.Join(text, "\n")}
		if r.Result.Outcome == "error" {
			c.Error, s.Errors = jf, 1
		} else {
			c.Failure, s.Failures = jf, 1
		}
	}
	if r.Result.Outcome == result.Interrupted { // not the connector's failure
		c.Error = &junit.Message{Message: r.Result.Message, Type: string(result.Interrupted), Text: r.Result.Message}
		s.Errors = 1
	}
	s.Cases = []junit.Case{c}
	if red.Any() {
		redactStrings(red, reflect.ValueOf(&s))
	}
	// The times are set after redaction: a number stays a number whatever the secrets.
	var secs = junit.Seconds(float64(r.Result.DurationMillis) / 1000)
	s.Time, s.Cases[0].Time = secs, secs
	var d = junit.Suites{Time: secs}
	d.Add(s)
	return junit.Write(w, &d)
}
