package main

import (
	"context"

	"github.com/flowsim/flowsim/examples/materialize-postgres/pgdriver"
	"github.com/flowsim/flowsim/matsim"
)

// runMatsim runs the matsim test named by os.Args[1] against driver, in process.
// matsim.Run parses the rest of os.Args like `flowsim matsim <test>` (--config,
// --resource, --loops, --start, --seed, --report, ...) and returns the exit code:
// 0 passed, 1 the connector failed a check, 2 a usage or setup error. nil selects
// matsim's default document type.
func runMatsim(ctx context.Context, driver *pgdriver.Driver) int {
	return matsim.Run(ctx, driver, nil)
}
