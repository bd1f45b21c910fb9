// Package controllers holds the operator's two reconcilers. MatSimRun: a run becomes a
// driver Job (connector sidecar + matsim driver), plus a peer connector pod for the fence
// test, and its status follows from the driver's termination message and the Job's and
// pods' state (matsimrun_*.go). MatSimSweep: on a schedule, an execution creates one
// MatSimRun per selected MatSimTarget and test, within parallelism limits, and its status
// summarises them (matsimsweep_*.go). The names they write (labels, conditions, reasons,
// events) are in api/v1alpha1/names.go.
package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/result"
)

// Least privilege: the manager never reads Secrets (the kubelet mounts the connector config)
// and only creates and deletes the children it owns.
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimruns,verbs=get;list;watch
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimruns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=flowsim.dev,resources=matsimruns/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// MatSimRunReconciler reconciles MatSimRuns into Jobs, peer pods, Services and NetworkPolicies.
type MatSimRunReconciler struct {
	client.Client
	// APIReader reads around the cache, to tell a child that was deleted from one the
	// cache has not seen yet.
	APIReader client.Reader
	Recorder  events.EventRecorder

	Build  BuildOptions
	Policy StatusOptions
	// Admission is what runs may put into pods (images, env from Secrets).
	Admission AdmissionPolicy
	// Logs reads the driver's progress lines; nil: no progress while running.
	Logs LogReader
	// ProgressInterval is how often progress is read while a run is running.
	ProgressInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Reconcile brings one MatSimRun one step closer to its end.
func (r *MatSimRunReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var run flowsimv1.MatSimRun
	if err := r.Get(ctx, req.NamespacedName, &run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !run.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references let the garbage collector remove the children
	}
	return r.reconcile(ctx, &run)
}

func (r *MatSimRunReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *MatSimRunReconciler) reconcile(ctx context.Context, run *flowsimv1.MatSimRun) (ctrl.Result, error) {
	if run.Status.Phase.IsFinished() {
		return ctrl.Result{}, r.settle(ctx, run)
	}
	var obs, err = r.observe(ctx, run)
	if err == nil {
		err = r.ensureChildren(ctx, run, &obs)
	}
	var taken *nameTakenError
	if errors.As(err, &taken) {
		// Someone else's object holds a child's name: the run fails and says so
		// instead of waiting on (or adopting) it.
		obs, err = observed{conflict: taken.Error()}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	r.readProgress(ctx, &obs)

	var wasStarted = meta.IsStatusConditionTrue(run.Status.Conditions, flowsimv1.ConditionStarted)
	var st, v = computeStatus(run, obs, r.Policy, r.now())
	if err := r.writeStatus(ctx, run, st); apierrors.IsConflict(err) {
		// A newer run is in the cache (or on its way): its event brings the next pass.
		// Not an error: nothing failed, and "Reconciler error" logs would say so.
		ctrl.LoggerFrom(ctx).V(1).Info("Status write conflict; requeued", "error", err.Error())
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if !wasStarted && obs.job != nil && meta.IsStatusConditionTrue(st.Conditions, flowsimv1.ConditionStarted) {
		r.Recorder.Eventf(run, obs.job, corev1.EventTypeNormal, flowsimv1.EventStarted, "Start", "Created Job %s", obs.job.Name)
	}
	if v.finished {
		// The write above is the one that turned the run finished: it succeeds once
		// (a concurrent or stale pass gets a conflict, and a later pass takes the
		// settle path), so the metrics and the Finish event go out here, once, in the
		// same pass, as jobset does for a finished JobSet. They are lost only if the
		// manager dies between the write and the next line; no status field records
		// them, as none could make that instant smaller.
		ctrl.LoggerFrom(ctx).Info("Run finished", "phase", st.Phase, "reason", st.Reason, "seed", ptrDeref(st.Seed))
		r.report(run)
		// Stop now what the run leaves running.
		return ctrl.Result{}, r.stop(ctx, run, obs, settle(obs))
	}

	var res = ctrl.Result{RequeueAfter: v.requeueAfter}
	if r.Logs != nil && r.ProgressInterval > 0 && run.Status.Phase == flowsimv1.PhaseRunning {
		if res.RequeueAfter == 0 || r.ProgressInterval < res.RequeueAfter {
			res.RequeueAfter = r.ProgressInterval
		}
	}
	return res, nil
}

// ensureChildren creates what the run needs, unless the admission policy forbids the
// run before any child exists (obs.notAllowed then says why).
func (r *MatSimRunReconciler) ensureChildren(ctx context.Context, run *flowsimv1.MatSimRun, obs *observed) error {
	if obs.job == nil && !obs.jobGone && obs.peer == nil && !obs.peerGone {
		if obs.notAllowed = cmp.Or(inlineSecretViolation(run), r.Admission.Violation(run)); obs.notAllowed != "" {
			return nil
		}
	}
	if err := r.ensureNetworkPolicy(ctx, run); err != nil {
		return err
	}
	if err := r.ensurePeer(ctx, run, obs); err != nil {
		return err
	}
	return r.ensureJob(ctx, run, obs)
}

// observe reads the run's children from the cache, confirming with the API server
// that a child recorded in status is really gone.
func (r *MatSimRunReconciler) observe(ctx context.Context, run *flowsimv1.MatSimRun) (observed, error) {
	var obs observed

	var job batchv1.Job
	switch found, err := r.getConfirmed(ctx, run, JobName(run), run.Status.JobName != "", &job); {
	case err != nil:
		return obs, err
	case found:
		obs.job = &job
	case run.Status.JobName != "":
		obs.jobGone = true
	}

	// Once the Job has finished, the run's final verdict rests on its pods: read them
	// from the API server, not from a cache that may not have seen a pod's deletion
	// yet (a deleted pod is PodDeleted, a live one's exit decides).
	var pods corev1.PodList
	var reader client.Reader = r.Client
	if obs.job != nil && (jobCondition(obs.job, batchv1.JobFailed) != nil || jobCondition(obs.job, batchv1.JobComplete) != nil) {
		reader = r.APIReader
	}
	if err := reader.List(ctx, &pods, client.InNamespace(run.Namespace), client.MatchingLabels(selectorLabels(run, flowsimv1.RoleDriver))); err != nil {
		return obs, fmt.Errorf("listing driver pods: %w", err)
	}
	for _, p := range pods.Items {
		if obs.job != nil && metav1.IsControlledBy(&p, obs.job) {
			obs.pods = append(obs.pods, p)
		}
	}

	if run.Spec.Test == flowsimv1.TestFence {
		var peer corev1.Pod
		switch found, err := r.getConfirmed(ctx, run, PeerName(run), run.Status.PeerPodName != "", &peer); {
		case err != nil:
			return obs, err
		case found:
			obs.peer = &peer
		case run.Status.PeerPodName != "":
			obs.peerGone = true
		}
	}
	return obs, nil
}

// getConfirmed gets a child of run from the cache. When it is missing there but recorded
// as created, the API server is asked before the child is taken for deleted.
func (r *MatSimRunReconciler) getConfirmed(ctx context.Context, run *flowsimv1.MatSimRun, name string, recorded bool, obj client.Object) (bool, error) {
	var key = types.NamespacedName{Namespace: run.Namespace, Name: name}
	var err = r.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && recorded {
		err = r.APIReader.Get(ctx, key, obj)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("getting %s: %w", name, err)
	}
	if !metav1.IsControlledBy(obj, run) {
		return false, &nameTakenError{obj: obj}
	}
	return true, nil
}

// nameTakenError: an object named as one of a run's children is not controlled by it.
type nameTakenError struct{ obj client.Object }

func (e *nameTakenError) Error() string {
	var kind = fmt.Sprintf("%T", e.obj)
	switch e.obj.(type) {
	case *batchv1.Job:
		kind = "Job"
	case *corev1.Pod:
		kind = "Pod"
	case *corev1.Service:
		kind = "Service"
	case *networkingv1.NetworkPolicy:
		kind = "NetworkPolicy"
	}
	var owner = "no controller"
	if c := metav1.GetControllerOf(e.obj); c != nil {
		owner = "controller " + c.Kind + " " + c.Name
	}
	return fmt.Sprintf("%s %s/%s already exists and is not controlled by this MatSimRun (%s): the run does not adopt it; delete it, or run under another name",
		kind, e.obj.GetNamespace(), e.obj.GetName(), owner)
}

// owned checks that an existing child read back is controlled by run.
func owned(run *flowsimv1.MatSimRun, obj client.Object) error {
	if !metav1.IsControlledBy(obj, run) {
		return &nameTakenError{obj: obj}
	}
	return nil
}

// create creates a child; an existing one (a pass the cache had not caught up with) is
// read back, and must be controlled by the same run (*nameTakenError otherwise).
func (r *MatSimRunReconciler) create(ctx context.Context, obj client.Object) error {
	var controller = metav1.GetControllerOf(obj)
	var err = r.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		if err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), obj); err == nil {
			if c := metav1.GetControllerOf(obj); controller == nil || c == nil || c.UID != controller.UID {
				return &nameTakenError{obj: obj}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", obj.GetName(), err)
	}
	return nil
}

func (r *MatSimRunReconciler) ensureNetworkPolicy(ctx context.Context, run *flowsimv1.MatSimRun) error {
	var policy networkingv1.NetworkPolicy
	var err = r.Get(ctx, types.NamespacedName{Namespace: run.Namespace, Name: PolicyName(run)}, &policy)
	if err == nil {
		return owned(run, &policy)
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	return r.create(ctx, NetworkPolicyForRun(run))
}

// ensurePeer creates the fence test's peer pod and Service.
func (r *MatSimRunReconciler) ensurePeer(ctx context.Context, run *flowsimv1.MatSimRun, obs *observed) error {
	if run.Spec.Test != flowsimv1.TestFence {
		return nil
	}
	var svc corev1.Service
	if err := r.Get(ctx, types.NamespacedName{Namespace: run.Namespace, Name: PeerName(run)}, &svc); apierrors.IsNotFound(err) {
		if err := r.create(ctx, PeerServiceForRun(run)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else if err := owned(run, &svc); err != nil {
		return err
	}
	if obs.peer != nil || obs.peerGone {
		return nil
	}
	var pod = PeerPodForRun(run, r.Build)
	if err := r.create(ctx, pod); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Created fence peer pod", "pod", klog.KObj(pod))
	obs.peer = pod
	return nil
}

// ensureJob creates the driver Job once; for fence, only when the peer is ready.
func (r *MatSimRunReconciler) ensureJob(ctx context.Context, run *flowsimv1.MatSimRun, obs *observed) error {
	if obs.job != nil || obs.jobGone {
		return nil
	}
	if run.Spec.Test == flowsimv1.TestFence && !peerReady(obs.peer) {
		return nil // the peer pod's watch wakes us
	}
	var job, err = JobForRun(run, r.Build)
	if err != nil {
		return fmt.Errorf("building the driver Job: %w", err)
	}
	if err := r.create(ctx, job); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Created driver Job", "job", klog.KObj(job))
	obs.job = job
	return nil
}

// progressReadTimeout bounds one read of a driver's log for progress.
const progressReadTimeout = 5 * time.Second

// maxConcurrentRunReconciles lets runs be reconciled side by side (never one run twice at
// once: the workqueue holds a key until its reconcile ends).
const maxConcurrentRunReconciles = 4

// readProgress reads the driver's last progress line while it runs.
func (r *MatSimRunReconciler) readProgress(ctx context.Context, obs *observed) {
	var pod = latestPod(obs.pods)
	if r.Logs == nil || pod == nil || pod.Status.Phase != corev1.PodRunning {
		return
	}
	if s := containerStatus(pod, flowsimv1.ContainerDriver); s == nil || s.State.Running == nil {
		return
	}
	// Progress is best effort: a slow kubelet must not hold a worker (the run's status
	// and every other run wait behind it).
	var readCtx, cancel = context.WithTimeout(ctx, progressReadTimeout)
	defer cancel()
	var log, err = r.Logs.TailLog(readCtx, pod.Namespace, pod.Name, flowsimv1.ContainerDriver, 50)
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Could not read driver progress", "pod", klog.KObj(pod), "error", err.Error())
		return
	}
	if p, ok := result.ParseProgress(log); ok {
		obs.progress = &p
	}
}

func (r *MatSimRunReconciler) writeStatus(ctx context.Context, run *flowsimv1.MatSimRun, st flowsimv1.MatSimRunStatus) error {
	if equality.Semantic.DeepEqual(run.Status, st) {
		return nil
	}
	run.Status = st
	if err := r.Status().Update(ctx, run); err != nil {
		return fmt.Errorf("updating status: %w", err)
	}
	return nil
}

// settle is every pass over a finished run: it stops whatever still runs, however often
// an earlier pass failed to. It does not report: the pass that finished the run did.
func (r *MatSimRunReconciler) settle(ctx context.Context, run *flowsimv1.MatSimRun) error {
	var obs, err = r.observeFinished(ctx, run)
	if err != nil {
		return err
	}
	return r.stop(ctx, run, obs, settle(obs))
}

// observeFinished reads the Job and driver pods of a finished run from the cache only: a
// Job the cache does not hold is not running (it was created long before the run ended).
func (r *MatSimRunReconciler) observeFinished(ctx context.Context, run *flowsimv1.MatSimRun) (observed, error) {
	var obs observed
	var job batchv1.Job
	switch err := r.Get(ctx, types.NamespacedName{Namespace: run.Namespace, Name: JobName(run)}, &job); {
	case apierrors.IsNotFound(err):
		return obs, nil
	case err != nil:
		return obs, fmt.Errorf("getting %s: %w", JobName(run), err)
	case !metav1.IsControlledBy(&job, run):
		return obs, nil
	}
	obs.job = &job
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(run.Namespace), client.MatchingLabels(selectorLabels(run, flowsimv1.RoleDriver))); err != nil {
		return obs, fmt.Errorf("listing driver pods: %w", err)
	}
	for _, p := range pods.Items {
		if metav1.IsControlledBy(&p, &job) {
			obs.pods = append(obs.pods, p)
		}
	}
	return obs, nil
}

// report counts a finished run in the metrics and sends its Finish event.
func (r *MatSimRunReconciler) report(run *flowsimv1.MatSimRun) {
	var st = run.Status
	runsTotal.WithLabelValues(string(run.Spec.Test), st.Reason).Inc()
	if st.StartTime != nil && st.CompletionTime != nil {
		runDuration.WithLabelValues(string(run.Spec.Test), st.Reason).Observe(st.CompletionTime.Sub(st.StartTime.Time).Seconds())
	}
	var eventType = corev1.EventTypeNormal
	if st.Phase == flowsimv1.PhaseFailed {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(run, nil, eventType, st.Reason, "Finish", "%s", truncate(st.Message, 1000))
}

// stop deletes the Job of a finished run if it still runs, and the peer and the policy.
func (r *MatSimRunReconciler) stop(ctx context.Context, run *flowsimv1.MatSimRun, obs observed, s settlement) error {
	var errs []error
	if s.stopJob {
		errs = append(errs, r.deleteChild(ctx, obs.job))
	}
	errs = append(errs, r.cleanup(ctx, run))
	return errors.Join(errs...)
}

// cleanup removes what a finished run no longer needs: the fence peer pod and Service and
// the NetworkPolicy. The Job stays (with its pod's logs) until spec.ttlSecondsAfterFinished.
func (r *MatSimRunReconciler) cleanup(ctx context.Context, run *flowsimv1.MatSimRun) error {
	var errs []error
	for _, obj := range []client.Object{&corev1.Pod{}, &corev1.Service{}} {
		if run.Spec.Test == flowsimv1.TestFence {
			errs = append(errs, r.deleteIfPresent(ctx, run, PeerName(run), obj))
		}
	}
	errs = append(errs, r.deleteIfPresent(ctx, run, PolicyName(run), &networkingv1.NetworkPolicy{}))
	return errors.Join(errs...)
}

func (r *MatSimRunReconciler) deleteIfPresent(ctx context.Context, run *flowsimv1.MatSimRun, name string, obj client.Object) error {
	var err = r.Get(ctx, types.NamespacedName{Namespace: run.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("getting %s: %w", name, err)
	}
	if !metav1.IsControlledBy(obj, run) || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	return r.deleteChild(ctx, obj)
}

func (r *MatSimRunReconciler) deleteChild(ctx context.Context, obj client.Object) error {
	var err = r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: ptrTo(obj.GetUID())})
	if err = client.IgnoreNotFound(err); err != nil {
		return fmt.Errorf("deleting %s: %w", obj.GetName(), err)
	}
	ctrl.LoggerFrom(ctx).Info("Deleted child", "name", obj.GetName())
	return nil
}

func ptrDeref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// SetupWithManager registers the reconciler. Driver pods are owned by the Job, so pods
// are mapped to their run by label.
func (r *MatSimRunReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&flowsimv1.MatSimRun{}).
		Owns(&batchv1.Job{}).
		Owns(&corev1.Service{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToRun)).
		Named("matsimrun").
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrentRunReconciles}).
		Complete(r)
}

func podToRun(_ context.Context, obj client.Object) []reconcile.Request {
	var name, ok = obj.GetLabels()[flowsimv1.LabelRun]
	if !ok || obj.GetLabels()[flowsimv1.LabelManagedBy] != flowsimv1.ValueManagedBy {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// CacheOptions limit the manager's cache of Jobs, Pods, Services and NetworkPolicies to
// those the operator created, so that it does not hold every pod of the cluster.
func CacheOptions() cache.Options {
	var mine = labels.SelectorFromSet(labels.Set{flowsimv1.LabelManagedBy: flowsimv1.ValueManagedBy})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&batchv1.Job{}:                {Label: mine},
		&corev1.Pod{}:                 {Label: mine},
		&corev1.Service{}:             {Label: mine},
		&networkingv1.NetworkPolicy{}: {Label: mine},
	}}
}
