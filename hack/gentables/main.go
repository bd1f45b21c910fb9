// Command gentables prints the README's check, defect and fault tables from the code, so
// that the documentation is regenerated rather than retyped:
//
//	go run -tags nozstd ./hack/gentables
package main

import (
	"fmt"

	"github.com/flowsim/flowsim/internal/cli"
)

func main() {
	fmt.Print(cli.CheckTable(), "\n", cli.DefectTable(), "\n", cli.FaultTable())
}
