package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/result"
)

var ctx = context.Background()

// newRun applies a basic MatSimRun (config from a Secret) with optional changes.
func (e *testEnv) newRun(name string, mutate ...func(*flowsimv1.MatSimRun)) *flowsimv1.MatSimRun {
	e.t.Helper()
	var run = &flowsimv1.MatSimRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: flowsimv1.MatSimRunSpec{
			Test:      flowsimv1.TestBasic,
			Connector: flowsimv1.ConnectorSpec{Image: "ghcr.io/example/materialize-postgres:v1"},
			Config:    flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-config", Key: "config.yaml"}},
			Resource:  runtime.RawExtension{Raw: []byte(`{"table":"flowsim"}`)},
			Loops:     ptr.To[int32](3),
		},
	}
	for _, m := range mutate {
		m(run)
	}
	if err := e.c.Create(ctx, run); err != nil {
		e.t.Fatalf("creating MatSimRun %s: %v", name, err)
	}
	return run
}

func (e *testEnv) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: e.ns, Name: name}
}

// waitRun polls the run until check accepts it, and returns it.
func (e *testEnv) waitRun(name, what string, check func(*flowsimv1.MatSimRun) error) *flowsimv1.MatSimRun {
	e.t.Helper()
	var run flowsimv1.MatSimRun
	e.eventually(fmt.Sprintf("MatSimRun %s %s", name, what), func() error {
		if err := e.c.Get(ctx, e.key(name), &run); err != nil {
			return err
		}
		return check(&run)
	})
	return &run
}

func phaseIs(phase flowsimv1.RunPhase, reason string) func(*flowsimv1.MatSimRun) error {
	return func(r *flowsimv1.MatSimRun) error {
		if r.Status.Phase != phase || r.Status.Reason != reason {
			if r.Status.Phase.IsFinished() {
				return permanent{fmt.Errorf("finished with %q/%q (%s), want %s/%s", r.Status.Phase, r.Status.Reason, r.Status.Message, phase, reason)}
			}
			return fmt.Errorf("phase/reason is %q/%q (%s), want %s/%s", r.Status.Phase, r.Status.Reason, r.Status.Message, phase, reason)
		}
		return nil
	}
}

// waitJob waits for the run's driver Job.
func (e *testEnv) waitJob(run string) *batchv1.Job {
	e.t.Helper()
	var job batchv1.Job
	e.eventually("the driver Job of "+run+" exists", func() error { return e.c.Get(ctx, e.key(run+"-driver"), &job) })
	return &job
}

func (e *testEnv) gone(what string, obj client.Object) {
	e.t.Helper()
	e.eventually(what+" is deleted", func() error {
		var err = e.c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil && obj.GetDeletionTimestamp() != nil {
			return nil
		}
		return fmt.Errorf("still there (get error: %v)", err)
	})
}

// startPod plays the Job controller and the kubelet: it creates the Job's pod from its
// template and reports it running with the connector sidecar ready.
func (e *testEnv) startPod(job *batchv1.Job) *corev1.Pod {
	e.t.Helper()
	var pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            job.Name + "-x7k2p",
			Namespace:       job.Namespace,
			Labels:          job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = "node-1"
	if err := e.c.Create(ctx, pod); err != nil {
		e.t.Fatalf("creating the driver pod: %v", err)
	}
	var now = metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		StartTime: &now,
		InitContainerStatuses: []corev1.ContainerStatus{
			{Name: flowsimv1.ContainerInstall, Image: "flowsim:test", ImageID: "sha256:1", ContainerID: "containerd://1",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: "containerd://1"}}},
			{Name: flowsimv1.ContainerConnector, Image: job.Spec.Template.Spec.InitContainers[1].Image, ImageID: "sha256:2", ContainerID: "containerd://2",
				Ready: true, Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
		},
		ContainerStatuses: []corev1.ContainerStatus{
			{Name: flowsimv1.ContainerDriver, Image: "flowsim:test", ImageID: "sha256:1", ContainerID: "containerd://3",
				Ready: true, Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
		},
	}
	e.updatePodStatus(pod)

	job.Status.StartTime = &now
	job.Status.Active = 1
	if err := e.c.Status().Update(ctx, job); err != nil {
		e.t.Fatalf("marking the Job active: %v", err)
	}
	return pod
}

func (e *testEnv) updatePodStatus(pod *corev1.Pod) {
	e.t.Helper()
	if err := e.c.Status().Update(ctx, pod); err != nil {
		e.t.Fatalf("updating the status of pod %s: %v", pod.Name, err)
	}
}

// driverExits plays the kubelet: the driver container terminates with code and message,
// the pod finishes.
func (e *testEnv) driverExits(pod *corev1.Pod, code int32, reason, message string) {
	e.t.Helper()
	var now = metav1.Now()
	pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: message, StartedAt: pod.Status.ContainerStatuses[0].State.Running.StartedAt,
		FinishedAt: now, ContainerID: "containerd://3"}}
	pod.Status.ContainerStatuses[0].Ready = false
	pod.Status.Phase = corev1.PodSucceeded
	if code != 0 {
		pod.Status.Phase = corev1.PodFailed
	}
	e.updatePodStatus(pod)
}

// finishJob plays the Job controller: Complete, or Failed with reason.
func (e *testEnv) finishJob(job *batchv1.Job, failReason string) {
	e.t.Helper()
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
		e.t.Fatalf("getting Job: %v", err)
	}
	var now = metav1.Now()
	if job.Status.StartTime == nil {
		job.Status.StartTime = &now
	}
	job.Status.Active, job.Status.Ready = 0, ptr.To[int32](0)
	var cond = func(t batchv1.JobConditionType, reason string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: "the Job controller says " + reason,
			LastProbeTime: now, LastTransitionTime: now}
	}
	if failReason == "" {
		job.Status.Succeeded, job.Status.CompletionTime = 1, &now
		job.Status.Conditions = append(job.Status.Conditions, cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached"), cond(batchv1.JobComplete, "CompletionsReached"))
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = append(job.Status.Conditions, cond(batchv1.JobFailureTarget, failReason), cond(batchv1.JobFailed, failReason))
	}
	if err := e.c.Status().Update(ctx, job); err != nil {
		e.t.Fatalf("finishing Job %s: %v", job.Name, err)
	}
}

func counterValue(test, res string) float64 {
	var m dto.Metric
	_ = runsTotal.WithLabelValues(test, res).Write(&m)
	return m.GetCounter().GetValue()
}

func (e *testEnv) events(run *flowsimv1.MatSimRun) []eventsv1.Event {
	var list eventsv1.EventList
	if err := e.c.List(ctx, &list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatalf("listing events: %v", err)
	}
	return slices.DeleteFunc(list.Items, func(ev eventsv1.Event) bool { return ev.Regarding.UID != run.UID })
}

func (e *testEnv) waitEvent(run *flowsimv1.MatSimRun, eventType, reason string) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("a %s event %s is recorded", eventType, reason), func() error {
		var seen []string
		for _, ev := range e.events(run) {
			if ev.Type == eventType && ev.Reason == reason {
				return nil
			}
			seen = append(seen, ev.Type+"/"+ev.Reason)
		}
		return fmt.Errorf("events so far: %v", seen)
	})
}

// Story: a user applies a MatSimRun; a Job appears whose pod runs the connector as a
// native sidecar behind the proxy and the driver, and the run says it started.
func TestStoryApplyCreatesDriverJob(t *testing.T) {
	var e = newTestEnv(t)
	var run = e.newRun("pg")
	var job = e.waitJob("pg")

	var want, err = JobForRun(e.waitRun("pg", "is created", func(*flowsimv1.MatSimRun) error { return nil }), BuildOptions{FlowsimImage: "flowsim:test"})
	if err != nil {
		t.Fatal(err)
	}
	var pod = job.Spec.Template.Spec
	if got := pod.InitContainers[1]; got.Name != flowsimv1.ContainerConnector || ptr.Deref(got.RestartPolicy, "") != corev1.ContainerRestartPolicyAlways ||
		got.StartupProbe == nil || got.StartupProbe.GRPC == nil {
		t.Errorf("second init container is not the connector sidecar with a gRPC startup probe: %+v", got)
	}
	for _, c := range []struct{ got, want []string }{
		{pod.InitContainers[0].Command, want.Spec.Template.Spec.InitContainers[0].Command},
		{pod.InitContainers[1].Command, want.Spec.Template.Spec.InitContainers[1].Command},
		{pod.Containers[0].Args, want.Spec.Template.Spec.Containers[0].Args},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("stored Job has %q, want %q", c.got, c.want)
		}
	}
	if !metav1.IsControlledBy(job, run) {
		t.Errorf("Job is not controlled by the MatSimRun: %+v", job.OwnerReferences)
	}
	if job.Labels[flowsimv1.LabelRun] != "pg" || job.Spec.Template.Labels[flowsimv1.LabelRun] != "pg" {
		t.Errorf("Job labels %v / pod labels %v lack %s=pg", job.Labels, job.Spec.Template.Labels, flowsimv1.LabelRun)
	}

	var got = e.waitRun("pg", "has started", func(r *flowsimv1.MatSimRun) error {
		if !meta.IsStatusConditionTrue(r.Status.Conditions, flowsimv1.ConditionStarted) {
			return fmt.Errorf("Started is not True: %+v", r.Status.Conditions)
		}
		return nil
	})
	if got.Status.Phase != flowsimv1.PhasePending || got.Status.JobName != "pg-driver" || got.Status.StartTime == nil ||
		got.Status.Seed == nil || *got.Status.Seed != SeedFor(got) || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("status after start = %+v", got.Status)
	}
	if want := fmt.Sprint(*got.Status.Seed); !slices.Contains(pod.Containers[0].Args, want) {
		t.Errorf("driver args %q lack the recorded seed %s", pod.Containers[0].Args, want)
	}
	var policy networkingv1.NetworkPolicy
	e.eventually("the NetworkPolicy exists", func() error { return e.c.Get(ctx, e.key("pg-connector"), &policy) })
	e.waitEvent(run, corev1.EventTypeNormal, flowsimv1.EventStarted)
}

// Story: the driver runs and reports progress, then passes; the status holds the numbers.
func TestStoryRunSucceedsWithNumbers(t *testing.T) {
	var e = newTestEnv(t)
	var run = e.newRun("ok")
	var job = e.waitJob("ok")
	var before = counterValue("basic", flowsimv1.ReasonPassed)

	var pod = e.startPod(job)
	e.logs.set(pod.Name, "starting\n"+result.Progress{Test: "basic", Loop: 1, Loops: 3, Docs: 96}.Line()+"noise\n")
	e.waitRun("ok", "reports progress", func(r *flowsimv1.MatSimRun) error {
		if r.Status.Phase != flowsimv1.PhaseRunning || r.Status.Progress == nil || r.Status.Progress.Loop != 1 || r.Status.Progress.Documents != 96 {
			return fmt.Errorf("phase %s progress %+v, want Running with loop 1 and 96 documents", r.Status.Phase, r.Status.Progress)
		}
		return nil
	})

	var res = result.Result{Test: "basic", Outcome: result.Passed, Seed: 1, Protocol: "2021-12", LoopsDone: 3, Loops: 3,
		Loaded: 40, Stored: 224, Verified: 224, DurationMillis: 1234, DocsPerSecond: 213.9}
	e.driverExits(pod, 0, "Completed", string(res.Marshal(4096)))
	e.finishJob(job, "")

	var got = e.waitRun("ok", "succeeds", phaseIs(flowsimv1.PhaseSucceeded, flowsimv1.ReasonPassed))
	var want = &flowsimv1.RunResult{Outcome: "passed", Protocol: "2021-12", LoopsDone: 3, Loops: 3, Loaded: 40, Stored: 224, Verified: 224,
		Duration: metav1.Duration{Duration: 1234 * time.Millisecond}, DocsPerSecond: "213.9"}
	if diff := cmp.Diff(want, got.Status.Result); diff != "" {
		t.Errorf("status.result mismatch (-want +got):\n%s", diff)
	}
	if got.Status.Seed == nil || *got.Status.Seed != 1 {
		t.Errorf("status.seed = %v, want the seed the driver reported (1)", got.Status.Seed)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, flowsimv1.ConditionComplete) || got.Status.CompletionTime == nil || got.Status.PodName != pod.Name {
		t.Errorf("finished status = %+v", got.Status)
	}
	e.gone("the NetworkPolicy", &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "ok-connector"}})
	e.waitEvent(run, corev1.EventTypeNormal, flowsimv1.ReasonPassed)
	if after := counterValue("basic", flowsimv1.ReasonPassed); after < before+1 {
		t.Errorf("flowsim_matsimrun_finished_total{test=basic,result=Passed} went from %v to %v, want +1", before, after)
	}
}

// Story: the connector fails a check; the run fails with the check and its message.
func TestStoryCheckFailed(t *testing.T) {
	var e = newTestEnv(t)
	var run = e.newRun("bad")
	var job = e.waitJob("bad")
	var pod = e.startPod(job)
	var res = result.Result{Test: "basic", Outcome: result.Failed, LoopsDone: 1, Loops: 3,
		Check: "loaded-equals-stored", Message: "binding 0 key [\"k7\"]: loaded {\"v\":1}, stored {\"v\":2}"}
	e.driverExits(pod, 1, "Error", string(res.Marshal(4096)))
	e.finishJob(job, "PodFailurePolicy")

	var got = e.waitRun("bad", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonCheckFailed))
	if !strings.Contains(got.Status.Message, "check loaded-equals-stored failed") || got.Status.Result == nil || got.Status.Result.Check != "loaded-equals-stored" {
		t.Errorf("status = %q / %+v, want the failing check named", got.Status.Message, got.Status.Result)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, flowsimv1.ConditionFailed); c == nil || c.Reason != flowsimv1.ReasonCheckFailed {
		t.Errorf("Failed condition = %+v", c)
	}
	e.waitEvent(run, corev1.EventTypeWarning, flowsimv1.ReasonCheckFailed)
}

// Story: the connector sidecar crashes; the run says so with its exit code and last log lines.
func TestStoryConnectorCrashed(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("crash")
	var job = e.waitJob("crash")
	var pod = e.startPod(job)
	var now = metav1.Now()
	pod.Status.InitContainerStatuses[1].RestartCount = 1
	pod.Status.InitContainerStatuses[1].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 3, Reason: "Error", Message: "panic: runtime error: index out of range", StartedAt: now, FinishedAt: now, ContainerID: "containerd://2"}}
	var res = result.Result{Test: "basic", Outcome: result.Failed, Check: "transactions-stream", Message: "stream closed: EOF"}
	e.driverExits(pod, 1, "Error", string(res.Marshal(4096)))
	e.finishJob(job, "PodFailurePolicy")

	var got = e.waitRun("crash", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonConnectorCrashed))
	for _, want := range []string{"exited with code 3", "index out of range"} {
		if !strings.Contains(got.Status.Message, want) {
			t.Errorf("message %q lacks %q", got.Status.Message, want)
		}
	}
}

// Story: the driver is OOM-killed.
func TestStoryDriverOOMKilled(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("oom")
	var job = e.waitJob("oom")
	var pod = e.startPod(job)
	e.driverExits(pod, 137, "OOMKilled", "")
	e.finishJob(job, "BackoffLimitExceeded")
	e.waitRun("oom", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonDriverOOMKilled))
}

// Story: the connector image cannot be pulled; after the grace period the run fails and
// its Job is removed so that the kubelet stops trying.
func TestStoryImagePullFailure(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("nopull", func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "ghcr.io/example/does-not-exist:v0" })
	var job = e.waitJob("nopull")
	var pod = e.startPod(job)
	pod.Status.Phase = corev1.PodPending
	pod.Status.InitContainerStatuses[1] = corev1.ContainerStatus{Name: flowsimv1.ContainerConnector, Image: "ghcr.io/example/does-not-exist:v0",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image: not found"}}}
	pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: flowsimv1.ContainerDriver, Image: "flowsim:test",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
	e.updatePodStatus(pod)

	var got = e.waitRun("nopull", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonImagePullFailed))
	if !strings.Contains(got.Status.Message, "does-not-exist:v0") || !strings.Contains(got.Status.Message, "not found") {
		t.Errorf("message %q does not name the image and the kubelet's reason", got.Status.Message)
	}
	e.gone("the driver Job", job)
}

// Story: the run outlives spec.timeout.
func TestStoryDeadlineExceeded(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("slow", func(r *flowsimv1.MatSimRun) { r.Spec.Timeout = &metav1.Duration{Duration: 2 * time.Second} })
	var job = e.waitJob("slow")
	if got := ptr.Deref(job.Spec.ActiveDeadlineSeconds, 0); got != 2 {
		t.Errorf("Job activeDeadlineSeconds = %d, want 2", got)
	}
	e.startPod(job)
	var got = e.waitRun("slow", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonDeadlineExceeded))
	if !strings.Contains(got.Status.Message, "2s") {
		t.Errorf("message %q does not give the timeout", got.Status.Message)
	}
	e.gone("the driver Job", job)
}

// Story: the Job controller gives up on the deadline first.
func TestStoryJobDeadlineExceeded(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("slowjob")
	var job = e.waitJob("slowjob")
	e.startPod(job)
	e.finishJob(job, batchv1.JobReasonDeadlineExceeded)
	e.waitRun("slowjob", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonDeadlineExceeded))
}

// Story: someone deletes the driver pod; the Job fails and the run says why.
func TestStoryPodDeleted(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("podgone")
	var job = e.waitJob("podgone")
	var pod = e.startPod(job)
	if err := e.c.Delete(ctx, pod); err != nil {
		t.Fatalf("deleting the pod: %v", err)
	}
	e.finishJob(job, "BackoffLimitExceeded")
	e.waitRun("podgone", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonPodDeleted))
}

// Story: someone deletes the driver Job mid-run; the operator does not start the run over.
func TestStoryJobDeletedIsNotRecreated(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("jobgone")
	var job = e.waitJob("jobgone")
	e.waitRun("jobgone", "records its Job", func(r *flowsimv1.MatSimRun) error {
		if r.Status.JobName == "" {
			return fmt.Errorf("no jobName yet")
		}
		return nil
	})
	if err := e.c.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatalf("deleting the Job: %v", err)
	}
	e.waitRun("jobgone", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonJobDeleted))
	var jobs batchv1.JobList
	if err := e.c.List(ctx, &jobs, client.InNamespace(e.ns)); err != nil || len(jobs.Items) != 0 {
		t.Errorf("after the Job's deletion there are %d Jobs (error %v), want 0", len(jobs.Items), err)
	}
}

// Story: the fence test gets a peer connector pod, a Service and a NetworkPolicy; the
// driver starts once the peer is ready and dials it; all of it goes when the run ends.
func TestStoryFence(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("fence", func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence })

	var peer corev1.Pod
	var svc corev1.Service
	var policy networkingv1.NetworkPolicy
	e.eventually("the peer pod, Service and NetworkPolicy exist", func() error {
		return errors.Join(e.c.Get(ctx, e.key("fence-peer"), &peer), e.c.Get(ctx, e.key("fence-peer"), &svc), e.c.Get(ctx, e.key("fence-connector"), &policy))
	})
	e.waitRun("fence", "waits for its peer", func(r *flowsimv1.MatSimRun) error {
		if c := meta.FindStatusCondition(r.Status.Conditions, flowsimv1.ConditionStarted); c == nil || c.Reason != flowsimv1.ReasonWaitingForPeer {
			return fmt.Errorf("Started condition %+v, want reason %s", c, flowsimv1.ReasonWaitingForPeer)
		}
		return nil
	})
	var jobs batchv1.JobList
	if err := e.c.List(ctx, &jobs, client.InNamespace(e.ns)); err != nil || len(jobs.Items) != 0 {
		t.Fatalf("a Job exists (%d, error %v) before the peer is ready", len(jobs.Items), err)
	}
	for k, v := range svc.Spec.Selector {
		if peer.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the peer pod (labels %v)", k, v, peer.Labels)
		}
	}

	// The kubelet reports the peer ready.
	var now = metav1.Now()
	peer.Spec.NodeName = "" // unchanged: status only
	peer.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now, PodIP: "10.0.0.7", PodIPs: []corev1.PodIP{{IP: "10.0.0.7"}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
	e.updatePodStatus(&peer)

	var job = e.waitJob("fence")
	if args := job.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "fence-peer."+e.ns+".svc:7070") {
		t.Errorf("driver args %q do not dial the peer Service", args)
	}
	var pod = e.startPod(job)
	var res = result.Result{Test: "fence", Outcome: result.Passed, LoopsDone: 3, Loops: 3, Stored: 10, Verified: 10}
	e.driverExits(pod, 0, "Completed", string(res.Marshal(4096)))
	e.finishJob(job, "")
	var got = e.waitRun("fence", "succeeds", phaseIs(flowsimv1.PhaseSucceeded, flowsimv1.ReasonPassed))
	if got.Status.PeerPodName != "fence-peer" {
		t.Errorf("status.peerPodName = %q", got.Status.PeerPodName)
	}
	e.gone("the peer pod", &peer)
	e.gone("the peer Service", &svc)
	e.gone("the NetworkPolicy", &policy)
}

// Story: the manager restarts while a run is in flight; the new one adopts the Job
// instead of creating another, and follows the run to its end.
func TestStoryManagerRestartMidRun(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("restart")
	var job = e.waitJob("restart")
	var pod = e.startPod(job)
	e.waitRun("restart", "runs", phaseIs(flowsimv1.PhaseRunning, ""))

	e.stopManager()
	e.startManager()

	var res = result.Result{Test: "basic", Outcome: result.Passed, LoopsDone: 3, Loops: 3, Stored: 7, Verified: 7}
	e.driverExits(pod, 0, "Completed", string(res.Marshal(4096)))
	e.finishJob(job, "")
	e.waitRun("restart", "succeeds", phaseIs(flowsimv1.PhaseSucceeded, flowsimv1.ReasonPassed))

	var jobs batchv1.JobList
	if err := e.c.List(ctx, &jobs, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || jobs.Items[0].UID != job.UID {
		t.Errorf("after a restart there are %d Jobs, want the original one only", len(jobs.Items))
	}
}

// Story: deleting a MatSimRun removes what it created: the run is not held back, and
// every child names it as controlling owner, so the garbage collector (absent from
// envtest) deletes them.
func TestStoryDeletion(t *testing.T) {
	var e = newTestEnv(t)
	var run = e.newRun("del", func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence })
	var peer corev1.Pod
	var svc corev1.Service
	var policy networkingv1.NetworkPolicy
	e.eventually("the peer pod, Service and NetworkPolicy exist", func() error {
		return errors.Join(e.c.Get(ctx, e.key("del-peer"), &peer), e.c.Get(ctx, e.key("del-peer"), &svc), e.c.Get(ctx, e.key("del-connector"), &policy))
	})
	if err := e.c.Get(ctx, e.key("del"), run); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{&peer, &svc, &policy} {
		var ref = metav1.GetControllerOf(obj)
		if ref == nil || ref.UID != run.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("%T %s controller reference = %+v, want the MatSimRun %s blocking owner deletion", obj, obj.GetName(), ref, run.UID)
		}
	}
	if err := e.c.Delete(ctx, run); err != nil {
		t.Fatalf("deleting the MatSimRun: %v", err)
	}
	e.eventually("the MatSimRun is gone", func() error {
		if err := e.c.Get(ctx, e.key("del"), run); !apierrors.IsNotFound(err) {
			return fmt.Errorf("get returned %v, finalizers %v", err, run.Finalizers)
		}
		return nil
	})
}

// Story: the API server rejects malformed runs, naming the field.
func TestStoryValidationRejections(t *testing.T) {
	requireEnvtest(t)
	t.Parallel()
	var ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "msr-cel-"}}
	if err := envClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = envClient.Delete(ctx, ns) })
	var valid = func(name string) *flowsimv1.MatSimRun {
		return &flowsimv1.MatSimRun{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			Spec: flowsimv1.MatSimRunSpec{
				Test:      flowsimv1.TestBasic,
				Connector: flowsimv1.ConnectorSpec{Image: "connector:v1"},
				Config:    flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"address":"db"}`)}},
				Resource:  runtime.RawExtension{Raw: []byte(`{"table":"t"}`)},
			},
		}
	}
	var cases = []struct {
		name   string
		mutate func(*flowsimv1.MatSimRun)
		want   []string
	}{
		{"both config sources", func(r *flowsimv1.MatSimRun) {
			r.Spec.Config.SecretRef = &flowsimv1.SecretKeyRef{Name: "s", Key: "k"}
		}, []string{"spec.config", "exactly one of config.secretRef or config.inline must be set"}},
		{"no config source", func(r *flowsimv1.MatSimRun) { r.Spec.Config = flowsimv1.ConnectorConfig{} },
			[]string{"spec.config", "exactly one of config.secretRef or config.inline must be set"}},
		{"unknown test", func(r *flowsimv1.MatSimRun) { r.Spec.Test = "smoke" }, []string{"spec.test", "Unsupported value", `"smoke"`}},
		{"zero loops", func(r *flowsimv1.MatSimRun) { r.Spec.Loops = ptr.To[int32](0) }, []string{"spec.loops", "greater than or equal to 1"}},
		{"zero seed", func(r *flowsimv1.MatSimRun) { r.Spec.Seed = ptr.To[int64](0) }, []string{"spec.seed", "greater than or equal to 1"}},
		{"zero start", func(r *flowsimv1.MatSimRun) { r.Spec.Start = ptr.To[int32](0) }, []string{"spec.start", "greater than or equal to 1"}},
		{"zero timeout", func(r *flowsimv1.MatSimRun) { r.Spec.Timeout = &metav1.Duration{} }, []string{"spec.timeout", "timeout must be between 1s and 168h"}},
		// The driver's bound: bit length of start + loops <= 40 (start 1024 has 11 bits).
		{"start doubled over loops beyond the driver's bound", func(r *flowsimv1.MatSimRun) {
			r.Spec.Loops, r.Spec.Start = ptr.To[int32](30), ptr.To[int32](1024)
		}, []string{"spec.start", "start doubled over loops is more documents than the driver can address"}},
		{"unknown protocol", func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Protocol = "2022-01" }, []string{"spec.connector.protocol", "Unsupported value"}},
		{"empty image", func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "" }, []string{"spec.connector.image"}},
		{"bad pull policy", func(r *flowsimv1.MatSimRun) { r.Spec.Connector.ImagePullPolicy = "Sometimes" }, []string{"spec.connector.imagePullPolicy", "Unsupported value"}},
		{"secret key with a slash", func(r *flowsimv1.MatSimRun) {
			r.Spec.Config = flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "s", Key: "../etc/passwd"}}
		}, []string{"spec.config.secretRef.key"}},
		{"crash points outside recovery", func(r *flowsimv1.MatSimRun) { r.Spec.CrashAt = []flowsimv1.CrashPoint{"after-commit"} },
			[]string{"spec.crashAt", "crashAt applies only to the recovery test"}},
		{"unknown crash point", func(r *flowsimv1.MatSimRun) {
			r.Spec.Test, r.Spec.CrashAt = flowsimv1.TestRecovery, []flowsimv1.CrashPoint{"before-lunch"}
		}, []string{"spec.crashAt[0]", "Unsupported value"}},
		{"verify outside delta and recovery", func(r *flowsimv1.MatSimRun) {
			r.Spec.Verify = &flowsimv1.VerifySpec{SQL: "SELECT flow_document FROM $FLOWSIM_TABLE"}
		}, []string{"spec.verify", "verify applies only to the delta and recovery tests"}},
		{"empty verify query", func(r *flowsimv1.MatSimRun) {
			r.Spec.Test, r.Spec.Verify = flowsimv1.TestDelta, &flowsimv1.VerifySpec{}
		}, []string{"spec.verify.sql"}},
		{"exactlyOnce outside fence and recovery", func(r *flowsimv1.MatSimRun) { r.Spec.ExactlyOnce = ptr.To(true) },
			[]string{"spec.exactlyOnce", "exactlyOnce applies only to the fence and recovery tests"}},
		{"ttl too short to read the result", func(r *flowsimv1.MatSimRun) { r.Spec.TTLSecondsAfterFinished = ptr.To[int32](0) },
			[]string{"spec.ttlSecondsAfterFinished", "greater than or equal to 60"}},
		// The admission policy of config/crd (installed by TestMain): top-level keys that look secret.
		{"inline config with a password", func(r *flowsimv1.MatSimRun) {
			r.Spec.Config.Inline.Raw = []byte(`{"address":"db","Password":"hunter2"}`)
		}, []string{"spec.config.inline.Password", "look(s) like a secret", "config.secretRef"}},
		{"inline config with an API key, a token and a client secret", func(r *flowsimv1.MatSimRun) {
			r.Spec.Config.Inline.Raw = []byte(`{"address":"db","api-key":"k","AUTH_TOKEN":"t","client_secret":{"v":1}}`)
		}, []string{"spec.config.inline.", "api-key", "AUTH_TOKEN", "client_secret", "config.secretRef"}},
		{"inline config with a private key", func(r *flowsimv1.MatSimRun) {
			r.Spec.Config.Inline.Raw = []byte(`{"ssh":"h","privateKey":"-----BEGIN"}`)
		}, []string{"spec.config.inline.privateKey"}},
		{"name too long", func(r *flowsimv1.MatSimRun) { r.Name = strings.Repeat("a", 53) }, []string{"metadata.name must be at most 52 characters"}},
		{"name starting with a digit", func(r *flowsimv1.MatSimRun) { r.Name = "1run" }, []string{"metadata.name must be a DNS label starting with a letter"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var run = valid(fmt.Sprintf("run-%d", i))
			tc.mutate(run)
			var err = envClient.Create(ctx, run)
			if err == nil {
				t.Fatalf("the API server accepted the run, want a rejection mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("rejection %q does not mention %q", err, w)
				}
				if testing.Verbose() && w == tc.want[0] {
					t.Logf("rejected: %v", err)
				}
			}
		})
	}

	t.Run("verify and exactlyOnce where they apply", func(t *testing.T) {
		var run = valid("verified-recovery")
		run.Spec.Test, run.Spec.ExactlyOnce = flowsimv1.TestRecovery, ptr.To(true)
		run.Spec.Verify = &flowsimv1.VerifySpec{SQL: "SELECT flow_document FROM $FLOWSIM_TABLE"}
		if err := envClient.Create(ctx, run); err != nil {
			t.Fatalf("the API server rejected a valid recovery run with verify and exactlyOnce: %v", err)
		}
	})

	t.Run("inline keys that do not look secret pass", func(t *testing.T) {
		var run = valid("harmless-inline")
		run.Spec.Config.Inline.Raw = []byte(`{"address":"db:5432","user":"flow","database":"t","sslmode":"disable","connection":{"mode":"trust"}}`)
		if err := envClient.Create(ctx, run); err != nil {
			t.Fatalf("the API server rejected an inline config without secret-looking keys: %v", err)
		}
	})

	t.Run("an update that adds a secret-looking key is refused", func(t *testing.T) {
		var run = valid("updated-inline")
		if err := envClient.Create(ctx, run); err != nil {
			t.Fatalf("creating a valid run: %v", err)
		}
		run.Spec.Config.Inline.Raw = []byte(`{"address":"db","token":"t"}`)
		if err := envClient.Update(ctx, run); err == nil || !strings.Contains(err.Error(), "spec.config.inline.token look(s) like a secret") {
			t.Errorf("adding an inline token by an update: error %v, want a refusal naming spec.config.inline.token", err)
		}
	})

	t.Run("a nested secret passes the API server (the manager refuses it: TestStoryInlineSecretNotAllowed)", func(t *testing.T) {
		var run = valid("nested-secret")
		run.Spec.Config.Inline.Raw = []byte(`{"address":"db","connection":{"password":"x"}}`)
		if err := envClient.Create(ctx, run); err != nil {
			t.Fatalf("the API server's rule looks at top-level keys only, but: %v", err)
		}
	})

	t.Run("the driver's bound accepts start 1023 with 30 loops", func(t *testing.T) {
		var run = valid("at-the-bound")
		run.Spec.Loops, run.Spec.Start = ptr.To[int32](30), ptr.To[int32](1023)
		if err := envClient.Create(ctx, run); err != nil {
			t.Fatalf("the API server rejected a run the driver accepts: %v", err)
		}
	})

	t.Run("spec is mutable before the start and immutable after", func(t *testing.T) {
		var run = valid("immutable")
		if err := envClient.Create(ctx, run); err != nil {
			t.Fatalf("creating a valid run: %v", err)
		}
		if run.Spec.Timeout == nil || run.Spec.Timeout.Duration != 30*time.Minute || run.Spec.Connector.Protocol != flowsimv1.ProtocolAuto {
			t.Errorf("defaults not applied: timeout %v protocol %q", run.Spec.Timeout, run.Spec.Connector.Protocol)
		}
		run.Spec.Loops = ptr.To[int32](5)
		if err := envClient.Update(ctx, run); err != nil {
			t.Fatalf("changing the spec of a run that has not started: %v", err)
		}
		run.Status.StartTime = &metav1.Time{Time: time.Now()}
		run.Status.Phase = flowsimv1.PhasePending
		if err := envClient.Status().Update(ctx, run); err != nil {
			t.Fatalf("marking the run started: %v", err)
		}
		run.Spec.Loops = ptr.To[int32](6)
		var err = envClient.Update(ctx, run)
		if err == nil || !strings.Contains(err.Error(), "spec is immutable once the run has started") {
			t.Errorf("changing the spec of a started run: got %v, want a rejection saying the spec is immutable", err)
		}
	})
}

// The restricted namespaces of the stories really enforce the profile (otherwise the
// stories would not prove that the operator's pods meet it).
func TestStoryPodSecurityAdmissionIsEnforced(t *testing.T) {
	var e = newTestEnv(t)
	var pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unrestricted", Namespace: e.ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	var err = e.c.Create(ctx, pod)
	if err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("creating a pod without a security context in the test namespace: %v, want a PodSecurity rejection", err)
	}
}

// Story: the connector sidecar crash-loops before the driver could start (a connector that
// cannot even serve); after the restart limit the run fails and its Job is removed.
func TestStoryConnectorCrashLoop(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("loop")
	var job = e.waitJob("loop")
	var pod = e.startPod(job)
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

	var got = e.waitRun("loop", "fails", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonConnectorCrashed))
	if !strings.Contains(got.Status.Message, "no such file or directory") {
		t.Errorf("message %q lacks the connector's last log line", got.Status.Message)
	}
	e.gone("the driver Job", job)
}
