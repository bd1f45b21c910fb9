package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// The sweep controller reads targets and namespaces, and creates and deletes the runs of
// its executions. It never reads Secrets: a run mounts its target's Secret in its own
// namespace.
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimsweeps,verbs=get;list;watch
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimsweeps/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimsweeps/finalizers,verbs=update
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimtargets,verbs=get;list;watch
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimruns,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// expectationTTL bounds how long a created run that the cache never showed holds a slot.
const expectationTTL = 2 * time.Minute

// MatSimSweepReconciler runs MatSimSweeps: on schedule (or trigger) an execution creates a
// MatSimRun per selected MatSimTarget × test, within maxParallelRuns, and summarizes them.
type MatSimSweepReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock of schedules and status times (time.Now when nil).
	Now func() time.Time

	mu sync.Mutex
	// expected holds, per sweep, the runs ("namespace/name") created by this process that
	// the cache has not shown yet, with the real time of creation: they hold a slot of
	// that sweep's maxParallelRuns (and no other sweep's).
	expected map[string]map[string]time.Time
}

// Reconcile brings one MatSimSweep one step further.
func (r *MatSimSweepReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var sweep flowsimv1.MatSimSweep
	if err := r.Get(ctx, req.NamespacedName, &sweep); apierrors.IsNotFound(err) {
		forgetSweepMetrics(req.Name)
		r.mu.Lock()
		delete(r.expected, req.Name)
		r.mu.Unlock()
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if !sweep.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references let the garbage collector remove the runs
	}
	return r.reconcile(ctx, &sweep)
}

func (r *MatSimSweepReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// sweepPass collects what a pass decided, applied after its status write succeeded.
type sweepPass struct {
	stop     []*flowsimv1.MatSimRun // unfinished runs whose target or namespace went away
	finished []flowsimv1.SweepExecution
	started  *flowsimv1.SweepExecution
	missed   []string // MissedSchedule event notes
	refused  []string // RunRefused event notes
	// createErr: runs that could not be created for a reason that may pass; they stay
	// queued and the pass returns the error (the workqueue's backoff).
	createErr error
	requeue   time.Duration
}

func (r *MatSimSweepReconciler) reconcile(ctx context.Context, sweep *flowsimv1.MatSimSweep) (ctrl.Result, error) {
	var now = r.now()
	var obs, err = r.observe(ctx, sweep)
	if err != nil {
		return ctrl.Result{}, err
	}
	var st = sweep.Status.DeepCopy()
	st.ObservedGeneration = sweep.Generation
	var pass sweepPass

	judgeActive(st, obs, now, &pass)
	if err := r.schedule(sweep, st, obs, now, &pass); err != nil {
		return ctrl.Result{}, err
	}
	if pass.started == nil {
		// A new execution is written first and dispatched by the next pass (its own status
		// write wakes it): runs never exist for an execution the status does not hold.
		r.dispatch(ctx, sweep, st, obs, &pass)
		judgeActive(st, obs, now, &pass)
	}
	var kept, dropped = pruneHistory(&sweep.Spec, st.History)
	st.History = kept
	setActiveCondition(sweep, st)

	if err := r.writeStatus(ctx, sweep, st); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil // the newer sweep's event wakes us too
		}
		return ctrl.Result{}, err
	}
	r.record(sweep, &pass, obs)
	var errs = []error{pass.createErr, r.deleteRuns(ctx, stragglers(&sweep.Status, obs, pass.stop)), r.pruneRuns(ctx, sweep, obs, dropped)}
	return ctrl.Result{RequeueAfter: pass.requeue}, errors.Join(errs...)
}

// observe lists the sweep's runs, the targets and the namespaces from the cache.
func (r *MatSimSweepReconciler) observe(ctx context.Context, sweep *flowsimv1.MatSimSweep) (*sweepObserved, error) {
	var obs = &sweepObserved{
		runs:       map[string]*flowsimv1.MatSimRun{},
		targets:    map[string]*flowsimv1.MatSimTarget{},
		namespaces: map[string]*corev1.Namespace{},
		expected:   map[string]bool{},
	}
	var runs flowsimv1.MatSimRunList
	if err := r.List(ctx, &runs, client.MatchingLabels{flowsimv1.LabelSweep: sweep.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the sweep's MatSimRuns: %w", err)
	}
	for i := range runs.Items {
		if ownRun(sweep, &runs.Items[i]) {
			obs.runs[key(runs.Items[i].Namespace, runs.Items[i].Name)] = &runs.Items[i]
		}
	}
	var targets flowsimv1.MatSimTargetList
	if err := r.List(ctx, &targets, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing MatSimTargets: %w", err)
	}
	for i := range targets.Items {
		obs.targets[key(targets.Items[i].Namespace, targets.Items[i].Name)] = &targets.Items[i]
	}
	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	for i := range namespaces.Items {
		obs.namespaces[namespaces.Items[i].Name] = &namespaces.Items[i]
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for k, at := range r.expected[sweep.Name] {
		if _, seen := obs.runs[k]; seen || time.Since(at) > expectationTTL {
			delete(r.expected[sweep.Name], k)
		} else {
			obs.expected[k] = true
		}
	}
	return obs, nil
}

// ownRun says whether a run is one the sweep created: controlled by the sweep and named
// as the sweep names the run of its execution × namespace × target × test (labels and an
// owner reference alone can be written by anyone allowed to create runs in a namespace;
// such a run neither holds a slot nor counts as a result).
func ownRun(sweep *flowsimv1.MatSimSweep, run *flowsimv1.MatSimRun) bool {
	var l = run.Labels
	return metav1.IsControlledBy(run, sweep) &&
		run.Name == sweepRunName(l[flowsimv1.LabelExecution], run.Namespace, l[flowsimv1.LabelTarget], flowsimv1.MatSimTest(l[flowsimv1.LabelTest]))
}

// judgeActive recomputes the counts and results of the running executions and moves
// those whose runs all finished to the history.
func judgeActive(st *flowsimv1.MatSimSweepStatus, obs *sweepObserved, now time.Time, pass *sweepPass) {
	var active []flowsimv1.SweepExecution
	pass.stop = nil
	for _, ex := range st.Active {
		var items = planItems(&ex)
		var results = make([]flowsimv1.SweepRunResult, len(items))
		for i, it := range items {
			var stop *flowsimv1.MatSimRun
			results[i], stop = itemResult(&ex, it, int32(i) < ex.Dispatched, obs)
			if stop != nil {
				pass.stop = append(pass.stop, stop)
			}
		}
		summarize(&ex, results)
		if ex.Counts.Queued+ex.Counts.Pending+ex.Counts.Running > 0 {
			active = append(active, ex)
			continue
		}
		ex.Phase, ex.CompletionTime, ex.Plan, ex.Dispatched, ex.Refusals = flowsimv1.ExecutionCompleted, ptr.To(metav1.NewTime(now)), nil, 0, nil
		st.LastCompletionTime, st.LastResult = ex.CompletionTime, ex.Counts.Summary()
		if executionSucceeded(&ex) {
			st.LastSuccessfulTime = ex.CompletionTime
		}
		st.History = append([]flowsimv1.SweepExecution{toHistory(ex)}, st.History...)
		pass.finished = append(pass.finished, ex)
	}
	st.Active = active
}

// toHistory keeps at most MaxSweepHistoryResults results of a finished execution.
func toHistory(ex flowsimv1.SweepExecution) flowsimv1.SweepExecution {
	if n := len(ex.Results); n > flowsimv1.MaxSweepHistoryResults {
		ex.ResultsOmitted += int32(n - flowsimv1.MaxSweepHistoryResults)
		ex.Results = ex.Results[:flowsimv1.MaxSweepHistoryResults]
	}
	return ex
}

// replaceActive stops every running execution (concurrencyPolicy Replace): unfinished
// runs are deleted and, with queued ones, end as error with reason Replaced.
func replaceActive(st *flowsimv1.MatSimSweepStatus, obs *sweepObserved, now time.Time, pass *sweepPass) {
	for _, ex := range st.Active {
		var items = planItems(&ex)
		var results = make([]flowsimv1.SweepRunResult, len(items))
		for i, it := range items {
			results[i], _ = itemResult(&ex, it, int32(i) < ex.Dispatched, obs)
			switch results[i].Outcome {
			case flowsimv1.OutcomeQueued, flowsimv1.OutcomePending, flowsimv1.OutcomeRunning:
				results[i].Outcome, results[i].Reason = flowsimv1.OutcomeError, flowsimv1.ReasonReplaced
				results[i].Message = "a newer execution replaced this one before the run finished"
				// Its run is deleted after the status write, and again on every pass until
				// it is gone (stragglers).
			}
		}
		summarize(&ex, results)
		ex.Phase, ex.CompletionTime, ex.Plan, ex.Dispatched, ex.Refusals = flowsimv1.ExecutionReplaced, ptr.To(metav1.NewTime(now)), nil, 0, nil
		st.History = append([]flowsimv1.SweepExecution{toHistory(ex)}, st.History...)
		pass.finished = append(pass.finished, ex)
	}
	st.Active = nil
}

// schedule starts at most one execution: a manual trigger first, else the schedule's
// latest due time. Older due times are missed (never a storm of catch-ups).
func (r *MatSimSweepReconciler) schedule(sweep *flowsimv1.MatSimSweep, st *flowsimv1.MatSimSweepStatus, obs *sweepObserved, now time.Time, pass *sweepPass) error {
	var spec = &sweep.Spec
	var sched, err = parseSchedule(spec)
	if err != nil {
		setSweepCondition(sweep, st, flowsimv1.ConditionScheduleValid, metav1.ConditionFalse, flowsimv1.ReasonInvalidSchedule, err.Error())
	} else if plan, selErr := selectTargets(sweep, obs); selErr != nil {
		setSweepCondition(sweep, st, flowsimv1.ConditionScheduleValid, metav1.ConditionFalse, flowsimv1.ReasonInvalidSelector, selErr.Error())
		return nil
	} else if len(plan) > flowsimv1.MaxPlanTargets {
		// The plan is kept in status while the execution runs: its bound keeps the status
		// under etcd's object limit. Nothing starts until the sweep is split.
		setSweepCondition(sweep, st, flowsimv1.ConditionScheduleValid, metav1.ConditionFalse, flowsimv1.ReasonTooManyTargets,
			fmt.Sprintf("spec.namespaceSelector and spec.selector choose %d MatSimTargets; one execution holds at most %d: split the sweep into several (for example by namespaceSelector)",
				len(plan), flowsimv1.MaxPlanTargets))
		return nil
	} else {
		setSweepCondition(sweep, st, flowsimv1.ConditionScheduleValid, metav1.ConditionTrue, flowsimv1.ReasonScheduleValid, "next: "+sched.Next(now).UTC().Format(time.RFC3339))
	}

	var start = func(trigger flowsimv1.ExecutionTrigger, scheduled time.Time, value string) error {
		var name = executionName(sweep.Name, trigger, scheduled, value)
		for _, list := range [][]flowsimv1.SweepExecution{st.Active, st.History} {
			for _, ex := range list {
				if ex.Name == name {
					return nil // started before (the value or the time was seen already)
				}
			}
		}
		if len(st.Active) > 0 && spec.ConcurrencyPolicy == flowsimv1.ReplaceConcurrent {
			replaceActive(st, obs, now, pass)
		}
		var plan, err = selectTargets(sweep, obs)
		if err != nil {
			return err
		}
		var ex = newExecution(name, trigger, scheduled, now, plan)
		st.Active = append(st.Active, ex)
		pass.started = &st.Active[len(st.Active)-1]
		return nil
	}
	// Forbid waits while an execution runs; Allow while MaxActiveExecutions run (the
	// status holds each one's plan, and the CRD bounds status.active).
	var blocked = len(st.Active) > 0 && (spec.ConcurrencyPolicy == "" || spec.ConcurrencyPolicy == flowsimv1.ForbidConcurrent) ||
		len(st.Active) >= flowsimv1.MaxActiveExecutions && spec.ConcurrencyPolicy != flowsimv1.ReplaceConcurrent

	if v := sweep.Annotations[flowsimv1.TriggerAnnotation]; v != "" && v != st.LastTrigger && !blocked {
		if err := start(flowsimv1.TriggerManual, now, v); err != nil {
			return err
		}
		st.LastTrigger = v
		return nil // a due schedule starts in the next pass
	}
	if sched == nil {
		return nil
	}
	var earliest = sweep.CreationTimestamp.Time
	for _, t := range []*metav1.Time{st.LastScheduleTime, st.LastMissedTime} {
		if t != nil && t.After(earliest) {
			earliest = t.Time
		}
	}
	var due = scheduleDue(sched, earliest, now)
	if !ptr.Deref(spec.Suspend, false) && !due.next.IsZero() {
		pass.requeue = due.next.Sub(now) + 100*time.Millisecond
	}
	if due.latest.IsZero() || ptr.Deref(spec.Suspend, false) {
		return nil
	}
	if due.missed > 0 {
		st.MissedSchedules += due.missed
		st.LastMissedTime = ptr.To(metav1.NewTime(due.lastMissed))
		pass.missed = append(pass.missed, fmt.Sprintf("Missed %d schedule time(s) from %s to %s (manager down or execution running); only %s may still start",
			due.missed, due.firstMissed.UTC().Format(time.RFC3339), due.lastMissed.UTC().Format(time.RFC3339), due.latest.UTC().Format(time.RFC3339)))
	}
	switch {
	case tooLate(spec, due.latest, now):
		st.MissedSchedules++
		st.LastMissedTime = ptr.To(metav1.NewTime(due.latest))
		pass.missed = append(pass.missed, fmt.Sprintf("Missed schedule time %s: not started within startingDeadlineSeconds (%d)",
			due.latest.UTC().Format(time.RFC3339), *spec.StartingDeadlineSeconds))
	case blocked:
		// Forbid: the due time waits for the running execution, as a CronJob's does; the
		// runs' events wake us when it ends. Allow: it waits for one of them to end.
	default:
		if err := start(flowsimv1.TriggerSchedule, due.latest, ""); err != nil {
			return err
		}
		st.LastScheduleTime = ptr.To(metav1.NewTime(due.latest))
	}
	return nil
}

// dispatch creates the runs that fit within the parallelism limits. A run the API server
// refuses for good (invalid, forbidden: an admission policy or webhook, a ResourceQuota)
// ends its item as error, reason RunRefused, so the execution still completes; a run
// that could not be created for a reason that may pass stays queued and pass.createErr
// makes the workqueue retry with backoff.
func (r *MatSimSweepReconciler) dispatch(ctx context.Context, sweep *flowsimv1.MatSimSweep, st *flowsimv1.MatSimSweepStatus, obs *sweepObserved, pass *sweepPass) {
	var items = make([][]planItem, len(st.Active))
	for e := range st.Active {
		items[e] = planItems(&st.Active[e])
	}
	var create = dispatch(&sweep.Spec, st.Active, items, obs)
	if len(create) == 0 {
		return
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []error
		sem    = make(chan struct{}, 8)
	)
	for _, c := range create {
		var e, it = c[0], items[c[0]][c[1]]
		var target = obs.targets[key(it.namespace, it.target)]
		var run = runForTarget(sweep, st.Active[e].Name, target, it.test)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err = r.Create(ctx, run)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil || apierrors.IsAlreadyExists(err):
				r.expect(sweep.Name, key(run.Namespace, run.Name))
				obs.expected[key(run.Namespace, run.Name)] = true
			case refusedForGood(err):
				refuse(&st.Active[e], it, err.Error())
				pass.refused = append(pass.refused, fmt.Sprintf("Execution %s: the API server refused MatSimRun %s/%s (target %s, test %s); the item ends as error: %s",
					st.Active[e].Name, run.Namespace, run.Name, it.target, it.test, truncate(err.Error(), 512)))
			default:
				// Not dispatched after all: it stays queued.
				if st.Active[e].Dispatched > it.index {
					st.Active[e].Dispatched = it.index
				}
				failed = append(failed, fmt.Errorf("creating MatSimRun %s/%s: %w", run.Namespace, run.Name, err))
			}
		}()
	}
	wg.Wait()
	ctrl.LoggerFrom(ctx).V(1).Info("Created sweep runs", "count", len(create)-len(failed)-len(pass.refused), "refused", len(pass.refused))
	if len(failed) > 0 {
		pass.createErr = fmt.Errorf("could not create %d run(s), they stay queued and are retried with backoff; first: %w", len(failed), failed[0])
	}
}

// refusedForGood says whether the API server's answer to a Create will not change by
// retrying the same object: the object is invalid, or admission forbids it.
func refusedForGood(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err)
}

func (r *MatSimSweepReconciler) expect(sweep, k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.expected == nil {
		r.expected = map[string]map[string]time.Time{}
	}
	if r.expected[sweep] == nil {
		r.expected[sweep] = map[string]time.Time{}
	}
	r.expected[sweep][k] = time.Now()
}

func setSweepCondition(sweep *flowsimv1.MatSimSweep, st *flowsimv1.MatSimSweepStatus, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason,
		Message: truncate(msg, 1000), ObservedGeneration: sweep.Generation})
}

func setActiveCondition(sweep *flowsimv1.MatSimSweep, st *flowsimv1.MatSimSweepStatus) {
	switch {
	case len(st.Active) > 0:
		var c = st.Active[0].Counts
		setSweepCondition(sweep, st, flowsimv1.ConditionActive, metav1.ConditionTrue, flowsimv1.ReasonExecutionRunning,
			fmt.Sprintf("%s: %d/%d runs finished, %d queued", st.Active[0].Name, c.Finished(), c.Total, c.Queued))
	case ptr.Deref(sweep.Spec.Suspend, false):
		setSweepCondition(sweep, st, flowsimv1.ConditionActive, metav1.ConditionFalse, flowsimv1.ReasonSuspended, "spec.suspend is true")
	default:
		setSweepCondition(sweep, st, flowsimv1.ConditionActive, metav1.ConditionFalse, flowsimv1.ReasonIdle, "no execution is running")
	}
}

func (r *MatSimSweepReconciler) writeStatus(ctx context.Context, sweep *flowsimv1.MatSimSweep, st *flowsimv1.MatSimSweepStatus) error {
	if equality.Semantic.DeepEqual(sweep.Status, *st) {
		return nil
	}
	var old = sweep.Status
	sweep.Status = *st
	if err := r.Status().Update(ctx, sweep); err != nil {
		sweep.Status = old
		return fmt.Errorf("updating status: %w", err)
	}
	return nil
}

// record emits the pass's events and metrics once its status is written.
func (r *MatSimSweepReconciler) record(sweep *flowsimv1.MatSimSweep, pass *sweepPass, obs *sweepObserved) {
	var st = &sweep.Status
	for _, note := range pass.missed {
		r.Recorder.Eventf(sweep, nil, corev1.EventTypeWarning, flowsimv1.EventMissedSchedule, "Schedule", "%s", note)
	}
	for _, note := range pass.refused {
		r.Recorder.Eventf(sweep, nil, corev1.EventTypeWarning, flowsimv1.EventRunRefused, "Create", "%s", note)
	}
	if pass.createErr != nil {
		r.Recorder.Eventf(sweep, nil, corev1.EventTypeWarning, flowsimv1.EventRunCreateFailed, "Create", "%s", truncate(pass.createErr.Error(), 1000))
	}
	for _, ex := range pass.finished {
		var c = ex.Counts
		var result, eventType = "passed", corev1.EventTypeNormal
		switch {
		case ex.Counts.Total == 0:
			result, eventType = "empty", corev1.EventTypeWarning
			r.Recorder.Eventf(sweep, nil, eventType, flowsimv1.EventEmptyPlan, "Complete", "Execution %s completed with no run: spec.namespaceSelector and spec.selector chose no MatSimTarget; it does not count as a success",
				ex.Name)
		case ex.Phase == flowsimv1.ExecutionReplaced:
			result, eventType = "replaced", corev1.EventTypeWarning
			r.Recorder.Eventf(sweep, nil, eventType, flowsimv1.EventReplaced, "Replace", "Execution %s replaced: %d passed, %d failed, %d error of %d",
				ex.Name, c.Passed, c.Failed, c.Error, c.Total)
		case c.Passed != c.Total:
			result, eventType = "failed", corev1.EventTypeWarning
			fallthrough
		default:
			r.Recorder.Eventf(sweep, nil, eventType, flowsimv1.EventCompleted, "Complete", "Execution %s completed: %d/%d passed, %d failed, %d error",
				ex.Name, c.Passed, c.Total, c.Failed, c.Error)
		}
		sweepExecutionsTotal.WithLabelValues(sweep.Name, result).Inc()
		sweepRunsTotal.WithLabelValues(sweep.Name, flowsimv1.OutcomePassed).Add(float64(c.Passed))
		sweepRunsTotal.WithLabelValues(sweep.Name, flowsimv1.OutcomeFailed).Add(float64(c.Failed))
		sweepRunsTotal.WithLabelValues(sweep.Name, flowsimv1.OutcomeError).Add(float64(c.Error))
	}
	if ex := pass.started; ex != nil {
		r.Recorder.Eventf(sweep, nil, corev1.EventTypeNormal, flowsimv1.EventScheduled, "Schedule", "Execution %s started (%s): %d runs over %d targets",
			ex.Name, ex.Trigger, ex.Counts.Total, len(ex.Plan))
	}
	if st.LastSuccessfulTime != nil {
		sweepLastSuccess.WithLabelValues(sweep.Name).Set(float64(st.LastSuccessfulTime.Unix()))
	}
	if st.LastCompletionTime != nil {
		sweepLastCompletion.WithLabelValues(sweep.Name).Set(float64(st.LastCompletionTime.Unix()))
	}
	var queued int32
	for _, ex := range st.Active {
		queued += ex.Counts.Queued
	}
	sweepQueueDepth.WithLabelValues(sweep.Name).Set(float64(queued))
	var active, _ = parallelism(obs)
	sweepActiveRuns.WithLabelValues(sweep.Name).Set(float64(active))
}

// stragglers are the runs to stop, found again on every pass until they are gone (a
// failed Delete, or a manager that stopped between the status write and the Delete, is
// retried): the unfinished runs of executions that ended (replaced, or whose target or
// namespace went away), and stop, this pass's runs whose target went away.
func stragglers(st *flowsimv1.MatSimSweepStatus, obs *sweepObserved, stop []*flowsimv1.MatSimRun) []*flowsimv1.MatSimRun {
	var ended = map[string]bool{}
	for _, ex := range st.History {
		ended[ex.Name] = true
	}
	var out = slices.Clone(stop)
	for _, run := range obs.runs {
		if ended[run.Labels[flowsimv1.LabelExecution]] && !run.Status.Phase.IsFinished() && run.DeletionTimestamp == nil && !slices.Contains(stop, run) {
			out = append(out, run)
		}
	}
	return out
}

func (r *MatSimSweepReconciler) deleteRuns(ctx context.Context, runs []*flowsimv1.MatSimRun) error {
	var errs []error
	for _, run := range runs {
		// Foreground: the run stays (deletionTimestamp set) until the garbage collector has
		// deleted its Job and pods, so it holds its slot of maxParallelRuns until nothing of
		// it runs: never two runs of a target against the same table.
		var err = r.Delete(ctx, run, client.PropagationPolicy(metav1.DeletePropagationForeground),
			client.Preconditions{UID: ptr.To(run.UID)})
		if err = client.IgnoreNotFound(err); err != nil && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting MatSimRun %s/%s: %w", run.Namespace, run.Name, err))
			continue
		}
		ctrl.LoggerFrom(ctx).Info("Deleted sweep run", "run", klog.KObj(run))
	}
	return errors.Join(errs...)
}

// pruneRuns deletes the runs of executions the status no longer holds (beyond the
// history limits).
func (r *MatSimSweepReconciler) pruneRuns(ctx context.Context, sweep *flowsimv1.MatSimSweep, obs *sweepObserved, dropped []string) error {
	var keep = map[string]bool{}
	for _, list := range [][]flowsimv1.SweepExecution{sweep.Status.Active, sweep.Status.History} {
		for _, ex := range list {
			keep[ex.Name] = true
		}
	}
	var prune []*flowsimv1.MatSimRun
	for _, run := range obs.runs {
		if !keep[run.Labels[flowsimv1.LabelExecution]] && run.DeletionTimestamp == nil {
			prune = append(prune, run)
		}
	}
	if len(dropped) > 0 || len(prune) > 0 {
		ctrl.LoggerFrom(ctx).Info("Pruning executions beyond the history limits", "executions", dropped, "runs", len(prune))
	}
	return r.deleteRuns(ctx, prune)
}

// SetupWithManager registers the reconciler: sweeps, the runs they own, and every target
// and namespace (a change may add to or end a sweep's execution).
func (r *MatSimSweepReconciler) SetupWithManager(mgr ctrl.Manager) error {
	var allSweeps = handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var sweeps flowsimv1.MatSimSweepList
		if err := mgr.GetClient().List(ctx, &sweeps); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing MatSimSweeps")
			return nil
		}
		var reqs = make([]reconcile.Request, len(sweeps.Items))
		for i := range sweeps.Items {
			reqs[i].Name = sweeps.Items[i].Name
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&flowsimv1.MatSimSweep{}).
		Owns(&flowsimv1.MatSimRun{}).
		Watches(&flowsimv1.MatSimTarget{}, allSweeps).
		Watches(&corev1.Namespace{}, allSweeps).
		Named("matsimsweep").
		// Sweeps side by side: one slow sweep (a huge plan, a slow API server) does not
		// hold up the others. A sweep is never reconciled twice at once.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}
