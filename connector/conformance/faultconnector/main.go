// Command faultconnector is the conformance suite's fault connector as a standalone
// binary, for images: the scenario comes from $FLOWSIM_FAULT ("" is none).
package main

import (
	"os"

	"github.com/flowsim/flowsim/connector/conformance"
)

func main() {
	conformance.Run(os.Getenv(conformance.Env), os.Args[1:])
}
