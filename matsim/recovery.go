package matsim

import "context"

// recovery is implemented in a later change.
func (r *runner) recovery(ctx context.Context) error {
	return failf(CheckSetupConfig, "setup", "the recovery test is not implemented yet")
}
