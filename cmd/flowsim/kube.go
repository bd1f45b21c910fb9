package main

import "github.com/spf13/cobra"

// kubeCommands are the commands that drive a Kubernetes cluster (placeholder until the
// operator work lands).
func kubeCommands() []*cobra.Command { return nil }
