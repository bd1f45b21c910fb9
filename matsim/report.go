package matsim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the human report. rerun is a command line reproducing the run.
func (r *Report) WriteText(w io.Writer, rerun string) error {
	var b strings.Builder
	var status = map[string]string{"passed": "PASSED", "failed": "FAILED", "error": "SETUP ERROR"}[string(r.Result.Outcome)]
	fmt.Fprintf(&b, "matsim %s: %s", r.Result.Test, status)
	if r.Result.Check != "" {
		fmt.Fprintf(&b, " (%s)", r.Result.Check)
	}
	b.WriteString("\n")
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
	if len(r.Loops) != 0 {
		var tw = tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  transaction\trequested\tloaded\tstored\tload\tstore\tcommit\tdocs/s\t")
		for _, l := range r.Loops {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%s\t%s\t%.0f\t\n", l.Phase, l.Requested, l.Loaded, l.Stored,
				dur(l.LoadTime), dur(l.StoreTime), dur(l.CommitTime), l.DocsPerSec)
		}
		tw.Flush()
	}
	fmt.Fprintf(&b, "  total: %d loaded (%d verified), %d stored in %s; %.0f docs/s\n",
		r.Result.Loaded, r.Result.Verified, r.Result.Stored,
		time.Duration(r.Result.DurationMillis)*time.Millisecond, r.Result.DocsPerSecond)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  FAIL %s\n", indent(f.Error(), "    "))
	}
	if r.Result.Outcome != "passed" && rerun != "" {
		fmt.Fprintf(&b, "\n  reproduce: %s\n", rerun)
	}
	var _, err = io.WriteString(w, b.String())
	return err
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Microsecond).String()
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// WriteJSON writes the whole report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	var enc = json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes a JUnit XML report with one test case per run.
func (r *Report) WriteJUnit(w io.Writer) error {
	var secs = float64(r.Result.DurationMillis) / 1000
	var c = junitCase{
		Name:      r.Result.Test,
		ClassName: "flowsim.matsim",
		Time:      secs,
		SystemOut: fmt.Sprintf("connector: %s\nseed: %d\nloaded: %d, stored: %d, verified: %d, docs/s: %.0f",
			r.Connector, r.Result.Seed, r.Result.Loaded, r.Result.Stored, r.Result.Verified, r.Result.DocsPerSecond),
	}
	var s = junitSuite{Name: "matsim", Tests: 1, Time: secs}
	if len(r.Failures) != 0 {
		var text []string
		for _, f := range r.Failures {
			text = append(text, f.Error())
		}
		var jf = &junitFailure{Message: r.Failures[0].Error(), Type: string(r.Failures[0].Check), Text: strings.Join(text, "\n")}
		if r.Result.Outcome == "error" {
			c.Error, s.Errors = jf, 1
		} else {
			c.Failure, s.Failures = jf, 1
		}
	}
	s.Cases = []junitCase{c}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	var enc = xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
