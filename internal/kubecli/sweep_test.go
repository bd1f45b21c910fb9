package kubecli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// Sweeps: get, trigger (the annotation the operator watches), and the report of an
// execution from the sweep's status and its labelled runs (the test plays the operator).
func TestSweepTriggerAndReport(t *testing.T) {
	var ns = newNamespace(t)
	var ctx = context.Background()
	var sweep = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "nightly-" + ns}}
	sweep.Spec.Schedule = "0 2 * * *"
	if err := envClient.Create(ctx, sweep); err != nil {
		t.Fatalf("creating the sweep: %v", err)
	}
	t.Cleanup(func() { _ = envClient.Delete(context.Background(), sweep) })
	var c = newCLI(t, adminConfig, ns)

	var stdout, _ = c.must(ExitPassed, "get", "sweeps", sweep.Name)
	if !strings.Contains(stdout, sweep.Name) || !strings.Contains(stdout, "0 2 * * *") {
		t.Errorf("get sweeps:\n%s", stdout)
	}
	var _, stderr = c.must(ExitSetup, "report", "sweep", sweep.Name)
	if !strings.Contains(stderr, "has no execution yet") {
		t.Errorf("report of a sweep without executions: %q", stderr)
	}

	stdout, _ = c.must(ExitPassed, "sweep", "trigger", sweep.Name, "--value", "now-1")
	if !strings.Contains(stdout, "triggered (flowsim.dev/trigger=now-1)") {
		t.Errorf("trigger: %q", stdout)
	}
	if err := envClient.Get(ctx, client.ObjectKeyFromObject(sweep), sweep); err != nil {
		t.Fatal(err)
	}
	if sweep.Annotations[flowsimv1.TriggerAnnotation] != "now-1" {
		t.Errorf("annotations %v", sweep.Annotations)
	}
	_, stderr = c.must(ExitSetup, "sweep", "trigger", sweep.Name, "--value", "now-1")
	if !strings.Contains(stderr, "already has") {
		t.Errorf("the same trigger value twice: %q", stderr)
	}
	c.must(ExitSetup, "sweep", "trigger", "no-such-sweep")

	// The operator's part: an execution with two runs, one failed.
	var now = metav1.Now()
	sweep.Status.History = []flowsimv1.SweepExecution{{
		Name: "now-1", Trigger: flowsimv1.TriggerManual, ScheduledTime: now, StartTime: now, CompletionTime: &now,
		Phase: flowsimv1.ExecutionCompleted, Counts: flowsimv1.ExecutionCounts{Total: 2, Passed: 1, Failed: 1},
	}}
	if err := envClient.Status().Update(ctx, sweep); err != nil {
		t.Fatalf("writing the sweep's status: %v", err)
	}
	for _, r := range []struct {
		name   string
		status func(*flowsimv1.MatSimRunStatus)
	}{{"pg-basic", passed}, {"pg-fence", checkFailed}} {
		var run = createRunLabelled(t, ns, r.name, map[string]string{
			flowsimv1.LabelSweep: sweep.Name, flowsimv1.LabelExecution: "now-1", flowsimv1.LabelTarget: "pg",
		})
		_ = run
		setStatus(t, ns, r.name, r.status)
	}
	var dir = t.TempDir()
	stdout, _ = c.must(ExitFailed, "report", "sweep/"+sweep.Name, "--junit", filepath.Join(dir, "s.xml"), "--json", filepath.Join(dir, "s.json"))
	for _, want := range []string{"execution now-1", "1/2 passed, 1 failed", ns + "/pg", "load.missing", "FAIL " + ns + "/pg"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report sweep lacks %q:\n%s", want, stdout)
		}
	}
	var xml, _ = os.ReadFile(filepath.Join(dir, "s.xml"))
	if !strings.Contains(string(xml), "<testsuite") || !strings.Contains(string(xml), "load.missing") {
		t.Errorf("--junit:\n%s", xml)
	}
	if js, _ := os.ReadFile(filepath.Join(dir, "s.json")); !strings.Contains(string(js), `"execution": "now-1"`) && !strings.Contains(string(js), `"execution":"now-1"`) {
		t.Errorf("--json:\n%s", js)
	}
	_, stderr = c.must(ExitSetup, "report", "sweep", sweep.Name, "--execution", "nope")
	if !strings.Contains(stderr, "now-1") {
		t.Errorf("an unknown execution should list the known ones: %q", stderr)
	}
	// An execution still running is not a pass: its own exit code, and it says why.
	if err := envClient.Get(ctx, client.ObjectKeyFromObject(sweep), sweep); err != nil {
		t.Fatal(err)
	}
	sweep.Status.Active = []flowsimv1.SweepExecution{{
		Name: "now-2", Trigger: flowsimv1.TriggerManual, ScheduledTime: now, StartTime: now,
		Phase: flowsimv1.ExecutionRunning, Counts: flowsimv1.ExecutionCounts{Total: 3, Queued: 3},
	}}
	if err := envClient.Status().Update(ctx, sweep); err != nil {
		t.Fatalf("writing the sweep's status: %v", err)
	}
	_, stderr = c.must(ExitUnfinished, "report", "sweep", sweep.Name, "--execution", "now-2")
	if !strings.Contains(stderr, "has not finished (3 queued, 0 pending, 0 running of 3)") {
		t.Errorf("report of a running execution: %q", stderr)
	}
	stdout, _ = c.must(ExitPassed, "delete", "sweep", sweep.Name)
	if !strings.Contains(stdout, "matsimsweep.flowsim.dev/"+sweep.Name+" deleted") {
		t.Errorf("delete sweep: %q", stdout)
	}
}

func createRunLabelled(t *testing.T, ns, name string, labels map[string]string) *flowsimv1.MatSimRun {
	t.Helper()
	var run = createRun(t, ns, name, flowsimv1.TestBasic)
	var patch = client.MergeFrom(run.DeepCopy())
	run.Labels = labels
	if err := envClient.Patch(context.Background(), run, patch); err != nil {
		t.Fatal(err)
	}
	return run
}
