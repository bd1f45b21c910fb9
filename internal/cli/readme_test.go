package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim/engine"
)

// TestREADMEDocumentsEveryCheckAndDefect keeps the README's tables true.
func TestREADMEDocumentsEveryCheckAndDefect(t *testing.T) {
	var b, err = os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var readme = string(b)
	for _, table := range []string{ExitCodeTable(), CheckTable(), DefectTable(), FaultTable()} {
		if !strings.Contains(readme, table) {
			t.Errorf("README's table is stale; regenerate it with go run -tags nozstd ./hack/gentables:\n%s", table)
		}
	}
	for _, c := range engine.AllChecks {
		if !strings.Contains(readme, "`"+string(c.Check)+"`") {
			t.Errorf("README does not document check %s", c.Check)
		}
	}
	for _, d := range reference.Defects {
		if !strings.Contains(readme, "`"+d.Name+"`") {
			t.Errorf("README does not document defect %s", d.Name)
		}
	}
	for _, test := range engine.Tests {
		if !strings.Contains(readme, "flowsim matsim "+test) {
			t.Errorf("README does not show `flowsim matsim %s`", test)
		}
	}
}
