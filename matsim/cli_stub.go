package matsim

import "github.com/spf13/cobra"

// CommandOptions configures NewCommand (placeholder while the engine is written).
type CommandOptions struct{}

// NewCommand returns the `matsim` command (placeholder).
func NewCommand(CommandOptions) *cobra.Command { return &cobra.Command{Use: "matsim"} }

// ExitCode maps an error to the process exit code (placeholder).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return 2
}
