package kubecli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeConfig writes a kubeconfig whose one context points at server.
func writeConfig(t *testing.T, server string) string {
	t.Helper()
	var cfg = clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u", Namespace: "team-a"}
	cfg.CurrentContext = "ctx"
	var p = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNoKubeconfig(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var c = newCLI(t, "", "")
	for _, args := range [][]string{{"get"}, {"install"}, {"run", "basic", "--image", "x"}, {"logs", "r"}} {
		var _, stderr = c.must(ExitSetup, args...)
		if !strings.Contains(stderr, "no Kubernetes cluster configured") || !strings.Contains(stderr, "KUBECONFIG") {
			t.Errorf("%v: stderr %q does not say that no kubeconfig was found", args, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: want one line, got %q", args, stderr)
		}
	}
	// KUBECONFIG naming a missing file is the same as none, as for kubectl.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	if _, stderr := c.must(ExitSetup, "get"); !strings.Contains(stderr, "$KUBECONFIG=") {
		t.Errorf("stderr %q does not name $KUBECONFIG", stderr)
	}
}

// An API server that refuses connections, or accepts them and never answers, fails the
// command within seconds, naming the server and the context.
func TestUnreachableAPIServer(t *testing.T) {
	var closed, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused = "https://" + closed.Addr().String()
	closed.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accept and hold connections, never answer
		for {
			var conn, err = silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	var mute = "https://" + silent.Addr().String()

	for _, tc := range []struct {
		name, server string
		extra        []string
		want         string
	}{
		{"refused", refused, nil, "connection refused"},
		{"no answer", mute, []string{"--request-timeout", "1s"}, "no answer within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c = newCLI(t, writeConfig(t, tc.server), "")
			var start = time.Now()
			var _, stderr = c.must(ExitSetup, append(tc.extra, "get")...)
			if took := time.Since(start); took > 8*time.Second {
				t.Errorf("took %s to fail", took)
			}
			for _, want := range []string{"cannot reach the Kubernetes API server " + tc.server, `context "ctx"`, tc.want} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not contain %q", stderr, want)
				}
			}
		})
	}
}

func TestInstallDryRun(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing")) // needs no cluster
	var c = newCLI(t, "", "")
	var stdout, _ = c.must(ExitPassed, "install", "--dry-run", "--image-prefix", "ghcr.io/acme/", "--tag", "v0.1.0")
	for _, want := range []string{
		"kind: CustomResourceDefinition", "name: matsimruns.flowsim.dev",
		"kind: Deployment", "image: ghcr.io/acme/manager:v0.1.0", "--flowsim-image=ghcr.io/acme/flowsim:v0.1.0",
		"kind: Namespace", "kind: ClusterRole",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("install --dry-run output lacks %q", want)
		}
	}
	if strings.Contains(stdout, "flowsim/manager:dev") || strings.Contains(stdout, "image: flowsim-manager") {
		t.Errorf("install --dry-run left the default manager image in place")
	}
	var down, _ = c.must(ExitPassed, "uninstall", "--dry-run")
	if !strings.HasPrefix(down, "deployment.apps/flowsim-manager would be deleted\n") || !strings.Contains(down, "customresourcedefinition.apiextensions.k8s.io/matsimruns.flowsim.dev would be deleted") {
		t.Errorf("uninstall --dry-run:\n%s", down)
	}
	for _, args := range [][]string{
		{"install", "--dry-run", "--kustomization", "nope"},
		{"install", "--dry-run", "--tag", "a:b"},
	} {
		c.must(ExitSetup, args...)
	}
}

// Bad flags are one-line usage errors (exit 2) before any cluster access.
func TestRunUsageErrors(t *testing.T) {
	var cfg = writeConfig(t, "https://127.0.0.1:1") // never reached
	var dir = t.TempDir()
	var manifest = filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: flowsim.dev/v1alpha1\nkind: MatSimRun\nmetadata: {name: x}\nspec: {test: basic, bogus: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "which test?"},
		{[]string{"run", "basik", "--image", "x"}, `unknown test "basik"`},
		{[]string{"run", "basic"}, "--image is required"},
		{[]string{"run", "basic", "--image", "x", "--config", "[1, 2]"}, "--config: not an inline YAML mapping"},
		{[]string{"run", "basic", "--image", "x", "--loops", "0"}, "--loops must be at least 1"},
		{[]string{"run", "basic", "--image", "x", "--crash-at", "after-stores"}, "--crash-at applies only to the recovery test"},
		{[]string{"run", "recovery", "--image", "x", "--crash-at", "later"}, `unknown crash point "later"`},
		{[]string{"run", "basic", "--image", "x", "--exactly-once"}, "--exactly-once applies only to the fence and recovery tests"},
		{[]string{"run", "basic", "--image", "x", "--protocol", "2024"}, "--protocol must be"},
		{[]string{"run", "basic", "--image", "x", "--junit", filepath.Join(dir, "no", "such", "r.xml")}, "--junit"},
		{[]string{"run", "basic", "-f", manifest}, "either TEST or -f"},
		{[]string{"run", "-f", manifest, "--image", "y"}, "--image cannot be combined with -f"},
		{[]string{"run", "-f", manifest}, `unknown field "bogus"`},
		{[]string{"run", "basic", "--image", "x", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"logs", "r", "--peer", "--connector"}, "choose one of"},
	} {
		var c = newCLI(t, cfg, "")
		var _, stderr = c.must(ExitSetup, tc.args...)
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q does not contain %q", tc.args, stderr, tc.want)
		}
		if strings.Contains(stderr, "127.0.0.1:1") {
			t.Errorf("%v: reached for the cluster before checking its flags: %q", tc.args, stderr)
		}
	}
}

var _ = context.Background
var _ = fmt.Sprint
