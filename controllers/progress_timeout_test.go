package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// hangingLogs is a kubelet that never answers a log read until the caller gives up.
type hangingLogs struct{}

func (hangingLogs) TailLog(ctx context.Context, _, _, _ string, _ int64) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// Issue 20 finding 11: a progress read that never answers gives up after
// progressReadTimeout instead of holding the reconcile worker for good.
func TestReadProgressHasATimeout(t *testing.T) {
	var r = &MatSimRunReconciler{Logs: hangingLogs{}}
	var pod = corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "run-driver-x"}}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: flowsimv1.ContainerDriver, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	var obs = observed{pods: []corev1.Pod{pod}}
	var done = make(chan struct{})
	go func() {
		r.readProgress(context.Background(), &obs)
		close(done)
	}()
	select {
	case <-done:
		if obs.progress != nil {
			t.Errorf("progress %+v from a log read that never answered", obs.progress)
		}
	case <-time.After(progressReadTimeout + 10*time.Second):
		t.Fatalf("readProgress still waiting %v after the kubelet stopped answering", progressReadTimeout+10*time.Second)
	}
}
