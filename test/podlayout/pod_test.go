package podlayout

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/controllers"
	"github.com/flowsim/flowsim/matsim/result"
)

// TestPodCommandsRunInDocker plays the kubelet with Docker: it runs the exact containers
// of the pod the operator builds (controllers.JobForRun) from the real images — install
// into a shared folder (the emptyDir), the connector behind the proxy, then the driver in
// the connector's network namespace — and parses the driver's termination message as the
// operator does. The connector is flowsim's reference connector, once correct and once
// with a deliberate defect.
func TestPodCommandsRunInDocker(t *testing.T) {
	var img = buildImages(t)
	var cases = []struct {
		name     string
		test     flowsimv1.MatSimTest
		config   string
		resource string
		outcome  result.Outcome
		check    string
		protocol flowsimv1.ProtocolRevision // of the connector; "" is 2021-12
	}{
		{"correct connector passes", flowsimv1.TestBasic, `{"state_dir":"/tmp/ref"}`, `{"name":"t"}`, result.Passed, "", ""},
		{"dropping stores fails load.missing", flowsimv1.TestBasic, `{"state_dir":"/tmp/ref","defect":"drop-store"}`, `{"name":"t"}`, result.Failed, "load.missing", ""},
		{"delta passes", flowsimv1.TestDelta, `{"state_dir":"/tmp/ref"}`, `{"name":"d","delta_updates":true}`, result.Passed, "", ""},
		{"recovery at chosen crash points passes", flowsimv1.TestRecovery, `{"state_dir":"/tmp/ref"}`, `{"name":"r"}`, result.Passed, "", ""},
		// The peer pod's connector shares the store through the same /tmp folder.
		{"fence through the peer pod passes", flowsimv1.TestFence, `{"state_dir":"/tmp/ref"}`, `{"name":"f"}`, result.Passed, "", ""},
		// spec.connector.protocol reaches the proxies, which adapt a 2021-10 connector.
		{"fence with a 2021-10 connector passes", flowsimv1.TestFence, `{"state_dir":"/tmp/ref"}`, `{"name":"f"}`, result.Passed, "", flowsimv1.Protocol202110},
		{"recovery with a 2021-10 connector passes", flowsimv1.TestRecovery, `{"state_dir":"/tmp/ref"}`, `{"name":"r"}`, result.Passed, "", flowsimv1.Protocol202110},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var run = &flowsimv1.MatSimRun{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("docker-%d", i), Namespace: "ns", UID: "uid"},
				Spec: flowsimv1.MatSimRunSpec{
					Test: tc.test,
					Connector: flowsimv1.ConnectorSpec{Image: img.flowsim, Protocol: tc.protocol,
						Command: []string{"/flowsim/flowsim", "reference-connector"}},
					Config:   flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(tc.config)}},
					Resource: runtime.RawExtension{Raw: []byte(tc.resource)},
					Loops:    ptr.To[int32](3),
					Start:    ptr.To[int32](50),
					Seed:     ptr.To[int64](7),
				},
			}
			if tc.protocol == flowsimv1.Protocol202110 {
				run.Spec.Connector.Command = append(run.Spec.Connector.Command, "--protocol", "2021-10")
			}
			if tc.test == flowsimv1.TestRecovery {
				run.Spec.CrashAt = []flowsimv1.CrashPoint{"after-stores", "after-committed"}
			}
			var job, err = controllers.JobForRun(run, controllers.BuildOptions{FlowsimImage: img.flowsim})
			if err != nil {
				t.Fatal(err)
			}
			var spec = job.Spec.Template.Spec
			var peer *corev1.Pod
			if tc.test == flowsimv1.TestFence {
				peer = controllers.PeerPodForRun(run, controllers.BuildOptions{FlowsimImage: img.flowsim})
			}
			var res = runPod(t, spec, peer, controllers.PeerEndpoint(run), fmt.Sprintf("flowsim-test-%d-%d", os.Getpid(), i))
			if res.Outcome != tc.outcome || res.Check != tc.check {
				t.Errorf("driver result %+v, want outcome %s check %q", res, tc.outcome, tc.check)
			}
			// fence and recovery report their phases (key-range cases, crash points) as
			// loops and ignore spec.loops.
			var phases = tc.test == flowsimv1.TestFence || tc.test == flowsimv1.TestRecovery
			if res.Seed != 7 || (!phases && res.Loops != 3) {
				t.Errorf("driver ran with seed %d and %d loops, want the run's 7 and 3", res.Seed, res.Loops)
			}
			if tc.outcome == result.Passed && res.LoopsDone != res.Loops {
				t.Errorf("a passing run did %d of %d loops", res.LoopsDone, res.Loops)
			}
			if tc.outcome == result.Passed && (res.Stored == 0 || (tc.test != flowsimv1.TestDelta && res.Verified == 0)) {
				t.Errorf("a passing run stored or verified no documents: %+v", res)
			}
		})
	}
}

// runPod runs the pod's containers in Docker and returns the driver's parsed result. With
// a fence peer pod, its connector runs first and the driver reaches it by the peer
// Service's name (an /etc/hosts entry standing in for cluster DNS).
func runPod(t *testing.T, spec corev1.PodSpec, peer *corev1.Pod, peerEndpoint, name string) result.Result {
	t.Helper()
	var dirs = map[string]string{} // volume name -> host folder
	for _, v := range spec.Volumes {
		if v.EmptyDir != nil {
			dirs[v.Name] = t.TempDir()
			if err := os.Chmod(dirs[v.Name], 0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
	var termination = filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(termination, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(termination, 0o666); err != nil {
		t.Fatal(err)
	}
	var dockerArgs = func(c corev1.Container, extra ...string) []string {
		var args = []string{"--user", "65532:65532", "--read-only=" + fmt.Sprint(ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false)),
			"--cap-drop", "ALL", "--security-opt", "no-new-privileges"}
		for _, m := range c.VolumeMounts {
			var host, ok = dirs[m.Name]
			if !ok {
				t.Fatalf("container %s mounts %s, which this test cannot provide", c.Name, m.Name)
			}
			var mount = host + ":" + m.MountPath
			if m.ReadOnly {
				mount += ":ro"
			}
			args = append(args, "-v", mount)
		}
		args = append(args, extra...)
		var cmd = slices.Concat(c.Command, c.Args)
		return slices.Concat(args, []string{"--entrypoint", cmd[0], c.Image}, cmd[1:])
	}

	// start runs a pod's install init container, then its connector in the background
	// until the proxy serves (the probes' part).
	var start = func(install, connector corev1.Container, name string, extra ...string) {
		run(t, nil, "docker", slices.Concat([]string{"run", "--rm"}, dockerArgs(install))...)
		run(t, nil, "docker", slices.Concat([]string{"run", "-d", "--name", name}, dockerArgs(connector, extra...))...)
		t.Cleanup(func() { _ = exec.Command("docker", "rm", "--force", name).Run() })
		var deadline = time.Now().Add(30 * time.Second)
		for {
			var out, _ = exec.Command("docker", "logs", name).CombinedOutput()
			if strings.Contains(string(out), "serving") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the connector proxy of %s did not start serving:\n%s", name, out)
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}

	var hosts []string
	if peer != nil {
		start(peer.Spec.InitContainers[0], peer.Spec.Containers[0], name+"-peer")
		var ip = strings.TrimSpace(run(t, nil, "docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", name+"-peer"))
		var host, _, _ = strings.Cut(peerEndpoint, ":")
		hosts = []string{"--add-host", host + ":" + ip}
	}
	var connector, driver = spec.InitContainers[1], spec.Containers[0]
	// The connector proxy writes its container's termination message itself (policy
	// File), redacted.
	if connector.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("the connector's terminationMessagePolicy is %q, want File: the kubelet's log fallback is not redacted", connector.TerminationMessagePolicy)
	}
	var connectorTermination = filepath.Join(t.TempDir(), "connector-termination-log")
	if err := os.WriteFile(connectorTermination, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(connectorTermination, 0o666); err != nil {
		t.Fatal(err)
	}
	start(spec.InitContainers[0], connector, name, append(hosts, "-v", connectorTermination+":"+connector.TerminationMessagePath)...)

	var cmd = exec.Command("docker", slices.Concat([]string{"run", "--rm", "--network", "container:" + name},
		dockerArgs(driver, "-v", termination+":"+driver.TerminationMessagePath))...)
	var out, err = cmd.CombinedOutput()
	var code = cmd.ProcessState.ExitCode()
	if err != nil && code != 1 {
		t.Fatalf("the driver failed with exit code %d: %v\n%s", code, err, out)
	}
	// The kubelet's part once the driver exits: stop the sidecar (SIGTERM). The proxy must
	// exit 0, or the stop would look like a crash.
	run(t, nil, "docker", "stop", "--time", "10", name)
	if code := strings.TrimSpace(run(t, nil, "docker", "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		t.Errorf("the connector sidecar exited with code %s on SIGTERM, want 0", code)
	}

	if b, _ := os.ReadFile(connectorTermination); !strings.HasSuffix(string(b), "flowsim connector-proxy: stopped\n") {
		t.Errorf("the connector proxy did not keep its termination message; it holds:\n%s", b)
	}
	b, err := os.ReadFile(termination)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4096 {
		t.Errorf("termination message is %d bytes; Kubernetes keeps 4096", len(b))
	}
	res, err := result.Parse(b)
	if err != nil {
		t.Fatalf("parsing the termination message %q: %v\ndriver output:\n%s", b, err, out)
	}
	if want := res.Outcome.ExitCode(); code != want {
		t.Errorf("driver exit code %d, want %d for outcome %s", code, want, res.Outcome)
	}
	return res
}
