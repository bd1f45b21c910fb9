//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/controllers"
	"github.com/flowsim/flowsim/matsim/result"
)

const refConfig = `{"state_dir":"/tmp/ref"}`

var passed = expectStatus{phase: flowsimv1.PhaseSucceeded, reason: flowsimv1.ReasonPassed, outcome: string(result.Passed)}

// The reference connector passes basic, delta and recovery: a real kubelet runs the install
// init container, the connector as a native sidecar and the driver; the operator reads the
// driver's verdict from its termination message.
func TestReferenceConnectorPasses(t *testing.T) {
	t.Parallel()
	for _, test := range []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestDelta, flowsimv1.TestRecovery} {
		t.Run(string(test), func(t *testing.T) {
			t.Parallel()
			var ns = newNamespace(t, string(test))
			var run = referenceRun(ns, "ref-"+string(test), test, refConfig)
			if test == flowsimv1.TestDelta {
				run.Spec.Resource.Raw = []byte(`{"name":"d","delta_updates":true}`)
			}
			create(t, run)
			var got = waitFinished(t, run, 5*time.Minute)
			assertStatus(t, got, passed)
			// recovery reports its crash points as loops and ignores spec.loops.
			var loops = int32(3)
			if test == flowsimv1.TestRecovery {
				loops = got.Status.Result.Loops
			}
			if r := got.Status.Result; r.Loops == 0 || r.LoopsDone != loops || r.Loops != loops || r.Stored == 0 {
				t.Errorf("result = %+v, want %d of %d loops and documents stored", r, loops, loops)
			}
			if test != flowsimv1.TestDelta && got.Status.Result.Verified == 0 {
				t.Errorf("result.verified = 0, want the final state verified")
			}
			if got.Status.Seed == nil || *got.Status.Seed != 7 {
				t.Errorf("status.seed = %v, want 7", got.Status.Seed)
			}
		})
	}
}

// A defect in the connector fails the run with the check that caught it.
func TestDefectFailsCheck(t *testing.T) {
	t.Parallel()
	var ns = newNamespace(t, "defect")
	var run = referenceRun(ns, "drop-store", flowsimv1.TestBasic, `{"state_dir":"/tmp/ref","defect":"drop-store"}`)
	create(t, run)
	var got = waitFinished(t, run, 5*time.Minute)
	assertStatus(t, got, expectStatus{phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonCheckFailed,
		outcome: string(result.Failed), check: "load.missing"})
}

// A connector that cannot start crash-loops as a sidecar: the run fails ConnectorCrashed
// with the exit code and the connector's last log lines, without waiting for its timeout.
func TestConnectorCrashed(t *testing.T) {
	t.Parallel()
	var ns = newNamespace(t, "crash")
	var run = referenceRun(ns, "crash", flowsimv1.TestBasic, refConfig)
	run.Spec.Connector.Command = []string{"/connector/no-such-connector"}
	create(t, run)
	var got = waitFinished(t, run, 5*time.Minute)
	assertStatus(t, got, expectStatus{phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonConnectorCrashed,
		message: []string{"the connector sidecar exited with code", "no-such-connector"}})
}

// An image that does not exist fails the run ImagePullFailed once the pull grace period
// (the manager's --image-pull-grace-period, 2m by default) has passed.
func TestImagePullFailed(t *testing.T) {
	t.Parallel()
	var ns = newNamespace(t, "pull")
	var run = referenceRun(ns, "pull", flowsimv1.TestBasic, refConfig)
	run.Spec.Connector.Image = "flowsim.invalid/no-such-connector:e2e"
	create(t, run)
	var got = waitFinished(t, run, 6*time.Minute)
	assertStatus(t, got, expectStatus{phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonImagePullFailed,
		message: []string{"flowsim.invalid/no-such-connector:e2e"}})
}

// A run that outlives spec.timeout fails DeadlineExceeded: far too many documents for 5s.
func TestDeadlineExceeded(t *testing.T) {
	t.Parallel()
	var ns = newNamespace(t, "deadline")
	var run = referenceRun(ns, "deadline", flowsimv1.TestBasic, refConfig)
	run.Spec.Loops, run.Spec.Start = ptr.To[int32](20), ptr.To[int32](100000)
	run.Spec.Timeout = &metav1.Duration{Duration: 5 * time.Second}
	create(t, run)
	var got = waitFinished(t, run, 3*time.Minute)
	assertStatus(t, got, expectStatus{phase: flowsimv1.PhaseFailed, reason: flowsimv1.ReasonDeadlineExceeded,
		message: []string{"timeout of 5s"}})
}

// The samples in config/samples, applied as users apply them (`kubectl apply -k
// config/samples -n NS` with a postgres Service in NS), against the example PostgreSQL
// connector: basic, delta, fence with two pods (the peer reached through its Service name:
// CoreDNS, kube-proxy) and recovery. PostgreSQL runs on the host and is reached through a
// selector-less Service and a hand-made EndpointSlice; the role and database are the ones
// the samples name.
func TestSamplesAgainstPostgres(t *testing.T) {
	t.Parallel()
	var ctx = context.Background()
	var ns = newNamespace(t, "samples")
	var admin = pg.Conn(t, "postgres")
	for _, stmt := range []string{
		`DO $$ BEGIN CREATE ROLE flow LOGIN PASSWORD 'change-me'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
		`CREATE DATABASE flow OWNER flow`,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("preparing the samples' database: %v", err)
		}
	}
	postgresService(t, ns)

	var runs = applySamples(t, ns)
	if len(runs) != 4 {
		t.Fatalf("config/samples holds %d MatSimRuns, want 4 (basic, delta, fence, recovery)", len(runs))
	}
	for _, run := range runs {
		t.Run(string(run.Spec.Test), func(t *testing.T) {
			var got = waitFinished(t, run, 8*time.Minute)
			assertStatus(t, got, passed)
			if run.Spec.Test == flowsimv1.TestFence && got.Status.PeerPodName != controllers.PeerName(run) {
				t.Errorf("status.peerPodName = %q, want %q", got.Status.PeerPodName, controllers.PeerName(run))
			}
		})
	}
	// The connector wrote to the host's server: each sample's table exists.
	var conn = pg.Conn(t, "flow")
	for _, run := range runs {
		var table = string(run.Spec.Resource.Raw)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE $1::jsonb->>'table' = table_name`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table of %s (%s): count %d, err %v; want it created by the connector", run.Name, table, n, err)
		}
	}
}

// applySamples creates every object config/samples/kustomization.yaml lists in ns and
// returns the MatSimRuns.
func applySamples(t *testing.T, ns string) []*flowsimv1.MatSimRun {
	t.Helper()
	const dir = "../../config/samples"
	var kust struct {
		Resources []string `json:"resources"`
	}
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &kust)
	var runs []*flowsimv1.MatSimRun
	for _, file := range kust.Resources {
		var u unstructured.Unstructured
		readYAML(t, filepath.Join(dir, file), &u.Object)
		u.SetNamespace(ns)
		if u.GetKind() == "MatSimRun" {
			var run = &flowsimv1.MatSimRun{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, run); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			create(t, run)
			runs = append(runs, run)
			continue
		}
		create(t, &u)
	}
	return runs
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	var b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// postgresService makes the host's PostgreSQL reachable in ns as postgres:5432.
func postgresService(t testing.TB, ns string) {
	t.Helper()
	create(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "postgres", Port: 5432, TargetPort: intstr.FromInt32(int32(pg.Port)), Protocol: corev1.ProtocolTCP,
		}}},
	})
	create(t, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres-host", Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: "postgres", discoveryv1.LabelManagedBy: "flowsim-e2e"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{nodeIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("postgres"), Port: ptr.To(int32(pg.Port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	})
}

// The manager pod is deleted while a run is in flight: the Deployment starts a new one,
// which picks the run up and finishes it from the Job and pod the first one left.
// Not parallel: it runs alone before the others, so the run is surely in flight.
func TestManagerDeletedMidRun(t *testing.T) {
	var ctx = context.Background()
	var ns = newNamespace(t, "restart")
	var run = referenceRun(ns, "restart", flowsimv1.TestBasic, refConfig)
	run.Spec.Loops, run.Spec.Start = ptr.To[int32](9), ptr.To[int32](2000) // ~1M documents
	run.Spec.Timeout = &metav1.Duration{Duration: 15 * time.Minute}
	create(t, run)
	waitRun(t, run, 3*time.Minute, "running", func(r *flowsimv1.MatSimRun) bool { return r.Status.Phase == flowsimv1.PhaseRunning })

	var before corev1.PodList
	if err := k8s.List(ctx, &before, client.InNamespace(managerNamespace), managerLabels); err != nil || len(before.Items) == 0 {
		t.Fatalf("listing manager pods: %v (%d found)", err, len(before.Items))
	}
	var deletedAt = time.Now().Truncate(time.Second)
	for i := range before.Items {
		if err := k8s.Delete(ctx, &before.Items[i]); err != nil {
			t.Fatalf("deleting manager pod %s: %v", before.Items[i].Name, err)
		}
	}
	var mid flowsimv1.MatSimRun
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(run), &mid); err != nil {
		t.Fatal(err)
	}
	if mid.Status.Phase.IsFinished() {
		t.Fatalf("the run finished (%s) before the manager was gone: make it longer", mid.Status.Phase)
	}

	var got = waitFinished(t, run, 10*time.Minute)
	assertStatus(t, got, passed)
	if got.Status.CompletionTime.Time.Before(deletedAt) {
		t.Errorf("completionTime %s is before the manager pod was deleted (%s)", got.Status.CompletionTime, deletedAt)
	}
	if r := got.Status.Result; r.LoopsDone != 9 {
		t.Errorf("result.loopsDone = %d, want 9", r.LoopsDone)
	}
	if got.Status.Attempts != 1 {
		t.Errorf("status.attempts = %d, want 1 (the driver pod was not restarted)", got.Status.Attempts)
	}
	var after corev1.PodList
	if err := k8s.List(ctx, &after, client.InNamespace(managerNamespace), managerLabels); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range after.Items {
		names = append(names, p.Name)
		for _, b := range before.Items {
			if p.UID == b.UID {
				t.Errorf("manager pod %s is still there after its deletion", p.Name)
			}
		}
	}
	t.Logf("manager pods before %v, after %s", podNames(before.Items), strings.Join(names, ","))
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}
