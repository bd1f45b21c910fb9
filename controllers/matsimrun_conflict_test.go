package controllers

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// Story (issue 20 finding 6): a namespace user already has a Job named <run>-driver, or a
// NetworkPolicy named <run>-connector. The run does not adopt them (nor wait on them
// until its timeout): it fails at once with reason NameConflict naming the object.
func TestStoryRunDoesNotAdoptChildrenItDoesNotControl(t *testing.T) {
	var e = newTestEnv(t)
	var job = &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "squat-driver"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
				Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}}}}}}
	var policy = &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "squat2-connector"}}
	for _, obj := range []client.Object{job, policy} {
		if err := e.c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s: %v", obj.GetName(), err)
		}
	}
	for run, want := range map[string]string{
		"squat":  "Job " + e.ns + "/squat-driver already exists and is not controlled by this MatSimRun",
		"squat2": "NetworkPolicy " + e.ns + "/squat2-connector already exists and is not controlled by this MatSimRun",
	} {
		e.newRun(run)
		var got = e.waitRun(run, "fails with NameConflict", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonNameConflict))
		if !strings.Contains(got.Status.Message, want) {
			t.Errorf("run %s: message %q, want it to say %q", run, got.Status.Message, want)
		}
	}
	var j batchv1.Job
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(job), &j); err != nil || len(j.OwnerReferences) != 0 {
		t.Errorf("the user's Job: %v, owners %v; want it untouched", err, j.OwnerReferences)
	}
}
