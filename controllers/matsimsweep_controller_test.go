package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// Sweep integration tests: a manager running only the sweep controller (cluster-wide
// cache), a fake clock, and the test playing the MatSimRun controller by writing the
// runs' status. The tests run one after the other (not t.Parallel): a sweep controller
// reconciles every sweep of the cluster. Each test's sweep selects only its own
// namespaces, by a label unique to the test.

// fakeClock is the sweep controller's clock; tests move it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// countingClient counts the API writes of the sweep controller.
type countingClient struct {
	client.Client
	creates, deletes, statusUpdates atomic.Int64
	// failCreates and failDeletes make that many next creates or deletes fail with 503
	// Service Unavailable.
	failCreates, failDeletes atomic.Int64
	// failEvery, when above 0, makes every failEvery-th create, delete and status update
	// fail with 503 (the fleet soak's faults).
	failEvery int64
}

func (c *countingClient) injected(n int64) error {
	if c.failEvery > 0 && n%c.failEvery == 0 {
		return apierrors.NewServiceUnavailable("injected by the soak")
	}
	return nil
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.injected(c.creates.Add(1)); err != nil {
		return err
	}
	if c.failCreates.Add(-1) >= 0 {
		return apierrors.NewServiceUnavailable("injected by the test")
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := c.injected(c.deletes.Add(1)); err != nil {
		return err
	}
	if c.failDeletes.Add(-1) >= 0 {
		return apierrors.NewServiceUnavailable("injected by the test")
	}
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return countingStatus{c.Client.Status(), c}
}

type countingStatus struct {
	client.SubResourceWriter
	c *countingClient
}

func (s countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := s.c.injected(s.c.statusUpdates.Add(1)); err != nil {
		return err
	}
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (c *countingClient) writes() int64 {
	return c.creates.Load() + c.deletes.Load() + c.statusUpdates.Load()
}

type sweepEnv struct {
	t          testing.TB
	day0       time.Time // midnight UTC before day 1, whose 02:00 is the first after the real now
	c          client.Client
	clock      *fakeClock
	label      string // namespaces of this test carry label=yes
	namespaces []string
	sweep      string
	writes     *countingClient
	stop       func()
	ticks      int
}

// newSweepEnv creates n namespaces for targets and starts a sweep manager whose clock
// reads the real time plus a minute (schedules count from the sweep's real
// creationTimestamp); day 1 is the day of the next 02:00 UTC.
func newSweepEnv(t testing.TB, n int) *sweepEnv {
	t.Helper()
	if envMissing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("envtest is required in CI: %s", envMissing)
		}
		t.Skipf("Skipping envtest integration test: %s", envMissing)
	}
	// Day 1's 02:00 is the first 02:00 UTC after the sweep's (real) creation.
	var start = time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	var day0 = start.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	if !start.Before(day0.Add(26 * time.Hour)) {
		day0 = day0.Add(24 * time.Hour)
	}
	var e = &sweepEnv{t: t, c: envClient, day0: day0, clock: &fakeClock{now: start}}
	e.label = fmt.Sprintf("sweep-test-%d", time.Now().UnixNano())
	e.sweep = "sw" + strings.ToLower(strings.ReplaceAll(t.Name(), "_", ""))
	if len(e.sweep) > 40 {
		e.sweep = e.sweep[:40]
	}
	e.sweep = strings.TrimRight(strings.ReplaceAll(e.sweep, "/", "-"), "-")
	for i := 0; i < n; i++ {
		var ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "msw-", Labels: map[string]string{e.label: "yes"}}}
		if err := envClient.Create(ctx, ns); err != nil {
			t.Fatalf("creating a namespace: %v", err)
		}
		e.namespaces = append(e.namespaces, ns.Name)
		t.Cleanup(func() { _ = envClient.Delete(context.Background(), ns) })
	}
	e.startManager()
	t.Cleanup(func() {
		e.stopManager()
		_ = envClient.Delete(context.Background(), &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: e.sweep}})
	})
	return e
}

func (e *sweepEnv) startManager() {
	e.t.Helper()
	var mgr, err = ctrl.NewManager(envCfg, ctrl.Options{
		Scheme:                 envScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		e.t.Fatalf("creating a manager: %v", err)
	}
	e.writes = &countingClient{Client: mgr.GetClient()}
	var r = &MatSimSweepReconciler{Client: e.writes, Recorder: mgr.GetEventRecorder("flowsim-operator"), Now: e.clock.Now}
	if err := r.SetupWithManager(mgr); err != nil {
		e.t.Fatalf("setting up the sweep reconciler: %v", err)
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

func (e *sweepEnv) stopManager() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
}

func (e *sweepEnv) eventually(what string, check func() error) {
	e.t.Helper()
	var deadline = time.Now().Add(60 * time.Second)
	for {
		var err = check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// target creates a MatSimTarget in namespace i running tests.
func (e *sweepEnv) target(i int, name string, tests ...flowsimv1.MatSimTest) *flowsimv1.MatSimTarget {
	e.t.Helper()
	var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[i], Name: name}}
	tg.Spec.Run = flowsimv1.MatSimRunSpec{
		Test:      tests[0],
		Connector: flowsimv1.ConnectorSpec{Image: "ghcr.io/example/materialize-postgres:v1"},
		Config:    flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "pg-config", Key: "config.yaml"}},
		Resource:  runtime.RawExtension{Raw: []byte(`{"table":"flowsim"}`)},
	}
	if len(tests) > 1 {
		tg.Spec.Tests = tests
	}
	if err := e.c.Create(ctx, tg); err != nil {
		e.t.Fatalf("creating MatSimTarget %s: %v", name, err)
	}
	return tg
}

// createSweep applies this test's sweep (02:00 UTC daily unless changed), selecting its namespaces.
func (e *sweepEnv) createSweep(mutate ...func(*flowsimv1.MatSimSweepSpec)) {
	e.t.Helper()
	var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: e.sweep}}
	sw.Spec = flowsimv1.MatSimSweepSpec{Schedule: "0 2 * * *", NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{e.label: "yes"}}}
	for _, m := range mutate {
		m(&sw.Spec)
	}
	if err := e.c.Create(ctx, sw); err != nil {
		e.t.Fatalf("creating MatSimSweep: %v", err)
	}
	e.waitSweep("the sweep is observed", func(sw *flowsimv1.MatSimSweep) error {
		if sw.Status.ObservedGeneration != sw.Generation || meta.FindStatusCondition(sw.Status.Conditions, flowsimv1.ConditionScheduleValid) == nil {
			return fmt.Errorf("status %+v", sw.Status)
		}
		return nil
	})
}

func (e *sweepEnv) get() *flowsimv1.MatSimSweep {
	e.t.Helper()
	var sw flowsimv1.MatSimSweep
	if err := e.c.Get(ctx, types.NamespacedName{Name: e.sweep}, &sw); err != nil {
		e.t.Fatalf("getting the sweep: %v", err)
	}
	return &sw
}

func (e *sweepEnv) waitSweep(what string, check func(*flowsimv1.MatSimSweep) error) *flowsimv1.MatSimSweep {
	e.t.Helper()
	var sw flowsimv1.MatSimSweep
	e.eventually(what, func() error {
		if err := e.c.Get(ctx, types.NamespacedName{Name: e.sweep}, &sw); err != nil {
			return err
		}
		return check(&sw)
	})
	return &sw
}

// patchSweep changes the sweep's metadata or spec with a merge patch.
func (e *sweepEnv) patchSweep(patch string) {
	e.t.Helper()
	var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: e.sweep}}
	if err := e.c.Patch(ctx, sw, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		e.t.Fatalf("patching the sweep with %s: %v", patch, err)
	}
}

// at is day d (from day0) at hh:mm:ss UTC.
func (e *sweepEnv) at(d int, hms string) time.Time {
	e.t.Helper()
	var c, err = time.Parse("15:04:05", hms)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.day0.AddDate(0, 0, d).Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute + time.Duration(c.Second())*time.Second)
}

// nightly is the name of the execution of day d's 02:00.
func (e *sweepEnv) nightly(d int) string {
	return e.sweep + "-" + e.at(d, "02:00:00").Format("20060102150405")
}

// tick sets the clock to day d at hh:mm:ss and wakes the controller (as its RequeueAfter
// would) by touching an annotation of the sweep.
func (e *sweepEnv) tick(d int, hms string) {
	e.t.Helper()
	e.clock.set(e.at(d, hms))
	e.ticks++
	e.patchSweep(fmt.Sprintf(`{"metadata":{"annotations":{"test.flowsim.dev/tick":"%d"}}}`, e.ticks))
}

// runs lists the sweep's runs (of one execution when given).
func (e *sweepEnv) runs(execution string) []flowsimv1.MatSimRun {
	e.t.Helper()
	var sel = client.MatchingLabels{flowsimv1.LabelSweep: e.sweep}
	if execution != "" {
		sel[flowsimv1.LabelExecution] = execution
	}
	var list flowsimv1.MatSimRunList
	if err := e.c.List(ctx, &list, sel); err != nil {
		e.t.Fatalf("listing runs: %v", err)
	}
	return list.Items
}

// finish writes a run's final status as the MatSimRun controller would.
func (e *sweepEnv) finish(run *flowsimv1.MatSimRun, outcome string) {
	e.t.Helper()
	var now = metav1.Now()
	run.Status.StartTime, run.Status.CompletionTime = &now, &now
	run.Status.Seed = ptr.To[int64](7)
	run.Status.Result = &flowsimv1.RunResult{Outcome: outcome, Duration: metav1.Duration{Duration: time.Second}, DocsPerSecond: "1.0"}
	switch outcome {
	case flowsimv1.OutcomePassed:
		run.Status.Phase, run.Status.Reason = flowsimv1.PhaseSucceeded, flowsimv1.ReasonPassed
	case flowsimv1.OutcomeFailed:
		run.Status.Phase, run.Status.Reason = flowsimv1.PhaseFailed, flowsimv1.ReasonCheckFailed
		run.Status.Result.Check, run.Status.Result.Message = "load.phantom", "key [7] was loaded but never stored"
	default:
		run.Status.Phase, run.Status.Reason = flowsimv1.PhaseFailed, flowsimv1.ReasonSetupError
	}
	if err := e.c.Status().Update(ctx, run); err != nil {
		e.t.Fatalf("finishing run %s: %v", run.Name, err)
	}
}

// finishAll finishes every unfinished run of the sweep as passed (not those being
// deleted: envtest has no garbage collector to remove them).
func (e *sweepEnv) finishAll(execution string) int {
	e.t.Helper()
	var n int
	for _, run := range e.live(execution) {
		if !run.Status.Phase.IsFinished() {
			e.finish(&run, flowsimv1.OutcomePassed)
			n++
		}
	}
	return n
}

func activeNamed(sw *flowsimv1.MatSimSweep, n int) error {
	if len(sw.Status.Active) != n {
		return fmt.Errorf("%d active executions, want %d (history %d)", len(sw.Status.Active), n, len(sw.Status.History))
	}
	return nil
}

// waitRuns waits until the execution has n runs and returns them.
func (e *sweepEnv) waitRuns(execution string, n int) []flowsimv1.MatSimRun {
	e.t.Helper()
	var runs []flowsimv1.MatSimRun
	e.eventually(fmt.Sprintf("execution %s has %d runs", execution, n), func() error {
		if runs = e.runs(execution); len(runs) != n {
			return fmt.Errorf("%d runs", len(runs))
		}
		return nil
	})
	return runs
}

func (e *sweepEnv) events() []eventsv1.Event {
	var list eventsv1.EventList
	if err := e.c.List(ctx, &list); err != nil {
		e.t.Fatalf("listing events: %v", err)
	}
	var uid = e.get().UID
	return slices.DeleteFunc(list.Items, func(ev eventsv1.Event) bool { return ev.Regarding.UID != uid })
}

func (e *sweepEnv) waitEvent(reason, contains string) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("an event %s containing %q", reason, contains), func() error {
		var seen []string
		for _, ev := range e.events() {
			if ev.Reason == reason && strings.Contains(ev.Note, contains) {
				return nil
			}
			seen = append(seen, ev.Reason+": "+ev.Note)
		}
		return fmt.Errorf("events so far: %q", seen)
	})
}

func gaugeValue(g interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = g.Write(&m)
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// Story: the platform team applies a nightly sweep at 02:00 UTC over two namespaces; at
// 02:00 one MatSimRun per target × test appears in each target's namespace, owned by the
// sweep; when the runs end, the execution completes with its counts, an event and metrics.
func TestSweepTickCreatesRuns(t *testing.T) {
	var e = newSweepEnv(t, 2)
	e.target(0, "pg", flowsimv1.TestBasic, flowsimv1.TestDelta)
	e.target(1, "mysql", flowsimv1.TestBasic)
	e.createSweep()
	if sw := e.get(); len(sw.Status.Active)+len(sw.Status.History) != 0 {
		t.Fatalf("an execution started before the schedule: %+v", sw.Status)
	}
	e.tick(0, "23:59:00")
	if runs := e.runs(""); len(runs) != 0 {
		t.Fatalf("%d runs before 02:00", len(runs))
	}
	e.tick(1, "02:00:05")
	var sw = e.waitSweep("an execution starts at 02:00", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
	var ex = sw.Status.Active[0]
	if ex.Name != e.nightly(1) || ex.Trigger != flowsimv1.TriggerSchedule || ex.Counts.Total != 3 {
		t.Errorf("execution %s (%s) with %d runs; want %s, Schedule, 3", ex.Name, ex.Trigger, ex.Counts.Total, e.nightly(1))
	}
	if sw.Status.LastScheduleTime == nil || !sw.Status.LastScheduleTime.Time.Equal(e.at(1, "02:00:00")) {
		t.Errorf("lastScheduleTime %v, want 02:00", sw.Status.LastScheduleTime)
	}
	e.waitEvent(flowsimv1.EventScheduled, ex.Name)
	var runs = e.waitRuns(ex.Name, 3)
	for _, run := range runs {
		if !metav1.IsControlledBy(&run, sw) || run.Labels[flowsimv1.LabelTarget] == "" || run.Labels[flowsimv1.LabelTest] != string(run.Spec.Test) {
			t.Errorf("run %s/%s: owner %v labels %v", run.Namespace, run.Name, run.OwnerReferences, run.Labels)
		}
		if want := map[string]string{"pg": e.namespaces[0], "mysql": e.namespaces[1]}[run.Labels[flowsimv1.LabelTarget]]; run.Namespace != want {
			t.Errorf("run %s is in %s, want its target's namespace %s", run.Name, run.Namespace, want)
		}
	}

	var before = gaugeValue(sweepExecutionsTotal.WithLabelValues(e.sweep, "failed"))
	for i := range runs {
		e.finish(&runs[i], map[bool]string{true: flowsimv1.OutcomeFailed, false: flowsimv1.OutcomePassed}[runs[i].Spec.Test == flowsimv1.TestDelta])
	}
	sw = e.waitSweep("the execution completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
	var done = sw.Status.History[0]
	if done.Phase != flowsimv1.ExecutionCompleted || done.Counts != (flowsimv1.ExecutionCounts{Total: 3, Passed: 2, Failed: 1}) {
		t.Errorf("history %+v", done)
	}
	if len(done.Results) == 0 || done.Results[0].Outcome != flowsimv1.OutcomeFailed || done.Results[0].Check != "load.phantom" || ptr.Deref(done.Results[0].Seed, 0) != 7 {
		t.Errorf("first result %+v, want the failed run with its check and seed", done.Results)
	}
	if sw.Status.LastResult != "2/3" || sw.Status.LastCompletionTime == nil || sw.Status.LastSuccessfulTime != nil {
		t.Errorf("lastResult %q, lastCompletionTime %v, lastSuccessfulTime %v", sw.Status.LastResult, sw.Status.LastCompletionTime, sw.Status.LastSuccessfulTime)
	}
	e.waitEvent(flowsimv1.EventCompleted, "2/3 passed, 1 failed")
	if got := gaugeValue(sweepExecutionsTotal.WithLabelValues(e.sweep, "failed")); got != before+1 {
		t.Errorf("executions_total{result=failed} = %v, want %v", got, before+1)
	}
	if got := gaugeValue(sweepLastCompletion.WithLabelValues(e.sweep)); got != float64(sw.Status.LastCompletionTime.Unix()) {
		t.Errorf("last_completion_timestamp_seconds = %v", got)
	}
}

// Story: a suspended sweep starts nothing at 02:00; resumed the same morning, it starts
// the 02:00 execution late, as a CronJob does.
func TestSweepSuspend(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.Suspend = ptr.To(true) })
	e.tick(1, "02:00:05")
	e.waitSweep("the sweep says it is suspended", func(sw *flowsimv1.MatSimSweep) error {
		if c := meta.FindStatusCondition(sw.Status.Conditions, flowsimv1.ConditionActive); c == nil || c.Reason != flowsimv1.ReasonSuspended {
			return fmt.Errorf("Active condition %+v", c)
		}
		return nil
	})
	e.tick(1, "02:10:00")
	if sw := e.get(); len(sw.Status.Active) != 0 || len(e.runs("")) != 0 {
		t.Fatalf("a suspended sweep started an execution: %+v", sw.Status.Active)
	}
	e.patchSweep(`{"spec":{"suspend":false}}`)
	e.waitSweep("the missed 02:00 execution starts on resume", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
}

// Story: with startingDeadlineSeconds 60, an execution that could not start within a
// minute of 02:00 is skipped with a MissedSchedule event.
func TestSweepStartingDeadline(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.StartingDeadlineSeconds = ptr.To[int64](60) })
	e.tick(1, "02:05:00")
	var sw = e.waitSweep("the schedule is missed", func(sw *flowsimv1.MatSimSweep) error {
		if sw.Status.MissedSchedules != 1 {
			return fmt.Errorf("missedSchedules %d", sw.Status.MissedSchedules)
		}
		return nil
	})
	if len(sw.Status.Active) != 0 || len(e.runs("")) != 0 {
		t.Errorf("an execution past its deadline started")
	}
	e.waitEvent(flowsimv1.EventMissedSchedule, "startingDeadlineSeconds (60)")
	e.tick(2, "02:00:30")
	e.waitSweep("the next day's execution starts on time", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
}

// Story: each concurrency policy when the next night comes while an execution still runs.
func TestSweepConcurrencyPolicies(t *testing.T) {
	for _, policy := range []flowsimv1.ConcurrencyPolicy{flowsimv1.ForbidConcurrent, flowsimv1.ReplaceConcurrent, flowsimv1.AllowConcurrent} {
		t.Run(string(policy), func(t *testing.T) {
			var e = newSweepEnv(t, 1)
			e.target(0, "pg", flowsimv1.TestBasic)
			e.target(0, "pg2", flowsimv1.TestBasic)
			e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.ConcurrencyPolicy = policy })
			e.tick(1, "02:00:00")
			var first = e.waitSweep("the first execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) }).Status.Active[0].Name
			var runs = e.waitRuns(first, 2)
			e.finish(&runs[0], flowsimv1.OutcomePassed) // the other one still runs
			e.waitSweep("the sweep sees one run passed", func(sw *flowsimv1.MatSimSweep) error {
				if c := sw.Status.Active[0].Counts; c.Passed != 1 {
					return fmt.Errorf("counts %+v", c)
				}
				return nil
			})
			e.tick(2, "02:00:10")
			switch policy {
			case flowsimv1.ForbidConcurrent:
				e.tick(2, "02:00:20")
				if sw := e.get(); len(sw.Status.Active) != 1 || sw.Status.Active[0].Name != first {
					t.Fatalf("Forbid: active %+v, want only %s", sw.Status.Active, first)
				}
				e.finishAll(first)
				var sw = e.waitSweep("the second night starts late once the first ends", func(sw *flowsimv1.MatSimSweep) error {
					if len(sw.Status.Active) != 1 || sw.Status.Active[0].Name == first {
						return fmt.Errorf("active %v", sw.Status.Active)
					}
					return nil
				})
				if sw.Status.History[0].Name != first || sw.Status.History[0].Phase != flowsimv1.ExecutionCompleted {
					t.Errorf("history %+v", sw.Status.History)
				}
			case flowsimv1.ReplaceConcurrent:
				var sw = e.waitSweep("the second night replaces the first", func(sw *flowsimv1.MatSimSweep) error {
					if len(sw.Status.Active) != 1 || sw.Status.Active[0].Name == first || len(sw.Status.History) != 1 {
						return fmt.Errorf("active %d, history %d", len(sw.Status.Active), len(sw.Status.History))
					}
					return nil
				})
				var old = sw.Status.History[0]
				if old.Phase != flowsimv1.ExecutionReplaced || old.Counts != (flowsimv1.ExecutionCounts{Total: 2, Passed: 1, Error: 1}) {
					t.Errorf("replaced execution %+v", old)
				}
				e.eventually("the replaced execution's unfinished run is deleted", func() error {
					var left = e.live(first)
					if len(left) != 1 || !left[0].Status.Phase.IsFinished() {
						return fmt.Errorf("%d runs left", len(left))
					}
					return nil
				})
				e.waitEvent(flowsimv1.EventReplaced, first)
			case flowsimv1.AllowConcurrent:
				e.waitSweep("both nights run side by side", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 2) })
			}
		})
	}
}

// Story: the manager was down for five nights; on restart exactly one execution (the
// latest night) starts, and the four older nights are reported as missed.
func TestSweepCatchUpAfterDowntime(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep()
	e.stopManager()
	e.clock.set(e.at(5, "09:00:00"))
	e.startManager()
	var sw = e.waitSweep("one catch-up execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
	if ex := sw.Status.Active[0]; ex.Name != e.nightly(5) || sw.Status.MissedSchedules != 4 {
		t.Errorf("catch-up execution %s, missedSchedules %d; want %s and 4 missed", ex.Name, sw.Status.MissedSchedules, e.nightly(5))
	}
	e.waitEvent(flowsimv1.EventMissedSchedule, "Missed 4 schedule time(s)")
	e.tick(5, "09:00:10")
	if sw := e.get(); len(sw.Status.Active)+len(sw.Status.History) != 1 {
		t.Errorf("%d executions after the catch-up, want 1", len(sw.Status.Active)+len(sw.Status.History))
	}
}

// Story: "run now" by annotation; the same value again starts nothing; a new one does.
func TestSweepManualTrigger(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.Suspend = ptr.To(true) })
	e.patchSweep(`{"metadata":{"annotations":{"flowsim.dev/trigger":"ci-1"}}}`)
	var sw = e.waitSweep("a manual execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
	var ex = sw.Status.Active[0]
	if ex.Trigger != flowsimv1.TriggerManual || sw.Status.LastTrigger != "ci-1" {
		t.Errorf("execution %+v, lastTrigger %q", ex, sw.Status.LastTrigger)
	}
	e.waitRuns(ex.Name, 1)
	e.finishAll(ex.Name)
	e.waitSweep("it completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
	e.tick(0, "12:01:00")
	if sw := e.get(); len(sw.Status.Active) != 0 || len(sw.Status.History) != 1 {
		t.Fatalf("the same trigger value started another execution")
	}
	e.patchSweep(`{"metadata":{"annotations":{"flowsim.dev/trigger":"ci-2"}}}`)
	e.waitSweep("a second manual execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
}

// Story: the manager restarts in the middle of an execution limited to 3 parallel runs;
// the new manager finds the runs by their names and creates each of the 8 exactly once.
func TestSweepRestartMidExecutionNoDuplicates(t *testing.T) {
	var e = newSweepEnv(t, 1)
	for i := 0; i < 8; i++ {
		e.target(0, fmt.Sprintf("t%d", i), flowsimv1.TestBasic)
	}
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.MaxParallelRuns = 3 })
	e.tick(1, "02:00:00")
	var ex = e.waitSweep("the execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) }).Status.Active[0].Name
	var runs = e.waitRuns(ex, 3)
	e.finish(&runs[0], flowsimv1.OutcomePassed)
	e.stopManager()
	var before = len(e.runs(ex))
	e.startManager()
	e.driveToCompletion(ex)
	var sw = e.waitSweep("the execution completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
	if c := sw.Status.History[0].Counts; c != (flowsimv1.ExecutionCounts{Total: 8, Passed: 8}) {
		t.Errorf("counts %+v", c)
	}
	if n := len(e.runs(ex)); n != 8 {
		t.Errorf("%d runs, want 8", n)
	}
	if created := e.writes.creates.Load(); created != int64(8-before) {
		t.Errorf("the restarted manager created %d runs; want exactly the %d not created before the restart", created, 8-before)
	}
}

// Story: during an execution one team deletes its target and another team's namespace
// is deleted: their runs end as TargetDeleted and NamespaceDeleted; the execution completes.
func TestSweepTargetAndNamespaceDeleted(t *testing.T) {
	var e = newSweepEnv(t, 3)
	var gone = e.target(0, "pg", flowsimv1.TestBasic)
	e.target(1, "mysql", flowsimv1.TestBasic)
	e.target(2, "kept", flowsimv1.TestBasic)
	e.createSweep()
	e.tick(1, "02:00:00")
	var ex = e.waitSweep("the execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) }).Status.Active[0].Name
	e.waitRuns(ex, 3)
	if err := e.c.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.namespaces[1]}}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the two runs are stopped", func() error {
		if n := len(e.live(ex)); n != 1 {
			return fmt.Errorf("%d runs", n)
		}
		return nil
	})
	e.finishAll(ex)
	var sw = e.waitSweep("the execution completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
	var h = sw.Status.History[0]
	if h.Counts != (flowsimv1.ExecutionCounts{Total: 3, Passed: 1, Error: 2}) {
		t.Errorf("counts %+v", h.Counts)
	}
	var reasons = map[string]string{}
	for _, r := range h.Results {
		reasons[r.Target] = r.Reason
	}
	if reasons["pg"] != flowsimv1.ReasonTargetDeleted || reasons["mysql"] != flowsimv1.ReasonNamespaceDeleted {
		t.Errorf("reasons %v, want pg TargetDeleted and mysql NamespaceDeleted", reasons)
	}
}

// Story: with successfulExecutionsHistoryLimit 1, the runs of the older successful
// execution are deleted when a newer one completes.
func TestSweepHistoryPruning(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.SuccessfulExecutionsHistoryLimit = ptr.To[int32](1) })
	var names []string
	for day := 1; day <= 2; day++ {
		e.tick(day, "02:00:00")
		var ex = e.waitSweep("an execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) }).Status.Active[0].Name
		e.waitRuns(ex, 1)
		e.finishAll(ex)
		e.waitSweep("it completes", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 0) })
		names = append(names, ex)
	}
	e.eventually("the first execution's runs are pruned", func() error {
		if n := len(e.live(names[0])); n != 0 {
			return fmt.Errorf("%d runs left", n)
		}
		return nil
	})
	var sw = e.get()
	if len(sw.Status.History) != 1 || sw.Status.History[0].Name != names[1] || len(e.runs(names[1])) != 1 {
		t.Errorf("history %+v; want only %s with its run", sw.Status.History, names[1])
	}
}

// watchMaxUnfinished follows the sweep's runs through a watch and records the largest
// number of unfinished runs ever present at once.
func (e *sweepEnv) watchMaxUnfinished() (most func() int, stop func()) {
	e.t.Helper()
	var wc, err = client.NewWithWatch(envCfg, client.Options{Scheme: envScheme})
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &flowsimv1.MatSimRunList{}, client.MatchingLabels{flowsimv1.LabelSweep: e.sweep})
	if err != nil {
		e.t.Fatal(err)
	}
	var mu sync.Mutex
	var unfinished = map[string]bool{}
	var peak int
	var done = make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			var run, ok = ev.Object.(*flowsimv1.MatSimRun)
			if !ok {
				continue
			}
			mu.Lock()
			var k = key(run.Namespace, run.Name)
			if ev.Type == watch.Deleted || run.Status.Phase.IsFinished() {
				delete(unfinished, k)
			} else {
				unfinished[k] = true
			}
			peak = max(peak, len(unfinished))
			mu.Unlock()
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return peak }, func() { w.Stop(); <-done }
}

// Story: an execution over 200 targets with maxParallelRuns 7: the watch of the runs never
// sees more than 7 unfinished at once; every run is created once and the execution completes.
func TestSweepMaxParallelRunsNeverExceeded(t *testing.T) {
	var e = newSweepEnv(t, 4)
	for i := 0; i < 200; i++ {
		e.target(i%4, fmt.Sprintf("conn-%03d", i), flowsimv1.TestBasic)
	}
	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.MaxParallelRuns = 7 })
	var most, stop = e.watchMaxUnfinished()
	defer stop()
	e.tick(1, "02:00:00")
	var ex = e.waitSweep("the execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) }).Status.Active[0].Name
	e.driveToCompletion(ex)
	var sw = e.get()
	if c := sw.Status.History[0].Counts; c != (flowsimv1.ExecutionCounts{Total: 200, Passed: 200}) {
		t.Errorf("counts %+v", c)
	}
	if n := len(e.runs(ex)); n != 200 {
		t.Errorf("%d runs, want 200", n)
	}
	if m := most(); m > 7 || m < 2 {
		t.Errorf("at most %d runs were unfinished at once; want between 2 and maxParallelRuns (7)", m)
	}
}

// driveToCompletion plays the MatSimRun controller: it finishes every unfinished run it
// sees until the execution is in the history.
func (e *sweepEnv) driveToCompletion(ex string) {
	e.t.Helper()
	var deadline = time.Now().Add(5 * time.Minute)
	for {
		e.finishAll(ex)
		var sw = e.get()
		for _, h := range sw.Status.History {
			if h.Name == ex {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("execution %s did not complete: %+v", ex, sw.Status.Active)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// BenchmarkSweepExecution1000Targets: one execution over 1,000 targets (maxParallelRuns
// 100) in envtest, the benchmark finishing runs as they appear. Reports the sweep
// controller's API writes per run (target ≤ 3: create, status share, delete share),
// reconciles per run, and the wall time until every run was created and observed
// finished. Status is computed in O(targets) per reconcile (one pass over the plan).
func BenchmarkSweepExecution1000Targets(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var e = newSweepEnv(b, 10)
		for j := 0; j < 1000; j++ {
			e.target(j%10, fmt.Sprintf("conn-%04d", j), flowsimv1.TestBasic)
		}
		e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.MaxParallelRuns = 100 })
		var writes0, reconciles0 = e.writes.writes(), reconcileTotal()
		var start = time.Now()
		e.tick(1, "02:00:00")
		var ex = e.waitSweep("the execution starts", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) }).Status.Active[0].Name
		e.driveToCompletion(ex)
		var wall = time.Since(start)
		var writes, reconciles = e.writes.writes() - writes0, reconcileTotal() - reconciles0
		b.ReportMetric(float64(writes)/1000, "writes/run")
		b.ReportMetric(reconciles/1000, "reconciles/run")
		b.ReportMetric(wall.Seconds(), "s/execution")
		b.Logf("1,000 runs: %d writes (%d creates, %d status updates, %d deletes), %.0f reconciles, %v",
			writes, e.writes.creates.Load(), e.writes.statusUpdates.Load(), e.writes.deletes.Load(), reconciles, wall)
		if float64(writes)/1000 > 3 {
			b.Errorf("%.2f API writes per run, more than 3", float64(writes)/1000)
		}
		e.stopManager()
		if err := e.c.Delete(ctx, e.get()); err != nil { // the next iteration reuses the name
			b.Fatal(err)
		}
	}
}

// reconcileTotal is controller-runtime's count of the sweep controller's reconciles.
func reconcileTotal() float64 {
	var families, err = metrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "matsimsweep" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// Story: the API server rejects bad sweeps and targets, naming the field; a schedule of
// the right shape but out of range is accepted and reported by the ScheduleValid condition.
func TestSweepValidation(t *testing.T) {
	var e = newSweepEnv(t, 1)
	for _, tc := range []struct {
		name   string
		mutate func(*flowsimv1.MatSimSweep)
		want   string
	}{
		{"prose schedule", func(s *flowsimv1.MatSimSweep) { s.Spec.Schedule = "every night" }, "spec.schedule"},
		{"four fields", func(s *flowsimv1.MatSimSweep) { s.Spec.Schedule = "0 2 * *" }, "spec.schedule"},
		{"31 February", func(s *flowsimv1.MatSimSweep) { s.Spec.Schedule = "0 0 31 2 *" }, "never matches a date"},
		{"30 February", func(s *flowsimv1.MatSimSweep) { s.Spec.Schedule = "0 0 30 FEB ?" }, "never matches a date"},
		{"31 of 30-day months", func(s *flowsimv1.MatSimSweep) { s.Spec.Schedule = "0 0 31 4,6,9,11 *" }, "never matches a date"},
		{"TZ in schedule", func(s *flowsimv1.MatSimSweep) { s.Spec.Schedule = "CRON_TZ=UTC 0 2 * * *" }, "spec.timeZone"},
		{"unknown time zone", func(s *flowsimv1.MatSimSweep) { s.Spec.TimeZone = ptr.To("Mars/Olympus") }, "spec.timeZone"},
		{"Local time zone", func(s *flowsimv1.MatSimSweep) { s.Spec.TimeZone = ptr.To("Local") }, "spec.timeZone"},
		{"offset time zone", func(s *flowsimv1.MatSimSweep) { s.Spec.TimeZone = ptr.To("+01:00") }, "spec.timeZone"},
		{"per-namespace above total", func(s *flowsimv1.MatSimSweep) {
			s.Spec.MaxParallelRuns, s.Spec.MaxParallelRunsPerNamespace = 5, ptr.To[int32](6)
		}, "spec.maxParallelRunsPerNamespace"},
		{"bad policy", func(s *flowsimv1.MatSimSweep) { s.Spec.ConcurrencyPolicy = "Sometimes" }, "spec.concurrencyPolicy"},
		{"long name", func(s *flowsimv1.MatSimSweep) { s.Name = strings.Repeat("n", 41) }, "at most 40 characters"},
	} {
		var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "invalid"}, Spec: flowsimv1.MatSimSweepSpec{Schedule: "0 2 * * *"}}
		tc.mutate(sw)
		var err = e.c.Create(ctx, sw)
		if err == nil {
			_ = e.c.Delete(ctx, sw)
			t.Errorf("%s: accepted", tc.name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.want)
		}
	}
	for _, ok := range []string{"0 0 29 2 *", "0 0 31 2 1", "0 0 30 1,2 *", "0 0 31 * *"} {
		var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "valid-date"}, Spec: flowsimv1.MatSimSweepSpec{Schedule: ok, Suspend: ptr.To(true)}}
		if err := e.c.Create(ctx, sw, client.DryRunAll); err != nil {
			t.Errorf("schedule %q (it matches dates) rejected: %v", ok, err)
		}
	}
	for _, tz := range []string{"Europe/Paris", "America/Argentina/Buenos_Aires", "UTC"} {
		var sw = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "valid-tz"}, Spec: flowsimv1.MatSimSweepSpec{Schedule: "@daily", TimeZone: ptr.To(tz)}}
		sw.Spec.Suspend = ptr.To(true)
		if err := e.c.Create(ctx, sw); err != nil {
			t.Errorf("time zone %s rejected: %v", tz, err)
		} else {
			_ = e.c.Delete(ctx, sw)
		}
	}

	var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[0], Name: "bad"}}
	tg.Spec.Run = flowsimv1.MatSimRunSpec{Test: flowsimv1.TestFence, Connector: flowsimv1.ConnectorSpec{Image: "x"},
		Config: flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "s", Key: "k"}}, Resource: runtime.RawExtension{Raw: []byte(`{}`)}}
	tg.Spec.Tests = []flowsimv1.MatSimTest{flowsimv1.TestBasic}
	if err := e.c.Create(ctx, tg); err == nil || !strings.Contains(err.Error(), "spec.tests") {
		t.Errorf("a target whose run.test is not in tests: error %v, want one naming spec.tests", err)
	}

	// fence with the reference connector cannot pass in the operator (its state lives in
	// each of fence's two connector pods): refused at admission, naming why, for a target
	// and for a MatSimRun; the same target without fence is accepted.
	var ref = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[0], Name: "ref"}}
	ref.Spec.Run = flowsimv1.MatSimRunSpec{Test: flowsimv1.TestBasic,
		Connector: flowsimv1.ConnectorSpec{Image: "flowsim/flowsim:dev", Command: []string{"/flowsim/flowsim", "reference-connector"}},
		Config:    flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"state_dir":"/tmp/ref"}`)}}, Resource: runtime.RawExtension{Raw: []byte(`{"name":"t"}`)}}
	ref.Spec.Tests = []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestFence}
	if err := e.c.Create(ctx, ref, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "fence with the reference connector cannot pass in the operator") {
		t.Errorf("a target of the reference connector with fence: error %v, want one naming the limitation", err)
	}
	ref.Spec.Tests = []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestRecovery}
	if err := e.c.Create(ctx, ref, client.DryRunAll); err != nil {
		t.Errorf("a target of the reference connector without fence was refused: %v", err)
	}
	var refRun = &flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[0], Name: "ref-fence"}, Spec: ref.Spec.RunSpecFor(flowsimv1.TestFence)}
	if err := e.c.Create(ctx, refRun, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "fence with the reference connector cannot pass in the operator") {
		t.Errorf("a fence MatSimRun of the reference connector: error %v, want one naming the limitation", err)
	}

	// The admission policy of config/crd refuses a target whose inline config has a key
	// that looks secret (each of its sweep runs would be refused), and only such a target.
	var leaky = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[0], Name: "leaky"}}
	leaky.Spec.Run = flowsimv1.MatSimRunSpec{Test: flowsimv1.TestBasic, Connector: flowsimv1.ConnectorSpec{Image: "x"},
		Config: flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"address":"db","db_password":"p"}`)}}, Resource: runtime.RawExtension{Raw: []byte(`{}`)}}
	if err := e.c.Create(ctx, leaky, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "spec.run.config.inline.db_password look(s) like a secret") {
		t.Errorf("a target with an inline password: error %v, want one naming spec.run.config.inline.db_password", err)
	}
	leaky.Spec.Run.Config.Inline.Raw = []byte(`{"address":"db","user":"flow"}`)
	if err := e.c.Create(ctx, leaky, client.DryRunAll); err != nil {
		t.Errorf("a target with a harmless inline config was refused: %v", err)
	}

	// The samples are valid (a dry run, so the nightly sample sweep never starts).
	var sample flowsimv1.MatSimSweep
	var target flowsimv1.MatSimTarget
	for f, obj := range map[string]any{"matsimsweep_nightly.yaml": &sample, "matsimtarget_postgres.yaml": &target} {
		var b, err = os.ReadFile(filepath.Join("..", "config", "samples", "sweep", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	target.Namespace = e.namespaces[0]
	for _, obj := range []client.Object{&sample, &target} {
		if err := e.c.Create(ctx, obj, client.DryRunAll); err != nil {
			t.Errorf("sample %s rejected: %v", obj.GetName(), err)
		}
	}

	e.createSweep(func(s *flowsimv1.MatSimSweepSpec) { s.Schedule = "61 2 * * *" })
	e.waitSweep("the out-of-range schedule is reported", func(sw *flowsimv1.MatSimSweep) error {
		var c = meta.FindStatusCondition(sw.Status.Conditions, flowsimv1.ConditionScheduleValid)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != flowsimv1.ReasonInvalidSchedule || !strings.Contains(c.Message, "61") {
			return fmt.Errorf("ScheduleValid %+v", c)
		}
		return nil
	})
}

// Story (issue 20, finding 1): a sweep whose schedule passes admission but names no date
// (a range: 0 0 30-31 2 *) reports ScheduleValid=False and never starts; the one worker
// is not stuck on it, so another sweep still starts its 02:00 execution.
func TestSweepImpossibleScheduleDoesNotStopOthers(t *testing.T) {
	var e = newSweepEnv(t, 1)
	e.target(0, "pg", flowsimv1.TestBasic)
	var bad = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "impossible-date"}, Spec: flowsimv1.MatSimSweepSpec{
		Schedule: "0 0 30-31 2 *", NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{e.label: "yes"}}}}
	if err := e.c.Create(ctx, bad); err != nil {
		t.Fatalf("creating the sweep with an impossible date (a range the API server cannot judge): %v", err)
	}
	t.Cleanup(func() { _ = envClient.Delete(context.Background(), bad) })
	e.eventually("the impossible schedule is reported", func() error {
		var sw flowsimv1.MatSimSweep
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(bad), &sw); err != nil {
			return err
		}
		var c = meta.FindStatusCondition(sw.Status.Conditions, flowsimv1.ConditionScheduleValid)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != flowsimv1.ReasonInvalidSchedule || !strings.Contains(c.Message, "never matches a date") {
			return fmt.Errorf("ScheduleValid %+v", c)
		}
		return nil
	})
	e.createSweep()
	e.tick(1, "02:00:05")
	e.waitSweep("the other sweep starts at 02:00", func(sw *flowsimv1.MatSimSweep) error { return activeNamed(sw, 1) })
	e.waitRuns(e.nightly(1), 1)
}
