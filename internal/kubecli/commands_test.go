package kubecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// createRun creates a run directly (as kubectl apply would).
func createRun(t *testing.T, ns, name string, test flowsimv1.MatSimTest) *flowsimv1.MatSimRun {
	t.Helper()
	var run = &flowsimv1.MatSimRun{}
	run.Name, run.Namespace = name, ns
	run.Spec.Test = test
	run.Spec.Connector.Image = "ghcr.io/acme/x:v1"
	run.Spec.Config.Inline = &runtime.RawExtension{Raw: []byte("{}")}
	run.Spec.Resource = runtime.RawExtension{Raw: []byte(`{"table":"t"}`)}
	if err := envClient.Create(context.Background(), run); err != nil {
		t.Fatalf("creating run %s: %v", name, err)
	}
	return run
}

func TestGetDescribeDeleteWait(t *testing.T) {
	var ns = newNamespace(t)
	createRun(t, ns, "a", flowsimv1.TestBasic)
	createRun(t, ns, "b", flowsimv1.TestFence)
	setStatus(t, ns, "a", passed)
	setStatus(t, ns, "b", func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.PodName, s.PeerPodName = flowsimv1.PhaseRunning, "b-driver-x", "b-peer"
		s.Progress = &flowsimv1.RunProgress{Loop: 3, Loops: 5, Documents: 3500}
	})
	var c = newCLI(t, adminConfig, ns)

	var stdout, _ = c.must(ExitPassed, "get")
	var lines = strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("get:\n%s", stdout)
	}
	for i, want := range [][]string{{"a", "basic", "Succeeded", "Passed", "2/2"}, {"b", "fence", "Running", "-", "3/5"}} {
		var got = strings.Fields(lines[i+1])
		if strings.Join(got[:5], " ") != strings.Join(want, " ") {
			t.Errorf("get row %d = %q, want %q", i, got, want)
		}
	}
	stdout, _ = c.must(ExitPassed, "get", "runs", "a", "-o", "wide")
	if !strings.Contains(stdout, "ghcr.io/acme/x:v1") || !strings.Contains(stdout, "42") {
		t.Errorf("get -o wide:\n%s", stdout)
	}
	stdout, _ = c.must(ExitPassed, "get", "msr", "a", "-o", "yaml")
	if !strings.Contains(stdout, "kind: MatSimRun") || !strings.Contains(stdout, "reason: Passed") {
		t.Errorf("get -o yaml:\n%s", stdout)
	}
	stdout, _ = c.must(ExitPassed, "get", "-o", "name")
	if stdout != "matsimrun.flowsim.dev/a\nmatsimrun.flowsim.dev/b\n" {
		t.Errorf("get -o name:\n%s", stdout)
	}
	stdout, _ = c.must(ExitPassed, "get", "-A")
	if !strings.Contains(stdout, "NAMESPACE") || !strings.Contains(stdout, ns) {
		t.Errorf("get -A:\n%s", stdout)
	}

	stdout, _ = c.must(ExitPassed, "describe", "b")
	for _, want := range []string{"Name:", "b", "Test:", "fence", "Phase:", "Running", "Progress:", "loop 3/5, 3500 documents", "Peer pod:", "b-peer", "Events:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("describe lacks %q:\n%s", want, stdout)
		}
	}

	// wait: the run finishes while waiting; exit code is the run's.
	var code = make(chan int, 1)
	var w = newCLI(t, adminConfig, ns)
	go func() { code <- w.run(context.Background(), "wait", "b") }()
	<-w.stderr.seen("Running, loop 3/5")
	setStatus(t, ns, "b", checkFailed)
	if got := <-code; got != ExitFailed {
		t.Errorf("wait: exit %d, want 1\n%s\n%s", got, w.stdout, w.stderr)
	}
	if !strings.Contains(w.stdout.String(), "matsim fence: FAILED (load.missing)") {
		t.Errorf("wait did not print the report:\n%s", w.stdout)
	}
	// wait --timeout on a run that does not finish.
	createRun(t, ns, "c", flowsimv1.TestBasic)
	var _, stderr = c.must(ExitTimeout, "wait", "c", "--timeout", "300ms")
	if !strings.Contains(stderr, "timed out after 300ms") {
		t.Errorf("wait --timeout: %q", stderr)
	}
	// report on an unfinished run.
	_, stderr = c.must(ExitSetup, "report", "c")
	if !strings.Contains(stderr, "has not finished") {
		t.Errorf("report of a running run: %q", stderr)
	}

	stdout, _ = c.must(ExitPassed, "delete", "a", "c")
	if stdout != "matsimrun.flowsim.dev/a deleted\nmatsimrun.flowsim.dev/c deleted\n" {
		t.Errorf("delete: %q", stdout)
	}
	c.must(ExitPassed, "delete", "a", "--ignore-not-found")
	stdout, _ = c.must(ExitPassed, "get", "-o", "name")
	if stdout != "matsimrun.flowsim.dev/b\n" {
		t.Errorf("after delete: %q", stdout)
	}
}

func TestRunNotFound(t *testing.T) {
	var ns = newNamespace(t)
	var c = newCLI(t, adminConfig, ns)
	for _, args := range [][]string{{"get", "nope"}, {"describe", "nope"}, {"delete", "nope"}, {"wait", "nope"}, {"logs", "nope"}, {"report", "nope"}} {
		var _, stderr = c.must(ExitSetup, args...)
		if !strings.Contains(stderr, fmt.Sprintf(`run "nope" not found in namespace %q`, ns)) {
			t.Errorf("%v: %q", args, stderr)
		}
	}
}

// A user without permissions is told which verb on which resource was refused.
func TestForbidden(t *testing.T) {
	var ns = newNamespace(t)
	var c = newCLI(t, nobodyConfig, ns)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get"}, "forbidden: you may not list matsimruns.flowsim.dev"},
		{[]string{"get", "x"}, `forbidden: you may not get matsimruns.flowsim.dev "x" in namespace`},
		{[]string{"run", "basic", "--image", "x", "--config", "{a: b}", "--name", "r"}, `forbidden: you may not create secrets "r-config"`},
		{[]string{"run", "basic", "--image", "x", "--name", "r"}, `forbidden: you may not create matsimruns.flowsim.dev "r"`},
		{[]string{"delete", "x"}, `forbidden: you may not delete matsimruns.flowsim.dev "x"`},
		{[]string{"install"}, "forbidden: you may not apply customresourcedefinition.apiextensions.k8s.io/matsimruns.flowsim.dev"},
	} {
		var _, stderr = c.must(ExitSetup, tc.args...)
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q does not contain %q", tc.args, stderr, tc.want)
		}
	}
}

// fakeLogs serves container logs (envtest has no kubelet): a fixed text, or a pipe the
// test writes to and closes.
type fakeLogs struct {
	mu     sync.Mutex
	text   map[string]string
	pipes  map[string]*io.PipeReader
	asked  []string
	opened chan string
}

func (f *fakeLogs) Stream(ctx context.Context, ns, pod, container string, follow bool) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var key = pod + "/" + container
	f.asked = append(f.asked, fmt.Sprintf("%s follow=%v", key, follow))
	if f.opened != nil {
		f.opened <- key
	}
	if p, ok := f.pipes[key]; ok {
		return p, nil
	}
	if t, ok := f.text[key]; ok {
		return io.NopCloser(strings.NewReader(t)), nil
	}
	return nil, errors.New("no such container")
}

func TestLogs(t *testing.T) {
	var ns = newNamespace(t)
	createRun(t, ns, "f", flowsimv1.TestFence)
	createRun(t, ns, "b", flowsimv1.TestBasic)
	setStatus(t, ns, "f", func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.PodName, s.PeerPodName = flowsimv1.PhaseRunning, "f-driver-x", "f-peer"
	})
	var logs = &fakeLogs{text: map[string]string{
		"f-driver-x/driver":    "driver line\n",
		"f-driver-x/connector": "connector line\n",
		"f-peer/connector":     "peer line\n",
	}}
	var c = newCLI(t, adminConfig, ns)
	c.logs = logs
	for _, tc := range []struct {
		flag, want string
	}{{"", "driver line\n"}, {"--driver", "driver line\n"}, {"--connector", "connector line\n"}, {"--peer", "peer line\n"}} {
		var args = []string{"logs", "f"}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		if stdout, _ := c.must(ExitPassed, args...); stdout != tc.want {
			t.Errorf("logs %s = %q, want %q", tc.flag, stdout, tc.want)
		}
	}
	var _, stderr = c.must(ExitSetup, "logs", "b", "--peer")
	if !strings.Contains(stderr, "only fence runs have a peer") {
		t.Errorf("logs --peer of a basic run: %q", stderr)
	}
	_, stderr = c.must(ExitSetup, "logs", "b")
	if !strings.Contains(stderr, "has no driver pod") || !strings.Contains(stderr, "use -f to wait") {
		t.Errorf("logs of a run without pod: %q", stderr)
	}
}

// logs -f waits for the pod, streams, and when the run ends (its container's log ends)
// says how it finished.
func TestLogsFollowUntilTheRunEnds(t *testing.T) {
	var ns = newNamespace(t)
	createRun(t, ns, "r", flowsimv1.TestBasic)
	var pr, pw = io.Pipe()
	var logs = &fakeLogs{pipes: map[string]*io.PipeReader{"r-driver-abcde/driver": pr}, opened: make(chan string, 1)}
	var c = newCLI(t, adminConfig, ns)
	c.logs = logs
	var code = make(chan int, 1)
	go func() { code <- c.run(context.Background(), "logs", "r", "-f") }()
	<-c.stderr.seen("waiting for the driver pod")
	setStatus(t, ns, "r", func(s *flowsimv1.MatSimRunStatus) { s.Phase, s.PodName = flowsimv1.PhaseRunning, "r-driver-abcde" })
	if got := <-logs.opened; got != "r-driver-abcde/driver" {
		t.Fatalf("opened %s", got)
	}
	fmt.Fprintln(pw, "FLOWSIM-PROGRESS {\"v\":1}")
	<-c.stdout.seen("FLOWSIM-PROGRESS")
	setStatus(t, ns, "r", passed)
	fmt.Fprintln(pw, "last line")
	pw.Close() // the kubelet ends the stream when the container exits
	if got := <-code; got != ExitPassed {
		t.Fatalf("exit %d\n%s", got, c.stderr)
	}
	if c.stdout.String() != "FLOWSIM-PROGRESS {\"v\":1}\nlast line\n" {
		t.Errorf("stdout %q", c.stdout)
	}
	if !strings.Contains(c.stderr.String(), "run "+ns+"/r: Succeeded (Passed); report: flowsim kube report r -n "+ns) {
		t.Errorf("stderr:\n%s", c.stderr)
	}
	if len(logs.asked) != 1 || logs.asked[0] != "r-driver-abcde/driver follow=true" {
		t.Errorf("asked %v", logs.asked)
	}
}

var _ = corev1.Secret{}
var _ = client.ObjectKey{}
