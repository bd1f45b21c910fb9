//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// flowsimCLI runs the flowsim binary `make e2e` built (bin/flowsim) against the cluster
// of KUBECONFIG and returns its stdout, stderr and exit code.
func flowsimCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var bin, err = filepath.Abs(filepath.Join("..", "..", "bin", "flowsim"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the flowsim binary (make build): %v", err)
	}
	var stdout, stderr bytes.Buffer
	var cmd = exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var code = 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("flowsim %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// `flowsim kube run` and `flowsim kube report` against the real cluster: a passing run
// exits 0 with the local run's report and a JUnit file; a defect exits 1 naming the
// check, and `report` of the finished run says the same.
func TestKubeRunAndReport(t *testing.T) {
	t.Parallel()
	var ns = newNamespace(t, "kube")
	var junit = filepath.Join(t.TempDir(), "run.xml")
	var common = []string{"-n", ns, "--image", flowsimImage, "--image-pull-policy", "IfNotPresent",
		"--command", "/flowsim/flowsim,reference-connector", "--resource", "{name: t}", "--loops", "2", "--start", "50", "--seed", "7"}

	var out, errOut, code = flowsimCLI(t, append([]string{"kube", "run", "basic", "--name", "pass", "--config", "{state_dir: /tmp/ref}", "--junit", junit}, common...)...)
	if code != 0 || !strings.Contains(out, "PASSED") {
		t.Fatalf("kube run basic: exit %d, want 0 and PASSED:\n%s\n%s", code, out, errOut)
	}
	if b, err := os.ReadFile(junit); err != nil || !bytes.Contains(b, []byte("<testsuite")) {
		t.Errorf("--junit %s: %v %q", junit, err, b)
	}

	out, errOut, code = flowsimCLI(t, append([]string{"kube", "run", "basic", "--name", "defect", "--config", "{state_dir: /tmp/ref, defect: drop-store}"}, common...)...)
	if code != 1 || !strings.Contains(out, "load.missing") {
		t.Fatalf("kube run basic against drop-store: exit %d, want 1 naming load.missing:\n%s\n%s", code, out, errOut)
	}
	var again, _, rcode = flowsimCLI(t, "kube", "report", "-n", ns, "defect")
	if rcode != 1 || !strings.Contains(again, "load.missing") {
		t.Errorf("kube report defect: exit %d, want 1 naming load.missing:\n%s", rcode, again)
	}
}
