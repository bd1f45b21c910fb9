package controllers

import (
	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

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
