package controllers

import (
	"slices"
	"testing"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestVerifyWiring(t *testing.T) {
	const query = "SELECT flow_document FROM $FLOWSIM_TABLE"
	for _, tc := range []struct {
		name      string
		verify    *flowsimv1.VerifySpec
		wantArgs  []string
		wantMount bool
	}{
		{"no verify", nil, nil, false},
		{"the connector's config is the connection", &flowsimv1.VerifySpec{SQL: query}, []string{"--verify-sql", query}, false},
		{"a connection Secret", &flowsimv1.VerifySpec{SQL: query, SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-verify", Key: "conn.yaml"}},
			[]string{"--verify-sql", query, "--verify-connection", "/etc/flowsim/verify/conn.yaml"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var run = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Test, r.Spec.Verify = flowsimv1.TestDelta, tc.verify })
			var args, err = DriverArgs(run)
			if err != nil {
				t.Fatal(err)
			}
			var at = slices.Index(args, "--verify-sql")
			var got []string
			if at >= 0 {
				got = args[at : at+len(tc.wantArgs)]
			}
			if diff := cmp.Diff(tc.wantArgs, got); diff != "" {
				t.Errorf("verify args (-want +got):\n%s", diff)
			}
			job, err := JobForRun(run, testBuild)
			if err != nil {
				t.Fatal(err)
			}
			var pod = job.Spec.Template.Spec
			var vol = slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == volumeVerify })
			var driverMount = slices.IndexFunc(pod.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volumeVerify })
			if (vol >= 0) != tc.wantMount || (driverMount >= 0) != tc.wantMount {
				t.Fatalf("verify Secret volume %d, driver mount %d; want mounted=%v", vol, driverMount, tc.wantMount)
			}
			if tc.wantMount {
				var want = corev1.Volume{Name: volumeVerify, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "pg-verify", Items: []corev1.KeyToPath{{Key: "conn.yaml", Path: "conn.yaml"}}, DefaultMode: ptr.To[int32](0o440)}}}
				if diff := cmp.Diff(want, pod.Volumes[vol]); diff != "" {
					t.Errorf("volume (-want +got):\n%s", diff)
				}
				for _, c := range append(pod.InitContainers, pod.Containers[1:]...) {
					for _, m := range c.VolumeMounts {
						if m.Name == volumeVerify {
							t.Errorf("container %s mounts the verify Secret; only the driver may", c.Name)
						}
					}
				}
			}
		})
	}
}
