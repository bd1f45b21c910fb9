package kubecli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flowsim/flowsim/internal/envtestutil"
	"github.com/flowsim/flowsim/matsim/cmdline"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// One envtest control plane (kube-apiserver + etcd, no kubelet, no controllers) with the
// CRDs installed serves the tests; they play the operator by writing run status. Two
// kubeconfigs reach it: an admin, and a user with no permissions.
var (
	envClient     client.Client
	adminConfig   string // kubeconfig file of system:masters
	nobodyConfig  string // kubeconfig file of a user without any role
	envMissing    string
	envAssets     string
	kubeconfigDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	var assets, why = envtestutil.Missing()
	if why != "" {
		envMissing = why
		os.Exit(m.Run())
	}
	envAssets = assets
	var env, cfg, err = envtestutil.Start(assets)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var code = func() int {
		defer func() {
			if err := env.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
			}
		}()
		if envClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
			fmt.Fprintf(os.Stderr, "creating the envtest client: %v\n", err)
			return 1
		}
		if kubeconfigDir, err = os.MkdirTemp("", "kubecli-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(kubeconfigDir)
		if adminConfig, err = writeKubeconfig(env, "admin", []string{"system:masters"}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if nobodyConfig, err = writeKubeconfig(env, "nobody", nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func writeKubeconfig(env *envtest.Environment, name string, groups []string) (string, error) {
	var u, err = env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("adding envtest user %s: %w", name, err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	var p = filepath.Join(kubeconfigDir, name+".kubeconfig")
	return p, os.WriteFile(p, b, 0o600)
}

// requireEnvtest skips an integration test when envtest is unavailable, except in CI.
func requireEnvtest(t *testing.T) {
	t.Helper()
	envtestutil.Require(t, envMissing)
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	requireEnvtest(t)
	var ns = &corev1.Namespace{}
	ns.GenerateName = "kube-"
	if err := envClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = envClient.Delete(context.Background(), ns) })
	return ns.Name
}

// syncBuffer is a writer that tests read while the command writes, and that signals when
// a line containing a given text was written.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	waits []waiter
}

type waiter struct {
	text string
	ch   chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n, _ = s.b.Write(p)
	var kept []waiter
	for _, w := range s.waits {
		if strings.Contains(s.b.String(), w.text) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	s.waits = kept
	return n, nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// seen returns a channel closed once text has been written.
func (s *syncBuffer) seen(text string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ch = make(chan struct{})
	if strings.Contains(s.b.String(), text) {
		close(ch)
	} else {
		s.waits = append(s.waits, waiter{text: text, ch: ch})
	}
	return ch
}

// cli runs `flowsim kube ARGS` as main does, returning stdout, stderr and the exit code.
type cli struct {
	t          *testing.T
	kubeconfig string
	ns         string
	logs       LogStreamer
	stdout     *syncBuffer
	stderr     *syncBuffer
}

func newCLI(t *testing.T, kubeconfig, ns string) *cli {
	return &cli{t: t, kubeconfig: kubeconfig, ns: ns, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
}

func (c *cli) run(ctx context.Context, args ...string) int {
	var root = &cobra.Command{Use: "flowsim", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(NewCommand(Options{Stdout: c.stdout, Stderr: c.stderr, Logs: c.logs}))
	var full = []string{"kube"}
	if c.kubeconfig != "" {
		full = append(full, "--kubeconfig", c.kubeconfig)
	}
	if c.ns != "" {
		full = append(full, "-n", c.ns)
	}
	root.SetArgs(append(full, args...))
	root.SetIn(strings.NewReader(""))
	var err = root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, cmdline.ErrFailed) {
		fmt.Fprintln(c.stderr, "flowsim:", err)
	}
	return cmdline.ExitCode(err)
}

// must runs the command and fails the test unless it exits with want.
func (c *cli) must(want int, args ...string) (stdout, stderr string) {
	c.t.Helper()
	var before, beforeErr = len(c.stdout.String()), len(c.stderr.String())
	var code = c.run(context.Background(), args...)
	stdout, stderr = c.stdout.String()[before:], c.stderr.String()[beforeErr:]
	if code != want {
		c.t.Fatalf("flowsim kube %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	var path = filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want, err = os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update to create it): %v", path, err)
	}
	if string(want) != got {
		t.Errorf("%s differs (-update rewrites it)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// eventually polls check until it returns nil, failing the test after 30s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var deadline = time.Now().Add(30 * time.Second)
	for {
		var err = check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

var _ = rest.CopyConfig
