package controllers

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

var testBuild = BuildOptions{FlowsimImage: "flowsim:test", FlowsimImagePullPolicy: corev1.PullIfNotPresent}

func testRun(mutate ...func(*flowsimv1.MatSimRun)) *flowsimv1.MatSimRun {
	var run = &flowsimv1.MatSimRun{
		ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: "ns", UID: "uid-1"},
		Spec: flowsimv1.MatSimRunSpec{
			Test: flowsimv1.TestBasic,
			Connector: flowsimv1.ConnectorSpec{
				Image:            "ghcr.io/example/materialize-postgres:v1",
				Protocol:         flowsimv1.Protocol202112,
				ImagePullPolicy:  corev1.PullAlways,
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
				Env:              []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}},
			},
			Config:   flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-config", Key: "config.yaml"}},
			Resource: runtime.RawExtension{Raw: []byte(`{"table": "flowsim", "delta_updates": false}`)},
			Loops:    ptr.To[int32](4),
			Seed:     ptr.To[int64](42),
			Timeout:  &metav1.Duration{Duration: 600e9},
		},
	}
	for _, m := range mutate {
		m(run)
	}
	return run
}

func wantRestricted(readOnly bool) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr.To(readOnly),
		RunAsNonRoot:             ptr.To(true),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func TestJobForRunBasic(t *testing.T) {
	var labels = map[string]string{
		"app.kubernetes.io/name":       "flowsim",
		"app.kubernetes.io/instance":   "pg",
		"app.kubernetes.io/component":  "driver",
		"app.kubernetes.io/managed-by": "flowsim-operator",
		"app.kubernetes.io/part-of":    "flowsim",
		"flowsim.dev/run":              "pg",
		"flowsim.dev/role":             "driver",
		"flowsim.dev/test":             "basic",
	}
	var grpc = func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 7070}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: failures}
	}
	var want = &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "pg-driver", Namespace: "ns", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "flowsim.dev/v1alpha1", Kind: "MatSimRun", Name: "pg", UID: "uid-1",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: batchv1.JobSpec{
			Parallelism:           ptr.To[int32](1),
			Completions:           ptr.To[int32](1),
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To[int64](600),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("driver"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1, 2},
				},
			}}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ImagePullSecrets:             []corev1.LocalObjectReference{{Name: "regcred"}},
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
						FSGroup:        ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Volumes: []corev1.Volume{
						{Name: "flowsim", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("256Mi"))}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("1Gi"))}}},
						{Name: "connector-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: "pg-config", Items: []corev1.KeyToPath{{Key: "config.yaml", Path: "config.yaml"}}, DefaultMode: ptr.To[int32](0o440),
						}}},
					},
					InitContainers: []corev1.Container{
						{
							Name: "install-flowsim", Image: "flowsim:test", ImagePullPolicy: corev1.PullIfNotPresent,
							Command:      []string{"/flowsim/flowsim", "install", "--to", "/flowsim-install"},
							VolumeMounts: []corev1.VolumeMount{{Name: "flowsim", MountPath: "/flowsim-install"}},
							Resources: corev1.ResourceRequirements{
								Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
								Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
							},
							TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							SecurityContext:          wantRestricted(true),
						},
						{
							Name: "connector", Image: "ghcr.io/example/materialize-postgres:v1", ImagePullPolicy: corev1.PullAlways,
							Command: []string{"/flowsim/flowsim", "connector-proxy", "--listen", "0.0.0.0:7070",
								"--protocol", "2021-12", "--termination-log", "/dev/termination-log", "--", "/connector/connector"},
							Env:           []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}},
							RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
							Ports:         []corev1.ContainerPort{{Name: "grpc", ContainerPort: 7070, Protocol: corev1.ProtocolTCP}},
							VolumeMounts: []corev1.VolumeMount{
								{Name: "flowsim", MountPath: "/flowsim", ReadOnly: true},
								{Name: "tmp", MountPath: "/tmp"},
							},
							StartupProbe:             grpc(2, 60),
							ReadinessProbe:           grpc(10, 3),
							TerminationMessagePath:   "/dev/termination-log",
							TerminationMessagePolicy: corev1.TerminationMessageReadFile,
							SecurityContext:          wantRestricted(false),
						},
					},
					Containers: []corev1.Container{{
						Name: "driver", Image: "flowsim:test", ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"/flowsim/flowsim"},
						Args: []string{"matsim", "basic", "--endpoint", "127.0.0.1:7070",
							"--config", "/etc/flowsim/config/config.yaml",
							"--resource", `{"delta_updates":false,"table":"flowsim"}`,
							"--loops", "4", "--seed", "42", "--protocol", "2021-12",
							"--result-file", "/dev/termination-log", "--log.level", "info"},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "tmp", MountPath: "/tmp"},
							{Name: "connector-config", MountPath: "/etc/flowsim/config", ReadOnly: true},
						},
						TerminationMessagePath:   "/dev/termination-log",
						TerminationMessagePolicy: corev1.TerminationMessageReadFile,
						SecurityContext:          wantRestricted(true),
					}},
				},
			},
		},
	}
	var got, err = JobForRun(testRun(), testBuild)
	if err != nil {
		t.Fatalf("JobForRun: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JobForRun mismatch (-want +got):\n%s", diff)
	}
}

func TestDriverArgs(t *testing.T) {
	var tail = []string{"--result-file", "/dev/termination-log", "--log.level", "info"}
	var cases = []struct {
		name   string
		mutate func(*flowsimv1.MatSimRun)
		want   []string
	}{
		{
			name: "fence dials the peer service",
			mutate: func(r *flowsimv1.MatSimRun) {
				r.Spec.Test, r.Spec.Loops = flowsimv1.TestFence, nil
			},
			want: slices.Concat([]string{"matsim", "fence", "--endpoint", "127.0.0.1:7070",
				"--peer-endpoint", "pg-peer.ns.svc:7070", "--config", "/etc/flowsim/config/config.yaml",
				"--resource", `{"delta_updates":false,"table":"flowsim"}`, "--seed", "42", "--protocol", "2021-12"}, tail),
		},
		{
			name: "inline config, every size flag; the driver speaks auto to the proxy for a child of unknown era",
			mutate: func(r *flowsimv1.MatSimRun) {
				r.Spec.Test = flowsimv1.TestDelta
				r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"address": "pg:5432", "user": "flow"}`)}}
				r.Spec.Start, r.Spec.Batch = ptr.To[int32](3), ptr.To[int32](100)
				r.Spec.Connector.Protocol = ""
			},
			want: slices.Concat([]string{"matsim", "delta", "--endpoint", "127.0.0.1:7070",
				"--config", `{"address":"pg:5432","user":"flow"}`,
				"--resource", `{"delta_updates":false,"table":"flowsim"}`,
				"--loops", "4", "--start", "3", "--batch", "100", "--output", "/dev/null", "--seed", "42", "--protocol", "auto"}, tail),
		},
		{
			name: "integers above 2^53 stay exact in config and resource",
			mutate: func(r *flowsimv1.MatSimRun) {
				r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"id": 9007199254740993, "big": -123456789012345678901234567890, "f": 1.50}`)}}
				r.Spec.Resource.Raw = []byte(`{"table": "t", "shard": 18446744073709551615}`)
			},
			want: slices.Concat([]string{"matsim", "basic", "--endpoint", "127.0.0.1:7070",
				"--config", `{"big":-123456789012345678901234567890,"f":1.50,"id":9007199254740993}`,
				"--resource", `{"shard":18446744073709551615,"table":"t"}`,
				"--loops", "4", "--seed", "42", "--protocol", "2021-12"}, tail),
		},
		{
			name: "recovery with chosen crash points",
			mutate: func(r *flowsimv1.MatSimRun) {
				r.Spec.Test = flowsimv1.TestRecovery
				r.Spec.CrashAt = []flowsimv1.CrashPoint{"after-commit", "after-stores"}
			},
			want: slices.Concat([]string{"matsim", "recovery", "--endpoint", "127.0.0.1:7070",
				"--config", "/etc/flowsim/config/config.yaml", "--resource", `{"delta_updates":false,"table":"flowsim"}`,
				"--loops", "4", "--crash-at", "after-commit,after-stores", "--seed", "42", "--protocol", "2021-12"}, tail),
		},
		{
			name: "recovery asserting exactly-once",
			mutate: func(r *flowsimv1.MatSimRun) {
				r.Spec.Test = flowsimv1.TestRecovery
				r.Spec.ExactlyOnce = ptr.To(true)
			},
			want: slices.Concat([]string{"matsim", "recovery", "--endpoint", "127.0.0.1:7070",
				"--config", "/etc/flowsim/config/config.yaml", "--resource", `{"delta_updates":false,"table":"flowsim"}`,
				"--loops", "4", "--exactly-once", "--seed", "42", "--protocol", "2021-12"}, tail),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got, err = DriverArgs(testRun(tc.mutate))
			if err != nil {
				t.Fatalf("DriverArgs: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DriverArgs mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDriverArgsRejectsBadConfig(t *testing.T) {
	var cases = map[string]func(*flowsimv1.MatSimRun){
		"no config":          func(r *flowsimv1.MatSimRun) { r.Spec.Config = flowsimv1.ConnectorConfig{} },
		"resource not a map": func(r *flowsimv1.MatSimRun) { r.Spec.Resource.Raw = []byte(`["t"]`) },
		"resource empty":     func(r *flowsimv1.MatSimRun) { r.Spec.Resource.Raw = nil },
		"inline config scalar": func(r *flowsimv1.MatSimRun) {
			r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`"x"`)}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			if args, err := DriverArgs(testRun(mutate)); err == nil {
				t.Errorf("DriverArgs succeeded with %q, want an error", args)
			} else if !strings.Contains(err.Error(), "spec.") {
				t.Errorf("error %q does not name the spec field", err)
			}
		})
	}
}

func TestSeedFor(t *testing.T) {
	var a = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Seed = nil })
	var b = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Seed, r.UID = nil, "uid-2" })
	if SeedFor(a) != SeedFor(a.DeepCopy()) {
		t.Error("SeedFor is not stable for the same run")
	}
	if SeedFor(a) == SeedFor(b) {
		t.Errorf("two runs got the same derived seed %d", SeedFor(a))
	}
	if SeedFor(a) < 0 || SeedFor(b) < 0 {
		t.Errorf("derived seeds must be non-negative (the CRD's minimum), got %d and %d", SeedFor(a), SeedFor(b))
	}
	if got := SeedFor(testRun()); got != 42 {
		t.Errorf("SeedFor with spec.seed 42 = %d", got)
	}
}

func TestJobForRunOverrides(t *testing.T) {
	var run = testRun(func(r *flowsimv1.MatSimRun) {
		r.Spec.Connector.Command = []string{"/usr/bin/connector", "--verbose"}
		r.Spec.Driver = flowsimv1.DriverSpec{Image: "flowsim:dev", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}
		r.Spec.BackoffLimit = ptr.To[int32](2)
		r.Spec.TTLSecondsAfterFinished = ptr.To[int32](3600)
		r.Spec.Timeout = nil
	})
	var job, err = JobForRun(run, testBuild)
	if err != nil {
		t.Fatalf("JobForRun: %v", err)
	}
	var pod = job.Spec.Template.Spec
	var got = map[string]any{
		"backoffLimit":      *job.Spec.BackoffLimit,
		"ttl":               *job.Spec.TTLSecondsAfterFinished,
		"deadline":          *job.Spec.ActiveDeadlineSeconds,
		"install image":     pod.InitContainers[0].Image,
		"install policy":    pod.InitContainers[0].ImagePullPolicy,
		"driver image":      pod.Containers[0].Image,
		"driver memory":     pod.Containers[0].Resources.Limits.Memory().String(),
		"connector command": strings.Join(pod.InitContainers[1].Command, " "),
	}
	var want = map[string]any{
		"backoffLimit":      int32(2),
		"ttl":               int32(3600),
		"deadline":          int64(DefaultTimeout),
		"install image":     "flowsim:dev",
		"install policy":    corev1.PullPolicy(""),
		"driver image":      "flowsim:dev",
		"driver memory":     "1Gi",
		"connector command": "/flowsim/flowsim connector-proxy --listen 0.0.0.0:7070 --protocol 2021-12 --termination-log /dev/termination-log -- /usr/bin/connector --verbose",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JobForRun overrides mismatch (-want +got):\n%s", diff)
	}
}

// spec.connector.protocol is the proxy's: it owns its child's revision and speaks
// 2021-12 to the driver, so the driver (and the fence peer's client) never sees 2021-10.
func TestProtocolGoesToTheProxy(t *testing.T) {
	for _, p := range []flowsimv1.ProtocolRevision{flowsimv1.ProtocolAuto, flowsimv1.Protocol202110, flowsimv1.Protocol202112, flowsimv1.Protocol2022, flowsimv1.Protocol2023} {
		for _, test := range []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestFence, flowsimv1.TestRecovery} {
			var run = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Protocol, r.Spec.Test = p, test })
			var job, err = JobForRun(run, testBuild)
			if err != nil {
				t.Fatal(err)
			}
			var proxy = strings.Join(job.Spec.Template.Spec.InitContainers[1].Command, " ")
			if !strings.Contains(proxy, " connector-proxy ") || !strings.Contains(proxy, " --protocol "+string(p)+" --") {
				t.Errorf("%s/%s: the proxy does not get --protocol %s: %s", test, p, p, proxy)
			}
			var driver = strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
			// The driver pipelines (2021-12) only for a child declared of a 2021 era;
			// otherwise it drives what every later era accepts (auto).
			var want = "--protocol auto"
			if p == flowsimv1.Protocol202110 || p == flowsimv1.Protocol202112 {
				want = "--protocol 2021-12"
			}
			if !strings.Contains(driver, want+" ") {
				t.Errorf("%s/%s: the driver must use %s towards the proxy: %s", test, p, want, driver)
			}
			if test == flowsimv1.TestFence {
				var peer = strings.Join(PeerPodForRun(run, testBuild).Spec.Containers[0].Command, " ")
				if !strings.Contains(peer, " --protocol "+string(p)+" --") {
					t.Errorf("fence/%s: the peer's proxy does not get --protocol: %s", p, peer)
				}
			}
		}
	}
}

func TestPeerObjects(t *testing.T) {
	var run = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence })
	var pod = PeerPodForRun(run, testBuild)
	var peerLabels = Labels(run, flowsimv1.RolePeer)

	if diff := cmp.Diff(metav1.ObjectMeta{
		Name: "pg-peer", Namespace: "ns", Labels: peerLabels, OwnerReferences: ownerRef(run),
	}, pod.ObjectMeta); diff != "" {
		t.Errorf("peer pod metadata mismatch (-want +got):\n%s", diff)
	}
	if got := []string{pod.Spec.InitContainers[0].Name, pod.Spec.Containers[0].Name}; !slices.Equal(got, []string{"install-flowsim", "connector"}) {
		t.Errorf("peer pod containers = %v, want install-flowsim then connector", got)
	}
	var c = pod.Spec.Containers[0]
	if c.RestartPolicy != nil || c.ReadinessProbe == nil || c.ReadinessProbe.GRPC == nil || c.ReadinessProbe.GRPC.Port != ProxyPort {
		t.Errorf("peer connector must be a plain container with a gRPC readiness probe on %d, got restartPolicy %v probe %+v", ProxyPort, c.RestartPolicy, c.ReadinessProbe)
	}
	if got := ptr.Deref(pod.Spec.ActiveDeadlineSeconds, 0); got != 600 {
		t.Errorf("peer pod activeDeadlineSeconds = %d, want the run's timeout 600", got)
	}

	var wantSvc = corev1.ServiceSpec{
		Type:     corev1.ServiceTypeClusterIP,
		Selector: map[string]string{"flowsim.dev/run": "pg", "flowsim.dev/role": "peer"},
		Ports: []corev1.ServicePort{{Name: "grpc", Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("kubernetes.io/h2c"),
			Port: 7070, TargetPort: intstr.FromString("grpc")}},
	}
	var svc = PeerServiceForRun(run)
	if diff := cmp.Diff(wantSvc, svc.Spec); diff != "" {
		t.Errorf("peer Service spec mismatch (-want +got):\n%s", diff)
	}
	if svc.Name != "pg-peer" || !metav1.IsControlledBy(svc, run) {
		t.Errorf("peer Service is %q controlled by run: %v; want pg-peer, true", svc.Name, metav1.IsControlledBy(svc, run))
	}
	for k, v := range svc.Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("peer Service selector %s=%s does not match the peer pod's labels", k, v)
		}
	}

	var wantPolicy = networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"flowsim.dev/run": "pg"}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"flowsim.dev/run": "pg", "flowsim.dev/role": "driver"}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(7070))}},
		}},
	}
	var policy = NetworkPolicyForRun(run)
	if diff := cmp.Diff(wantPolicy, policy.Spec); diff != "" {
		t.Errorf("NetworkPolicy spec mismatch (-want +got):\n%s", diff)
	}
	job, _ := JobForRun(run, testBuild)
	for k, v := range policy.Spec.Ingress[0].From[0].PodSelector.MatchLabels {
		if job.Spec.Template.Labels[k] != v {
			t.Errorf("NetworkPolicy admits %s=%s, which the driver pod does not carry", k, v)
		}
	}
}

// Every container of every pod the operator creates meets the restricted profile.
func TestPodsAreRestricted(t *testing.T) {
	var run = testRun(func(r *flowsimv1.MatSimRun) { r.Spec.Test = flowsimv1.TestFence })
	var job, _ = JobForRun(run, testBuild)
	for _, spec := range []corev1.PodSpec{job.Spec.Template.Spec, PeerPodForRun(run, testBuild).Spec} {
		if sc := spec.SecurityContext; sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || sc.SeccompProfile == nil ||
			sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("pod security context is not restricted: %+v", sc)
		}
		if ptr.Deref(spec.AutomountServiceAccountToken, true) {
			t.Error("pods must not mount a service account token")
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			var sc = c.SecurityContext
			if sc == nil || ptr.Deref(sc.AllowPrivilegeEscalation, true) || sc.Capabilities == nil ||
				!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("container %s security context is not restricted: %+v", c.Name, sc)
			}
		}
	}
}
