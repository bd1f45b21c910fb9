package controllers

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// The manager's generated role grants nothing on Secrets and no wildcards.
func TestManagerRoleIsLeastPrivilege(t *testing.T) {
	var b, err = os.ReadFile(filepath.Join("..", "config", "rbac", "generated", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(b, &role); err != nil {
		t.Fatalf("parsing role.yaml: %v", err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("the generated role has no rules")
	}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			if res == "secrets" || res == "*" {
				t.Errorf("the manager role grants %v on %q; it must not read Secrets", r.Verbs, res)
			}
		}
		if slices.Contains(r.Verbs, "*") || slices.Contains(r.APIGroups, "*") {
			t.Errorf("the manager role has a wildcard rule: %+v", r)
		}
		if slices.Contains(r.Resources, "pods") && (slices.Contains(r.Verbs, "update") || slices.Contains(r.Verbs, "patch")) {
			t.Errorf("the manager role may modify pods (%v); it only creates and deletes them", r.Verbs)
		}
	}
}

// readSamples decodes config/samples/matsimrun_*.yaml.
func readSamples(t *testing.T) map[string]*flowsimv1.MatSimRun {
	t.Helper()
	var files, _ = filepath.Glob(filepath.Join("..", "config", "samples", "matsimrun_*.yaml"))
	var runs = map[string]*flowsimv1.MatSimRun{}
	for _, f := range files {
		var b, err = os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var run flowsimv1.MatSimRun
		if err := yaml.UnmarshalStrict(b, &run); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		runs[filepath.Base(f)] = &run
	}
	return runs
}

// There is a sample for every test, and each one builds a Job.
func TestSamplesCoverEveryTest(t *testing.T) {
	var seen = map[flowsimv1.MatSimTest]bool{}
	for name, run := range readSamples(t) {
		seen[run.Spec.Test] = true
		run.Namespace, run.UID = "ns", "uid"
		if _, err := JobForRun(run, testBuild); err != nil {
			t.Errorf("%s: building its Job: %v", name, err)
		}
	}
	for _, test := range []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestDelta, flowsimv1.TestFence, flowsimv1.TestRecovery} {
		if !seen[test] {
			t.Errorf("config/samples has no MatSimRun for the %s test", test)
		}
	}
}

// Story: the samples are accepted by the API server's validation (schema and CEL).
func TestStorySamplesAreValid(t *testing.T) {
	requireEnvtest(t)
	t.Parallel()
	var ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "msr-samples-"}}
	if err := envClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = envClient.Delete(ctx, ns) })
	for name, run := range readSamples(t) {
		run.Namespace = ns.Name
		if err := envClient.Create(ctx, run); err != nil {
			t.Errorf("%s rejected: %v", name, fmt.Sprint(err))
		}
	}
}
