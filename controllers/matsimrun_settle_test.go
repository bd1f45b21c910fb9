package controllers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// withWatch lets interceptor wrap the manager's client (which does not watch).
type withWatch struct{ client.Client }

func (withWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("the reconciler does not watch through its client")
}

// countingRecorder passes events on and counts them by reason.
type countingRecorder struct {
	events.EventRecorder
	mu      sync.Mutex
	reasons map[string]int
}

func (c *countingRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	c.mu.Lock()
	if c.reasons == nil {
		c.reasons = map[string]int{}
	}
	c.reasons[reason]++
	c.mu.Unlock()
	c.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (c *countingRecorder) count(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reasons[reason]
}

// crashLoop plays the kubelet: the connector sidecar crash-loops before the driver starts.
func (e *testEnv) crashLoop(pod *corev1.Pod) {
	e.t.Helper()
	var now = metav1.Now()
	pod.Status.Phase = corev1.PodPending
	pod.Status.InitContainerStatuses[1] = corev1.ContainerStatus{Name: flowsimv1.ContainerConnector, Image: pod.Spec.InitContainers[1].Image,
		RestartCount: testPolicyEnv.ConnectorRestartLimit,
		State:        corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", Message: "exec /connector/connector: no such file or directory", StartedAt: now, FinishedAt: now}}}
	pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: flowsimv1.ContainerDriver, Image: "flowsim:test",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
	e.updatePodStatus(pod)
}

// passOver waits until the manager has made a full pass over the finished run after
// everything before: it gives the run a NetworkPolicy again, which a pass deletes.
func (e *testEnv) passOver(run *flowsimv1.MatSimRun) {
	e.t.Helper()
	var policy = NetworkPolicyForRun(run)
	e.gone("the run's NetworkPolicy", policy.DeepCopy())
	if err := e.c.Create(ctx, policy); err != nil {
		e.t.Fatalf("creating the run's NetworkPolicy again: %v", err)
	}
	e.gone("the recreated NetworkPolicy", policy)
}

// Story: the run times out while its driver runs, and the API server refuses the first
// Delete of the Job. The run still ends with its Job gone: every pass over a finished run
// stops what still runs.
func TestStoryFinishedRunStopsItsJobAfterAFailedDelete(t *testing.T) {
	var deletes, refused atomic.Int32
	var rec = &countingRecorder{}
	var e = newTestEnv(t, func(r *MatSimRunReconciler) {
		rec.EventRecorder, r.Recorder = r.Recorder, rec
		r.Client = interceptor.NewClient(withWatch{r.Client}, interceptor.Funcs{
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				if _, ok := obj.(*batchv1.Job); ok && deletes.Add(1) == 1 {
					refused.Add(1)
					return apierrors.NewServiceUnavailable("injected: the first Delete of the Job fails")
				}
				return c.Delete(ctx, obj, opts...)
			},
		})
	})
	e.newRun("refused", func(r *flowsimv1.MatSimRun) { r.Spec.Timeout = &metav1.Duration{Duration: time.Second} })
	var job = e.waitJob("refused")
	e.startPod(job)
	e.waitRun("refused", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonDeadlineExceeded))
	e.gone("the driver Job", job)
	if refused.Load() != 1 || deletes.Load() < 2 {
		t.Errorf("%d Deletes of the Job, %d refused; want the first refused and a later one to stop it", deletes.Load(), refused.Load())
	}
	// The pass that finished the run reported it, once; the passes that stopped the Job did not.
	var run = e.waitRun("refused", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonDeadlineExceeded))
	e.waitEvent(run, corev1.EventTypeWarning, flowsimv1.ReasonDeadlineExceeded)
	e.passOver(run)
	if n := rec.count(flowsimv1.ReasonDeadlineExceeded); n != 1 {
		t.Errorf("%d Finish events with reason %s, want 1", n, flowsimv1.ReasonDeadlineExceeded)
	}
}

// Story: the manager stops right after it wrote a run's finished status, before it
// stopped the Job (its crash-looping connector would go on until the deadline). The next
// manager stops the Job and keeps the verdict. It does not report the run: the report
// belongs to the pass that wrote the verdict (lost if the manager dies in that instant),
// and no later pass may repeat it.
func TestStoryFinishedRunStopsItsJobAfterARestart(t *testing.T) {
	var rec = &countingRecorder{}
	var e = newTestEnv(t, func(r *MatSimRunReconciler) { rec.EventRecorder, r.Recorder = r.Recorder, rec })
	// The only run of this package's tests with this test and reason: the counter is global.
	var test, reason = flowsimv1.TestMigrate, flowsimv1.ReasonConnectorCrashed
	e.newRun("crashed", func(r *flowsimv1.MatSimRun) { r.Spec.Test = test })
	var job = e.waitJob("crashed")
	var pod = e.startPod(job)
	e.waitRun("crashed", "runs", phaseIs(flowsimv1.PhaseRunning, ""))

	e.stopManager()
	e.crashLoop(pod)
	// What the stopped manager's last pass wrote: the verdict, nothing done about it.
	var run flowsimv1.MatSimRun
	if err := e.c.Get(ctx, e.key("crashed"), &run); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
		t.Fatal(err)
	}
	var st, v = computeStatus(&run, observed{job: job, pods: []corev1.Pod{*pod}}, testPolicyEnv, metav1.Now().Time)
	if !v.finished || st.Reason != reason {
		t.Fatalf("computeStatus: finished=%v reason %s, want the run to fail with %s", v.finished, st.Reason, reason)
	}
	run.Status = st
	if err := e.c.Status().Update(ctx, &run); err != nil {
		t.Fatalf("writing the finished status: %v", err)
	}
	var before = counterValue(string(test), reason)

	e.startManager()
	e.gone("the driver Job", job)
	var got = e.waitRun("crashed", "is finished", phaseIs(flowsimv1.PhaseFailed, reason))
	if got.Status.Phase != flowsimv1.PhaseFailed || got.Status.Reason != reason || !got.Status.CompletionTime.Equal(ptr.To(st.CompletionTime.Rfc3339Copy())) {
		t.Errorf("the new manager changed the verdict: %s/%s completed %v, want %s/%s completed %v",
			got.Status.Phase, got.Status.Reason, got.Status.CompletionTime, st.Phase, st.Reason, st.CompletionTime)
	}
	e.passOver(got)
	e.passOver(got)
	if n := counterValue(string(test), reason) - before; n != 0 {
		t.Errorf("flowsim_matsimrun_finished_total{test=%s,result=%s} rose by %v, want 0: only the pass that finished a run counts it", test, reason, n)
	}
	if n := rec.count(reason); n != 0 {
		t.Errorf("%d Finish events with reason %s, want 0: only the pass that finished a run sends it", n, reason)
	}
}
