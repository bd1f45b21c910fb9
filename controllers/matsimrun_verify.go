package controllers

import (
	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// verifyArgs are the driver's flags for spec.verify: --verify-sql, and the
// connection mounted from its Secret (else the driver uses the connector's config).
func verifyArgs(run *flowsimv1.MatSimRun) []string {
	var v = run.Spec.Verify
	if v == nil {
		return nil
	}
	var args = []string{"--verify-sql", v.SQL}
	if v.SecretRef != nil {
		args = append(args, "--verify-connection", VerifyDir+"/"+v.SecretRef.Key)
	}
	return args
}

// mountVerifySecret mounts spec.verify.secretRef into the driver container (the
// pod's first container) only.
func mountVerifySecret(run *flowsimv1.MatSimRun, pod *corev1.PodSpec) {
	if run.Spec.Verify == nil || run.Spec.Verify.SecretRef == nil {
		return
	}
	var ref = run.Spec.Verify.SecretRef
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: volumeVerify, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{
			SecretName:  ref.Name,
			Items:       []corev1.KeyToPath{{Key: ref.Key, Path: ref.Key}},
			DefaultMode: ptr.To[int32](0o440),
		}}})
	pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: volumeVerify, MountPath: VerifyDir, ReadOnly: true})
}
