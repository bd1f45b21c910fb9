package sweepreport

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/lib/junit"
)

func sweepRun(ns, target string, test flowsimv1.MatSimTest, phase flowsimv1.RunPhase, res *flowsimv1.RunResult) flowsimv1.MatSimRun {
	var r = flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: target + "-" + string(test), Labels: map[string]string{
		flowsimv1.LabelSweep: "nightly", flowsimv1.LabelExecution: "nightly-20260302020000", flowsimv1.LabelTarget: target}}}
	r.Spec.Test = test
	r.Spec.Connector.Image = "ghcr.io/example/" + target + ":v1"
	r.Status.Phase, r.Status.Result, r.Status.Seed = phase, res, ptr.To[int64](99)
	if phase == flowsimv1.PhaseFailed && res == nil {
		r.Status.Reason, r.Status.Message = "ConnectorCrashed", "connector exited with code 2"
	}
	return r
}

func fixture() (*flowsimv1.MatSimSweep, []flowsimv1.MatSimRun) {
	var start = metav1.NewTime(time.Date(2026, 3, 2, 2, 0, 3, 0, time.UTC))
	var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}}
	sw.Status.History = []flowsimv1.SweepExecution{{
		Name: "nightly-20260302020000", Trigger: flowsimv1.TriggerSchedule, Phase: flowsimv1.ExecutionCompleted,
		ScheduledTime: metav1.NewTime(start.Add(-3 * time.Second)), StartTime: start,
		Counts: flowsimv1.ExecutionCounts{Total: 4, Passed: 1, Failed: 1, Error: 2},
		Results: []flowsimv1.SweepRunResult{{Namespace: "team-b", Target: "gone", Test: "basic", Outcome: "error",
			Reason: "TargetDeleted", Message: "MatSimTarget team-b/gone was deleted during the execution"}},
	}}
	var runs = []flowsimv1.MatSimRun{
		sweepRun("team-a", "pg", "delta", flowsimv1.PhaseFailed, &flowsimv1.RunResult{Outcome: "failed", Protocol: "2021-12",
			Check: "verify.missing", Message: "key [3] missing\nsecond line", Duration: metav1.Duration{Duration: 1500 * time.Millisecond}}),
		sweepRun("team-a", "pg", "basic", flowsimv1.PhaseSucceeded, &flowsimv1.RunResult{Outcome: "passed", Protocol: "2021-12",
			Duration: metav1.Duration{Duration: 2 * time.Second}}),
		sweepRun("team-b", "mysql", "basic", flowsimv1.PhaseFailed, nil),
		// Another execution's run is left out.
		func() flowsimv1.MatSimRun {
			var r = sweepRun("team-a", "pg", "fence", flowsimv1.PhaseSucceeded, nil)
			r.Labels[flowsimv1.LabelExecution] = "nightly-20260301020000"
			return r
		}(),
	}
	return sw, runs
}

func TestBuild(t *testing.T) {
	var sw, runs = fixture()
	var rep, err = Build(sw, "nightly-20260302020000", runs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range rep.Targets {
		for _, tc := range tg.Tests {
			got = append(got, tg.Namespace+"/"+tg.Name+" "+tc.Test+" "+tc.Outcome+" "+tc.Reason+tc.Check)
		}
	}
	var want = []string{
		"team-a/pg basic passed ",
		"team-a/pg delta failed verify.missing",
		"team-b/gone basic error TargetDeleted",
		"team-b/mysql basic failed ConnectorCrashed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if rep.Counts.Total != 4 || rep.Phase != "Completed" || rep.StartTime == nil {
		t.Errorf("report header %+v", rep)
	}
	if _, err := Build(sw, "nightly-19990101000000", runs); err == nil || !strings.Contains(err.Error(), "no execution") {
		t.Errorf("unknown execution: error %v", err)
	}
}

func TestJUnit(t *testing.T) {
	var sw, runs = fixture()
	var rep, _ = Build(sw, "nightly-20260302020000", runs)
	var b, err = rep.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	var doc junit.Suites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the JUnit report is not XML: %v\n%s", err, b)
	}
	if doc.Tests != 4 || doc.Failures != 2 || doc.Errors != 1 || len(doc.Suites) != 3 {
		t.Errorf("testsuites: %d tests, %d failures, %d errors, %d suites; want 4, 2, 1, 3\n%s", doc.Tests, doc.Failures, doc.Errors, len(doc.Suites), b)
	}
	var pg = doc.Suites[0]
	if pg.Name != "team-a/pg" || len(pg.Cases) != 2 || pg.Cases[1].Failure == nil {
		t.Fatalf("first suite %+v", pg)
	}
	var f = pg.Cases[1].Failure
	if f.Type != "verify.missing" || f.Message != "verify.missing: key [3] missing" || !strings.Contains(f.Text, "second line") {
		t.Errorf("failure %+v: want the check as type, its first line as message, the whole message as text", f)
	}
	var props = map[string]string{}
	for _, p := range pg.Cases[1].Properties {
		props[p.Name] = p.Value
	}
	if diff := cmp.Diff(map[string]string{"run": "pg-delta", "seed": "99", "protocol": "2021-12", "image": "ghcr.io/example/pg:v1"}, props); diff != "" {
		t.Errorf("properties (-want +got):\n%s", diff)
	}
	// A crashed connector failed (flowsimv1.Outcome): a <failure>, as its CLI run exits 1.
	if f := doc.Suites[2].Cases[0].Failure; f == nil || f.Type != "ConnectorCrashed" {
		t.Errorf("crashed run: %+v, want a <failure> of type ConnectorCrashed", doc.Suites[2].Cases[0])
	}
}

func TestJSON(t *testing.T) {
	var sw, runs = fixture()
	var rep, _ = Build(sw, "nightly-20260302020000", runs)
	var b, err = rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// A run whose connector crashed is failed in a sweep report as in the CLI's exit code
// (one verdict: flowsimv1.Outcome).
func TestReportOutcomeIsTheAPIs(t *testing.T) {
	var run flowsimv1.MatSimRun
	run.Name, run.Namespace, run.Spec.Test = "pg-basic", "team", flowsimv1.TestBasic
	run.Labels = map[string]string{flowsimv1.LabelSweep: "nightly", flowsimv1.LabelExecution: "nightly-1", flowsimv1.LabelTarget: "pg"}
	run.Status.Phase, run.Status.Reason, run.Status.Message = flowsimv1.PhaseFailed, flowsimv1.ReasonConnectorCrashed, "connector exited with code 2"
	var sw = &flowsimv1.MatSimSweep{}
	sw.Name = "nightly"
	var rep, err = Build(sw, "nightly-1", []flowsimv1.MatSimRun{run})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Targets[0].Tests[0].Outcome; got != flowsimv1.OutcomeFailed || rep.Counts.Failed != 1 {
		t.Errorf("a crashed connector's run: outcome %q, counts %+v; want failed, as the CLI's exit code 1", got, rep.Counts)
	}
}
