package v1alpha1

// Outcome is the one verdict on a MatSimRun, used by the sweep controller, both reports
// and the CLI's exit code:
//
//   - passed: every check passed;
//   - failed: the connector failed a check, or crashed (reason CheckFailed or
//     ConnectorCrashed: the connector is at fault, as a crash of a local run is);
//   - error: the connector could not be judged (setup error, or the cluster could not
//     complete the run: image pull, deadline, pod deleted, ...);
//   - running, pending: not finished.
func Outcome(run *MatSimRun) string {
	var st = &run.Status
	switch {
	case !st.Phase.IsFinished():
		if st.Phase == PhaseRunning {
			return OutcomeRunning
		}
		return OutcomePending
	case st.Reason == ReasonCheckFailed || st.Reason == ReasonConnectorCrashed:
		return OutcomeFailed
	case st.Phase == PhaseSucceeded:
		return OutcomePassed
	case st.Reason == "" && st.Result != nil && st.Result.Outcome == OutcomeFailed:
		return OutcomeFailed
	default:
		return OutcomeError
	}
}
