package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/matsim/result"
	"github.com/spf13/cobra"
)

// Version describes this build: the module version (from `go install ...@v`, or
// "(devel)"), the VCS commit it was built from, and what it speaks.
func Version() string {
	var version, commit, modified = "(devel)", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				commit = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified)"
			}
		}
	}
	return fmt.Sprintf("flowsim %s\n  commit:             %s%s\n  go:                 %s\n  protocol eras:      %s (auto-detected by default)\n  result format:      v%d\n",
		version, commit, modified, runtime.Version(), strings.Join([]string{string(connector.Oct2021), string(connector.Dec2021), string(connector.Era2022), string(connector.Current)}, ", "), result.Version)
}

// NewVersionCommand is `flowsim version`; the root command's --version prints the same.
func NewVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print flowsim's version, commit and the protocol revisions it supports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), Version())
			return err
		},
	}
}
