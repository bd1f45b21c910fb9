package controllers

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/lib/redact"
)

// The policy in config/crd is the one InlineSecretsPolicy renders from redact's pattern.
func TestInlineSecretsPolicyIsGenerated(t *testing.T) {
	var b, err = os.ReadFile(filepath.Join("..", InlineSecretsPolicyFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != InlineSecretsPolicy() {
		t.Errorf("%s is stale: regenerate it with go run -tags nozstd ./hack/gentables -policy (or make manifests)", InlineSecretsPolicyFile)
	}
	if !strings.Contains(string(b), ".matches('"+redact.SecretKeyPattern+"')") {
		t.Errorf("%s does not match keys with redact.SecretKeyPattern", InlineSecretsPolicyFile)
	}
}

// secretKeyCases are config keys with whether they look secret: the redactor, the
// manager's admission check and the API server's policy must all say the same.
var secretKeyCases = []struct {
	key    string
	secret bool
}{
	{"password", true}, {"Password", true}, {"passphrase", true}, {"pwd", true},
	{"auth", true}, {"oauth_token", true}, {"API-KEY", true}, {"apiKey", true},
	{"private.key", true}, {"ACCESS_KEY_ID", true}, {"client_secret", true},
	{"credentials", true}, {"sas_url", true}, {"signature", true},
	{"host", false}, {"address", false}, {"user", false}, {"database", false},
	{"sslmode", false}, {"port", false}, {"schema", false}, {"api", false},
}

const probeValue = "v4lue-0f-the-k3y"

func probeConfig(key string) []byte {
	var b, _ = json.Marshal(map[string]string{key: probeValue})
	return b
}

// The manager's check and the redactor agree on every case.
func TestLooksSecretAgreesWithRedactor(t *testing.T) {
	for _, tc := range secretKeyCases {
		var cfg = probeConfig(tc.key)
		var admitted = len(InlineSecretKeys(cfg)) == 0
		var redacted = !strings.Contains(redact.New(cfg).String("connector said: "+probeValue), probeValue)
		if admitted == tc.secret {
			t.Errorf("the manager's admission check %s key %q; want it %s", admitsWord(admitted), tc.key, admitsWord(!tc.secret))
		}
		if redacted != tc.secret {
			t.Errorf("the redactor hides the value of key %q: %v; want %v", tc.key, redacted, tc.secret)
		}
	}
}

// Story: the API server's policy (generated from the same pattern) admits exactly the
// keys the manager admits and the redactor leaves alone.
func TestInlineSecretsPolicyAgrees(t *testing.T) {
	requireEnvtest(t)
	var ctx = context.Background()
	for _, tc := range secretKeyCases {
		var run = &flowsimv1.MatSimRun{
			ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
			Spec: flowsimv1.MatSimRunSpec{
				Test:      flowsimv1.TestBasic,
				Connector: flowsimv1.ConnectorSpec{Image: "connector:v1"},
				Config:    flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: probeConfig(tc.key)}},
				Resource:  runtime.RawExtension{Raw: []byte(`{"table":"t"}`)},
			},
		}
		var err = envClient.Create(ctx, run, client.DryRunAll)
		var refused = err != nil && strings.Contains(err.Error(), "spec.config.inline."+tc.key+" look(s) like a secret")
		if err != nil && !refused {
			t.Fatalf("dry-run create with inline key %q: %v", tc.key, err)
		}
		if refused != tc.secret {
			t.Errorf("the API server's policy %s key %q; want it %s", admitsWord(!refused), tc.key, admitsWord(!tc.secret))
		}
	}
}

func admitsWord(admitted bool) string {
	if admitted {
		return "admits"
	}
	return "refuses"
}
