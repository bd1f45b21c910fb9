//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/internal/pgtest"
)

// Images `make e2e` builds and loads into the cluster.
const (
	flowsimImage  = "flowsim/flowsim:dev"
	postgresImage = "flowsim/materialize-postgres:dev"
	// The operator's namespace and its manager pods' labels (config/manager).
	managerNamespace = "flowsim-system"
)

var managerLabels = client.MatchingLabels{"app.kubernetes.io/name": "flowsim", "app.kubernetes.io/component": "manager"}

var (
	k8s client.Client
	// pg is the host PostgreSQL server pods reach through the node IP.
	pg     *pgtest.Server
	nodeIP = envOr("FLOWSIM_E2E_NODE_IP", "10.200.0.1")
	podNet = envOr("FLOWSIM_E2E_POD_CIDR", "10.244.0.0/16")
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var kubeconfig = os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "e2e: KUBECONFIG is not set; run `make e2e`, or point KUBECONFIG at a cluster running the operator")
		return 2
	}
	var cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: reading KUBECONFIG %s: %v\n", kubeconfig, err)
		return 2
	}
	cfg.QPS, cfg.Burst = 100, 200
	var scheme = runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := flowsimv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: connecting to the cluster: %v\n", err)
		return 2
	}
	var ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := managerReady(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the operator is not ready: %v (install it: kubectl apply -k config/default)\n", err)
		return 2
	}
	if pg, err = pgtest.StartWith(ctx, pgtest.Options{Listen: []string{nodeIP}, AllowHosts: []string{podNet}}); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting PostgreSQL on %s: %v\n", nodeIP, err)
		return 2
	}
	var code = m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping PostgreSQL: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// managerReady waits until one manager pod is Ready.
func managerReady(ctx context.Context) error {
	var last string
	for {
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(managerNamespace), managerLabels); err != nil {
			last = err.Error()
		} else {
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && podReady(&p) {
					return nil
				}
			}
			last = fmt.Sprintf("%d manager pods, none Ready", len(pods.Items))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func randomSuffix() string {
	var b = make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newNamespace creates a namespace for one test, deleted (with everything in it) when the
// test ends.
func newNamespace(t testing.TB, prefix string) string {
	t.Helper()
	var ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + prefix + "-" + randomSuffix()}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), ns); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// referenceRun is a MatSimRun against flowsim's reference connector (in the flowsim image
// at /connector/connector, the image convention), its state in the pod's /tmp.
func referenceRun(ns, name string, test flowsimv1.MatSimTest, config string) *flowsimv1.MatSimRun {
	return &flowsimv1.MatSimRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: flowsimv1.MatSimRunSpec{
			Test:      test,
			Connector: flowsimv1.ConnectorSpec{Image: flowsimImage, ImagePullPolicy: corev1.PullIfNotPresent},
			Config:    flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(config)}},
			Resource:  runtime.RawExtension{Raw: []byte(`{"name":"` + name + `"}`)},
			Loops:     ptr.To[int32](3),
			Start:     ptr.To[int32](50),
			Seed:      ptr.To[int64](7),
			Timeout:   &metav1.Duration{Duration: 5 * time.Minute},
		},
	}
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitFinished polls the run until its phase is Succeeded or Failed and returns it. On
// timeout it fails the test with what the cluster shows about the run's pods.
func waitFinished(t testing.TB, run *flowsimv1.MatSimRun, timeout time.Duration) *flowsimv1.MatSimRun {
	t.Helper()
	return waitRun(t, run, timeout, "finished", func(r *flowsimv1.MatSimRun) bool { return r.Status.Phase.IsFinished() })
}

func waitRun(t testing.TB, run *flowsimv1.MatSimRun, timeout time.Duration, what string, ok func(*flowsimv1.MatSimRun) bool) *flowsimv1.MatSimRun {
	t.Helper()
	var ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got flowsimv1.MatSimRun
	for {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(run), &got); err == nil && ok(&got) {
			return &got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s/%s not %s within %s: phase %q reason %q message %q\n%s",
				run.Namespace, run.Name, what, timeout, got.Status.Phase, got.Status.Reason, got.Status.Message, describePods(run.Namespace))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describePods summarises the pods of a namespace and its warning events, for failures.
func describePods(ns string) string {
	var ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return "listing pods: " + err.Error()
	}
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: %s %s\n", p.Name, p.Status.Phase, p.Status.Message)
		for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			fmt.Fprintf(&b, "  %s: restarts=%d state=%+v last=%+v\n", s.Name, s.RestartCount, s.State, s.LastTerminationState)
		}
	}
	var events corev1.EventList
	if err := k8s.List(ctx, &events, client.InNamespace(ns)); err == nil {
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning {
				fmt.Fprintf(&b, "event %s %s: %s\n", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

// expectStatus asserts the exact terminal status of a run: phase, reason, the matching
// condition, and the result's outcome and check when the driver reported one.
type expectStatus struct {
	phase   flowsimv1.RunPhase
	reason  string
	outcome string // "" when the driver reports no result (crash, pull failure, deadline)
	check   string
	message []string // substrings of status.message
}

func assertStatus(t testing.TB, got *flowsimv1.MatSimRun, want expectStatus) {
	t.Helper()
	var st = got.Status
	if st.Phase != want.phase || st.Reason != want.reason {
		t.Fatalf("status = %s/%s (%q), want %s/%s\n%s", st.Phase, st.Reason, st.Message, want.phase, want.reason, describePods(got.Namespace))
	}
	var condType = flowsimv1.ConditionComplete
	if want.phase == flowsimv1.PhaseFailed {
		condType = flowsimv1.ConditionFailed
	}
	var found bool
	for _, c := range st.Conditions {
		if c.Type == condType {
			found = true
			if c.Status != metav1.ConditionTrue || c.Reason != want.reason {
				t.Errorf("condition %s = %s/%s, want True/%s", condType, c.Status, c.Reason, want.reason)
			}
		}
	}
	if !found {
		t.Errorf("no %s condition in %+v", condType, st.Conditions)
	}
	if st.CompletionTime == nil {
		t.Errorf("status.completionTime is not set")
	}
	for _, m := range want.message {
		if !strings.Contains(st.Message, m) {
			t.Errorf("status.message %q lacks %q", st.Message, m)
		}
	}
	if want.outcome == "" {
		return
	}
	if st.Result == nil {
		t.Fatalf("status.result is empty; want outcome %q", want.outcome)
	}
	if st.Result.Outcome != want.outcome || st.Result.Check != want.check {
		t.Errorf("result outcome/check = %q/%q, want %q/%q (message %q)", st.Result.Outcome, st.Result.Check, want.outcome, want.check, st.Result.Message)
	}
}
