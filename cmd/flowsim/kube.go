package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// kubeCommands are the commands the operator's pods run.
func kubeCommands() []*cobra.Command { return []*cobra.Command{newInstallCommand()} }

// newInstallCommand is `flowsim install --to DIR`: the init container of a MatSimRun pod
// copies this static binary into an emptyDir shared with the connector container, whose
// image knows nothing of flowsim. The flowsim image is FROM scratch: there is no cp.
func newInstallCommand() *cobra.Command {
	var to string
	var cmd = &cobra.Command{
		Use:   "install --to DIR",
		Short: "Copy this flowsim binary into DIR (used by the operator's init container)",
		Example: `  # In a pod: share flowsim with the connector container through an emptyDir
  /flowsim/flowsim install --to /flowsim-install`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return fmt.Errorf("--to is required")
			}
			var dst, err = installSelf(to)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s\n", dst)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "directory to copy the flowsim binary into (as DIR/flowsim)")
	return cmd
}

// installSelf copies the running executable to dir/flowsim, atomically: a reader never
// sees a partial binary.
func installSelf(dir string) (string, error) {
	var self, err = os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the flowsim binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", self, err)
	}
	defer src.Close()

	tmp, err := os.CreateTemp(dir, ".flowsim-*")
	if err != nil {
		return "", fmt.Errorf("creating a file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return "", fmt.Errorf("copying %s: %w", self, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", fmt.Errorf("making %s executable: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	var dst = filepath.Join(dir, "flowsim")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("installing %s: %w", dst, err)
	}
	return dst, nil
}
