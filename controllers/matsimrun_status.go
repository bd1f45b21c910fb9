package controllers

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/result"
)

// StatusOptions are the policies of the status computation.
type StatusOptions struct {
	// ImagePullGracePeriod is how long a pod may fail to pull an image before the run fails.
	ImagePullGracePeriod time.Duration
	// ConnectorRestartLimit is how many times the connector sidecar may crash before the
	// driver started before the run fails.
	ConnectorRestartLimit int32
}

// maxMessage bounds status.message (the driver's own message is already bounded by the
// 4 KiB termination message).
const maxMessage = 2048

// observed is what the reconciler saw of a run's children in one pass.
type observed struct {
	// job is the driver Job, nil when absent.
	job *batchv1.Job
	// jobGone: the Job was created earlier (status.jobName) and is confirmed deleted.
	jobGone bool
	// pods are the driver pods of the Job.
	pods []corev1.Pod
	// peer is the fence peer pod, nil when absent; peerGone: it existed and was deleted.
	peer     *corev1.Pod
	peerGone bool
	// notAllowed says why the admission policy forbids the run (nothing created yet).
	notAllowed string
	// conflict names a child's name taken by an object the run does not control.
	conflict string
	// progress read from the driver's log, if any.
	progress *result.Progress
}

// verdict is the outcome of computeStatus beyond the new status.
type verdict struct {
	// finished: the run reached a terminal phase in this pass (settle says what to stop).
	finished bool
	// requeueAfter is the next deadline at which the status may change without a watch
	// event (timeout, image pull grace, progress refresh); 0: none.
	requeueAfter time.Duration
}

// latestPod returns the most recently created pod, or nil.
func latestPod(pods []corev1.Pod) *corev1.Pod {
	if len(pods) == 0 {
		return nil
	}
	var latest = slices.MaxFunc(pods, func(a, b corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	return &latest
}

func findStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	if pod == nil {
		return nil
	}
	if s := findStatus(pod.Status.ContainerStatuses, name); s != nil {
		return s
	}
	return findStatus(pod.Status.InitContainerStatuses, name)
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	if job == nil {
		return nil
	}
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	const marker = " …(truncated)"
	s = s[:n-len(marker)]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + marker
}

// connectorCrash describes the last non-zero exit of a connector container, if any.
func connectorCrash(s *corev1.ContainerStatus, where string) (string, bool) {
	return connectorCrashBefore(s, where, nil)
}

// sidecarCrash is connectorCrash for the driver pod's sidecar: once the driver has
// exited, the kubelet stops the sidecar (SIGTERM, then SIGKILL after the grace period),
// and that exit is no crash.
func sidecarCrash(pod *corev1.Pod) (string, bool) {
	var driverEnd *metav1.Time
	if d := containerStatus(pod, flowsimv1.ContainerDriver); d != nil && d.State.Terminated != nil {
		driverEnd = &d.State.Terminated.FinishedAt
	}
	return connectorCrashBefore(containerStatus(pod, flowsimv1.ContainerConnector), "sidecar", driverEnd)
}

func stoppedAfter(t *corev1.ContainerStateTerminated, end *metav1.Time) bool {
	if end == nil || t.FinishedAt.Before(end) {
		return false
	}
	// Timestamps have one-second precision: in the driver's last second, only the
	// signals the kubelet stops containers with count as stopping.
	return t.FinishedAt.Time.After(end.Time) || (t.Reason != "OOMKilled" && (t.ExitCode == 128+15 || t.ExitCode == 128+9))
}

func connectorCrashBefore(s *corev1.ContainerStatus, where string, driverEnd *metav1.Time) (string, bool) {
	if s == nil {
		return "", false
	}
	var t = s.State.Terminated
	if t == nil || t.ExitCode == 0 || stoppedAfter(t, driverEnd) {
		t = s.LastTerminationState.Terminated
	}
	if t == nil || t.ExitCode == 0 {
		return "", false
	}
	var msg = fmt.Sprintf("the connector %s exited with code %d", where, t.ExitCode)
	if t.Reason != "" && t.Reason != "Error" {
		msg += " (" + t.Reason + ")"
	}
	if s.RestartCount > 0 {
		msg += fmt.Sprintf(" after %d restart(s)", s.RestartCount)
	}
	if log := strings.TrimSpace(t.Message); log != "" {
		msg += "; last log lines:\n" + log
	}
	return msg, true
}

var pullFailures = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "RegistryUnavailable": true,
}

// imagePullFailure reports a container of pod stuck pulling its image, and when the grace
// period for it ends (measured from the pod's creation, so restarts don't reset it).
func imagePullFailure(pod *corev1.Pod, grace time.Duration) (msg string, deadline time.Time, found bool) {
	if pod == nil {
		return "", time.Time{}, false
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if w := s.State.Waiting; w != nil && pullFailures[w.Reason] {
				var spec = s.Image
				for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
					if c.Name == s.Name {
						spec = c.Image
					}
				}
				msg = fmt.Sprintf("image %q of container %q in pod %s could not be pulled (%s)", spec, s.Name, pod.Name, w.Reason)
				if w.Message != "" {
					msg += ": " + w.Message
				}
				return msg, pod.CreationTimestamp.Add(grace), true
			}
		}
	}
	return "", time.Time{}, false
}

func podDeleted(pod *corev1.Pod) bool {
	if pod == nil {
		return true
	}
	if pod.DeletionTimestamp != nil {
		return true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func resultStatus(r result.Result) *flowsimv1.RunResult {
	return &flowsimv1.RunResult{
		Outcome:         string(r.Outcome),
		Protocol:        r.Protocol,
		LoopsDone:       int32(r.LoopsDone),
		Loops:           int32(r.Loops),
		Loaded:          r.Loaded,
		Stored:          r.Stored,
		Verified:        r.Verified,
		Duration:        metav1.Duration{Duration: time.Duration(r.DurationMillis) * time.Millisecond},
		DocsPerSecond:   strconv.FormatFloat(r.DocsPerSecond, 'f', 1, 64),
		Check:           r.Check,
		Message:         r.Message,
		AtLeastOnceOnly: r.AtLeastOnceOnly,
		Cleanup:         r.Cleanup,
	}
}

// outcome is a terminal verdict: a phase with its reason and message.
type outcome struct {
	phase   flowsimv1.RunPhase
	reason  string
	message string
	result  *flowsimv1.RunResult
	seed    uint64
}

func failed(reason, format string, args ...any) *outcome {
	return &outcome{phase: flowsimv1.PhaseFailed, reason: reason, message: fmt.Sprintf(format, args...)}
}

// driverOutcome judges a driver container that terminated.
func driverOutcome(pod *corev1.Pod, final bool) *outcome {
	var s = containerStatus(pod, flowsimv1.ContainerDriver)
	if s == nil || s.State.Terminated == nil {
		return nil
	}
	var t = s.State.Terminated
	var crash, crashed = sidecarCrash(pod)

	if r, err := result.Parse([]byte(t.Message)); err == nil {
		var o = &outcome{result: resultStatus(r), seed: r.Seed}
		switch {
		case r.Outcome == result.Passed:
			o.phase, o.reason = flowsimv1.PhaseSucceeded, flowsimv1.ReasonPassed
			o.message = fmt.Sprintf("%s passed: %d loops, %d documents stored, %d loaded, %d verified",
				r.Test, r.LoopsDone, r.Stored, r.Loaded, r.Verified)
			if r.AtLeastOnceOnly {
				o.message += "; " + result.AtLeastOnceHeadline + " (the connector returned no Flow checkpoint; set spec.exactlyOnce to require one)"
			}
			if strings.HasPrefix(r.Cleanup, "failed") || strings.HasPrefix(r.Cleanup, "skipped") {
				o.message += "; cleanup " + r.Cleanup
			}
		case crashed:
			// The driver's complaint is a consequence; the crash is what to fix.
			o.phase, o.reason, o.message = flowsimv1.PhaseFailed, flowsimv1.ReasonConnectorCrashed, crash
		case r.Outcome == result.Failed:
			o.phase, o.reason = flowsimv1.PhaseFailed, flowsimv1.ReasonCheckFailed
			o.message = fmt.Sprintf("check %s failed: %s", r.Check, r.Message)
		case r.Outcome == result.Interrupted:
			// Stopped by a signal (eviction, drain, deletion): nobody's verdict.
			o.phase, o.reason, o.message = flowsimv1.PhaseFailed, flowsimv1.ReasonInterrupted, r.Message
		default:
			o.phase, o.reason = flowsimv1.PhaseFailed, flowsimv1.ReasonSetupError
			o.message = r.Message
		}
		return o
	}
	// No readable result: the Job may retry this pod, so wait for its verdict.
	if !final {
		return nil
	}
	switch {
	case t.Reason == "OOMKilled":
		return failed(flowsimv1.ReasonDriverOOMKilled, "the driver container was OOM-killed (exit code %d); raise spec.driver.resources.limits.memory", t.ExitCode)
	case crashed:
		return failed(flowsimv1.ReasonConnectorCrashed, "%s", crash)
	default:
		var msg = fmt.Sprintf("the driver exited with code %d without a readable result", t.ExitCode)
		if m := strings.TrimSpace(t.Message); m != "" {
			msg += ": " + m
		}
		return failed(flowsimv1.ReasonDriverFailed, "%s", msg)
	}
}

// judge decides whether the run is over, and why. It returns nil while the run goes on,
// with the next time at which that may change without a watch event.
func judge(run *flowsimv1.MatSimRun, start *metav1.Time, obs observed, opts StatusOptions, now time.Time) (*outcome, time.Time) {
	var pod = latestPod(obs.pods)
	var jobFailed = jobCondition(obs.job, batchv1.JobFailed)
	var jobComplete = jobCondition(obs.job, batchv1.JobComplete)
	var final = jobFailed != nil || jobComplete != nil

	if obs.notAllowed != "" {
		return failed(flowsimv1.ReasonNotAllowed, "%s", obs.notAllowed), time.Time{}
	}
	if obs.conflict != "" {
		return failed(flowsimv1.ReasonNameConflict, "%s", obs.conflict), time.Time{}
	}
	if o := driverOutcome(pod, final); o != nil {
		return o, time.Time{}
	}
	if obs.jobGone {
		return failed(flowsimv1.ReasonJobDeleted, "the driver Job %s was deleted before the run finished", run.Status.JobName), time.Time{}
	}
	if jobComplete != nil {
		return failed(flowsimv1.ReasonDriverFailed, "the driver Job completed but its pod's result is gone"), time.Time{}
	}
	if jobFailed != nil {
		switch {
		case jobFailed.Reason == batchv1.JobReasonDeadlineExceeded:
			return failed(flowsimv1.ReasonDeadlineExceeded, "the run did not finish within its timeout of %ds", TimeoutSeconds(run)), time.Time{}
		case pod == nil || podDeleted(pod):
			return failed(flowsimv1.ReasonPodDeleted, "the driver pod was deleted before the run finished (Job: %s)", jobFailed.Message), time.Time{}
		}
		if crash, ok := sidecarCrash(pod); ok {
			return failed(flowsimv1.ReasonConnectorCrashed, "%s", crash), time.Time{}
		}
		return failed(flowsimv1.ReasonJobFailed, "the driver Job failed: %s: %s", jobFailed.Reason, jobFailed.Message), time.Time{}
	}

	// The run goes on, unless it ran out of time or is stuck.
	var next time.Time
	if start != nil {
		var deadline = start.Add(time.Duration(TimeoutSeconds(run)) * time.Second)
		if !now.Before(deadline) {
			return failed(flowsimv1.ReasonDeadlineExceeded, "the run did not finish within its timeout of %ds", TimeoutSeconds(run)), time.Time{}
		}
		next = deadline
	}
	for _, p := range []*corev1.Pod{pod, obs.peer} {
		if msg, deadline, ok := imagePullFailure(p, opts.ImagePullGracePeriod); ok {
			if !now.Before(deadline) {
				return failed(flowsimv1.ReasonImagePullFailed, "%s", msg), time.Time{}
			}
			next = earliest(next, deadline)
		}
	}
	if s := containerStatus(pod, flowsimv1.ContainerConnector); s != nil && s.RestartCount >= opts.ConnectorRestartLimit {
		if d := containerStatus(pod, flowsimv1.ContainerDriver); d == nil || (d.State.Running == nil && d.State.Terminated == nil) {
			if crash, ok := sidecarCrash(pod); ok {
				return failed(flowsimv1.ReasonConnectorCrashed, "%s", crash), time.Time{}
			}
		}
	}
	if run.Spec.Test == flowsimv1.TestFence {
		if obs.peerGone || (obs.peer != nil && obs.peer.DeletionTimestamp != nil) {
			return failed(flowsimv1.ReasonPodDeleted, "the fence peer pod %s was deleted before the run finished", PeerName(run)), time.Time{}
		}
		if obs.peer != nil && obs.peer.Status.Phase == corev1.PodFailed {
			var msg, ok = connectorCrash(containerStatus(obs.peer, flowsimv1.ContainerConnector), "in the fence peer pod")
			if !ok {
				msg = fmt.Sprintf("the fence peer pod failed: %s %s", obs.peer.Status.Reason, obs.peer.Status.Message)
			}
			return failed(flowsimv1.ReasonConnectorCrashed, "%s", strings.TrimSpace(msg)), time.Time{}
		}
	}
	return nil, next
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// peerReady reports whether the fence peer pod serves (its Ready condition is True).
func peerReady(peer *corev1.Pod) bool {
	if peer == nil || peer.DeletionTimestamp != nil {
		return false
	}
	for _, c := range peer.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// computeStatus derives the run's next status from what was observed. It is pure: the
// reconciler writes the result (if it changed) and carries out the verdict.
func computeStatus(run *flowsimv1.MatSimRun, obs observed, opts StatusOptions, now time.Time) (flowsimv1.MatSimRunStatus, verdict) {
	var st = *run.Status.DeepCopy()
	var v verdict
	st.ObservedGeneration = run.Generation
	st.Seed = ptrTo(SeedFor(run))
	if st.Phase == "" {
		st.Phase = flowsimv1.PhasePending
	}
	if run.Spec.Test == flowsimv1.TestFence && obs.peer != nil {
		st.PeerPodName = obs.peer.Name
	}
	var pod = latestPod(obs.pods)
	if pod != nil {
		st.PodName = pod.Name
	}
	if obs.job != nil {
		st.JobName = obs.job.Name
		var s = obs.job.Status
		st.Attempts = max(st.Attempts, s.Active+s.Failed+s.Succeeded, int32(len(obs.pods)))
		setCondition(&st, run, flowsimv1.ConditionStarted, metav1.ConditionTrue, flowsimv1.ReasonJobCreated,
			fmt.Sprintf("Created Job %s", obs.job.Name), now)
	} else if st.JobName == "" && run.Spec.Test == flowsimv1.TestFence {
		setCondition(&st, run, flowsimv1.ConditionStarted, metav1.ConditionFalse, flowsimv1.ReasonWaitingForPeer,
			fmt.Sprintf("Waiting for the fence peer pod %s to be ready", PeerName(run)), now)
	}

	if st.StartTime == nil && (obs.job != nil || obs.peer != nil) {
		st.StartTime = ptrTo(metav1.NewTime(now))
	}
	var o, next = judge(run, st.StartTime, obs, opts, now)
	if o == nil {
		if pod != nil && pod.Status.Phase == corev1.PodRunning {
			st.Phase = flowsimv1.PhaseRunning
		}
		if p := obs.progress; p != nil && st.Phase == flowsimv1.PhaseRunning {
			var next = flowsimv1.RunProgress{Loop: int32(p.Loop), Loops: int32(p.Loops), Documents: p.Docs}
			if old := st.Progress; old == nil || old.Loop != next.Loop || old.Loops != next.Loops || old.Documents != next.Documents {
				next.UpdatedAt = ptrTo(metav1.NewTime(now))
				st.Progress = &next
			}
		}
		if !next.IsZero() {
			v.requeueAfter = max(next.Sub(now), time.Second)
		}
		return st, v
	}

	v.finished = true
	redactOutcome(run, o)
	st.Phase, st.Reason, st.Message = o.phase, o.reason, truncate(o.message, maxMessage)
	if o.result != nil {
		st.Result = o.result
		if o.seed > 0 && o.seed <= math.MaxInt64 {
			st.Seed = ptrTo(int64(o.seed)) // the seed the driver really used
		}
		if o.result.Loops > 0 {
			st.Progress = &flowsimv1.RunProgress{Loop: o.result.LoopsDone, Loops: o.result.Loops,
				Documents: o.result.Loaded + o.result.Stored, UpdatedAt: ptrTo(metav1.NewTime(now))}
		}
	}
	st.CompletionTime = ptrTo(metav1.NewTime(now))
	if o.phase == flowsimv1.PhaseSucceeded {
		setCondition(&st, run, flowsimv1.ConditionComplete, metav1.ConditionTrue, o.reason, st.Message, now)
	} else {
		setCondition(&st, run, flowsimv1.ConditionFailed, metav1.ConditionTrue, o.reason, st.Message, now)
	}
	return st, v
}

// settlement is what a pass over a finished run does.
type settlement struct {
	// stopJob: the Job still runs although the run is over; delete it.
	stopJob bool
}

// settle derives the duties of a pass over a finished run. It is pure and
// level-triggered: whatever an earlier pass left undone (a Delete that failed, a manager
// that stopped between the status write and the stop) is seen and done again, and what
// was done is not repeated. The status of a finished run does not change.
func settle(obs observed) settlement {
	return settlement{stopJob: jobStillRuns(obs)}
}

// jobStillRuns reports whether the driver Job of a finished run still runs or retries:
// it has not completed or failed, is not being deleted, and its latest pod's driver has
// not exited. A driver that exited leaves the Job to end by itself and keep its pod's
// logs until spec.ttlSecondsAfterFinished; a Job whose driver never ran or still runs
// (timeout, image pull, crash loop, fence peer gone) would otherwise pull, crash-loop or
// run until its activeDeadlineSeconds.
func jobStillRuns(obs observed) bool {
	var job = obs.job
	if job == nil || job.DeletionTimestamp != nil {
		return false
	}
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed, batchv1.JobSuccessCriteriaMet, batchv1.JobFailureTarget} {
		if jobCondition(job, t) != nil {
			return false // the Job controller ends it
		}
	}
	var d = containerStatus(latestPod(obs.pods), flowsimv1.ContainerDriver)
	return d == nil || d.State.Terminated == nil
}

func setCondition(st *flowsimv1.MatSimRunStatus, run *flowsimv1.MatSimRun, t string, s metav1.ConditionStatus, reason, msg string, now time.Time) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: truncate(msg, maxMessage),
		ObservedGeneration: run.Generation, LastTransitionTime: metav1.NewTime(now),
	})
}

func ptrTo[T any](v T) *T { return &v }
