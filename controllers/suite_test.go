package controllers

import (
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/internal/envtestutil"
)

// One envtest control plane (kube-apiserver + etcd, no kubelet, no controllers) serves
// every integration test of this package. Tests play the kubelet's and the Job
// controller's parts by writing Job and Pod status through the client.
var (
	envCfg     *rest.Config
	envClient  client.Client
	envScheme  = runtime.NewScheme()
	envMissing string // why envtest is unavailable, when it is
)

func TestMain(m *testing.M) {
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, flowsimv1.AddToScheme} {
		if err := add(envScheme); err != nil {
			panic(err)
		}
	}
	flag.Parse()
	var assets, why = envtestutil.Missing()
	if why != "" {
		envMissing = why
		os.Exit(m.Run())
	}
	var env, cfg, err = envtestutil.Start(assets)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	envCfg = cfg
	if envClient, err = client.New(envCfg, client.Options{Scheme: envScheme}); err != nil {
		fmt.Fprintf(os.Stderr, "creating the envtest client: %v\n", err)
		os.Exit(1)
	}
	if err := installPolicies(); err != nil {
		fmt.Fprintf(os.Stderr, "installing the admission policies of config/crd: %v\n", err)
		os.Exit(1)
	}
	var code = m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
	}
	os.Exit(code)
}

// requireEnvtest skips an integration test when envtest is unavailable, except in CI.
func requireEnvtest(t *testing.T) {
	t.Helper()
	envtestutil.Require(t, envMissing)
}

// fakeLogs serves driver logs for the progress reader (envtest has no kubelet).
type fakeLogs struct {
	mu  sync.Mutex
	log map[string]string // pod name -> log
}

func (f *fakeLogs) set(pod, log string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.log == nil {
		f.log = map[string]string{}
	}
	f.log[pod] = log
}

func (f *fakeLogs) TailLog(_ context.Context, _, pod, _ string, _ int64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.log[pod]; ok {
		return l, nil
	}
	return "", errors.New("no log")
}

// testEnv is one test's namespace and manager.
type testEnv struct {
	t    *testing.T
	ns   string
	c    client.Client
	logs *fakeLogs
	stop func()
	// configure changes the reconciler before the manager starts (newTestEnv's options).
	configure []func(*MatSimRunReconciler)
}

var testPolicyEnv = StatusOptions{ImagePullGracePeriod: time.Second, ConnectorRestartLimit: 3}

// newTestEnv creates a namespace and starts a manager that watches only it.
func newTestEnv(t *testing.T, configure ...func(*MatSimRunReconciler)) *testEnv {
	t.Helper()
	requireEnvtest(t)
	t.Parallel()
	// Pod Security admission (on in envtest's API server) enforces the restricted profile
	// on every pod the operator creates, and on the Job's pods the tests create.
	var ns = &corev1.Namespace{}
	ns.GenerateName = "msr-"
	ns.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	if err := envClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = envClient.Delete(context.Background(), ns) })
	var e = &testEnv{t: t, ns: ns.Name, c: envClient, logs: &fakeLogs{}, configure: configure}
	e.startManager()
	t.Cleanup(func() { e.stopManager() })
	return e
}

func (e *testEnv) startManager() {
	e.t.Helper()
	var opts = CacheOptions()
	opts.DefaultNamespaces = map[string]cache.Config{e.ns: {}}
	var mgr, err = ctrl.NewManager(envCfg, ctrl.Options{
		Scheme:                 envScheme,
		Cache:                  opts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		e.t.Fatalf("creating a manager: %v", err)
	}
	var r = &MatSimRunReconciler{
		Client:           mgr.GetClient(),
		APIReader:        mgr.GetAPIReader(),
		Recorder:         mgr.GetEventRecorder("flowsim-operator"),
		Build:            BuildOptions{FlowsimImage: "flowsim:test"},
		Policy:           testPolicyEnv,
		Logs:             e.logs,
		ProgressInterval: 200 * time.Millisecond,
	}
	for _, c := range e.configure {
		c(r)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		e.t.Fatalf("setting up the reconciler: %v", err)
	}
	var ctx, cancel = context.WithCancel(context.Background())
	var done = make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("manager stopped with an error: %v", err)
		}
	}
}

func (e *testEnv) stopManager() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
}

// eventually polls check until it returns nil, failing the test with its last error
// after the deadline.
func (e *testEnv) eventually(what string, check func() error) {
	e.t.Helper()
	var deadline = time.Now().Add(30 * time.Second)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if p, ok := err.(permanent); ok {
			e.t.Fatalf("waiting until %s: %v", what, p.error)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// permanent is an error that no amount of waiting will fix (a run finished differently).
type permanent struct{ error }

// installPolicies applies the ValidatingAdmissionPolicies of config/crd (which envtest's
// CRDDirectoryPaths does not), and waits until the API server enforces them: a dry-run
// create of a run with an inline password is refused.
func installPolicies() error {
	var b, err = os.ReadFile(filepath.Join("..", "config", "crd", "inline_secrets_policy.yaml"))
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return err
		}
		if err := envClient.Create(context.Background(), &u); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	var probe = &flowsimv1.MatSimRun{
		ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: "default"},
		Spec: flowsimv1.MatSimRunSpec{
			Test:      flowsimv1.TestBasic,
			Connector: flowsimv1.ConnectorSpec{Image: "connector:v1"},
			Config:    flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"password":"x"}`)}},
			Resource:  runtime.RawExtension{Raw: []byte(`{"table":"t"}`)},
		},
	}
	var deadline = time.Now().Add(time.Minute)
	for {
		err = envClient.Create(context.Background(), probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "spec.config.inline.password look(s) like a secret") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the policy is not enforced after a minute (a dry-run create returned %v)", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
}
