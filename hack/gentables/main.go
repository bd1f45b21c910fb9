// Command gentables writes what is generated from the code rather than retyped:
//
//	go run -tags nozstd ./hack/gentables           the README's exit code, check, defect and fault tables
//	go run -tags nozstd ./hack/gentables -policy   config/crd/inline_secrets_policy.yaml, the
//	                                               admission policy of what looks secret
//
// Run it from the repository root (make manifests runs -policy).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/flowsim/flowsim/controllers"
	"github.com/flowsim/flowsim/internal/cli"
)

func main() {
	var policy = flag.Bool("policy", false, "write "+controllers.InlineSecretsPolicyFile)
	flag.Parse()
	if *policy {
		if err := os.WriteFile(controllers.InlineSecretsPolicyFile, []byte(controllers.InlineSecretsPolicy()), 0o644); err != nil {
			log.Fatal(err)
		}
		return
	}
	fmt.Print(cli.ExitCodeTable(), "\n", cli.CheckTable(), "\n", cli.DefectTable(), "\n", cli.FaultTable())
}
