package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"
)

// ExitCodeTable renders the README's table of exit codes, one row per outcome of a
// run (result.Outcomes).
func ExitCodeTable() string {
	var b strings.Builder
	b.WriteString("| exit code | outcome | meaning |\n|---|---|---|\n")
	for _, o := range result.Outcomes {
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", o.ExitCodes, o.Outcome, o.Meaning)
	}
	return b.String()
}

// CheckTable renders the README's table of checks, with the defects proving each.
func CheckTable() string {
	var b strings.Builder
	b.WriteString("| check | what it catches | proven by defect (test) |\n|---|---|---|\n")
	for _, c := range engine.AllChecks {
		var by []string
		for _, d := range reference.Defects {
			for test, ch := range d.CaughtBy {
				if ch == string(c.Check) {
					by = append(by, fmt.Sprintf("`%s` (%s)", d.Name, test))
				}
			}
		}
		sort.Strings(by)
		var proof = strings.Join(by, ", ")
		if proof == "" {
			proof = "a wrapped connector in matsim's unit tests (setup checks need no defect)"
		}
		var kind = ""
		if c.Setup {
			kind = " (setup error, exit 2)"
		}
		fmt.Fprintf(&b, "| `%s`%s | %s | %s |\n", c.Check, kind, c.Catches, proof)
	}
	return b.String()
}

// DefectTable renders the README's table of the reference connector's defects.
func DefectTable() string {
	var b strings.Builder
	b.WriteString("| defect | class | what it does | caught by |\n|---|---|---|---|\n")
	for _, d := range reference.Defects {
		var by []string
		for test, ch := range d.CaughtBy {
			by = append(by, fmt.Sprintf("%s → `%s`", test, ch))
		}
		sort.Strings(by)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.Name, d.Class, d.Description, strings.Join(by, ", "))
	}
	return b.String()
}

// FaultTable renders the README's table of faults: the check (and exit code) each
// fails during setup and during the transactions stream, the same for every
// transport (engine.FaultTable; connector/conformance proves it per transport).
func FaultTable() string {
	var b strings.Builder
	b.WriteString("| fault | what happens | in Spec / Validate / ApplyUpsert | in the transactions stream |\n|---|---|---|---|\n")
	var setup []string
	for _, c := range engine.SetupCallChecks {
		setup = append(setup, fmt.Sprintf("`%s`", c.Check))
	}
	for _, r := range engine.FaultTable {
		var s, st = "passes", "passes"
		if r.Setup {
			s = strings.Join(setup, " / ") + " (exit 2)"
		}
		if r.Stream != "" {
			st = fmt.Sprintf("`%s` (exit %d)", r.Stream, engine.ExitCodeOf(r.Stream))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.Fault, r.What, s, st)
	}
	return b.String()
}
