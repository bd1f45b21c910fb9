// Command gentables prints the README's check and defect tables from the code, so
// that the documentation is regenerated rather than retyped: go run -tags nozstd ./hack/gentables
package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/matsim"
)

func main() {
	fmt.Println("| check | what it catches | proven by defect (test) |")
	fmt.Println("|---|---|---|")
	for _, c := range matsim.AllChecks {
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
		fmt.Printf("| `%s`%s | %s | %s |\n", c.Check, kind, c.Catches, proof)
	}
	fmt.Println()
	fmt.Println("| defect | class | what it does | caught by |")
	fmt.Println("|---|---|---|---|")
	for _, d := range reference.Defects {
		var by []string
		for test, ch := range d.CaughtBy {
			by = append(by, fmt.Sprintf("%s → `%s`", test, ch))
		}
		sort.Strings(by)
		fmt.Printf("| `%s` | %s | %s | %s |\n", d.Name, d.Class, d.Description, strings.Join(by, ", "))
	}
}
