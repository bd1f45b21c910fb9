package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// Stories of issue 20: a sweep that never wedges.

// Story (finding 2): a target for delta with verify also runs basic. The sweep's basic
// run leaves verify (and exactlyOnce) out, so the API server accepts it, and the
// execution completes.
func TestSweepRunSpecForTestsItDoesNotApplyTo(t *testing.T) {
	var e = newSweepEnv(t, 1)
	var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[0], Name: "pg"}}
	tg.Spec.Run = flowsimv1.MatSimRunSpec{
		Test:        flowsimv1.TestRecovery,
		Connector:   flowsimv1.ConnectorSpec{Image: "ghcr.io/example/materialize-postgres:v1"},
		Config:      flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-config", Key: "config.yaml"}},
		Resource:    runtime.RawExtension{Raw: []byte(`{"table":"flowsim"}`)},
		Verify:      &flowsimv1.VerifySpec{SQL: "SELECT flow_document FROM $FLOWSIM_TABLE"},
		ExactlyOnce: ptr.To(true),
	}
	tg.Spec.Tests = []flowsimv1.MatSimTest{flowsimv1.TestRecovery, flowsimv1.TestDelta, flowsimv1.TestFence, flowsimv1.TestBasic}
	if err := e.c.Create(ctx, tg); err != nil {
		t.Fatalf("creating the target: %v", err)
	}
	e.createSweep()
	e.tick(1, "02:00:05")
	var runs = e.waitRuns(e.nightly(1), 4)
	for _, run := range runs {
		var verify, once = run.Spec.Verify != nil, ptr.Deref(run.Spec.ExactlyOnce, false)
		var wantVerify = run.Spec.Test == flowsimv1.TestDelta || run.Spec.Test == flowsimv1.TestRecovery
		var wantOnce = run.Spec.Test == flowsimv1.TestFence || run.Spec.Test == flowsimv1.TestRecovery
		if verify != wantVerify || once != wantOnce {
			t.Errorf("%s run: verify %v exactlyOnce %v, want %v and %v", run.Spec.Test, verify, once, wantVerify, wantOnce)
		}
	}
	e.finishAll(e.nightly(1))
	e.waitSweep("the execution completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
}

// Story (finding 2): a ResourceQuota allows no MatSimRun in one team's namespace. Its
// runs are refused: each ends as error with reason RunRefused and the API server's
// message, a RunRefused event says so, the other team's runs go on, and the execution
// completes (under Forbid, the next night starts).
func TestSweepRefusedRunEndsItsItem(t *testing.T) {
	var e = newSweepEnv(t, 2)
	var quota = &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[1], Name: "no-runs"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/matsimruns.flowsim.dev": resource.MustParse("0")}}}
	if err := e.c.Create(ctx, quota); err != nil {
		t.Fatalf("creating the quota: %v", err)
	}
	// envtest runs no quota controller: the test writes the status it would.
	quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{"count/matsimruns.flowsim.dev": resource.MustParse("0")}}
	if err := e.c.Status().Update(ctx, quota); err != nil {
		t.Fatalf("writing the quota's status: %v", err)
	}
	e.target(0, "pg", flowsimv1.TestBasic)
	e.target(1, "mysql", flowsimv1.TestBasic, flowsimv1.TestDelta)
	e.createSweep()
	e.tick(1, "02:00:05")
	var ex = e.nightly(1)
	e.waitRuns(ex, 1)
	e.waitEvent(flowsimv1.EventRunRefused, "exceeded quota")
	e.finishAll(ex)
	var sw = e.waitSweep("the execution completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
	var done = sw.Status.History[0]
	if done.Phase != flowsimv1.ExecutionCompleted || done.Counts != (flowsimv1.ExecutionCounts{Total: 3, Passed: 1, Error: 2}) {
		t.Fatalf("execution %s %+v, want Completed with 1 passed and 2 error", done.Phase, done.Counts)
	}
	for _, r := range done.Results[:2] {
		if r.Outcome != flowsimv1.OutcomeError || r.Reason != flowsimv1.ReasonRunRefused || r.Namespace != e.namespaces[1] || !strings.Contains(r.Message, "exceeded quota") {
			t.Errorf("result %+v: want error RunRefused in %s with the quota's message", r, e.namespaces[1])
		}
	}
	if sw.Status.LastSuccessfulTime != nil {
		t.Errorf("an execution with refused runs counted as a success")
	}
	// Forbid: the next night starts.
	e.tick(2, "02:00:05")
	e.waitSweep("night two starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
}

// Story (finding 2): creating runs fails with 503 twice; the items stay queued, a
// RunCreateFailed event says so, and the workqueue's backoff retries them without any
// other event (no tick): the execution's runs all get created.
func TestSweepCreateFailureRetriedWithBackoff(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep()
	e.writes.failCreates.Store(2)
	e.tick(1, "02:00:05")
	e.waitEvent(flowsimv1.EventRunCreateFailed, "they stay queued and are retried with backoff")
	var runs = e.waitRuns(e.nightly(1), 1)
	if n := e.writes.failCreates.Load(); n >= 0 {
		t.Errorf("failCreates %d: the injected failures were not all hit", n)
	}
	e.finish(&runs[0], flowsimv1.OutcomePassed)
	var sw = e.waitSweep("the execution completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
	if sw.Status.LastResult != "1/1" {
		t.Errorf("lastResult %q, want 1/1", sw.Status.LastResult)
	}
}

// Story (finding 9): a selector that chooses nothing (a typo) completes an execution
// with no run, which is not a success: lastSuccessfulTime stays unset and an EmptyPlan
// warning says why.
func TestSweepEmptyPlanIsNotSuccess(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) {
		s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "glod"}}
	})
	e.patchSweep(`{"metadata":{"annotations":{"flowsim.dev/trigger":"typo"}}}`)
	var sw = e.waitSweep("the empty execution completes", func(sw *flowsimv1.MatSimSweep) error {
		if len(sw.Status.History) != 1 {
			return fmt.Errorf("history %d", len(sw.Status.History))
		}
		return nil
	})
	if sw.Status.LastSuccessfulTime != nil || sw.Status.LastResult != "0/0" || sw.Status.History[0].Counts.Total != 0 {
		t.Errorf("an empty execution: lastSuccessfulTime %v, lastResult %q, counts %+v; want no success, 0/0",
			sw.Status.LastSuccessfulTime, sw.Status.LastResult, sw.Status.History[0].Counts)
	}
	e.waitEvent(flowsimv1.EventEmptyPlan, "chose no MatSimTarget")
}

// Story (finding 3): concurrencyPolicy Allow with runs that never finish: at most
// MaxActiveExecutions executions run (the CRD's bound on status.active, so status writes
// keep working); a later night waits, and the latest due one starts when one ends.
func TestSweepAllowBoundsActive(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.ConcurrencyPolicy = flowsimv1.AllowConcurrent })
	for d := 1; d <= flowsimv1.MaxActiveExecutions; d++ {
		e.tick(d, "02:00:05")
		e.waitSweep(fmt.Sprintf("night %d starts", d), func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, d) })
	}
	// Two more nights: the first of them is missed (only the latest due time may start),
	// and the latest waits while MaxActiveExecutions run.
	var last = flowsimv1.MaxActiveExecutions + 2
	e.tick(last-1, "02:00:05")
	e.tick(last, "02:00:05")
	var sw = e.waitSweep("the skipped night is counted as missed", func(sw *flowsimv1.MatSimSweep) error {
		if sw.Status.MissedSchedules != 1 {
			return fmt.Errorf("missedSchedules %d, active %d", sw.Status.MissedSchedules, len(sw.Status.Active))
		}
		return nil
	})
	if err := activeNamed(sw, flowsimv1.MaxActiveExecutions); err != nil {
		t.Fatal(err)
	}
	// One ends: the latest due night starts in its place.
	e.finishAll(e.nightly(1))
	e.waitSweep("the waiting night starts when one ends", func(sw *flowsimv1.MatSimSweep) error {
		if err := activeNamed(sw, flowsimv1.MaxActiveExecutions); err != nil {
			return err
		}
		if len(sw.Status.History) != 1 || sw.Status.Active[len(sw.Status.Active)-1].Name != e.nightly(last) {
			return fmt.Errorf("history %d, active %v", len(sw.Status.History), sw.Status.Active)
		}
		return nil
	})
}

// Finding 4: a run created by one sweep holds a slot of that sweep only.
func TestSweepExpectationsPerSweep(t *testing.T) {
	var c = fake.NewClientBuilder().WithScheme(envScheme).Build()
	var r = &MatSimSweepReconciler{Client: c}
	r.expect("a", "team/run-1")
	var a, b = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "b"}}
	var obsA, err = r.observe(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	obsB, err := r.observe(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	var totalA, _ = parallelism(obsA)
	var totalB, _ = parallelism(obsB)
	if totalA != 1 || totalB != 0 {
		t.Errorf("sweep a created one run: a counts %d, b counts %d; want 1 and 0", totalA, totalB)
	}
}

// Story (finding 5): under Replace, the first Delete of the replaced run fails (503); the
// sweep deletes it again on a later pass instead of leaving it running, holding a slot.
func TestSweepReplaceDeletesUntilGone(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.ConcurrencyPolicy = flowsimv1.ReplaceConcurrent })
	e.tick(1, "02:00:05")
	e.waitRuns(e.nightly(1), 1)
	e.writes.failDeletes.Store(1)
	e.tick(2, "02:00:05")
	e.waitSweep("night two replaces night one", func(sw *flowsimv1.MatSimSweep) error {
		if len(sw.Status.History) != 1 || sw.Status.History[0].Phase != flowsimv1.ExecutionReplaced {
			return fmt.Errorf("history %d", len(sw.Status.History))
		}
		return nil
	})
	e.eventually("the replaced run is deleted after a failed Delete", func() error {
		if n := len(e.live(e.nightly(1))); n != 0 {
			return fmt.Errorf("%d runs of night one not deleted (deletes %d)", n, e.writes.deletes.Load())
		}
		return nil
	})
	if n := e.writes.failDeletes.Load(); n >= 0 {
		t.Errorf("failDeletes %d: the injected failure was not hit", n)
	}
}

// Finding 6: a namespace user creates runs with the sweep's labels and owner reference;
// only the runs the sweep names count toward its limits.
func TestSweepCountsOnlyItsOwnRuns(t *testing.T) {
	var sweep = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "nightly", UID: "sweep-uid"}}
	var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "pg"}}
	tg.Spec.Run.Test = flowsimv1.TestBasic
	var own = runForTarget(sweep, "nightly-20260302020000", tg, flowsimv1.TestBasic)
	var forged = own.DeepCopy()
	forged.Name = "squatter"
	var c = fake.NewClientBuilder().WithScheme(envScheme).WithObjects(own, forged).Build()
	var r = &MatSimSweepReconciler{Client: c}
	var obs, err = r.observe(context.Background(), sweep)
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := parallelism(obs); total != 1 || obs.runs[key("team", own.Name)] == nil {
		t.Errorf("observed %d unfinished runs (%v), want only the sweep's own %s", total, obs.runs, own.Name)
	}
}

// live lists the runs of an execution that are not being deleted.
func (e *sweepEnv) live(execution string) []flowsimv1.MatSimRun {
	var out []flowsimv1.MatSimRun
	for _, run := range e.runs(execution) {
		if run.DeletionTimestamp == nil {
			out = append(out, run)
		}
	}
	return out
}

// Story (finding 7): maxParallelRuns 1 under Replace. The replaced run is deleted in the
// foreground: it stays until the garbage collector has removed its Job and pods (here
// the test plays the collector), and night two's run is created only then, never while
// night one's pods may still write to the same table.
func TestSweepSlotHeldUntilReplacedRunIsGone(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) {
		s.ConcurrencyPolicy, s.MaxParallelRuns = flowsimv1.ReplaceConcurrent, 1
	})
	e.tick(1, "02:00:05")
	var old = e.waitRuns(e.nightly(1), 1)[0]
	e.tick(2, "02:00:05")
	e.eventually("night one's run is being deleted, in the foreground", func() error {
		var run flowsimv1.MatSimRun
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(&old), &run); err != nil {
			return fmt.Errorf("the replaced run is gone at once (background deletion): %v", err)
		}
		if run.DeletionTimestamp == nil || !slices.Contains(run.Finalizers, metav1.FinalizerDeleteDependents) {
			return fmt.Errorf("deletionTimestamp %v, finalizers %v", run.DeletionTimestamp, run.Finalizers)
		}
		return nil
	})
	e.tick(2, "02:00:10")
	if n := len(e.runs(e.nightly(2))); n != 0 {
		t.Fatalf("night two created %d run(s) while night one's run was still being deleted (maxParallelRuns 1)", n)
	}
	// The garbage collector finishes: the run goes, its slot frees.
	var run flowsimv1.MatSimRun
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(&old), &run); err != nil {
		t.Fatal(err)
	}
	run.Finalizers = nil
	if err := e.c.Update(ctx, &run); err != nil {
		t.Fatalf("removing the foreground finalizer: %v", err)
	}
	e.waitRuns(e.nightly(2), 1)
}
