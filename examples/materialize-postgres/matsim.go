package main

import (
	"context"
	"fmt"
	"os"

	"github.com/flowsim/flowsim/examples/materialize-postgres/pgdriver"
)

// runMatsim runs a matsim test against driver in process.
// TODO: switch to matsim.Run(ctx, driver, nil) once the engine lands.
func runMatsim(ctx context.Context, driver *pgdriver.Driver) int {
	fmt.Fprintln(os.Stderr, "matsim is not available in this build yet")
	return 2
}
