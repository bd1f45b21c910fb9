// Command flowsim tests materialization connectors: `flowsim matsim basic|delta|fence|recovery|migrate`
// drives a connector through the materialize protocol and checks what it stores;
// `flowsim connector-proxy` serves a stdio connector over gRPC inside a pod.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/flowsim/flowsim/internal/cli"
	"github.com/flowsim/flowsim/internal/kubecli"
	"github.com/flowsim/flowsim/lib/interrupt"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/spf13/cobra"
)

func main() {
	// SIGINT, SIGTERM: the run stops its connector and ends as interrupted (exit 130, 143).
	var ctx, stop = interrupt.Notify(context.Background())
	var code = run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	var root = &cobra.Command{
		Use:           "flowsim",
		Short:         "Test materialization connectors against the Flow materialize protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       "-", // --version; the template prints cli.Version()
	}
	root.SetVersionTemplate(cli.Version())
	root.AddCommand(cli.NewMatsimCommand(cli.CommandOptions{}))
	root.AddCommand(cli.NewVersionCommand())
	root.AddCommand(newProxyCommand())
	root.AddCommand(newReferenceConnectorCommand())
	root.AddCommand(kubeCommands()...)
	root.AddCommand(kubecli.NewCommand(kubecli.Options{}))
	root.SetArgs(args)

	var err = root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, cmdline.ErrReported) {
		fmt.Fprintln(os.Stderr, "flowsim:", err)
	}
	return cmdline.ExitCode(err)
}
