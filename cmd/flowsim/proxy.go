package main

import (
	"github.com/flowsim/flowsim/connector/proxy"
	"github.com/spf13/cobra"
)

// newProxyCommand is `flowsim connector-proxy --listen ADDR -- CMD [ARGS...]`.
func newProxyCommand() *cobra.Command { return proxy.NewCommand() }
