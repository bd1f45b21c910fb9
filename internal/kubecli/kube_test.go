package kubecli

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/cmdline"
)

// A run that is not found is named with its namespace and the cluster asked (no
// cluster needed): a user with several contexts knows where it was looked for.
func TestNotFoundNamesTheServer(t *testing.T) {
	var s = &session{ns: "ci", server: "https://10.0.0.1:6443", context: "kind-flowsim"}
	var err = s.apiErr("get", "run", "nope", apierrors.NewNotFound(schema.GroupResource{Group: flowsimv1.GroupVersion.Group, Resource: "matsimruns"}, "nope"))
	var msg = err.Error()
	for _, want := range []string{`run "nope" not found in namespace "ci"`, `https://10.0.0.1:6443 (context "kind-flowsim")`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if code := cmdline.ExitCode(err); code != ExitSetup {
		t.Errorf("exit code %d, want %d", code, ExitSetup)
	}
}
