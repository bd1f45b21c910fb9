package controllers

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

func secretEnv(r *flowsimv1.MatSimRun) {
	r.Spec.Connector.Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}, {Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "other-team-db"}, Key: "password"}}}}
}

func TestAdmissionPolicyViolation(t *testing.T) {
	var strict = AdmissionPolicy{ConnectorImages: []string{"ghcr.io/acme/*", "registry.local/*/*"}, DriverImages: []string{"ghcr.io/flowsim/*"}, ForbidSecretEnv: true}
	for _, tc := range []struct {
		name   string
		policy AdmissionPolicy
		mutate func(*flowsimv1.MatSimRun)
		says   []string // empty: allowed
	}{
		{"no policy allows anything", AdmissionPolicy{}, func(r *flowsimv1.MatSimRun) { secretEnv(r); r.Spec.Driver.Image = "x" }, nil},
		{"allowed images", strict, func(r *flowsimv1.MatSimRun) {
			r.Spec.Connector.Image, r.Spec.Driver.Image = "ghcr.io/acme/pg:v1", "ghcr.io/flowsim/flowsim:v2"
		}, nil},
		{"nested pattern", strict, func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "registry.local/team/pg:v1" }, nil},
		{"the manager's own flowsim image needs no pattern", strict, func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "ghcr.io/acme/pg" }, nil},
		{"connector image outside the patterns", strict, func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "ghcr.io/acme/sub/pg:v1" },
			[]string{`spec.connector.image "ghcr.io/acme/sub/pg:v1" matches none of the allowed patterns (ghcr.io/acme/*, registry.local/*/*)`}},
		{"driver image outside the patterns", strict, func(r *flowsimv1.MatSimRun) {
			r.Spec.Connector.Image, r.Spec.Driver.Image = "ghcr.io/acme/pg", "docker.io/evil/flowsim"
		}, []string{`spec.driver.image "docker.io/evil/flowsim"`}},
		{"env from a Secret", strict, func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "ghcr.io/acme/pg"; secretEnv(r) },
			[]string{`spec.connector.env[1] (PGPASSWORD) takes its value from Secret "other-team-db"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got = tc.policy.Violation(testRun(tc.mutate))
			if len(tc.says) == 0 && got != "" {
				t.Fatalf("want allowed, got %q", got)
			}
			for _, s := range tc.says {
				if !strings.Contains(got, s) {
					t.Errorf("violation %q does not say %q", got, s)
				}
			}
		})
	}
	if err := (AdmissionPolicy{ConnectorImages: []string{"ghcr.io/["}}).Validate(); err == nil {
		t.Error("a malformed pattern must be rejected")
	}
}

// Story: an admin allows only ghcr.io/acme images and no env from Secrets; a run that
// asks for another image and a Secret's value fails at once, says why, and nothing is
// created for it.
func TestStoryRunNotAllowedByAdmissionPolicy(t *testing.T) {
	var e = newTestEnv(t, func(r *MatSimRunReconciler) {
		r.Admission = AdmissionPolicy{ConnectorImages: []string{"ghcr.io/acme/*"}, ForbidSecretEnv: true}
	})
	e.newRun("evil", func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "docker.io/evil/miner:latest"; secretEnv(r) })
	var run = e.waitRun("evil", "fails as not allowed", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonNotAllowed))
	for _, want := range []string{`spec.connector.image "docker.io/evil/miner:latest"`, `spec.connector.env[1] (PGPASSWORD)`} {
		if !strings.Contains(run.Status.Message, want) {
			t.Errorf("status.message %q does not say %q", run.Status.Message, want)
		}
	}
	if err := e.c.Get(ctx, e.key("evil-driver"), &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Job exists for a forbidden run (get: %v)", err)
	}
	if err := e.c.Get(ctx, e.key("evil-connector"), &networkingv1.NetworkPolicy{}); !apierrors.IsNotFound(err) {
		t.Errorf("a NetworkPolicy exists for a forbidden run (get: %v)", err)
	}
	var pods corev1.PodList
	if err := e.c.List(ctx, &pods, client.InNamespace(e.ns)); err != nil || len(pods.Items) != 0 {
		t.Errorf("pods exist for a forbidden run: %d (%v)", len(pods.Items), err)
	}

	// An allowed run in the same namespace starts.
	e.newRun("fine", func(r *flowsimv1.MatSimRun) { r.Spec.Connector.Image = "ghcr.io/acme/pg:v1" })
	e.waitJob("fine")
}

func TestInlineSecretKeys(t *testing.T) {
	for _, tc := range []struct {
		name, inline string
		want         []string
	}{
		{"no secrets", `{"address":"db:5432","user":"flow","database":"t","sslmode":"disable","port":5432}`, nil},
		{"top level, any case and separator", `{"Password":"x","API-KEY":"k","apiKey":"k","private_key":"p","ACCESS_KEY_ID":"a","user":"u"}`,
			[]string{"spec.config.inline.ACCESS_KEY_ID", "spec.config.inline.API-KEY", "spec.config.inline.Password",
				"spec.config.inline.apiKey", "spec.config.inline.private_key"}},
		{"nested and in lists", `{"auth":{"password":"x","kind":"basic"},"hosts":[{"name":"a","client_secret":"s"}],"oauth":{"refresh.token":"t"}}`,
			// auth and oauth look secret too (the redactor hides their values): one pattern.
			[]string{"spec.config.inline.auth", "spec.config.inline.auth.password", "spec.config.inline.hosts[0].client_secret",
				"spec.config.inline.oauth", "spec.config.inline.oauth.refresh.token"}},
		{"a secret-looking key with an object value", `{"credentials":{"file":"/x"}}`, []string{"spec.config.inline.credentials"}},
		{"values are not keys", `{"note":"password=hunter2","mode":"token"}`, nil},
		{"big numbers decode", `{"id":9007199254740993,"pwd":1}`, []string{"spec.config.inline.pwd"}},
		{"not JSON", `{`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, InlineSecretKeys([]byte(tc.inline))); diff != "" {
				t.Errorf("InlineSecretKeys(%s) (-want +got):\n%s", tc.inline, diff)
			}
		})
	}
	var run = testRun(func(r *flowsimv1.MatSimRun) {
		r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"auth":{"token":"abc"}}`)}}
	})
	var msg = inlineSecretViolation(run)
	for _, want := range []string{"spec.config.inline.auth.token", "spec.config.secretRef"} {
		if !strings.Contains(msg, want) {
			t.Errorf("violation %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "abc") {
		t.Errorf("violation %q shows the secret's value", msg)
	}
}

// Story: a user puts a password into an inline config, nested where the API server's
// rule does not look; the run fails at once as NotAllowed, pointing to
// spec.config.secretRef, and nothing is created. A run whose inline keys look harmless
// starts.
func TestStoryInlineSecretNotAllowed(t *testing.T) {
	var e = newTestEnv(t)
	e.newRun("leaky", func(r *flowsimv1.MatSimRun) {
		r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"address":"db","connection":{"user":"u","Password":"hunter2"}}`)}}
	})
	var run = e.waitRun("leaky", "fails as not allowed", phaseIs(flowsimv1.PhaseFailed, flowsimv1.ReasonNotAllowed))
	for _, want := range []string{"spec.config.inline.connection.Password", "spec.config.secretRef"} {
		if !strings.Contains(run.Status.Message, want) {
			t.Errorf("status.message %q does not say %q", run.Status.Message, want)
		}
	}
	if strings.Contains(run.Status.Message, "hunter2") {
		t.Errorf("status.message %q shows the secret", run.Status.Message)
	}
	if err := e.c.Get(ctx, e.key("leaky-driver"), &batchv1.Job{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Job exists for a run with a secret inline (get: %v)", err)
	}

	e.newRun("harmless", func(r *flowsimv1.MatSimRun) {
		r.Spec.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"address":"db","connection":{"user":"u","mode":"trust"}}`)}}
	})
	e.waitJob("harmless")
}
