package kubecli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The install story, on a control plane of its own without flowsim's CRDs: commands say
// that flowsim is not installed; install applies everything (twice: idempotent) and the
// runs API works; uninstall removes it (twice: idempotent).
func TestInstallUninstall(t *testing.T) {
	requireEnvtest(t)
	var env = &envtest.Environment{BinaryAssetsDirectory: envAssets}
	var cfg, err = env.Start()
	if err != nil {
		t.Fatalf("starting a second envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	var s = runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	bare, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	u, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	var kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	var c = newCLI(t, kubeconfig, "default")

	for _, args := range [][]string{{"get"}, {"run", "basic", "--image", "x", "--wait=false"}, {"logs", "x"}} {
		var _, stderr = c.must(ExitSetup, args...)
		if !strings.Contains(stderr, "not installed") || !strings.Contains(stderr, "run flowsim kube install") {
			t.Errorf("%v without CRDs: %q", args, stderr)
		}
	}

	var stdout, _ = c.must(ExitPassed, "install", "--image-prefix", "registry.local:5000/ci", "--tag", "t1")
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/matsimruns.flowsim.dev serverside-applied",
		"namespace/flowsim-system serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/flowsim-manager serverside-applied",
		"deployment.apps/flowsim-manager serverside-applied",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("install output lacks %q:\n%s", want, stdout)
		}
	}
	var dep appsv1.Deployment
	if err := bare.Get(context.Background(), client.ObjectKey{Namespace: "flowsim-system", Name: "flowsim-manager"}, &dep); err != nil {
		t.Fatal(err)
	}
	var ctr = dep.Spec.Template.Spec.Containers[0]
	if ctr.Image != "registry.local:5000/ci/manager:t1" || !strings.Contains(strings.Join(ctr.Args, " "), "--flowsim-image=registry.local:5000/ci/flowsim:t1") {
		t.Errorf("manager image %q args %v", ctr.Image, ctr.Args)
	}
	if dep.ManagedFields[0].Manager != FieldManager {
		t.Errorf("field manager %q", dep.ManagedFields[0].Manager)
	}
	// Again: nothing fails, nothing changes but what must.
	c.must(ExitPassed, "install", "--image-prefix", "registry.local:5000/ci", "--tag", "t2")
	if err := bare.Get(context.Background(), client.ObjectKey{Namespace: "flowsim-system", Name: "flowsim-manager"}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Template.Spec.Containers[0].Image != "registry.local:5000/ci/manager:t2" {
		t.Errorf("reinstall did not upgrade the image: %q", dep.Spec.Template.Spec.Containers[0].Image)
	}
	// Right after install the runs API works.
	stdout, _ = c.must(ExitPassed, "run", "basic", "--image", "x:1", "--wait=false", "--name", "first")
	if strings.TrimSpace(stdout) != "first" {
		t.Errorf("run after install: %q", stdout)
	}

	stdout, _ = c.must(ExitPassed, "uninstall")
	if !strings.Contains(stdout, "customresourcedefinition.apiextensions.k8s.io/matsimruns.flowsim.dev deleted") ||
		!strings.HasPrefix(stdout, "deployment.apps/flowsim-manager deleted") {
		t.Errorf("uninstall:\n%s", stdout)
	}
	stdout, _ = c.must(ExitPassed, "uninstall")
	if !strings.Contains(stdout, "deployment.apps/flowsim-manager already absent") {
		t.Errorf("second uninstall:\n%s", stdout)
	}
}
