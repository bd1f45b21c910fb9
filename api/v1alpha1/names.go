package v1alpha1

import "strings"

// Every label key, annotation, condition type, reason, event name and container name that
// the operator writes and the CLI (or a user's kubectl) reads. They live here, in the API
// package, so that a client needs only these types and client-go: `flowsim kube ...` does
// not link the controllers. docs/operator.md lists them for users.

// Labels on every object a MatSimRun creates (the Job and its pod template carry the same).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"

	// LabelRun is the name of the MatSimRun that owns the object.
	LabelRun = "flowsim.dev/run"
	// LabelRole is RoleDriver or RolePeer.
	LabelRole = "flowsim.dev/role"
	// LabelTest is the run's spec.test.
	LabelTest = "flowsim.dev/test"

	ValueName      = "flowsim"
	ValueManagedBy = "flowsim-operator"
	ValuePartOf    = "flowsim"

	// RoleDriver marks the driver Job and its pod (connector sidecar + matsim driver).
	RoleDriver = "driver"
	// RolePeer marks the fence test's second connector (pod and Service).
	RolePeer = "peer"
	// RoleNetworkPolicy marks the NetworkPolicy guarding the run's connector proxies.
	RoleNetworkPolicy = "network-policy"
)

// Condition types on MatSimRun.status.conditions.
const (
	// ConditionStarted is True once the driver Job exists.
	ConditionStarted = "Started"
	// ConditionComplete is True when every check passed.
	ConditionComplete = "Complete"
	// ConditionFailed is True when the run failed; its reason says why.
	ConditionFailed = "Failed"
)

// Reasons, on conditions, status.reason and events.
const (
	// ReasonJobCreated: the driver Job was created (Started=True).
	ReasonJobCreated = "JobCreated"
	// ReasonWaitingForPeer: the fence test waits for its peer connector to be ready (Started=False).
	ReasonWaitingForPeer = "WaitingForPeer"

	// ReasonPassed: the driver reported that every check passed.
	ReasonPassed = "Passed"
	// ReasonCheckFailed: the connector failed one of matsim's checks.
	ReasonCheckFailed = "CheckFailed"
	// ReasonSetupError: the driver could not set up the test (bad config or resource,
	// connector rejected the spec); the connector was not judged.
	ReasonSetupError = "SetupError"
	// ReasonInterrupted: a signal stopped the driver (SIGTERM: the pod was evicted,
	// drained or deleted) before it finished; the connector was not judged.
	ReasonInterrupted = "Interrupted"
	// ReasonConnectorCrashed: the connector (sidecar or fence peer) exited with an error.
	ReasonConnectorCrashed = "ConnectorCrashed"
	// ReasonImagePullFailed: an image could not be pulled within the grace period.
	ReasonImagePullFailed = "ImagePullFailed"
	// ReasonDeadlineExceeded: the run took longer than spec.timeout.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonDriverOOMKilled: the driver container ran out of memory.
	ReasonDriverOOMKilled = "DriverOOMKilled"
	// ReasonPodDeleted: a pod of the run was deleted before it finished.
	ReasonPodDeleted = "PodDeleted"
	// ReasonJobDeleted: the driver Job was deleted before it finished.
	ReasonJobDeleted = "JobDeleted"
	// ReasonDriverFailed: the driver exited without a readable result.
	ReasonDriverFailed = "DriverFailed"
	// ReasonJobFailed: the Job failed for another reason (its condition message is kept).
	ReasonJobFailed = "JobFailed"
	// ReasonNameConflict: an object named as one of the run's children (<run>-driver Job,
	// <run>-peer pod or Service, <run>-connector NetworkPolicy) exists and is not
	// controlled by the run; the run does not adopt it.
	ReasonNameConflict = "NameConflict"
	// ReasonNotAllowed: the run asks for what the manager's admission flags forbid (an
	// image outside the allowed patterns, env from a Secret), or its inline config has a
	// key that looks secret; nothing was created.
	ReasonNotAllowed = "NotAllowed"
)

// Event reasons that are not outcome reasons.
const (
	EventStarted = "Started"
)

// Labels on every MatSimRun a sweep creates (besides flowsim.dev/test): select an
// execution's runs with `kubectl get matsimruns -A -l flowsim.dev/execution=NAME`.
const (
	// LabelSweep is the name of the MatSimSweep.
	LabelSweep = "flowsim.dev/sweep"
	// LabelExecution is the name of the sweep execution.
	LabelExecution = "flowsim.dev/execution"
	// LabelTarget is the name of the MatSimTarget (in the run's namespace).
	LabelTarget = "flowsim.dev/target"
)

// RunPlaceholder in a MatSimTarget's run.resource or run.config.inline is replaced, in
// each MatSimRun a sweep creates from it, by RunIdentifier(the run's name): a table or
// schema name unique to the run, so that a connector that creates its table with a
// plain CREATE TABLE passes night after night against the same database.
const RunPlaceholder = "$(FLOWSIM_RUN)"

// RunIdentifier is the value of RunPlaceholder for a run: its name with '-' replaced by
// '_' (a letter, then lowercase letters, digits and '_', at most 52 characters), a
// valid unquoted SQL identifier.
func RunIdentifier(run string) string { return strings.ReplaceAll(run, "-", "_") }

// TriggerAnnotation on a MatSimSweep starts an execution now ("run now") whenever its value
// changes, e.g. `kubectl annotate matsimsweep nightly flowsim.dev/trigger="$(date +%s)" --overwrite`.
// The value names the execution, so setting the same value again starts nothing.
const TriggerAnnotation = "flowsim.dev/trigger"

// MatSimSweep: conditions, reasons and events.
const (
	// ConditionScheduleValid is False when the schedule or time zone cannot be used
	// (reason InvalidSchedule), a selector is invalid (InvalidSelector) or selects too
	// many targets (TooManyTargets).
	ConditionScheduleValid = "ScheduleValid"
	// ConditionActive is True while an execution runs (reason ExecutionRunning) and False
	// otherwise (reason Idle, or Suspended).
	ConditionActive = "Active"

	ReasonScheduleValid    = "ScheduleValid"
	ReasonInvalidSchedule  = "InvalidSchedule"
	ReasonInvalidSelector  = "InvalidSelector"
	ReasonExecutionRunning = "ExecutionRunning"
	ReasonIdle             = "Idle"
	ReasonSuspended        = "Suspended"

	// Why the sweep ended a run of an execution (SweepRunResult.reason, outcome error).
	// ReasonTargetDeleted: the MatSimTarget was deleted; its unfinished run was deleted.
	ReasonTargetDeleted = "TargetDeleted"
	// ReasonNamespaceDeleted: the target's namespace was deleted.
	ReasonNamespaceDeleted = "NamespaceDeleted"
	// ReasonRunDeleted: the MatSimRun was deleted (by someone else) before it finished.
	ReasonRunDeleted = "RunDeleted"
	// ReasonReplaced: a newer execution replaced this one (concurrencyPolicy Replace).
	ReasonReplaced = "Replaced"
	// ReasonRunRefused: the API server refused to create the MatSimRun (invalid, or
	// forbidden: an admission policy or webhook, a ResourceQuota); nothing ran. The
	// message is the API server's, also in a RunRefused event on the sweep.
	ReasonRunRefused = "RunRefused"
	// ReasonTooManyTargets (ScheduleValid=False): the selectors choose more than
	// MaxPlanTargets targets; no execution starts until the sweep is split.
	ReasonTooManyTargets = "TooManyTargets"
	// ReasonEmptyPlan (on the EmptyPlan event): the selectors chose no target; the
	// execution completes with nothing run and does not count as a success.
	ReasonEmptyPlan = "EmptyPlan"

	// EventScheduled: an execution started (note: trigger, runs planned).
	EventScheduled = "Scheduled"
	// EventCompleted: an execution completed (note: counts).
	EventCompleted = "Completed"
	// EventMissedSchedule: schedule times that never started (downtime, deadline).
	EventMissedSchedule = "MissedSchedule"
	// EventReplaced: an execution was stopped by a newer one.
	EventReplaced = "Replaced"
	// EventRunRefused: the API server refused a run of an execution (the item ends as
	// error, reason RunRefused).
	EventRunRefused = "RunRefused"
	// EventRunCreateFailed: creating a run failed for a reason that may pass (a 503, a
	// timeout); the item stays queued and the sweep retries with backoff.
	EventRunCreateFailed = "RunCreateFailed"
	// EventEmptyPlan: an execution started with no target selected.
	EventEmptyPlan = "EmptyPlan"
)

// Container names in a run's pods (the CLI reads their logs by these names).
const (
	ContainerInstall   = "install-flowsim"
	ContainerConnector = "connector"
	ContainerDriver    = "driver"
)
