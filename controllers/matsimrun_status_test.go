package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/result"
)

var (
	t0         = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testPolicy = StatusOptions{ImagePullGracePeriod: 2 * time.Minute, ConnectorRestartLimit: 3}
)

func startedRun(mutate ...func(*flowsimv1.MatSimRun)) *flowsimv1.MatSimRun {
	var run = testRun(mutate...)
	run.Generation = 1
	run.Status = flowsimv1.MatSimRunStatus{Phase: flowsimv1.PhasePending, StartTime: &metav1.Time{Time: t0}, JobName: "pg-driver"}
	return run
}

func job(conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pg-driver"}, Status: batchv1.JobStatus{Conditions: conds}}
}

func jobCond(t batchv1.JobConditionType, reason string) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: "job says " + reason}
}

type podOpt func(*corev1.Pod)

func pod(opts ...podOpt) []corev1.Pod {
	var p = corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pg-driver-abcde", CreationTimestamp: metav1.Time{Time: t0}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	for _, o := range opts {
		o(&p)
	}
	return []corev1.Pod{p}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func driverExit(code int32, reason, message string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: flowsimv1.ContainerDriver,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}}})
	}
}

func driverRunning() podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: flowsimv1.ContainerDriver,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	}
}

func connectorCrashed(restarts, code int32, log string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: flowsimv1.ContainerConnector,
			RestartCount:         restarts,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: log}}})
	}
}

func pulling(container, reason string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: container, Image: "ghcr.io/example/nope:v1"})
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: container,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "manifest unknown"}}})
	}
}

func resultJSON(r result.Result) string { return string(r.Marshal(4096)) }

var passed = result.Result{Test: "basic", Outcome: result.Passed, Seed: 42, Protocol: "2021-12", LoopsDone: 4, Loops: 4,
	Loaded: 10, Stored: 30, Verified: 30, DurationMillis: 2500, DocsPerSecond: 16.04}

func TestComputeStatusOutcomes(t *testing.T) {
	var checkFailed = passed
	checkFailed.Outcome, checkFailed.Check, checkFailed.Message, checkFailed.LoopsDone = result.Failed, "load-omits-missing", "binding 0 key [7]: loaded but never stored", 2
	var setupErr = result.Result{Test: "basic", Outcome: result.Error, Seed: 42, Message: "connector rejected the config: missing address"}
	var interrupted = result.Result{Test: "basic", Outcome: result.Interrupted, Seed: 42, LoopsDone: 1, Loops: 4,
		Message: "interrupted by SIGTERM after 1 of 4 loops; the connector was stopped and not judged"}

	var cases = []struct {
		name   string
		run    *flowsimv1.MatSimRun
		obs    observed
		now    time.Time
		phase  flowsimv1.RunPhase
		reason string
		// message must contain every one of these
		message []string
		stopJob bool
	}{
		{
			name: "passed", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(), pods: pod(phase(corev1.PodSucceeded), driverExit(0, "Completed", resultJSON(passed)))},
			phase: flowsimv1.PhaseSucceeded, reason: flowsimv1.ReasonPassed, message: []string{"basic passed", "30 verified"},
		},
		{
			name: "a check failed", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")), pods: pod(phase(corev1.PodFailed), driverExit(1, "Error", resultJSON(checkFailed)))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonCheckFailed, message: []string{"check load-omits-missing failed", "key [7]"},
		},
		{
			name: "the verdict counts before the Job notices", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(), pods: pod(phase(corev1.PodFailed), driverExit(1, "Error", resultJSON(checkFailed)))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonCheckFailed,
		},
		{
			name: "setup error", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")), pods: pod(driverExit(2, "Error", resultJSON(setupErr)))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonSetupError, message: []string{"missing address"},
		},
		{
			name: "a driver stopped by a signal is interrupted, not a setup error", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")), pods: pod(driverExit(143, "Error", resultJSON(interrupted)))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonInterrupted, message: []string{"interrupted by SIGTERM", "not judged"},
		},
		{
			name: "connector crash outranks the driver's complaint", run: startedRun(), now: t0.Add(time.Minute),
			obs: observed{job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")),
				pods: pod(driverExit(1, "Error", resultJSON(checkFailed)), connectorCrashed(1, 3, "panic: nil map\ngoroutine 1"))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonConnectorCrashed, message: []string{"exited with code 3", "panic: nil map"},
		},
		{
			name: "driver OOM-killed", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, "BackoffLimitExceeded")), pods: pod(phase(corev1.PodFailed), driverExit(137, "OOMKilled", ""))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonDriverOOMKilled, message: []string{"OOM-killed", "spec.driver.resources"},
		},
		{
			name: "driver exits without a result", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, "BackoffLimitExceeded")), pods: pod(driverExit(139, "Error", "segfault"))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonDriverFailed, message: []string{"code 139", "segfault"},
		},
		{
			name: "Job deadline", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)), pods: pod(driverRunning())},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonDeadlineExceeded, message: []string{"600s"},
		},
		{
			name: "own deadline when the Job has not noticed", run: startedRun(), now: t0.Add(600 * time.Second),
			obs:   observed{job: job(), pods: pod(driverRunning())},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonDeadlineExceeded, stopJob: true,
		},
		{
			name: "image pull failure after the grace period", run: startedRun(), now: t0.Add(2 * time.Minute),
			obs:   observed{job: job(), pods: pod(pulling(flowsimv1.ContainerConnector, "ImagePullBackOff"))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonImagePullFailed, stopJob: true,
			message: []string{`"ghcr.io/example/nope:v1"`, "connector", "manifest unknown"},
		},
		{
			name: "pod deleted", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(jobCond(batchv1.JobFailed, "BackoffLimitExceeded"))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonPodDeleted,
		},
		{
			name: "pod being deleted", run: startedRun(), now: t0.Add(time.Minute),
			obs: observed{job: job(jobCond(batchv1.JobFailed, "BackoffLimitExceeded")), pods: pod(func(p *corev1.Pod) {
				p.DeletionTimestamp = &metav1.Time{Time: t0}
			})},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonPodDeleted,
		},
		{
			name: "job deleted", run: startedRun(), now: t0.Add(time.Minute), obs: observed{jobGone: true},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonJobDeleted, message: []string{"pg-driver"},
		},
		{
			name: "connector crash loop before the driver starts", run: startedRun(), now: t0.Add(time.Minute),
			obs:   observed{job: job(), pods: pod(connectorCrashed(3, 1, "error: bad flag"))},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonConnectorCrashed, stopJob: true, message: []string{"after 3 restart(s)", "bad flag"},
		},
		{
			name: "fence peer crashed", run: startedRun(func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence }), now: t0.Add(time.Minute),
			obs: observed{job: job(), pods: pod(driverRunning()), peer: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pg-peer"},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: flowsimv1.ContainerConnector,
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Message: "fatal: fenced"}}}}}}},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonConnectorCrashed, stopJob: true, message: []string{"fence peer pod", "code 2", "fatal: fenced"},
		},
		{
			name: "fence peer deleted", run: startedRun(func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence }), now: t0.Add(time.Minute),
			obs:   observed{job: job(), pods: pod(driverRunning()), peerGone: true},
			phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonPodDeleted, stopJob: true, message: []string{"pg-peer"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st, v = computeStatus(tc.run, tc.obs, testPolicy, tc.now)
			if st.Phase != tc.phase || st.Reason != tc.reason {
				t.Fatalf("phase/reason = %s/%s, want %s/%s (message %q)", st.Phase, st.Reason, tc.phase, tc.reason, st.Message)
			}
			for _, m := range tc.message {
				if !strings.Contains(st.Message, m) {
					t.Errorf("message %q does not contain %q", st.Message, m)
				}
			}
			if !v.finished {
				t.Errorf("verdict finished=false, want true")
			}
			// What the finished run leaves running follows from what is observed, in
			// this pass as in any later one.
			if s := settle(tc.obs); s.stopJob != tc.stopJob {
				t.Errorf("settle stopJob=%v, want %v", s.stopJob, tc.stopJob)
			}
			var condType = flowsimv1.ConditionFailed
			if tc.phase == flowsimv1.PhaseSucceeded {
				condType = flowsimv1.ConditionComplete
			}
			if c := meta.FindStatusCondition(st.Conditions, condType); c == nil || c.Status != metav1.ConditionTrue || c.Reason != tc.reason || c.ObservedGeneration != 1 {
				t.Errorf("condition %s = %+v, want True with reason %s and observedGeneration 1", condType, c, tc.reason)
			}
			if st.CompletionTime == nil || !st.CompletionTime.Time.Equal(tc.now) {
				t.Errorf("completionTime = %v, want %v", st.CompletionTime, tc.now)
			}
		})
	}
}

// The kubelet stops the sidecar after the driver exits; that is no crash, but a crash in
// the same second that the driver exits is.
func TestComputeStatusSidecarStoppedAfterTheDriver(t *testing.T) {
	var checkFailed = result.Result{Test: "basic", Outcome: result.Failed, Check: "load.value", Message: "wrong value"}
	var driverEnd = metav1.Time{Time: t0.Add(10 * time.Second)}
	var sidecar = func(code int32, reason string, at time.Duration) podOpt {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: flowsimv1.ContainerDriver, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: resultJSON(checkFailed), FinishedAt: driverEnd}}}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: flowsimv1.ContainerConnector, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: "last words",
					FinishedAt: metav1.Time{Time: driverEnd.Add(at)}}}}}
		}
	}
	var cases = []struct {
		name   string
		opt    podOpt
		reason string
	}{
		{"SIGKILLed after the grace period", sidecar(137, "Error", 30*time.Second), flowsimv1.ReasonCheckFailed},
		{"SIGTERM in the driver's last second", sidecar(143, "Error", 0), flowsimv1.ReasonCheckFailed},
		{"exit 0 when stopped", sidecar(0, "Completed", time.Second), flowsimv1.ReasonCheckFailed},
		{"crashed before the driver ended", sidecar(2, "Error", -time.Second), flowsimv1.ReasonConnectorCrashed},
		{"crashed in the driver's last second", sidecar(2, "Error", 0), flowsimv1.ReasonConnectorCrashed},
		{"OOM-killed in the driver's last second", sidecar(137, "OOMKilled", 0), flowsimv1.ReasonConnectorCrashed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st, _ = computeStatus(startedRun(), observed{job: job(jobCond(batchv1.JobFailed, "PodFailurePolicy")), pods: pod(tc.opt)}, testPolicy, t0.Add(time.Minute))
			if st.Reason != tc.reason {
				t.Errorf("reason = %s (%s), want %s", st.Reason, st.Message, tc.reason)
			}
		})
	}
}

func TestComputeStatusResultNumbers(t *testing.T) {
	var st, _ = computeStatus(startedRun(), observed{job: job(), pods: pod(driverExit(0, "Completed", resultJSON(passed)))}, testPolicy, t0.Add(time.Minute))
	var want = &flowsimv1.RunResult{Outcome: "passed", Protocol: "2021-12", LoopsDone: 4, Loops: 4, Loaded: 10, Stored: 30, Verified: 30,
		Duration: metav1.Duration{Duration: 2500 * time.Millisecond}, DocsPerSecond: "16.0"}
	if diff := cmp.Diff(want, st.Result); diff != "" {
		t.Errorf("status.result mismatch (-want +got):\n%s", diff)
	}
	if st.Seed == nil || *st.Seed != 42 {
		t.Errorf("status.seed = %v, want 42", st.Seed)
	}
	if st.PodName != "pg-driver-abcde" || st.JobName != "pg-driver" {
		t.Errorf("podName/jobName = %q/%q", st.PodName, st.JobName)
	}
}

func TestComputeStatusGoesOn(t *testing.T) {
	var cases = []struct {
		name    string
		run     *flowsimv1.MatSimRun
		obs     observed
		now     time.Time
		phase   flowsimv1.RunPhase
		requeue time.Duration
	}{
		{
			name: "pod pending: wake up at the deadline", run: startedRun(), now: t0.Add(time.Minute),
			obs: observed{job: job(), pods: pod()}, phase: flowsimv1.PhasePending, requeue: 9 * time.Minute,
		},
		{
			name: "image pull failing within the grace period: wake up when it ends", run: startedRun(), now: t0.Add(30 * time.Second),
			obs: observed{job: job(), pods: pod(pulling(flowsimv1.ContainerInstall, "ErrImagePull"))}, phase: flowsimv1.PhasePending, requeue: 90 * time.Second,
		},
		{
			name: "running", run: startedRun(), now: t0.Add(time.Minute),
			obs: observed{job: job(), pods: pod(driverRunning())}, phase: flowsimv1.PhaseRunning, requeue: 9 * time.Minute,
		},
		{
			name: "OOM-killed driver the Job may still retry", run: startedRun(func(r *flowsimv1.MatSimRun) { r.Spec.BackoffLimit = ptr.To[int32](1) }), now: t0.Add(time.Minute),
			obs: observed{job: job(), pods: pod(phase(corev1.PodFailed), driverExit(137, "OOMKilled", ""))}, phase: flowsimv1.PhasePending, requeue: 9 * time.Minute,
		},
		{
			name: "connector restarted once while the driver runs", run: startedRun(), now: t0.Add(time.Minute),
			obs: observed{job: job(), pods: pod(driverRunning(), connectorCrashed(1, 1, "oops"))}, phase: flowsimv1.PhaseRunning, requeue: 9 * time.Minute,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st, v = computeStatus(tc.run, tc.obs, testPolicy, tc.now)
			if v.finished || st.Phase != tc.phase || st.Reason != "" {
				t.Fatalf("finished=%v phase=%s reason=%q (%s), want a %s run that goes on", v.finished, st.Phase, st.Reason, st.Message, tc.phase)
			}
			if v.requeueAfter != tc.requeue {
				t.Errorf("requeueAfter = %v, want %v", v.requeueAfter, tc.requeue)
			}
			if c := meta.FindStatusCondition(st.Conditions, flowsimv1.ConditionStarted); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("Started condition = %+v, want True", c)
			}
		})
	}
}

func TestComputeStatusProgressAndStart(t *testing.T) {
	var run = testRun()
	var st, _ = computeStatus(run, observed{job: job(), pods: pod(driverRunning()),
		progress: &result.Progress{Loop: 2, Loops: 4, Docs: 300}}, testPolicy, t0)
	if st.StartTime == nil || !st.StartTime.Time.Equal(t0) {
		t.Errorf("startTime = %v, want %v (first pass with a Job)", st.StartTime, t0)
	}
	if want := (&flowsimv1.RunProgress{Loop: 2, Loops: 4, Documents: 300, UpdatedAt: &metav1.Time{Time: t0}}); !cmp.Equal(want, st.Progress) {
		t.Errorf("progress mismatch (-want +got):\n%s", cmp.Diff(want, st.Progress))
	}

	// The same progress later does not churn the status.
	run.Status = st
	var again, _ = computeStatus(run, observed{job: job(), pods: pod(driverRunning()),
		progress: &result.Progress{Loop: 2, Loops: 4, Docs: 300}}, testPolicy, t0.Add(time.Minute))
	if diff := cmp.Diff(st, again); diff != "" {
		t.Errorf("unchanged observation changed the status (-first +second):\n%s", diff)
	}
}

func TestComputeStatusFenceWaitsForPeer(t *testing.T) {
	var run = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence })
	var st, v = computeStatus(run, observed{peer: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pg-peer"}}}, testPolicy, t0)
	var c = meta.FindStatusCondition(st.Conditions, flowsimv1.ConditionStarted)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != flowsimv1.ReasonWaitingForPeer {
		t.Errorf("Started condition = %+v, want False/%s", c, flowsimv1.ReasonWaitingForPeer)
	}
	if st.Phase != flowsimv1.PhasePending || st.PeerPodName != "pg-peer" || v.finished {
		t.Errorf("phase=%s peerPodName=%q finished=%v, want Pending, pg-peer, false", st.Phase, st.PeerPodName, v.finished)
	}
}

func TestTruncate(t *testing.T) {
	var long = strings.Repeat("é", 3000)
	var got = truncate(long, 100)
	if len(got) > 100 || !strings.HasSuffix(got, "…(truncated)") || !strings.HasPrefix(got, "éé") {
		t.Errorf("truncate gave %d bytes %q", len(got), got)
	}
	if got := truncate("  short  ", 100); got != "short" {
		t.Errorf("truncate(short) = %q", got)
	}
}

// A run that could verify at-least-once delivery only says so in its status.
func TestComputeStatusAtLeastOnceOnly(t *testing.T) {
	var r = passed
	r.Test, r.AtLeastOnceOnly = "recovery", true
	var st, _ = computeStatus(startedRun(), observed{job: job(), pods: pod(driverExit(0, "Completed", resultJSON(r)))}, testPolicy, t0.Add(time.Minute))
	if st.Result == nil || !st.Result.AtLeastOnceOnly {
		t.Fatalf("status.result.atLeastOnceOnly not set: %+v", st.Result)
	}
	if !strings.Contains(st.Message, "verified at-least-once only") {
		t.Errorf("the status message must say verified at-least-once only: %q", st.Message)
	}
}

// A passing run's cleanup is in status.result; one that failed or was skipped is also
// in the message (the tables it left are the user's to drop), and the run still passed.
func TestComputeStatusCleanup(t *testing.T) {
	for _, c := range []struct{ cleanup, inMessage string }{
		{"done: dropped tables", ""},
		{"failed: ApplyDelete of t (version v): permission denied", "; cleanup failed: ApplyDelete of t"},
		{"skipped: the connector's protocol has no apply-delete", "; cleanup skipped:"},
	} {
		var r = passed
		r.Cleanup = c.cleanup
		var st, _ = computeStatus(startedRun(), observed{job: job(), pods: pod(driverExit(0, "Completed", resultJSON(r)))}, testPolicy, t0.Add(time.Minute))
		if st.Reason != flowsimv1.ReasonPassed || st.Result == nil || st.Result.Cleanup != c.cleanup {
			t.Fatalf("cleanup %q: reason %s, result %+v; want Passed with the cleanup", c.cleanup, st.Reason, st.Result)
		}
		if c.inMessage == "" && strings.Contains(st.Message, "cleanup") || c.inMessage != "" && !strings.Contains(st.Message, c.inMessage) {
			t.Errorf("cleanup %q: message %q, want it to contain %q", c.cleanup, st.Message, c.inMessage)
		}
	}
}

// The Job of a finished run is stopped while it still runs or retries, on every pass
// until it is gone, and left alone once it ends by itself.
func TestSettleStopsARunningJob(t *testing.T) {
	var run = startedRun()
	run.Status.Phase, run.Status.Reason = flowsimv1.PhaseFailed, flowsimv1.ReasonDeadlineExceeded
	var deleting = job()
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	var retry = append(pod(phase(corev1.PodFailed), driverExit(137, "Error", "")), pod(driverRunning(), func(p *corev1.Pod) {
		p.Name, p.CreationTimestamp = "pg-driver-fghij", metav1.Time{Time: t0.Add(time.Second)}
	})...)
	var cases = []struct {
		name string
		obs  observed
		stop bool
	}{
		{"driver runs", observed{job: job(), pods: pod(driverRunning())}, true},
		{"image pull: driver waiting", observed{job: job(), pods: pod(pulling(flowsimv1.ContainerConnector, "ImagePullBackOff"))}, true},
		{"no pod yet", observed{job: job()}, true},
		{"the Job retries after a driver exit", observed{job: job(), pods: retry}, true},
		{"driver exited, Job not updated yet", observed{job: job(), pods: pod(driverExit(1, "Error", "x"))}, false},
		{"Job failed", observed{job: job(jobCond(batchv1.JobFailed, "DeadlineExceeded")), pods: pod(driverRunning())}, false},
		{"Job failing", observed{job: job(jobCond(batchv1.JobFailureTarget, "DeadlineExceeded")), pods: pod(driverRunning())}, false},
		{"Job complete", observed{job: job(jobCond(batchv1.JobComplete, "CompletionsReached")), pods: pod(driverRunning())}, false},
		{"Job being deleted", observed{job: deleting, pods: pod(driverRunning())}, false},
		{"Job gone", observed{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for pass := range 2 { // level-triggered: the same observation, the same duty
				if s := settle(tc.obs); s.stopJob != tc.stop {
					t.Errorf("pass %d: stopJob = %v, want %v", pass, s.stopJob, tc.stop)
				}
			}
		})
	}
}
