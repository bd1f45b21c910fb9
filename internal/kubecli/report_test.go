package kubecli

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// The report of a run is rebuilt from its status alone: golden text per outcome (no
// cluster needed), and the exit code of each reason.
func TestReportOfStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status func(*flowsimv1.MatSimRunStatus)
		code   int
	}{
		{"passed", passed, ExitPassed},
		{"check-failed", checkFailed, ExitFailed},
		{"setup-error", setupError, ExitSetup},
		{"image-pull-failed", imagePull, ExitInfra},
		{"connector-crashed", crashed, ExitFailed},
		{"deadline", func(s *flowsimv1.MatSimRunStatus) {
			s.Phase, s.Reason, s.Message = flowsimv1.PhaseFailed, "DeadlineExceeded", "the run took longer than its timeout (30m0s)"
		}, ExitInfra},
		{"pod-deleted", func(s *flowsimv1.MatSimRunStatus) {
			s.Phase, s.Reason, s.Message = flowsimv1.PhaseFailed, "PodDeleted", "pod r-driver-abcde was deleted"
		}, ExitInfra},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var run = &flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "team-a"}}
			run.Spec.Test = flowsimv1.TestBasic
			run.Spec.Connector.Image = "ghcr.io/acme/x:v1"
			run.Spec.Connector.Protocol = flowsimv1.ProtocolAuto
			run.Spec.Config.SecretRef = &flowsimv1.SecretKeyRef{Name: "r-config", Key: ConfigKey}
			run.Spec.Resource = runtime.RawExtension{Raw: []byte(`{"table":"t1"}`)}
			tc.status(&run.Status)
			var rep = reportOf(run)
			if rep.Run.ExitCode != tc.code {
				t.Errorf("exit code %d, want %d", rep.Run.ExitCode, tc.code)
			}
			var b strings.Builder
			if err := rep.writeText(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, "report-"+tc.name+".txt", b.String())
			var js strings.Builder
			if err := rep.writeJSON(&js); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(js.String(), `"run": {`) || !strings.Contains(js.String(), `"result": {`) || !strings.Contains(js.String(), `"exitCode": `) {
				t.Errorf("JSON report lacks the run or the result:\n%s", js.String())
			}
			if tc.code != ExitPassed && !strings.Contains(b.String(), "reproduce:") && tc.code != ExitInfra {
				t.Errorf("a failed run's report has no reproduce line:\n%s", b.String())
			}
		})
	}
}

func TestFailureOfRoundTrips(t *testing.T) {
	for _, msg := range []string{
		"load.missing: verify: a stored document that Load did not return (3 document(s))",
		"load.value: loop 2, binding t1: differs",
		"no structure at all",
	} {
		var f = failureOf("load.missing", msg)
		if msg[:5] == "load." && !strings.HasPrefix(msg, "load.missing") {
			f = failureOf("load.value", msg)
		}
		if strings.HasPrefix(msg, "load.") && f.Error() != msg {
			t.Errorf("failureOf(%q).Error() = %q", msg, f.Error())
		}
	}
	_ = time.Second
}
