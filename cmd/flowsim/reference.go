package main

import "github.com/spf13/cobra"

// newReferenceConnectorCommand is `flowsim reference-connector` (placeholder).
func newReferenceConnectorCommand() *cobra.Command {
	return &cobra.Command{Use: "reference-connector", Hidden: true}
}
