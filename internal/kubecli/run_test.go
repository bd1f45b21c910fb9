package kubecli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// getRun reads a run, failing the test unless it exists.
func getRun(t *testing.T, ns, name string) *flowsimv1.MatSimRun {
	t.Helper()
	var run flowsimv1.MatSimRun
	if err := envClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &run); err != nil {
		t.Fatalf("getting run %s/%s: %v", ns, name, err)
	}
	return &run
}

// setStatus plays the operator: it writes status (computed from the current run).
func setStatus(t *testing.T, ns, name string, fn func(*flowsimv1.MatSimRunStatus)) {
	t.Helper()
	eventually(t, "the status of "+name+" is written", func() error {
		var run = getRun(t, ns, name)
		fn(&run.Status)
		return envClient.Status().Update(context.Background(), run)
	})
}

var (
	passed = func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.Reason, s.Message = flowsimv1.PhaseSucceeded, "Passed", "every check passed"
		s.Seed = ptr.To(int64(42))
		s.PodName = "r-driver-abcde"
		s.Result = &flowsimv1.RunResult{Outcome: "passed", Protocol: "2021-12", LoopsDone: 2, Loops: 2,
			Loaded: 750, Stored: 1500, Verified: 1500, Duration: metav1.Duration{Duration: 3200 * time.Millisecond}, DocsPerSecond: "812.5"}
	}
	checkFailed = func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.Reason = flowsimv1.PhaseFailed, "CheckFailed"
		s.Message = "load.missing: verify: a stored document that Load did not return (3 document(s); first keys: [7,\"a\"], [9,\"b\"])"
		s.Seed = ptr.To(int64(7))
		s.Result = &flowsimv1.RunResult{Outcome: "failed", Protocol: "2021-12", LoopsDone: 2, Loops: 2, Loaded: 600, Stored: 1500, Verified: 597,
			Duration: metav1.Duration{Duration: 2 * time.Second}, DocsPerSecond: "1050.0", Check: "load.missing", Message: s.Message}
	}
	setupError = func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.Reason = flowsimv1.PhaseFailed, "SetupError"
		s.Message = "setup.validate: setup: Validate failed: password authentication failed for user \"flow\""
		s.Seed = ptr.To(int64(11))
		s.Result = &flowsimv1.RunResult{Outcome: "error", Loops: 5, Duration: metav1.Duration{Duration: 300 * time.Millisecond}, DocsPerSecond: "0.0",
			Check: "setup.validate", Message: s.Message}
	}
	imagePull = func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.Reason = flowsimv1.PhaseFailed, "ImagePullFailed"
		s.Message = "container connector of pod r-driver-abcde: ErrImagePull: pull access denied for ghcr.io/acme/nope"
		s.Seed = ptr.To(int64(5))
	}
	crashed = func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.Reason = flowsimv1.PhaseFailed, "ConnectorCrashed"
		s.Message = "the connector exited with code 2: panic: boom"
		s.Seed = ptr.To(int64(3))
	}
)

// The run story: `kube run` creates the config Secret (owned by the run) and the run,
// follows it while the operator (played by the test) reports progress, prints the same
// report as a local run and exits 0.
func TestRunPasses(t *testing.T) {
	var ns = newNamespace(t)
	var c = newCLI(t, adminConfig, ns)
	var configFile = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(configFile, []byte("address: db:5432\npassword: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var junit = filepath.Join(t.TempDir(), "r.xml")
	var code = make(chan int, 1)
	go func() {
		code <- c.run(context.Background(), "run", "basic", "--name", "r", "--image", "ghcr.io/acme/x:v1",
			"--config", configFile, "--resource", "{table: t1}", "--loops", "2", "--start", "250", "--junit", junit)
	}()
	<-c.stderr.seen("matsimrun.flowsim.dev/r created in namespace " + ns)

	var run = getRun(t, ns, "r")
	if run.Spec.Config.SecretRef == nil || run.Spec.Config.SecretRef.Name != "r-config" || run.Spec.Config.SecretRef.Key != ConfigKey {
		t.Fatalf("spec.config = %+v, want secretRef r-config/%s", run.Spec.Config, ConfigKey)
	}
	if string(run.Spec.Resource.Raw) != `{"table":"t1"}` || *run.Spec.Loops != 2 || *run.Spec.Start != 250 || run.Spec.Connector.Image != "ghcr.io/acme/x:v1" {
		t.Errorf("spec = %+v", run.Spec)
	}
	var secret corev1.Secret
	if err := envClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "r-config"}, &secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data[ConfigKey]) != "address: db:5432\npassword: s3cret\n" {
		t.Errorf("secret data = %q", secret.Data[ConfigKey])
	}
	eventually(t, "the Secret is owned by the run", func() error {
		if err := envClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "r-config"}, &secret); err != nil {
			return err
		}
		if len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].UID != run.UID || secret.OwnerReferences[0].Kind != "MatSimRun" {
			return fmt.Errorf("owner references %+v", secret.OwnerReferences)
		}
		return nil
	})

	setStatus(t, ns, "r", func(s *flowsimv1.MatSimRunStatus) {
		s.Phase, s.PodName = flowsimv1.PhaseRunning, "r-driver-abcde"
		s.Progress = &flowsimv1.RunProgress{Loop: 1, Loops: 2, Documents: 500}
	})
	<-c.stderr.seen("Running, loop 1/2, 500 documents")
	setStatus(t, ns, "r", passed)
	if got := <-code; got != ExitPassed {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", got, c.stdout, c.stderr)
	}
	wantReport(t, ns, "r", c.stdout.String())
	if !strings.Contains(c.stderr.String(), "run "+ns+"/r: Succeeded (Passed)") {
		t.Errorf("stderr lacks the final progress line:\n%s", c.stderr)
	}
	if strings.Contains(c.stdout.String()+c.stderr.String(), "s3cret") {
		t.Errorf("the config's password was printed")
	}
	var xml, err = os.ReadFile(junit)
	if err != nil || !strings.Contains(string(xml), `<testcase name="basic" classname="flowsim.matsim"`) {
		t.Errorf("--junit: %v\n%s", err, xml)
	}
}

// Each outcome gives the exit code of a local run (or 3), and its report.
func TestRunOutcomes(t *testing.T) {
	var ns = newNamespace(t)
	for _, tc := range []struct {
		name   string
		status func(*flowsimv1.MatSimRunStatus)
		code   int
	}{
		{"check-failed", checkFailed, ExitFailed},
		{"setup-error", setupError, ExitSetup},
		{"image-pull-failed", imagePull, ExitInfra},
		{"connector-crashed", crashed, ExitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c = newCLI(t, adminConfig, ns)
			var code = make(chan int, 1)
			go func() {
				code <- c.run(context.Background(), "run", "basic", "--name", tc.name, "--image", "ghcr.io/acme/x:v1", "--resource", "{table: t1}")
			}()
			<-c.stderr.seen("matsimrun.flowsim.dev/" + tc.name + " created")
			setStatus(t, ns, tc.name, tc.status)
			if got := <-code; got != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.code, c.stdout, c.stderr)
			}
			wantReport(t, ns, tc.name, c.stdout.String())

			// kube report prints the same report from the finished run, with files.
			var r = newCLI(t, adminConfig, ns)
			var dir = t.TempDir()
			var stdout, _ = r.must(tc.code, "report", tc.name, "--junit", filepath.Join(dir, "r.xml"), "--json", filepath.Join(dir, "r.json"))
			if stdout != c.stdout.String() {
				t.Errorf("kube report differs from kube run's report:\n%s\n---\n%s", stdout, c.stdout)
			}
			var js struct {
				Result struct{ Outcome, Check string }
				Run    struct {
					Reason   string
					ExitCode int
				}
			}
			var b, _ = os.ReadFile(filepath.Join(dir, "r.json"))
			if err := json.Unmarshal(b, &js); err != nil || js.Run.ExitCode != tc.code || js.Run.Reason == "" {
				t.Errorf("--json: %v %+v\n%s", err, js, b)
			}
			var xml, _ = os.ReadFile(filepath.Join(dir, "r.xml"))
			if !strings.Contains(string(xml), "<failure") && !strings.Contains(string(xml), "<error") {
				t.Errorf("--junit has no failure or error:\n%s", xml)
			}
		})
	}
}

func TestRunWaitFalseAndManifest(t *testing.T) {
	var ns = newNamespace(t)
	var c = newCLI(t, adminConfig, ns)
	var stdout, _ = c.must(ExitPassed, "run", "delta", "--image", "x:1", "--wait=false", "--resource", "{table: d, delta_updates: true}")
	var name = strings.TrimSpace(stdout)
	if !strings.HasPrefix(name, "delta-") {
		t.Fatalf("stdout %q is not the generated run name", stdout)
	}
	var run = getRun(t, ns, name)
	if run.Spec.Config.Inline == nil || run.Spec.Config.SecretRef != nil {
		t.Errorf("without --config the run should have an empty inline config: %+v", run.Spec.Config)
	}
	if run.Spec.Cleanup != nil || run.Spec.ExactlyOnce != nil {
		t.Errorf("cleanup %v, exactlyOnce %v set without their flags", run.Spec.Cleanup, run.Spec.ExactlyOnce)
	}
	stdout, _ = c.must(ExitPassed, "run", "recovery", "--image", "x:1", "--wait=false", "--cleanup", "--exactly-once", "--resource", "{table: r}")
	if run = getRun(t, ns, strings.TrimSpace(stdout)); run.Spec.Cleanup == nil || !*run.Spec.Cleanup || run.Spec.ExactlyOnce == nil || !*run.Spec.ExactlyOnce {
		t.Errorf("--cleanup --exactly-once: spec.cleanup %v, spec.exactlyOnce %v; want both true", run.Spec.Cleanup, run.Spec.ExactlyOnce)
	}

	var manifest = filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: flowsim.dev/v1alpha1
kind: MatSimRun
metadata: {name: from-file}
spec:
  test: recovery
  connector: {image: "x:2"}
  config: {inline: {state_dir: /tmp/ref}}
  resource: {name: t}
  crashAt: [after-commit]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _ = c.must(ExitPassed, "run", "-f", manifest, "--wait=false")
	if strings.TrimSpace(stdout) != "from-file" {
		t.Errorf("stdout %q", stdout)
	}
	if run := getRun(t, ns, "from-file"); len(run.Spec.CrashAt) != 1 || run.Spec.Test != "recovery" {
		t.Errorf("spec from -f: %+v", run.Spec)
	}
	// The same name again: a clear error, exit 2.
	var _, stderr = c.must(ExitSetup, "run", "-f", manifest)
	if !strings.Contains(stderr, `a MatSimRun "from-file" already exists`) {
		t.Errorf("stderr %q", stderr)
	}
	// The API server's validation reaches the user with the field named.
	_, stderr = c.must(ExitSetup, "run", "basic", "--image", "x", "--name", "Bad_Name")
	if !strings.Contains(stderr, "rejected the run") || !strings.Contains(stderr, "metadata.name") {
		t.Errorf("stderr %q", stderr)
	}
	if err := envClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "Bad_Name-config"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("no Secret may be left behind by a rejected run: %v", err)
	}
}

// Ctrl-C while waiting leaves the run alone and says how to follow or delete it.
func TestRunInterrupted(t *testing.T) {
	var ns = newNamespace(t)
	var c = newCLI(t, adminConfig, ns)
	var ctx, cancel = context.WithCancel(context.Background())
	var code = make(chan int, 1)
	go func() {
		code <- c.run(ctx, "run", "basic", "--name", "r", "--image", "x:1", "--config", "{password: pw}")
	}()
	<-c.stderr.seen("run " + ns + "/r: Submitted")
	cancel()
	if got := <-code; got != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", got, ExitInterrupted, c.stderr)
	}
	for _, want := range []string{"keeps running", "flowsim kube wait r -n " + ns, "flowsim kube delete r -n " + ns} {
		if !strings.Contains(c.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, c.stderr)
		}
	}
	if run := getRun(t, ns, "r"); run.DeletionTimestamp != nil {
		t.Errorf("the run was deleted")
	}
}

// A run deleted while `run` waits is an infrastructure failure.
func TestRunDeletedWhileWaiting(t *testing.T) {
	var ns = newNamespace(t)
	var c = newCLI(t, adminConfig, ns)
	var code = make(chan int, 1)
	go func() { code <- c.run(context.Background(), "run", "basic", "--name", "r", "--image", "x:1") }()
	<-c.stderr.seen("run " + ns + "/r: Submitted")
	c2 := newCLI(t, adminConfig, ns)
	c2.must(ExitPassed, "delete", "r")
	if got := <-code; got != ExitInfra {
		t.Fatalf("exit %d, want %d\n%s", got, ExitInfra, c.stderr)
	}
	if !strings.Contains(c.stderr.String(), "was deleted before it finished") {
		t.Errorf("stderr:\n%s", c.stderr)
	}
}

// wantReport checks that stdout is the report of the run as it is now in the cluster
// (the report of each outcome is golden-tested in TestReportOfStatus).
func wantReport(t *testing.T, ns, name, stdout string) {
	t.Helper()
	var b strings.Builder
	if err := reportOf(getRun(t, ns, name)).writeText(&b); err != nil {
		t.Fatal(err)
	}
	if stdout != b.String() {
		t.Errorf("stdout is not the run's report:\n%s\n--- want\n%s", stdout, b.String())
	}
	if !strings.HasPrefix(stdout, "matsim ") {
		t.Errorf("stdout does not start with the report's header:\n%s", stdout)
	}
}
