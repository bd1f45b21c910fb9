package cmdline

// WithExitCode makes err end the flowsim process with code (see ExitCode), for commands
// outside this package (`flowsim kube`). Wrap ErrFailed in err when a report has already
// said what failed, so that the error is not printed a second time.
func WithExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}
