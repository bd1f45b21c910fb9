package controllers

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/engine"
)

func TestSweepRunName(t *testing.T) {
	var dns = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	var seen = map[string]bool{}
	for _, target := range []string{"pg", "0day", "a.b.c", strings.Repeat("x", 63), strings.Repeat("y", 33) + "-" + strings.Repeat("z", 20)} {
		for _, test := range []flowsimv1.MatSimTest{flowsimv1.TestBasic, flowsimv1.TestRecovery} {
			for _, ex := range []string{"nightly-20260302020000", "nightly-20260303020000"} {
				var name = sweepRunName(ex, "team-a", target, test)
				if len(name) > 52 || !dns.MatchString(name) {
					t.Errorf("sweepRunName(%q, %q, %q) = %q: not a DNS label of at most 52 characters", ex, target, test, name)
				}
				if seen[name] {
					t.Errorf("sweepRunName(%q, %q, %q) = %q twice", ex, target, test, name)
				}
				seen[name] = true
				if again := sweepRunName(ex, "team-a", target, test); again != name {
					t.Errorf("sweepRunName is not deterministic: %q then %q", name, again)
				}
			}
		}
	}
	if got := sweepRunName("nightly-20260302020000", "team-a", "pg", flowsimv1.TestBasic); !strings.HasPrefix(got, "pg-basic-") {
		t.Errorf("run name %q does not start with the target and test", got)
	}
}

func TestExecutionName(t *testing.T) {
	var at = mustTime(t, "2026-03-02T02:00:00Z")
	if got := executionName("nightly", flowsimv1.TriggerSchedule, at.In(time.FixedZone("X", 3600)), ""); got != "nightly-20260302020000" {
		t.Errorf("scheduled execution name %q, want nightly-20260302020000 (UTC)", got)
	}
	var a, b = executionName("nightly", flowsimv1.TriggerManual, at, "1"), executionName("nightly", flowsimv1.TriggerManual, at.Add(time.Hour), "1")
	if a != b || !strings.HasPrefix(a, "nightly-m") || a == executionName("nightly", flowsimv1.TriggerManual, at, "2") {
		t.Errorf("manual execution names %q, %q: want the same for the same trigger value, different for another", a, b)
	}
	if n := executionName(strings.Repeat("s", 40), flowsimv1.TriggerSchedule, at, ""); len(n) > 63 {
		t.Errorf("execution name of a 40-character sweep is %d characters, more than a label value holds", len(n))
	}
}

// fleet builds observations: n targets spread over namespaces, each with tests.
func fleet(namespaces, perNamespace int, tests ...flowsimv1.MatSimTest) *sweepObserved {
	var obs = &sweepObserved{runs: map[string]*flowsimv1.MatSimRun{}, targets: map[string]*flowsimv1.MatSimTarget{},
		namespaces: map[string]*corev1.Namespace{}, expected: map[string]bool{}}
	for n := 0; n < namespaces; n++ {
		var ns = fmt.Sprintf("team-%03d", n)
		obs.namespaces[ns] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"tier": []string{"gold", "bronze"}[n%2]}}}
		for i := 0; i < perNamespace; i++ {
			var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("conn-%04d", i)}}
			tg.Spec.Run.Test = tests[0]
			tg.Spec.Tests = tests
			obs.targets[key(ns, tg.Name)] = tg
		}
	}
	return obs
}

func TestSelectTargets(t *testing.T) {
	var obs = fleet(4, 2, flowsimv1.TestBasic)
	obs.targets[key("team-001", "conn-0000")].Labels = map[string]string{"sweep": "no"}
	obs.targets[key("team-002", "conn-0001")].DeletionTimestamp = ptr.To(metav1.Now())
	var sweep = &flowsimv1.MatSimSweep{Spec: flowsimv1.MatSimSweepSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}},
		Selector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "sweep", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"no"}}}},
	}}
	var plan, err = selectTargets(sweep, obs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plan {
		got = append(got, fmt.Sprintf("%s/%s:%v", p.Namespace, p.Target, p.Tests))
	}
	var want = []string{"team-000/conn-0000:[basic]", "team-000/conn-0001:[basic]", "team-002/conn-0000:[basic]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	sweep.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}
	if _, err := selectTargets(sweep, obs); err == nil || !strings.Contains(err.Error(), "spec.selector") {
		t.Errorf("a bad selector: error %v, want one naming spec.selector", err)
	}
}

// startExecution is an execution over every target of obs.
func startExecution(t *testing.T, obs *sweepObserved) (flowsimv1.SweepExecution, []planItem) {
	t.Helper()
	var plan, err = selectTargets(&flowsimv1.MatSimSweep{}, obs)
	if err != nil {
		t.Fatal(err)
	}
	var ex = newExecution("nightly-20260302020000", flowsimv1.TriggerSchedule, time.Unix(0, 0), time.Unix(0, 0), plan)
	return ex, planItems(&ex)
}

func finishRun(obs *sweepObserved, it planItem, phase flowsimv1.RunPhase, outcome string) {
	var run = &flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Namespace: it.namespace, Name: it.run}}
	run.Spec.Test = it.test
	run.Status.Phase = phase
	if phase.IsFinished() {
		run.Status.Result = &flowsimv1.RunResult{Outcome: outcome, Check: map[bool]string{true: "load.phantom"}[outcome == "failed"]}
		run.Status.Seed = ptr.To[int64](42)
	}
	obs.runs[key(it.namespace, it.run)] = run
}

func TestDispatchLimits(t *testing.T) {
	var obs = fleet(3, 4, flowsimv1.TestBasic, flowsimv1.TestDelta) // 24 runs, 8 per namespace
	var ex, items = startExecution(t, obs)
	var spec = flowsimv1.MatSimSweepSpec{MaxParallelRuns: 5, MaxParallelRunsPerNamespace: ptr.To[int32](2)}
	var active = []flowsimv1.SweepExecution{ex}

	var create = dispatch(&spec, active, [][]planItem{items}, obs)
	var perNS = map[string]int{}
	for _, c := range create {
		perNS[items[c[1]].namespace]++
		obs.expected[key(items[c[1]].namespace, items[c[1]].run)] = true
	}
	if len(create) != 5 || perNS["team-000"] != 2 || perNS["team-001"] != 2 || perNS["team-002"] != 1 {
		t.Fatalf("first dispatch created %d runs %v; want 5: 2, 2 and 1 per namespace", len(create), perNS)
	}
	if active[0].Dispatched != 2 {
		t.Errorf("Dispatched = %d, want 2 (the third run of team-000 waits for its namespace)", active[0].Dispatched)
	}
	if again := dispatch(&spec, active, [][]planItem{items}, obs); len(again) != 0 {
		t.Errorf("a second pass with nothing finished created %d more runs", len(again))
	}

	// Expected runs show up in the cache; one of team-000 finishes: exactly one slot frees.
	for k := range obs.expected {
		var ns, name, _ = strings.Cut(k, "/")
		obs.runs[k] = &flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	obs.expected = map[string]bool{}
	finishRun(obs, items[0], flowsimv1.PhaseSucceeded, "passed")
	create = dispatch(&spec, active, [][]planItem{items}, obs)
	if len(create) != 1 || items[create[0][1]].namespace != "team-000" {
		t.Fatalf("after one run of team-000 finished, created %v; want one run of team-000", create)
	}
	obs.expected[key(items[create[0][1]].namespace, items[create[0][1]].run)] = true

	// Every target of team-001 is deleted: its queued runs are dispatched without a run.
	for k, tg := range obs.targets {
		if tg.Namespace == "team-001" {
			delete(obs.targets, k)
		}
	}
	var results = make([]flowsimv1.SweepRunResult, len(items))
	for i, it := range items {
		results[i], _ = itemResult(&active[0], it, int32(i) < active[0].Dispatched, obs)
	}
	summarize(&active[0], results)
	if active[0].Counts.Error != 8 {
		t.Errorf("targets of team-001 deleted: %d runs in error, want 8", active[0].Counts.Error)
	}
	for _, r := range active[0].Results[:8] {
		if r.Reason != flowsimv1.ReasonTargetDeleted || r.Namespace != "team-001" {
			t.Errorf("result %+v: want reason TargetDeleted in team-001 listed first", r)
		}
	}
}

func TestItemResult(t *testing.T) {
	var obs = fleet(1, 1, flowsimv1.TestBasic)
	var ex, items = startExecution(t, obs)
	var it = items[0]
	var judge = func(dispatched bool) (flowsimv1.SweepRunResult, bool) {
		var r, stop = itemResult(&ex, it, dispatched, obs)
		return r, stop != nil
	}
	if r, _ := judge(false); r.Outcome != flowsimv1.OutcomeQueued || r.Run != "" {
		t.Errorf("not dispatched: %+v, want queued with no run", r)
	}
	if r, _ := judge(true); r.Outcome != flowsimv1.OutcomeError || r.Reason != flowsimv1.ReasonRunDeleted {
		t.Errorf("dispatched, no run, not expected: %+v, want error RunDeleted", r)
	}
	obs.expected[key(it.namespace, it.run)] = true
	if r, _ := judge(true); r.Outcome != flowsimv1.OutcomePending {
		t.Errorf("created, not in the cache yet: %+v, want pending", r)
	}
	finishRun(obs, it, flowsimv1.PhaseRunning, "")
	if r, _ := judge(true); r.Outcome != flowsimv1.OutcomeRunning || r.Run != it.run {
		t.Errorf("running run: %+v", r)
	}
	obs.namespaces[it.namespace].DeletionTimestamp = ptr.To(metav1.Now())
	if r, stop := judge(true); r.Outcome != flowsimv1.OutcomeError || r.Reason != flowsimv1.ReasonNamespaceDeleted || !stop {
		t.Errorf("namespace deleted under a running run: %+v (stop %v), want error NamespaceDeleted and the run stopped", r, stop)
	}
	finishRun(obs, it, flowsimv1.PhaseFailed, "failed")
	if r, stop := judge(true); r.Outcome != flowsimv1.OutcomeFailed || r.Check != "load.phantom" || ptr.Deref(r.Seed, 0) != 42 || stop {
		t.Errorf("a run that failed before its namespace went: %+v (stop %v), want its own failure kept", r, stop)
	}
}

func TestPruneHistory(t *testing.T) {
	var ex = func(name string, ok bool) flowsimv1.SweepExecution {
		var e = flowsimv1.SweepExecution{Name: name, Phase: flowsimv1.ExecutionCompleted, Counts: flowsimv1.ExecutionCounts{Total: 2, Passed: 2}}
		if !ok {
			e.Counts.Passed, e.Counts.Failed = 1, 1
		}
		return e
	}
	var history = []flowsimv1.SweepExecution{ex("e6", true), ex("e5", false), ex("e4", true), ex("e3", true), ex("e2", false), ex("e1", false)}
	var spec = flowsimv1.MatSimSweepSpec{SuccessfulExecutionsHistoryLimit: ptr.To[int32](2), FailedExecutionsHistoryLimit: ptr.To[int32](1)}
	var kept, dropped = pruneHistory(&spec, history)
	var names []string
	for _, e := range kept {
		names = append(names, e.Name)
	}
	if diff := cmp.Diff([]string{"e6", "e5", "e4"}, names); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"e3", "e2", "e1"}, dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}

// TestSweepStatusSizeBounded: the status at every bound at once stays under etcd's
// 1.5 MiB object limit: MaxActiveExecutions executions (concurrencyPolicy Allow) of
// MaxPlanTargets targets × every test, names at their longest, every run failed with a
// long message or refused, a full history (20 executions).
func TestSweepStatusSizeBounded(t *testing.T) {
	var obs = &sweepObserved{runs: map[string]*flowsimv1.MatSimRun{}, targets: map[string]*flowsimv1.MatSimTarget{},
		namespaces: map[string]*corev1.Namespace{}, expected: map[string]bool{}}
	var all []flowsimv1.MatSimTest
	for _, test := range engine.Tests {
		all = append(all, flowsimv1.MatSimTest(test))
	}
	for i := 0; i < flowsimv1.MaxPlanTargets; i++ {
		var ns = fmt.Sprintf("%s-%03d", strings.Repeat("n", 59), i%100)
		obs.namespaces[ns] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%05d", strings.Repeat("t", 57), i)}}
		tg.Spec.Run.Test, tg.Spec.Tests = flowsimv1.TestBasic, all
		obs.targets[key(ns, tg.Name)] = tg
	}
	var st flowsimv1.MatSimSweepStatus
	var done flowsimv1.SweepExecution
	for a := 0; a < flowsimv1.MaxActiveExecutions; a++ {
		var ex, items = startExecution(t, obs)
		ex.Name = fmt.Sprintf("%s-2026030%d020000", strings.Repeat("s", 40), a)
		var results = make([]flowsimv1.SweepRunResult, len(items))
		for i, it := range items {
			if i%2 == 1 {
				refuse(&ex, it, strings.Repeat("r", 4000))
				it.refused = true
			} else {
				var run = &flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Namespace: it.namespace, Name: it.run}}
				run.Status = flowsimv1.MatSimRunStatus{Phase: flowsimv1.PhaseFailed, Reason: flowsimv1.ReasonCheckFailed, Seed: ptr.To[int64](1 << 62),
					Result: &flowsimv1.RunResult{Outcome: "failed", Check: "verify.missing", Message: strings.Repeat("m", 4000), Duration: metav1.Duration{Duration: time.Hour}}}
				obs.runs[key(it.namespace, it.run)] = run
			}
			results[i], _ = itemResult(&ex, it, true, obs)
		}
		summarize(&ex, results)
		st.Active = append(st.Active, ex)
		done = ex
	}
	var items = int32(flowsimv1.MaxPlanTargets * len(all))
	if c := st.Active[0].Counts; c.Total != items || c.Failed+c.Error != items || len(st.Active[0].Results) != flowsimv1.MaxSweepResults || len(st.Active[0].Refusals) != flowsimv1.MaxRefusals {
		t.Errorf("counts %+v, %d results, %d refusals", c, len(st.Active[0].Results), len(st.Active[0].Refusals))
	}
	done.Plan, done.Dispatched, done.Refusals, done.Phase = nil, 0, nil, flowsimv1.ExecutionCompleted
	done = toHistory(done)
	for i := 0; i < 20; i++ { // both history limits at their maximum, 10
		st.History = append(st.History, done)
	}
	var b, err = json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20 // etcd's 1.5 MiB less room for the spec, metadata and managedFields
	t.Logf("status at every bound (%d executions × %d targets × %d tests, 20 executions of history): %d bytes", len(st.Active), flowsimv1.MaxPlanTargets, len(all), len(b))
	if len(b) > limit {
		t.Errorf("status is %d bytes, more than %d", len(b), limit)
	}
}

// TestSweepTooManyTargets: a sweep whose selectors choose more than MaxPlanTargets
// targets (here 10,000) starts nothing and says why in its ScheduleValid condition; the
// status stays small.
func TestSweepTooManyTargets(t *testing.T) {
	var obs = fleet(50, 200, flowsimv1.TestBasic, flowsimv1.TestDelta)
	var sweep = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "fleet", Annotations: map[string]string{flowsimv1.TriggerAnnotation: "now"}},
		Spec: flowsimv1.MatSimSweepSpec{Schedule: "0 2 * * *"}}
	var st flowsimv1.MatSimSweepStatus
	var r MatSimSweepReconciler
	if err := r.schedule(sweep, &st, obs, time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC), &sweepPass{}); err != nil {
		t.Fatal(err)
	}
	var c = meta.FindStatusCondition(st.Conditions, flowsimv1.ConditionScheduleValid)
	if len(st.Active) != 0 || c == nil || c.Status != metav1.ConditionFalse || c.Reason != flowsimv1.ReasonTooManyTargets || !strings.Contains(c.Message, "choose 10000 MatSimTargets") {
		t.Errorf("10,000 targets: %d executions started, ScheduleValid %+v; want none and TooManyTargets naming the count", len(st.Active), c)
	}
	var b, _ = json.Marshal(st)
	if len(b) > 4096 {
		t.Errorf("status of a refused 10,000-target sweep is %d bytes", len(b))
	}
}

// Finding 12: $(FLOWSIM_RUN) in a target's resource and inline config names a table
// unique to each run, so night two does not find night one's table; the target itself
// is not changed.
func TestRunPlaceholder(t *testing.T) {
	var tg = &flowsimv1.MatSimTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "pg"}}
	tg.Spec.Run.Test = flowsimv1.TestBasic
	tg.Spec.Run.Resource.Raw = []byte(`{"table":"flowsim_$(FLOWSIM_RUN)"}`)
	tg.Spec.Run.Config.Inline = &runtime.RawExtension{Raw: []byte(`{"schema":"s_$(FLOWSIM_RUN)","address":"db:5432"}`)}
	var sweep = &flowsimv1.MatSimSweep{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}}
	var one = runForTarget(sweep, "nightly-20260302020000", tg, flowsimv1.TestBasic)
	var two = runForTarget(sweep, "nightly-20260303020000", tg, flowsimv1.TestBasic)
	var id = flowsimv1.RunIdentifier(one.Name)
	if want := `{"table":"flowsim_` + id + `"}`; string(one.Spec.Resource.Raw) != want {
		t.Errorf("resource %s, want %s", one.Spec.Resource.Raw, want)
	}
	if want := `{"schema":"s_` + id + `","address":"db:5432"}`; string(one.Spec.Config.Inline.Raw) != want {
		t.Errorf("inline config %s, want %s", one.Spec.Config.Inline.Raw, want)
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9_]{0,51}$`).MatchString(id) {
		t.Errorf("identifier %q is not a plain SQL identifier", id)
	}
	if string(one.Spec.Resource.Raw) == string(two.Spec.Resource.Raw) {
		t.Errorf("two nights got the same resource %s", one.Spec.Resource.Raw)
	}
	if string(tg.Spec.Run.Resource.Raw) != `{"table":"flowsim_$(FLOWSIM_RUN)"}` {
		t.Errorf("the target's own resource changed: %s", tg.Spec.Run.Resource.Raw)
	}
}

// Finding 8: each execution runs the sorted plan from a start chosen by its name, so over
// nights every target is among the first to run (fairness under maxParallelRuns).
func TestPlanRotates(t *testing.T) {
	var obs = fleet(2, 10, flowsimv1.TestBasic)
	var plan, err = selectTargets(&flowsimv1.MatSimSweep{}, obs)
	if err != nil {
		t.Fatal(err)
	}
	var firsts = map[string]int{}
	for d := 0; d < 400; d++ {
		var name = "nightly-" + time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, d).Format("20060102150405")
		var ex = newExecution(name, flowsimv1.TriggerSchedule, time.Unix(0, 0), time.Unix(0, 0), plan)
		if len(ex.Plan) != len(plan) {
			t.Fatalf("%s: plan of %d targets, want %d", name, len(ex.Plan), len(plan))
		}
		var start = slices.IndexFunc(plan, func(p flowsimv1.PlanTarget) bool {
			return p.Target == ex.Plan[0].Target && p.Namespace == ex.Plan[0].Namespace
		})
		for i := range plan { // a rotation of the sorted plan: every target once, in order
			if got, want := ex.Plan[i], plan[(start+i)%len(plan)]; got.Namespace != want.Namespace || got.Target != want.Target {
				t.Fatalf("%s: plan[%d] = %s/%s, want %s/%s", name, i, got.Namespace, got.Target, want.Namespace, want.Target)
			}
		}
		firsts[ex.Plan[0].Namespace+"/"+ex.Plan[0].Target]++
	}
	if len(firsts) != len(plan) {
		t.Errorf("over 400 nights %d of %d targets ran first: %v", len(firsts), len(plan), firsts)
	}
	for target, n := range firsts {
		if n > 60 { // 20 expected; a skew this large is not a rotation
			t.Errorf("%s ran first %d nights of 400", target, n)
		}
	}
}
