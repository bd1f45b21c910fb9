package controllers

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The namespaced install's Role holds exactly the rules of the generated ClusterRole, in
// the namespace its RoleBinding gives to the manager's ServiceAccount.
func TestNamespacedRoleMatchesGeneratedRole(t *testing.T) {
	var read = func(path string, into any) {
		t.Helper()
		var b, err = os.ReadFile(filepath.Join("..", "config", path))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var cluster rbacv1.ClusterRole
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	read("rbac/generated/role.yaml", &cluster)
	read("namespaced/manager_role.yaml", &role)
	read("namespaced/manager_role_binding.yaml", &binding)
	if role.Kind != "Role" || role.Namespace == "" {
		t.Fatalf("namespaced/manager_role.yaml is a %s in namespace %q, want a Role in the watched namespace", role.Kind, role.Namespace)
	}
	if !equalRules(namespacedRules(cluster.Rules), role.Rules) {
		t.Errorf("namespaced/manager_role.yaml has other rules than the generated ClusterRole (run `make manifests` and copy them):\n%v\nwant\n%v", role.Rules, cluster.Rules)
	}
	if binding.Namespace != role.Namespace || binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name ||
		len(binding.Subjects) != 1 || binding.Subjects[0].Name != "flowsim-manager" || binding.Subjects[0].Namespace != "flowsim-system" {
		t.Errorf("the RoleBinding does not give Role %s/%s to the manager: %+v", role.Namespace, role.Name, binding)
	}
}

// clusterOnly are resources the namespaced install does without: sweeps are
// cluster-scoped and select namespaces, so a manager with --watch-namespace runs no
// sweep controller (cmd/manager).
var clusterOnly = []string{"namespaces", "matsimsweeps", "matsimsweeps/status", "matsimsweeps/finalizers"}

// namespacedRules are the generated rules without the clusterOnly resources.
func namespacedRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		var res []string
		for _, x := range r.Resources {
			if !slices.Contains(clusterOnly, x) {
				res = append(res, x)
			}
		}
		if len(res) != 0 {
			r.Resources = res
			out = append(out, r)
		}
	}
	return out
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	var ya, _ = yaml.Marshal(a)
	var yb, _ = yaml.Marshal(b)
	return bytes.Equal(ya, yb)
}

// `kustomize build config/namespaced` (through kubectl's built-in kustomize): no
// ClusterRole or ClusterRoleBinding for the manager, and the manager watches exactly
// the namespace that holds its Role.
func TestNamespacedKustomizeBuild(t *testing.T) {
	var kubectl, err = exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl (for its built-in kustomize) is not installed")
	}
	var out, berr = exec.Command(kubectl, "kustomize", filepath.Join("..", "config", "namespaced")).CombinedOutput()
	if berr != nil {
		t.Fatalf("kubectl kustomize config/namespaced: %v\n%s", berr, out)
	}
	var roleNamespaces, watched []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.Object == nil {
			continue
		}
		switch u.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			if u.GetName() == "flowsim-manager" {
				t.Errorf("the namespaced install has %s %s", u.GetKind(), u.GetName())
			}
		case "Role":
			if u.GetName() == "flowsim-manager" {
				roleNamespaces = append(roleNamespaces, u.GetNamespace())
			}
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatal(err)
			}
			for _, a := range d.Spec.Template.Spec.Containers[0].Args {
				if ns, ok := strings.CutPrefix(a, "--watch-namespace="); ok {
					watched = append(watched, strings.Split(ns, ",")...)
				}
			}
		}
	}
	slices.Sort(roleNamespaces)
	slices.Sort(watched)
	if len(watched) == 0 || !slices.Equal(roleNamespaces, watched) {
		t.Errorf("the manager watches %v but holds its Role in %v", watched, roleNamespaces)
	}
}
