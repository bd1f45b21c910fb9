package main

import "github.com/spf13/cobra"

// newProxyCommand is `flowsim connector-proxy` (placeholder until the transport work lands).
func newProxyCommand() *cobra.Command {
	return &cobra.Command{Use: "connector-proxy", Short: "Serve a stdio connector over gRPC (not yet built)", Hidden: true}
}
