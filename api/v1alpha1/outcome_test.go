package v1alpha1

import "testing"

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		phase           RunPhase
		reason, outcome string
		want            string
	}{
		{"", "", "", OutcomePending},
		{PhasePending, "", "", OutcomePending},
		{PhaseRunning, ReasonJobCreated, "", OutcomeRunning},
		{PhaseSucceeded, ReasonPassed, OutcomePassed, OutcomePassed},
		{PhaseFailed, ReasonCheckFailed, OutcomeFailed, OutcomeFailed},
		{PhaseFailed, ReasonSetupError, OutcomeError, OutcomeError},
		// The connector crashed: its fault, failed (a local run's exit 1), with or
		// without a verdict from the driver.
		{PhaseFailed, ReasonConnectorCrashed, "", OutcomeFailed},
		{PhaseFailed, ReasonConnectorCrashed, OutcomePassed, OutcomeFailed},
		// The cluster could not complete the run: error, even after a driver verdict.
		{PhaseFailed, ReasonImagePullFailed, "", OutcomeError},
		{PhaseFailed, ReasonDeadlineExceeded, OutcomePassed, OutcomeError},
		{PhaseFailed, ReasonDriverFailed, "", OutcomeError},
	} {
		var r MatSimRun
		r.Status.Phase, r.Status.Reason = tc.phase, tc.reason
		if tc.outcome != "" {
			r.Status.Result = &RunResult{Outcome: tc.outcome}
		}
		if got := Outcome(&r); got != tc.want {
			t.Errorf("phase %q reason %q result %q: %q, want %q", tc.phase, tc.reason, tc.outcome, got, tc.want)
		}
	}
}
