package controllers

import (
	"fmt"
	"hash/fnv"
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// BuildOptions are the operator-wide settings the pure builders need.
type BuildOptions struct {
	// FlowsimImage holds the static flowsim binary at FlowsimBinary; it runs the install
	// init container and the driver unless spec.driver.image overrides it.
	FlowsimImage string
	// FlowsimImagePullPolicy for FlowsimImage (empty: the Kubernetes default).
	FlowsimImagePullPolicy corev1.PullPolicy
}

// DefaultTimeout applies when spec.timeout is unset (the CRD defaults it too).
const DefaultTimeout = 30 * 60 // seconds

// Child object names, deterministic so that a restarted manager finds what it created.

// JobName is the name of the run's driver Job.
func JobName(run *flowsimv1.MatSimRun) string { return run.Name + driverJobSuffix }

// PeerName is the name of the fence test's peer pod and Service.
func PeerName(run *flowsimv1.MatSimRun) string { return run.Name + peerSuffix }

// PolicyName is the name of the NetworkPolicy guarding the run's connector ports.
func PolicyName(run *flowsimv1.MatSimRun) string { return run.Name + policySuffix }

// PeerEndpoint is the address the fence driver dials for its second stream.
func PeerEndpoint(run *flowsimv1.MatSimRun) string {
	return fmt.Sprintf("%s.%s.svc:%d", PeerName(run), run.Namespace, ProxyPort)
}

// Labels returns the labels of a child object with the given role.
func Labels(run *flowsimv1.MatSimRun, role string) map[string]string {
	return map[string]string{
		flowsimv1.LabelName:      flowsimv1.ValueName,
		flowsimv1.LabelInstance:  run.Name,
		flowsimv1.LabelComponent: role,
		flowsimv1.LabelManagedBy: flowsimv1.ValueManagedBy,
		flowsimv1.LabelPartOf:    flowsimv1.ValuePartOf,
		flowsimv1.LabelRun:       run.Name,
		flowsimv1.LabelRole:      role,
		flowsimv1.LabelTest:      string(run.Spec.Test),
	}
}

// selectorLabels select the run's objects with a role; a subset of Labels.
func selectorLabels(run *flowsimv1.MatSimRun, role string) map[string]string {
	return map[string]string{flowsimv1.LabelRun: run.Name, flowsimv1.LabelRole: role}
}

// SeedFor is the generator seed of a run: spec.seed, else a value derived from the run's
// UID (stable across reconciles and manager restarts, different for every run).
func SeedFor(run *flowsimv1.MatSimRun) int64 {
	if run.Spec.Seed != nil {
		return *run.Spec.Seed
	}
	var h = fnv.New64a()
	_, _ = h.Write([]byte(run.UID))
	// Never 0, which the driver takes for "pick a random seed".
	return max(int64(h.Sum64()&math.MaxInt64), 1)
}

// TimeoutSeconds is spec.timeout in whole seconds (at least 1).
func TimeoutSeconds(run *flowsimv1.MatSimRun) int64 {
	if run.Spec.Timeout == nil {
		return DefaultTimeout
	}
	return max(int64(run.Spec.Timeout.Duration.Seconds()), 1)
}

func flowsimImage(run *flowsimv1.MatSimRun, opts BuildOptions) (string, corev1.PullPolicy) {
	if run.Spec.Driver.Image != "" {
		return run.Spec.Driver.Image, ""
	}
	return opts.FlowsimImage, opts.FlowsimImagePullPolicy
}

// proxyCommand runs the connector behind the connector proxy.
func proxyCommand(run *flowsimv1.MatSimRun) []string {
	var entry = run.Spec.Connector.Command
	if len(entry) == 0 {
		entry = []string{DefaultConnectorEntrypoint}
	}
	// The proxy listens on every interface: the kubelet's gRPC probes dial the pod IP.
	// The run's NetworkPolicy admits only the run's driver pod.
	// The proxy owns its child's revision (spec.connector.protocol) and adapts a
	// 2021-10 connector; the driver sees 2021-12. It writes the termination message
	// itself, redacted (the kubelet's fallback to the log's tail would quote whatever
	// the connector printed of its config).
	var protocol = run.Spec.Connector.Protocol
	if protocol == "" {
		protocol = flowsimv1.ProtocolAuto
	}
	var cmd = []string{FlowsimBinary, "connector-proxy", "--listen", fmt.Sprintf("0.0.0.0:%d", ProxyPort),
		"--protocol", string(protocol), "--termination-log", corev1.TerminationMessagePathDefault, "--"}
	return append(cmd, entry...)
}

// restrictedContainer is the "restricted" Pod Security Standard for a container.
func restrictedContainer(readOnlyRoot bool) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr.To(readOnlyRoot),
		RunAsNonRoot:             ptr.To(true),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func restrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](NonRootUID),
		RunAsGroup:     ptr.To[int64](NonRootUID),
		FSGroup:        ptr.To[int64](NonRootUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func grpcProbe(period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: ProxyPort}},
		PeriodSeconds:    period,
		TimeoutSeconds:   2,
		FailureThreshold: failures,
	}
}

// installContainer copies the static flowsim binary into the shared emptyDir, so the
// connector image (which knows nothing of flowsim) can run the proxy.
func installContainer(run *flowsimv1.MatSimRun, opts BuildOptions) corev1.Container {
	var image, policy = flowsimImage(run, opts)
	return corev1.Container{
		Name:            flowsimv1.ContainerInstall,
		Image:           image,
		ImagePullPolicy: policy,
		Command:         []string{FlowsimBinary, "install", "--to", InstallDir},
		VolumeMounts:    []corev1.VolumeMount{{Name: volumeFlowsim, MountPath: InstallDir}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("16Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restrictedContainer(true),
	}
}

// connectorContainer runs the connector under test behind the proxy. The proxy keeps the
// redacted tail of its log in the termination message file, for status.message; the
// kubelet never falls back to the raw log.
func connectorContainer(run *flowsimv1.MatSimRun) corev1.Container {
	return corev1.Container{
		Name:            flowsimv1.ContainerConnector,
		Image:           run.Spec.Connector.Image,
		ImagePullPolicy: run.Spec.Connector.ImagePullPolicy,
		Command:         proxyCommand(run),
		Env:             run.Spec.Connector.Env,
		Resources:       run.Spec.Connector.Resources,
		Ports: []corev1.ContainerPort{{
			Name: ProxyPortName, ContainerPort: ProxyPort, Protocol: corev1.ProtocolTCP,
		}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volumeFlowsim, MountPath: FlowsimDir, ReadOnly: true},
			{Name: volumeTmp, MountPath: "/tmp"},
		},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		// Connector images are arbitrary and may write outside /tmp.
		SecurityContext: restrictedContainer(false),
	}
}

func basePodSpec(run *flowsimv1.MatSimRun) corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		ImagePullSecrets:             run.Spec.Connector.ImagePullSecrets,
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext:              restrictedPod(),
		Volumes: []corev1.Volume{
			{Name: volumeFlowsim, VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("256Mi"))}}},
			{Name: volumeTmp, VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("1Gi"))}}},
		},
	}
}

func ownerRef(run *flowsimv1.MatSimRun) []metav1.OwnerReference {
	return []metav1.OwnerReference{*metav1.NewControllerRef(run, flowsimv1.GroupVersion.WithKind("MatSimRun"))}
}

// JobForRun is the driver Job: one pod with the flowsim install init container, the
// connector as a native sidecar (init container with restartPolicy Always) and the
// matsim driver, whose exit completes the Job.
func JobForRun(run *flowsimv1.MatSimRun, opts BuildOptions) (*batchv1.Job, error) {
	var args, err = DriverArgs(run)
	if err != nil {
		return nil, err
	}
	var image, policy = flowsimImage(run, opts)
	var labels = Labels(run, flowsimv1.RoleDriver)

	var connector = connectorContainer(run)
	connector.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	// The driver starts only once the proxy serves; until then the connector may be
	// pulling its own dependencies, so allow two minutes.
	connector.StartupProbe = grpcProbe(2, 60)
	connector.ReadinessProbe = grpcProbe(10, 3)

	var driver = corev1.Container{
		Name:                     flowsimv1.ContainerDriver,
		Image:                    image,
		ImagePullPolicy:          policy,
		Command:                  []string{FlowsimBinary},
		Args:                     args,
		Resources:                run.Spec.Driver.Resources,
		VolumeMounts:             []corev1.VolumeMount{{Name: volumeTmp, MountPath: "/tmp"}},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		SecurityContext:          restrictedContainer(true),
	}

	var pod = basePodSpec(run)
	pod.InitContainers = []corev1.Container{installContainer(run, opts), connector}
	pod.Containers = []corev1.Container{driver}
	if ref := run.Spec.Config.SecretRef; ref != nil {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: volumeConfig, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{
				SecretName:  ref.Name,
				Items:       []corev1.KeyToPath{{Key: ref.Key, Path: ref.Key}},
				DefaultMode: ptr.To[int32](0o440),
			}}})
		pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts,
			corev1.VolumeMount{Name: volumeConfig, MountPath: ConfigDir, ReadOnly: true})
	}

	mountVerifySecret(run, &pod) // matsimrun_verify.go

	var backoff = ptr.Deref(run.Spec.BackoffLimit, 0)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: childMeta(run, JobName(run), labels),
		Spec: batchv1.JobSpec{
			Parallelism:             ptr.To[int32](1),
			Completions:             ptr.To[int32](1),
			BackoffLimit:            ptr.To(backoff),
			ActiveDeadlineSeconds:   ptr.To(TimeoutSeconds(run)),
			TTLSecondsAfterFinished: run.Spec.TTLSecondsAfterFinished,
			// The driver's verdict (1: a check failed, 2: setup error) is final; only other
			// failures (evictions, crashes of the node, OOM) use the backoff limit.
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To(flowsimv1.ContainerDriver),
					Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
					Values:        []int32{1, 2},
				},
			}}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}, nil
}

// PeerPodForRun is the fence test's second connector: only the proxy, serving on the pod IP
// behind the peer Service.
func PeerPodForRun(run *flowsimv1.MatSimRun, opts BuildOptions) *corev1.Pod {
	var connector = connectorContainer(run)
	connector.ReadinessProbe = grpcProbe(2, 3)

	var pod = basePodSpec(run)
	pod.InitContainers = []corev1.Container{installContainer(run, opts)}
	pod.Containers = []corev1.Container{connector}
	pod.ActiveDeadlineSeconds = ptr.To(TimeoutSeconds(run))

	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: childMeta(run, PeerName(run), Labels(run, flowsimv1.RolePeer)),
		Spec:       pod,
	}
}

// PeerServiceForRun addresses the peer pod (PeerEndpoint).
func PeerServiceForRun(run *flowsimv1.MatSimRun) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: childMeta(run, PeerName(run), Labels(run, flowsimv1.RolePeer)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(run, flowsimv1.RolePeer),
			Ports: []corev1.ServicePort{{
				Name:        ProxyPortName,
				Protocol:    corev1.ProtocolTCP,
				AppProtocol: ptr.To("kubernetes.io/h2c"),
				Port:        ProxyPort,
				TargetPort:  intstr.FromString(ProxyPortName),
			}},
		},
	}
}

// NetworkPolicyForRun admits traffic to the run's connector proxies (the driver pod's
// sidecar and the fence peer) only from the run's own driver pod.
func NetworkPolicyForRun(run *flowsimv1.MatSimRun) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: childMeta(run, PolicyName(run), Labels(run, flowsimv1.RoleNetworkPolicy)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{flowsimv1.LabelRun: run.Name}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					PodSelector: &metav1.LabelSelector{MatchLabels: selectorLabels(run, flowsimv1.RoleDriver)},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{
					Protocol: ptr.To(corev1.ProtocolTCP),
					Port:     ptr.To(intstr.FromInt32(ProxyPort)),
				}},
			}},
		},
	}
}

// childMeta is the metadata of an object the run owns.
func childMeta(run *flowsimv1.MatSimRun, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       run.Namespace,
		Labels:          labels,
		OwnerReferences: ownerRef(run),
	}
}
