//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/result"
)

// labelledNamespace is newNamespace with labels.
func labelledNamespace(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	var ns = newNamespace(t, prefix)
	var obj corev1.Namespace
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &obj); err != nil {
		t.Fatal(err)
	}
	obj.Labels = labels
	if err := k8s.Update(context.Background(), &obj); err != nil {
		t.Fatalf("labelling namespace %s: %v", ns, err)
	}
	return ns
}

// A sweep over two namespaces with parallel limits: the selected targets of both run on the
// real cluster within maxParallelRuns 2 and maxParallelRunsPerNamespace 1, the
// execution completes with one result per target × test, the failing target's check is
// in the sweep's status, and `flowsim kube report sweep` says the same with exit 1.
func TestSweepOverTwoNamespaces(t *testing.T) {
	t.Parallel()
	var ctx = context.Background()
	var id = "e2e-" + randomSuffix()
	var good = labelledNamespace(t, "sweep-a", map[string]string{"flowsim.dev/sweep": id})
	var bad = labelledNamespace(t, "sweep-b", map[string]string{"flowsim.dev/sweep": id})
	var other = newNamespace(t, "sweep-c") // not selected: its target must not run

	var target = func(ns, name, config string, tests ...flowsimv1.MatSimTest) {
		var run = referenceRun(ns, name, flowsimv1.TestBasic, config)
		create(t, &flowsimv1.MatSimTarget{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"flowsim.dev/e2e": id}},
			Spec:       flowsimv1.MatSimTargetSpec{Run: run.Spec, Tests: tests},
		})
	}
	target(good, "ref", refConfig, flowsimv1.TestBasic, flowsimv1.TestRecovery)
	target(bad, "broken", `{"state_dir":"/tmp/ref","defect":"drop-store"}`, flowsimv1.TestBasic)
	target(other, "unselected", refConfig, flowsimv1.TestBasic)

	var sweep = &flowsimv1.MatSimSweep{
		ObjectMeta: metav1.ObjectMeta{Name: id, Annotations: map[string]string{flowsimv1.TriggerAnnotation: "now"}},
		Spec: flowsimv1.MatSimSweepSpec{
			Schedule:                    "@yearly",
			MaxParallelRuns:             2,
			MaxParallelRunsPerNamespace: ptr.To[int32](1),
			NamespaceSelector:           &metav1.LabelSelector{MatchLabels: map[string]string{"flowsim.dev/sweep": id}},
			Selector:                    &metav1.LabelSelector{MatchLabels: map[string]string{"flowsim.dev/e2e": id}},
		},
	}
	create(t, sweep)
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), sweep); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting sweep %s: %v", sweep.Name, err)
		}
	})

	var waitCtx, cancel = context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	var got flowsimv1.MatSimSweep
	// The limits hold while it runs: at most one unfinished run per namespace and two in
	// all (polling may miss a violation, never invent one).
	var most = map[string]int{}
	for {
		var total int
		for _, ns := range []string{good, bad} {
			var runs flowsimv1.MatSimRunList
			if err := k8s.List(waitCtx, &runs, client.InNamespace(ns)); err != nil {
				continue
			}
			var n int
			for _, r := range runs.Items {
				if !r.Status.Phase.IsFinished() {
					n++
				}
			}
			most[ns], total = max(most[ns], n), total+n
		}
		most["all"] = max(most["all"], total)
		if err := k8s.Get(waitCtx, client.ObjectKeyFromObject(sweep), &got); err == nil && len(got.Status.History) > 0 {
			break
		}
		select {
		case <-waitCtx.Done():
			t.Fatalf("sweep %s: no finished execution within 8m; active %+v\n%s\n%s", id, got.Status.Active, describePods(good), describePods(bad))
		case <-time.After(500 * time.Millisecond):
		}
	}
	if most[good] > 1 || most[bad] > 1 || most["all"] > 2 {
		t.Errorf("unfinished runs at once: %v; want at most 1 per namespace and 2 in all", most)
	}
	var exec = got.Status.History[0]
	if exec.Phase != flowsimv1.ExecutionCompleted || exec.Counts.Total != 3 || exec.Counts.Passed != 2 || exec.Counts.Failed != 1 {
		t.Fatalf("execution %s: phase %s counts %+v, want Completed with 2 passed and 1 failed of 3\nresults %+v", exec.Name, exec.Phase, exec.Counts, exec.Results)
	}
	if got.Status.LastResult != "2/3" {
		t.Errorf("status.lastResult = %q, want 2/3", got.Status.LastResult)
	}
	var seen = map[string]string{}
	for _, r := range exec.Results {
		seen[r.Namespace+"/"+r.Target+":"+string(r.Test)] = r.Outcome + " " + r.Check
	}
	for key, want := range map[string]string{
		good + "/ref:basic":    "passed ",
		good + "/ref:recovery": "passed ",
		bad + "/broken:basic":  "failed load.missing",
	} {
		if seen[key] != want {
			t.Errorf("result %s = %q, want %q (all: %v)", key, seen[key], want, seen)
		}
	}
	var runs flowsimv1.MatSimRunList
	if err := k8s.List(ctx, &runs, client.InNamespace(other)); err != nil || len(runs.Items) != 0 {
		t.Errorf("the unselected namespace has %d runs (err %v), want none", len(runs.Items), err)
	}

	var out, errOut, code = flowsimCLI(t, "kube", "report", "sweep", id)
	if code != 1 || !strings.Contains(out, "load.missing") || !strings.Contains(out, bad) {
		t.Errorf("kube report sweep %s: exit %d, want 1 naming load.missing in %s:\n%s\n%s", id, code, bad, out, errOut)
	}
}

// A connector of the October 2021 revision (the example PostgreSQL connector with
// --protocol 2021-10) with spec.connector.protocol "2021-10": the proxies in both fence
// pods and in the recovery pod adapt it, and both runs pass against the host's server.
// (The connector rejects 2021-12's apply-upsert and transactions with Acknowledge:
// only a proxy that adapts it lets the run pass.)
func TestOct2021ConnectorPasses(t *testing.T) {
	postgresConnectorPasses(t, "oct", flowsimv1.Protocol202110)
}

// A connector of today's era (the example PostgreSQL connector with --protocol 2023:
// no subcommand, one Request/Response stream) with spec.connector.protocol "2023":
// the proxies in both fence pods and in the recovery pod translate for it, and both
// runs pass against the host's server.
func TestCurrentEraConnectorPasses(t *testing.T) {
	postgresConnectorPasses(t, "cur", flowsimv1.Protocol2023)
}

// postgresDatabase creates a role and a database of the host's PostgreSQL named
// name, makes the server reachable in ns as postgres:5432, and puts the connector
// config for them in the Secret pg-config (key config.yaml).
func postgresDatabase(t *testing.T, ns, name string) {
	t.Helper()
	var password = randomSuffix() + randomSuffix()
	var admin = pg.Conn(t, "postgres")
	for _, stmt := range []string{
		`CREATE ROLE ` + name + ` LOGIN PASSWORD '` + password + `'`,
		`CREATE DATABASE ` + name + ` OWNER ` + name,
	} {
		if _, err := admin.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("preparing the database: %v", err)
		}
	}
	postgresService(t, ns)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pg-config", Namespace: ns},
		StringData: map[string]string{"config.yaml": "address: postgres:5432\nuser: " + name + "\npassword: " + password + "\ndatabase: " + name + "\n"},
	})
}

// postgresConnectorPasses runs fence (two pods) and recovery with the example
// PostgreSQL connector speaking protocol, in a database and role named name.
func postgresConnectorPasses(t *testing.T, name string, protocol flowsimv1.ProtocolRevision) {
	t.Parallel()
	var ns = newNamespace(t, name)
	postgresDatabase(t, ns, name)
	for _, test := range []flowsimv1.MatSimTest{flowsimv1.TestFence, flowsimv1.TestRecovery} {
		t.Run(string(test), func(t *testing.T) {
			t.Parallel()
			var run = &flowsimv1.MatSimRun{
				ObjectMeta: metav1.ObjectMeta{Name: name + "-" + string(test), Namespace: ns},
				Spec: flowsimv1.MatSimRunSpec{
					Test: test,
					Connector: flowsimv1.ConnectorSpec{Image: postgresImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Protocol: protocol, Command: []string{"/connector/connector", "--protocol", string(protocol)}},
					Config:   flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-config", Key: "config.yaml"}},
					Resource: runtime.RawExtension{Raw: []byte(`{"table":"` + name + `_` + string(test) + `"}`)},
					Timeout:  &metav1.Duration{Duration: 10 * time.Minute},
				},
			}
			create(t, run)
			assertStatus(t, waitFinished(t, run, 10*time.Minute), passed)
		})
	}
}

// Night after night against a real database: one sweep of a PostgreSQL target (the
// example connector, tables named with $(FLOWSIM_RUN), cleanup on) triggered three
// times in a row completes three executions, every run passing, and leaves no table
// behind. Meanwhile a sweep on February 31st is refused, one whose schedule is out of
// range surfaces it as ScheduleValid=False and wedges nothing, and a target asking fence of the reference
// connector (which cannot pass in pods) is refused at admission with the reason.
func TestSweepNightAfterNight(t *testing.T) {
	t.Parallel()
	var ctx = context.Background()
	var id = "e2e-nights-" + randomSuffix()
	var ns = newNamespace(t, "nights")
	var name = "nights" + randomSuffix()
	postgresDatabase(t, ns, name)
	create(t, &flowsimv1.MatSimTarget{
		ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: ns, Labels: map[string]string{"flowsim.dev/e2e": id}},
		Spec: flowsimv1.MatSimTargetSpec{
			Tests: []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestRecovery},
			Run: flowsimv1.MatSimRunSpec{
				Test: flowsimv1.TestRecovery, // the tests list decides; recovery allows crashAt
				Connector: flowsimv1.ConnectorSpec{Image: postgresImage, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"/connector/connector"}},
				Config:   flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-config", Key: "config.yaml"}},
				Resource: runtime.RawExtension{Raw: []byte(`{"table":"night_$(FLOWSIM_RUN)"}`)},
				Loops:    ptr.To[int32](3),
				CrashAt:  []flowsimv1.CrashPoint{"after-stores", "after-commit"},
				Cleanup:  ptr.To(true),
				Timeout:  &metav1.Duration{Duration: 10 * time.Minute},
			},
		},
	})

	// fence with the reference connector named in the command is refused when the
	// target is created; run from the image's entrypoint (which admission cannot
	// tell), it is the driver's setup error naming why, never a connector check.
	var fenceRef = referenceRun(ns, "ref-fence", flowsimv1.TestBasic, refConfig)
	fenceRef.Spec.Connector.Command = []string{"/flowsim/flowsim", "reference-connector"}
	var err = k8s.Create(ctx, &flowsimv1.MatSimTarget{
		ObjectMeta: metav1.ObjectMeta{Name: "ref-fence", Namespace: ns},
		Spec:       flowsimv1.MatSimTargetSpec{Run: fenceRef.Spec, Tests: []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestFence}},
	})
	if err == nil || !strings.Contains(err.Error(), "fence with the reference connector cannot pass in the operator") {
		t.Errorf("a reference-connector target with fence: create gave %v, want the admission error naming why", err)
	}
	var refFence = referenceRun(newNamespace(t, "reffence"), "ref-fence-image", flowsimv1.TestFence, refConfig)
	create(t, refFence)
	assertStatus(t, waitFinished(t, refFence, 5*time.Minute), expectStatus{phase: flowsimv1.PhaseFailed,
		reason: flowsimv1.ReasonSetupError, outcome: string(result.Error), check: "setup.config", message: []string{"keep separate ones"}})

	// An impossible date is refused at admission; a schedule of the right shape with a
	// field out of range gets past it and is the sweep's condition instead.
	var feb31 = &flowsimv1.MatSimSweep{
		ObjectMeta: metav1.ObjectMeta{Name: id + "-feb31"},
		Spec: flowsimv1.MatSimSweepSpec{Schedule: "0 0 31 2 *", MaxParallelRuns: 1,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"flowsim.dev/e2e": id + "-none"}}},
	}
	if err := k8s.Create(ctx, feb31); err == nil || !strings.Contains(err.Error(), "never matches a date") {
		t.Errorf("a sweep on February 31st: create gave %v, want refused: never matches a date", err)
	}
	var impossible = feb31.DeepCopy()
	impossible.ResourceVersion, impossible.Name, impossible.Spec.Schedule = "", id+"-min61", "61 2 * * *"
	var sweep = &flowsimv1.MatSimSweep{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: flowsimv1.MatSimSweepSpec{
			Schedule:                         "@yearly",
			MaxParallelRuns:                  2,
			SuccessfulExecutionsHistoryLimit: ptr.To[int32](5),
			NamespaceSelector:                &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			Selector:                         &metav1.LabelSelector{MatchLabels: map[string]string{"flowsim.dev/e2e": id}},
		},
	}
	for _, s := range []*flowsimv1.MatSimSweep{impossible, sweep} {
		create(t, s)
		t.Cleanup(func() {
			if err := k8s.Delete(context.Background(), s); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting sweep %s: %v", s.Name, err)
			}
		})
	}

	var waitCtx, cancel = context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	var got flowsimv1.MatSimSweep
	for night := 1; night <= 3; night++ {
		var trigger = fmt.Sprintf("night-%d", night)
		if err := k8s.Get(waitCtx, client.ObjectKeyFromObject(sweep), &got); err != nil {
			t.Fatal(err)
		}
		// A merge patch of the annotation, as kubectl annotate: the controller may
		// have written the object since it was read.
		var patch = client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+flowsimv1.TriggerAnnotation+`":"`+trigger+`"}}}`))
		if err := k8s.Patch(waitCtx, &got, patch); err != nil {
			t.Fatalf("triggering %s: %v", trigger, err)
		}
		for len(got.Status.History) < night {
			select {
			case <-waitCtx.Done():
				t.Fatalf("night %d: no finished execution in time; active %+v\n%s", night, got.Status.Active, describePods(ns))
			case <-time.After(time.Second):
			}
			if err := k8s.Get(waitCtx, client.ObjectKeyFromObject(sweep), &got); err != nil {
				t.Fatal(err)
			}
		}
		var exec = got.Status.History[0]
		if exec.Phase != flowsimv1.ExecutionCompleted || exec.Counts.Total != 2 || exec.Counts.Passed != 2 {
			t.Fatalf("night %d: execution %s: phase %s counts %+v, want Completed with 2 of 2 passed\nresults %+v", night, exec.Name, exec.Phase, exec.Counts, exec.Results)
		}
	}

	// Each night's runs had their own tables, and each passing run dropped its own.
	var conn = pg.Conn(t, name)
	var left []string
	var rows, qerr = conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'night\_%'`)
	if qerr != nil {
		t.Fatal(qerr)
	}
	for rows.Next() {
		var tn string
		if err := rows.Scan(&tn); err != nil {
			t.Fatal(err)
		}
		left = append(left, tn)
	}
	if rows.Close(); len(left) != 0 {
		t.Errorf("tables left after three nights with cleanup: %v", left)
	}
	var runs flowsimv1.MatSimRunList
	if err := k8s.List(ctx, &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var tables = map[string]bool{}
	for _, r := range runs.Items {
		tables[string(r.Spec.Resource.Raw)] = true
		if r.Status.Result == nil || !strings.HasPrefix(r.Status.Result.Cleanup, "done") {
			t.Errorf("run %s: result %+v, want a cleanup done", r.Name, r.Status.Result)
		}
	}
	if len(runs.Items) != 6 || len(tables) != 6 {
		t.Errorf("%d runs with %d distinct resources, want 6 and 6 (one table per run)", len(runs.Items), len(tables))
	}

	// The impossible schedule is a condition; it did not stop the other sweep.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(impossible), impossible); err != nil {
		t.Fatal(err)
	}
	var cond = meta.FindStatusCondition(impossible.Status.Conditions, flowsimv1.ConditionScheduleValid)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != flowsimv1.ReasonInvalidSchedule {
		t.Errorf("sweep with schedule %q: condition %+v, want ScheduleValid=False InvalidSchedule", impossible.Spec.Schedule, cond)
	}
}
