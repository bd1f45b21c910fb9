//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/controllers"
)

// The operator's overhead on a real cluster. Each benchmark measures once per b.N
// iteration; run them with -benchtime 1x (make e2e does). Numbers go to the README's
// performance section.

// BenchmarkRunVersusJob: create → Succeeded of a MatSimRun against the reference connector,
// versus create → Complete of a Job applied by hand with exactly the pod the operator
// builds (controllers.JobForRun). The run ends when the driver's result is in; the Job only
// after its sidecar has stopped too. The ratio run/job must stay ≤ 1.
func BenchmarkRunVersusJob(b *testing.B) {
	var ns = newNamespace(b, "bench-job")
	const samples = 3
	var runTotal, jobTotal time.Duration
	for i := 0; i < b.N; i++ {
		for s := 0; s < samples; s++ {
			var name = fmt.Sprintf("cmp-%d-%d", i, s)
			var run = referenceRun(ns, name, flowsimv1.TestBasic, refConfig)
			var t0 = time.Now()
			create(b, run)
			var got = waitFinished(b, run, 5*time.Minute)
			runTotal += time.Since(t0)
			assertStatus(b, got, passed)

			var job, err = controllers.JobForRun(got, controllers.BuildOptions{FlowsimImage: flowsimImage})
			if err != nil {
				b.Fatal(err)
			}
			job.Name, job.OwnerReferences = name+"-by-hand", nil
			t0 = time.Now()
			create(b, job)
			waitJobComplete(b, job, 5*time.Minute)
			jobTotal += time.Since(t0)
		}
	}
	var n = float64(b.N * samples)
	var runS, jobS = runTotal.Seconds() / n, jobTotal.Seconds() / n
	b.ReportMetric(runS, "run-s")
	b.ReportMetric(jobS, "job-s")
	b.ReportMetric(runS/jobS, "run/job")
	if runS > jobS {
		b.Errorf("a MatSimRun took %.2fs to Succeeded, the same pod as a hand-made Job %.2fs to Complete: the operator adds overhead (ratio %.2f > 1)", runS, jobS, runS/jobS)
	}
}

func waitJobComplete(b testing.TB, job *batchv1.Job, timeout time.Duration) {
	b.Helper()
	var ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var got batchv1.Job
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(job), &got); err == nil {
			for _, c := range got.Status.Conditions {
				if c.Status != corev1.ConditionTrue {
					continue
				}
				switch c.Type {
				case batchv1.JobComplete:
					return
				case batchv1.JobFailed:
					b.Fatalf("the hand-made Job %s failed: %s: %s\n%s", job.Name, c.Reason, c.Message, describePods(job.Namespace))
				}
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("the hand-made Job %s did not complete within %s\n%s", job.Name, timeout, describePods(job.Namespace))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// BenchmarkConcurrentRuns: 50 small runs created at once; runs per minute until the last
// one Succeeded, and pod-start latency (pod created → driver container started, as the
// kubelet reports it with one-second precision).
func BenchmarkConcurrentRuns(b *testing.B) {
	const runs = 50
	for i := 0; i < b.N; i++ {
		var ns = newNamespace(b, "bench-50")
		var t0 = time.Now()
		for r := 0; r < runs; r++ {
			var run = referenceRun(ns, fmt.Sprintf("r%02d", r), flowsimv1.TestBasic, refConfig)
			run.Spec.Loops, run.Spec.Start = ptr.To[int32](2), ptr.To[int32](20)
			create(b, run)
		}
		var list = waitAllFinished(b, ns, runs, 10*time.Minute)
		var elapsed = time.Since(t0)

		var latencies []time.Duration
		for _, run := range list {
			if run.Status.Phase != flowsimv1.PhaseSucceeded {
				b.Fatalf("run %s: %s/%s %q", run.Name, run.Status.Phase, run.Status.Reason, run.Status.Message)
			}
			var pod corev1.Pod
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: run.Status.PodName}, &pod); err != nil {
				b.Fatalf("run %s: pod %s: %v", run.Name, run.Status.PodName, err)
			}
			if started, ok := driverStarted(&pod); ok {
				latencies = append(latencies, started.Sub(pod.CreationTimestamp.Time))
			}
		}
		if len(latencies) != runs {
			b.Fatalf("driver start time known for %d of %d pods", len(latencies), runs)
		}
		slices.Sort(latencies)
		var sum time.Duration
		for _, l := range latencies {
			sum += l
		}
		b.ReportMetric(runs/elapsed.Minutes(), "runs/min")
		b.ReportMetric(elapsed.Seconds(), "all-s")
		b.ReportMetric(sum.Seconds()/runs, "pod-start-mean-s")
		b.ReportMetric(latencies[runs*95/100-1].Seconds(), "pod-start-p95-s")
	}
}

func driverStarted(pod *corev1.Pod) (time.Time, bool) {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name != flowsimv1.ContainerDriver {
			continue
		}
		switch {
		case s.State.Terminated != nil:
			return s.State.Terminated.StartedAt.Time, true
		case s.State.Running != nil:
			return s.State.Running.StartedAt.Time, true
		}
	}
	return time.Time{}, false
}

func waitAllFinished(b testing.TB, ns string, n int, timeout time.Duration) []flowsimv1.MatSimRun {
	b.Helper()
	var ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var list flowsimv1.MatSimRunList
		var done int
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err == nil {
			for _, r := range list.Items {
				if r.Status.Phase.IsFinished() {
					done++
				}
			}
			if done == n && len(list.Items) == n {
				return list.Items
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%d of %d runs finished within %s\n%s", done, n, timeout, describePods(ns))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
