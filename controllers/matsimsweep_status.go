package controllers

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// sweepObserved is what one pass of the sweep controller sees: the sweep's runs, every
// target and every namespace (from the cache), and the runs it created that the cache
// has not shown yet.
type sweepObserved struct {
	// runs of this sweep by "namespace/name".
	runs map[string]*flowsimv1.MatSimRun
	// targets by "namespace/name".
	targets map[string]*flowsimv1.MatSimTarget
	// namespaces by name.
	namespaces map[string]*corev1.Namespace
	// expected runs ("namespace/name") created by this process and not yet in runs.
	expected map[string]bool
}

func key(ns, name string) string { return ns + "/" + name }

// goneReason says why a target can no longer run: its namespace or itself was deleted
// (or is being deleted). Empty when it is there.
func (o *sweepObserved) goneReason(ns, target string) string {
	if n, ok := o.namespaces[ns]; !ok || n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return flowsimv1.ReasonNamespaceDeleted
	}
	if t, ok := o.targets[key(ns, target)]; !ok || t.DeletionTimestamp != nil {
		return flowsimv1.ReasonTargetDeleted
	}
	return ""
}

// executionName names an execution: the sweep and its schedule time (UTC), or for a
// manual trigger a hash of the annotation's value.
func executionName(sweep string, trigger flowsimv1.ExecutionTrigger, scheduled time.Time, value string) string {
	if trigger == flowsimv1.TriggerManual {
		return fmt.Sprintf("%s-m%s", sweep, shortHash(value))
	}
	return sweep + "-" + scheduled.UTC().Format("20060102150405")
}

// sweepRunName is the deterministic name of the run of one target × test of an
// execution, so that a restarted manager finds the runs it created instead of creating
// them again: the target's name (shortened), the test and a hash of all four.
func sweepRunName(execution, ns, target string, test flowsimv1.MatSimTest) string {
	var suffix = "-" + string(test) + "-" + shortHash(execution+"\x00"+ns+"\x00"+target+"\x00"+string(test))
	var prefix = strings.ReplaceAll(target, ".", "-")
	if prefix == "" || prefix[0] < 'a' || prefix[0] > 'z' {
		prefix = "t" + prefix
	}
	if max := 52 - len(suffix); len(prefix) > max {
		prefix = prefix[:max]
	}
	return strings.TrimRight(prefix, "-") + suffix
}

func shortHash(s string) string {
	var h = fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

// selectTargets lists the targets a new execution runs, sorted by namespace and name: those
// matching the sweep's selectors in live namespaces matching its namespace selector.
func selectTargets(sweep *flowsimv1.MatSimSweep, obs *sweepObserved) ([]flowsimv1.PlanTarget, error) {
	var nsSel, tSel = labels.Everything(), labels.Everything()
	var err error
	if s := sweep.Spec.NamespaceSelector; s != nil {
		if nsSel, err = metav1.LabelSelectorAsSelector(s); err != nil {
			return nil, fmt.Errorf("spec.namespaceSelector: %w", err)
		}
	}
	if s := sweep.Spec.Selector; s != nil {
		if tSel, err = metav1.LabelSelectorAsSelector(s); err != nil {
			return nil, fmt.Errorf("spec.selector: %w", err)
		}
	}
	var plan []flowsimv1.PlanTarget
	for _, t := range obs.targets {
		var ns, ok = obs.namespaces[t.Namespace]
		if !ok || obs.goneReason(t.Namespace, t.Name) != "" ||
			!nsSel.Matches(labels.Set(ns.Labels)) || !tSel.Matches(labels.Set(t.Labels)) {
			continue
		}
		plan = append(plan, flowsimv1.PlanTarget{Namespace: t.Namespace, Target: t.Name, Tests: slices.Clone(t.Spec.TestsToRun())})
	}
	sort.Slice(plan, func(i, j int) bool {
		return plan[i].Namespace < plan[j].Namespace || plan[i].Namespace == plan[j].Namespace && plan[i].Target < plan[j].Target
	})
	return plan, nil
}

// newExecution is an execution that starts now with plan (sorted), rotated to start at a
// target chosen by the execution's name: with maxParallelRuns below the plan's size the
// same targets do not always run first (and meet a failing night's deadline last).
func newExecution(name string, trigger flowsimv1.ExecutionTrigger, scheduled, now time.Time, plan []flowsimv1.PlanTarget) flowsimv1.SweepExecution {
	if n := len(plan); n > 1 {
		var h = fnv.New32a()
		h.Write([]byte(name))
		var start = int(h.Sum32() % uint32(n))
		plan = append(slices.Clone(plan[start:]), plan[:start]...)
	}
	var ex = flowsimv1.SweepExecution{
		Name: name, Trigger: trigger, Phase: flowsimv1.ExecutionRunning,
		ScheduledTime: metav1.NewTime(scheduled), StartTime: metav1.NewTime(now),
		Plan: plan,
	}
	for _, p := range plan {
		ex.Counts.Total += int32(len(p.Tests))
	}
	ex.Counts.Queued = ex.Counts.Total
	return ex
}

// planItem is one target × test of an execution, at index in its plan (a test at a
// time), from the plan's entry.
type planItem struct {
	index     int32
	entry     int
	namespace string
	target    string
	test      flowsimv1.MatSimTest
	run       string
	// refused: the API server refused the item's run (PlanTarget.Refused).
	refused bool
}

// planItems expands an execution's plan a test at a time.
func planItems(ex *flowsimv1.SweepExecution) []planItem {
	var items []planItem
	for e, p := range ex.Plan {
		for _, test := range p.Tests {
			items = append(items, planItem{index: int32(len(items)), entry: e, namespace: p.Namespace, target: p.Target,
				test: test, run: sweepRunName(ex.Name, p.Namespace, p.Target, test), refused: slices.Contains(p.Refused, test)})
		}
	}
	return items
}

// refuse marks an item whose run the API server refused, keeping its message while
// there is room (MaxRefusals).
func refuse(ex *flowsimv1.SweepExecution, it planItem, message string) {
	var p = &ex.Plan[it.entry]
	if !slices.Contains(p.Refused, it.test) {
		p.Refused = append(p.Refused, it.test)
	}
	if len(ex.Refusals) < flowsimv1.MaxRefusals {
		ex.Refusals = append(ex.Refusals, flowsimv1.RunRefusal{Namespace: it.namespace, Target: it.target, Test: it.test,
			Message: truncate(message, flowsimv1.MaxSweepResultMessage)})
	}
}

// refusalMessage is the API server's message for a refused item, when kept.
func refusalMessage(ex *flowsimv1.SweepExecution, it planItem) string {
	for _, r := range ex.Refusals {
		if r.Namespace == it.namespace && r.Target == it.target && r.Test == it.test {
			return r.Message
		}
	}
	return fmt.Sprintf("the API server refused to create MatSimRun %s/%s (its message is in the sweep's RunRefused events)", it.namespace, it.run)
}

// itemResult judges one item of a running execution from what the pass observed.
// stop lists a run that must be deleted because its target or namespace went away.
func itemResult(ex *flowsimv1.SweepExecution, it planItem, dispatched bool, obs *sweepObserved) (r flowsimv1.SweepRunResult, stop *flowsimv1.MatSimRun) {
	r = flowsimv1.SweepRunResult{Namespace: it.namespace, Target: it.target, Test: it.test, Run: it.run}
	var gone = obs.goneReason(it.namespace, it.target)
	var run, found = obs.runs[key(it.namespace, it.run)]
	switch {
	case found:
		fillFromRun(&r, run)
		if gone != "" && !run.Status.Phase.IsFinished() {
			r.Outcome, r.Reason, r.Message = flowsimv1.OutcomeError, gone, goneMessage(gone, it)
			if run.DeletionTimestamp == nil {
				stop = run
			}
		}
	case obs.expected[key(it.namespace, it.run)]:
		r.Outcome = flowsimv1.OutcomePending
	case gone != "":
		r.Outcome, r.Reason, r.Message = flowsimv1.OutcomeError, gone, goneMessage(gone, it)
	case it.refused:
		r.Outcome, r.Reason, r.Message, r.Run = flowsimv1.OutcomeError, flowsimv1.ReasonRunRefused, refusalMessage(ex, it), ""
	case dispatched:
		r.Outcome, r.Reason = flowsimv1.OutcomeError, flowsimv1.ReasonRunDeleted
		r.Message = fmt.Sprintf("MatSimRun %s/%s was deleted before it finished", it.namespace, it.run)
	default:
		r.Outcome, r.Run = flowsimv1.OutcomeQueued, ""
	}
	return r, stop
}

func goneMessage(reason string, it planItem) string {
	if reason == flowsimv1.ReasonNamespaceDeleted {
		return fmt.Sprintf("namespace %s was deleted during the execution", it.namespace)
	}
	return fmt.Sprintf("MatSimTarget %s/%s was deleted during the execution", it.namespace, it.target)
}

func fillFromRun(r *flowsimv1.SweepRunResult, run *flowsimv1.MatSimRun) {
	var st = &run.Status
	r.Outcome, r.Reason = flowsimv1.Outcome(run), st.Reason
	if st.Seed != nil {
		r.Seed = ptr.To(*st.Seed) // run is the cache's: share nothing
	}
	if res := st.Result; res != nil {
		r.Check, r.Message = res.Check, res.Message
		r.Duration = &metav1.Duration{Duration: res.Duration.Duration}
	} else if st.Phase == flowsimv1.PhaseFailed {
		r.Message = st.Message
	}
	if r.Duration == nil && st.StartTime != nil && st.CompletionTime != nil {
		r.Duration = &metav1.Duration{Duration: st.CompletionTime.Sub(st.StartTime.Time)}
	}
	r.Message = truncate(r.Message, flowsimv1.MaxSweepResultMessage)
}

// resultPriority orders SweepExecution.Results: what needs attention first.
var resultPriority = map[string]int{
	flowsimv1.OutcomeError: 0, flowsimv1.OutcomeFailed: 1, flowsimv1.OutcomeRunning: 2,
	flowsimv1.OutcomePending: 3, flowsimv1.OutcomePassed: 4, flowsimv1.OutcomeQueued: 5,
}

// summarize sets an execution's counts and its bounded results from the results of all
// its items (in plan order), in O(items).
func summarize(ex *flowsimv1.SweepExecution, results []flowsimv1.SweepRunResult) {
	var c = flowsimv1.ExecutionCounts{Total: int32(len(results))}
	var buckets [6][]int
	for i, r := range results {
		switch r.Outcome {
		case flowsimv1.OutcomePassed:
			c.Passed++
		case flowsimv1.OutcomeFailed:
			c.Failed++
		case flowsimv1.OutcomeError:
			c.Error++
		case flowsimv1.OutcomeRunning:
			c.Running++
		case flowsimv1.OutcomePending:
			c.Pending++
		default:
			c.Queued++
		}
		if p := resultPriority[r.Outcome]; len(buckets[p]) < flowsimv1.MaxSweepResults {
			buckets[p] = append(buckets[p], i)
		}
	}
	ex.Counts = c
	ex.Results = nil
	for _, b := range buckets {
		for _, i := range b {
			if len(ex.Results) < flowsimv1.MaxSweepResults {
				ex.Results = append(ex.Results, results[i])
			}
		}
	}
	ex.ResultsOmitted = int32(len(results) - len(ex.Results))
}

// executionSucceeded says whether a finished execution ran something and every run
// passed: an empty plan (a selector that chose nothing) is not a success.
func executionSucceeded(ex *flowsimv1.SweepExecution) bool {
	return ex.Phase == flowsimv1.ExecutionCompleted && ex.Counts.Total > 0 && ex.Counts.Passed == ex.Counts.Total
}

// pruneHistory keeps the newest executions within the history limits (history is newest
// first) and returns the names of those dropped.
func pruneHistory(spec *flowsimv1.MatSimSweepSpec, history []flowsimv1.SweepExecution) (kept []flowsimv1.SweepExecution, dropped []string) {
	var okLimit, failLimit = limit(spec.SuccessfulExecutionsHistoryLimit, 3), limit(spec.FailedExecutionsHistoryLimit, 3)
	for _, ex := range history {
		var l = &failLimit
		if executionSucceeded(&ex) {
			l = &okLimit
		}
		if *l > 0 {
			*l--
			kept = append(kept, ex)
		} else {
			dropped = append(dropped, ex.Name)
		}
	}
	return kept, dropped
}

func limit(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// parallelism counts the sweep's unfinished runs, in all and per namespace: observed
// ones and those created by this process that the cache has not shown yet. A run being
// deleted still counts until it is gone: its pod may still run.
func parallelism(obs *sweepObserved) (total int32, perNamespace map[string]int32) {
	perNamespace = map[string]int32{}
	for _, run := range obs.runs {
		if !run.Status.Phase.IsFinished() {
			total++
			perNamespace[run.Namespace]++
		}
	}
	for k := range obs.expected {
		if _, seen := obs.runs[k]; !seen {
			var ns, _, _ = strings.Cut(k, "/")
			total++
			perNamespace[ns]++
		}
	}
	return total, perNamespace
}

// dispatch chooses the queued items of the running executions (oldest first) to create
// now within maxParallelRuns (and per namespace) and advances each execution's
// Dispatched over the items that need nothing more: created, or ended with their target.
// An item blocked by its namespace's limit does not hold back the other namespaces.
func dispatch(spec *flowsimv1.MatSimSweepSpec, active []flowsimv1.SweepExecution, items [][]planItem, obs *sweepObserved) (create [][2]int) {
	var total, perNS = parallelism(obs)
	var maxTotal = spec.MaxParallelRuns
	if maxTotal <= 0 {
		maxTotal = 10
	}
	var maxNS = limit(spec.MaxParallelRunsPerNamespace, maxTotal)
	for e := range active {
		var ex = &active[e]
		if ex.Phase != flowsimv1.ExecutionRunning {
			continue
		}
		var prefix = true
		for i := ex.Dispatched; i < int32(len(items[e])); i++ {
			var it = items[e][i]
			var k = key(it.namespace, it.run)
			var done = it.refused || obs.goneReason(it.namespace, it.target) != "" || obs.expected[k]
			if _, ok := obs.runs[k]; ok {
				done = true
			}
			if !done {
				if total >= maxTotal {
					return create
				}
				if perNS[it.namespace] >= maxNS {
					prefix = false
					continue
				}
				create = append(create, [2]int{e, int(i)})
				total++
				perNS[it.namespace]++
			}
			if prefix {
				ex.Dispatched = i + 1
			}
		}
	}
	return create
}

// runForTarget is the MatSimRun of one item of an execution: the target's run spec for
// the test, in the target's namespace, controlled by the sweep.
func runForTarget(sweep *flowsimv1.MatSimSweep, execution string, target *flowsimv1.MatSimTarget, test flowsimv1.MatSimTest) *flowsimv1.MatSimRun {
	var run = &flowsimv1.MatSimRun{
		ObjectMeta: metav1.ObjectMeta{
			Name:      sweepRunName(execution, target.Namespace, target.Name, test),
			Namespace: target.Namespace,
			Labels: map[string]string{
				flowsimv1.LabelName:      flowsimv1.ValueName,
				flowsimv1.LabelManagedBy: flowsimv1.ValueManagedBy,
				flowsimv1.LabelPartOf:    flowsimv1.ValuePartOf,
				flowsimv1.LabelTest:      string(test),
				flowsimv1.LabelSweep:     sweep.Name,
				flowsimv1.LabelExecution: execution,
				flowsimv1.LabelTarget:    target.Name,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sweep, flowsimv1.GroupVersion.WithKind("MatSimSweep"))},
		},
		Spec: target.Spec.RunSpecFor(test),
	}
	expandRunPlaceholder(&run.Spec, run.Name)
	return run
}

// expandRunPlaceholder replaces RunPlaceholder in the run's resource and inline config
// by the run's identifier (safe inside a JSON string: letters, digits and '_').
func expandRunPlaceholder(spec *flowsimv1.MatSimRunSpec, run string) {
	var id = []byte(flowsimv1.RunIdentifier(run))
	for _, raw := range []*[]byte{&spec.Resource.Raw, inlineRaw(spec)} {
		if raw != nil && bytes.Contains(*raw, []byte(flowsimv1.RunPlaceholder)) {
			*raw = bytes.ReplaceAll(*raw, []byte(flowsimv1.RunPlaceholder), id)
		}
	}
}

func inlineRaw(spec *flowsimv1.MatSimRunSpec) *[]byte {
	if spec.Config.Inline == nil {
		return nil
	}
	return &spec.Config.Inline.Raw
}
