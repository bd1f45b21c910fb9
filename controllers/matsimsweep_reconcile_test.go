package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// TestSweepReconcilePasses drives the reconciler pass by pass against controller-runtime's
// fake client (no envtest): schedule tick, maxParallelRuns, a target deleted under its
// run, a manual trigger replacing the execution, completion, events. The envtest stories
// (TestSweep*) check the same against a real API server.
func TestSweepReconcilePasses(t *testing.T) {
	var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "nightly", UID: "u1", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec: flowsimv1.MatSimSweepSpec{Schedule: "0 2 * * *", MaxParallelRuns: 2}}
	var objs = []client.Object{sw}
	for _, ns := range []string{"a", "b"} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		for _, n := range []string{"t1", "t2"} {
			var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}}
			tg.Spec.Run.Test = flowsimv1.TestBasic
			tg.Spec.Run.Resource = runtime.RawExtension{Raw: []byte(`{}`)}
			objs = append(objs, tg)
		}
	}
	var bg = context.Background()
	var replaced0 = gaugeValue(sweepExecutionsTotal.WithLabelValues("nightly", "replaced"))
	var c = fake.NewClientBuilder().WithScheme(envScheme).WithObjects(objs...).
		WithStatusSubresource(&flowsimv1.MatSimSweep{}, &flowsimv1.MatSimRun{}).Build()
	var recorder = events.NewFakeRecorder(100)
	var r = &MatSimSweepReconciler{Client: c, Recorder: recorder, Now: func() time.Time { return now }}
	var pass = func() flowsimv1.MatSimSweepStatus {
		t.Helper()
		if _, err := r.Reconcile(bg, ctrl.Request{NamespacedName: client.ObjectKey{Name: "nightly"}}); err != nil {
			t.Fatal(err)
		}
		var s flowsimv1.MatSimSweep
		if err := c.Get(bg, client.ObjectKey{Name: "nightly"}, &s); err != nil {
			t.Fatal(err)
		}
		return s.Status
	}
	var runs = func() []flowsimv1.MatSimRun {
		var l flowsimv1.MatSimRunList
		if err := c.List(bg, &l); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	var finishAll = func() {
		var rs = runs()
		var unfinished int
		for i := range rs {
			if !rs[i].Status.Phase.IsFinished() {
				unfinished++
				rs[i].Status.Phase, rs[i].Status.Result = flowsimv1.PhaseSucceeded, &flowsimv1.RunResult{Outcome: "passed"}
				if err := c.Status().Update(bg, &rs[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if unfinished > 2 {
			t.Errorf("%d unfinished runs, more than maxParallelRuns 2", unfinished)
		}
	}

	if st := pass(); len(st.Active) != 0 {
		t.Fatalf("an execution before 02:00: %+v", st.Active)
	}
	now = time.Date(2026, 3, 2, 2, 0, 1, 0, time.UTC)
	if st := pass(); len(st.Active) != 1 || len(runs()) != 0 {
		t.Fatalf("at 02:00: %d active, %d runs; want the execution written first, no run yet", len(st.Active), len(runs()))
	}
	if st := pass(); st.Active[0].Counts != (flowsimv1.ExecutionCounts{Total: 4, Queued: 2, Pending: 2}) || len(runs()) != 2 {
		t.Fatalf("first dispatch: %+v, %d runs", st.Active[0].Counts, len(runs()))
	}
	if q, a := gaugeValue(sweepQueueDepth.WithLabelValues("nightly")), gaugeValue(sweepActiveRuns.WithLabelValues("nightly")); q != 2 || a != 2 {
		t.Errorf("queue_depth %v, active_runs %v; want 2 and 2", q, a)
	}

	// The target of a created run is deleted while the run is unfinished: the run is
	// deleted, the result says why.
	var first = runs()[0]
	var tg flowsimv1.MatSimTarget
	if err := c.Get(bg, client.ObjectKey{Namespace: first.Namespace, Name: first.Labels[flowsimv1.LabelTarget]}, &tg); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(bg, &tg); err != nil {
		t.Fatal(err)
	}
	var st = pass()
	if r0 := st.Active[0].Results[0]; r0.Namespace != tg.Namespace || r0.Target != tg.Name || r0.Reason != flowsimv1.ReasonTargetDeleted || len(runs()) != 1 {
		t.Errorf("after deleting %s/%s: first result %+v, %d runs; want TargetDeleted and its run gone", tg.Namespace, tg.Name, r0, len(runs()))
	}

	// Run now, with Replace: the running execution ends as Replaced.
	var s flowsimv1.MatSimSweep
	_ = c.Get(bg, client.ObjectKey{Name: "nightly"}, &s)
	s.Annotations = map[string]string{flowsimv1.TriggerAnnotation: "x"}
	s.Spec.ConcurrencyPolicy = flowsimv1.ReplaceConcurrent
	if err := c.Update(bg, &s); err != nil {
		t.Fatal(err)
	}
	st = pass()
	if len(st.Active) != 1 || st.Active[0].Trigger != flowsimv1.TriggerManual || st.LastTrigger != "x" ||
		st.History[0].Phase != flowsimv1.ExecutionReplaced || st.History[0].Counts != (flowsimv1.ExecutionCounts{Total: 4, Error: 4}) {
		t.Fatalf("after the trigger: active %+v, history %+v", st.Active, st.History)
	}
	for i := 0; i < 4 && len(st.Active) > 0; i++ {
		st = pass()
		finishAll()
	}
	st = pass()
	if len(st.Active) != 0 || st.LastResult != "3/3" || st.LastSuccessfulTime == nil {
		t.Errorf("the manual execution did not complete: %+v", st)
	}
	if got := gaugeValue(sweepLastSuccess.WithLabelValues("nightly")); got != float64(st.LastSuccessfulTime.Unix()) {
		t.Errorf("last_success_timestamp_seconds %v, want %v", got, st.LastSuccessfulTime.Unix())
	}
	if got := gaugeValue(sweepExecutionsTotal.WithLabelValues("nightly", "replaced")); got != replaced0+1 {
		t.Errorf("executions_total{result=replaced} %v, want %v", got, replaced0+1)
	}
	close(recorder.Events)
	var got []string
	for ev := range recorder.Events {
		got = append(got, strings.Fields(ev)[1])
	}
	if diff := cmp.Diff([]string{flowsimv1.EventScheduled, flowsimv1.EventReplaced, flowsimv1.EventScheduled, flowsimv1.EventCompleted}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
