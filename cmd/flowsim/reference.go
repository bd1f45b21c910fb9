package main

import (
	"os"

	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/spf13/cobra"
)

// newReferenceConnectorCommand is the hidden `flowsim reference-connector [--protocol
// REV] SUBCOMMAND`: the reference connector speaking the stdio convention, so that the
// flowsim binary alone can serve as a connector (for example behind connector-proxy).
func newReferenceConnectorCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "reference-connector [--protocol 2021-12|2021-10] spec|validate|apply-upsert|apply-delete|transactions, or --protocol 2023 (no subcommand)",
		Short:              "Run the reference connector as a stdio connector (one subcommand per process)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return stdio.ServeArgs(cmd.Context(), reference.New(), args, os.Stdin, os.Stdout, os.Stderr)
		},
	}
}
