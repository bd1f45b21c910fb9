// Command reference-connector is flowsim's reference connector (connector/reference)
// as a stdio connector binary: the entrypoint of a connector image.
//
//	reference-connector [--protocol 2021-12|2021-10] spec|validate|apply-upsert|apply-delete|transactions, or --protocol 2023 (no subcommand)
//
// Its endpoint config may carry {"state_dir": DIR} so that the processes of one
// run (one per call) share a file-backed store, and {"defect": NAME} to misbehave.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio"
)

func main() {
	var ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err = stdio.ServeArgs(ctx, reference.New(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reference-connector:", err)
		os.Exit(1)
	}
}
