package controllers

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/result"
)

// A crashed connector's termination message and the driver's result quote an inline
// config (as if the proxy or driver had failed to redact): status.message, the
// condition and status.result do not show its secrets.
func TestComputeStatusRedactsInlineConfig(t *testing.T) {
	var inline = func(r *flowsimv1.MatSimRun) {
		r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(
			`{"address": "pg:5432", "auth": {"password": "hunter2"}, "dsn": "postgres://u:hunter3@h/db"}`)}}
	}
	var leaked = result.Result{Test: "basic", Outcome: result.Error, Seed: 42, Check: "setup.validate",
		Message: `connecting to postgres://u:hunter3@h/db with {"password":"hunter2"}`}
	for name, obs := range map[string]observed{
		"connector crashed": {job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")),
			pods: pod(connectorCrashed(3, 1, "panic: cannot log in with hunter2\n"), driverExit(2, "Error", "not a result"))},
		"driver result": {job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")),
			pods: pod(driverExit(2, "Error", resultJSON(leaked)))},
	} {
		t.Run(name, func(t *testing.T) {
			var st, _ = computeStatus(startedRun(inline), obs, testPolicy, t0.Add(time.Minute))
			var all = st.Message
			for _, c := range st.Conditions {
				all += "\n" + c.Message
			}
			if st.Result != nil {
				all += "\n" + st.Result.Message
			}
			if strings.Contains(all, "hunter2") || strings.Contains(all, "hunter3") || !strings.Contains(all, "[REDACTED]") {
				t.Fatalf("status shows a secret or no redaction:\n%s", all)
			}
		})
	}
}
