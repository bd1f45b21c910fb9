package controllers

// Every label key, condition type, reason and event name the MatSimRun controller uses.
// docs/operator.md lists them for users; keep the two in step.

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
	// ConditionReported is False (ReasonReportPending) from the pass in which the run
	// finished until a later pass claims the report by setting it True (ReasonReported)
	// and then counts the run in the metrics and sends the Finish event: once, even across
	// a manager restart in between (lost only if the process dies in the instant between
	// the claim's write and the event). A finished run without it predates the condition.
	ConditionReported = "Reported"
)

// Reasons, on conditions, status.reason and events.
const (
	// ReasonJobCreated: the driver Job was created (Started=True).
	ReasonJobCreated = "JobCreated"
	// ReasonWaitingForPeer: the fence test waits for its peer connector to be ready (Started=False).
	ReasonWaitingForPeer = "WaitingForPeer"
	// ReasonReportPending: the run finished; its metrics and Finish event are not out yet (Reported=False).
	ReasonReportPending = "ReportPending"
	// ReasonReported: the run was counted in the metrics and its Finish event sent (Reported=True).
	ReasonReported = "Reported"

	// ReasonPassed: the driver reported that every check passed.
	ReasonPassed = "Passed"
	// ReasonCheckFailed: the connector failed one of matsim's checks.
	ReasonCheckFailed = "CheckFailed"
	// ReasonSetupError: the driver could not set up the test (bad config or resource,
	// connector rejected the spec); the connector was not judged.
	ReasonSetupError = "SetupError"
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
)

// Event reasons that are not outcome reasons.
const (
	EventStarted = "Started"
)

// Names and paths inside the pods.
const (
	// ProxyPort is where the connector proxy serves the materialize Driver and gRPC health.
	ProxyPort = 7070
	// ProxyPortName names ProxyPort on containers and the peer Service.
	ProxyPortName = "grpc"

	ContainerInstall   = "install-flowsim"
	ContainerConnector = "connector"
	ContainerDriver    = "driver"

	// FlowsimBinary is the static flowsim binary in the flowsim image, and in the shared
	// emptyDir as mounted in connector containers.
	FlowsimBinary = "/flowsim/flowsim"
	// FlowsimDir holds FlowsimBinary.
	FlowsimDir = "/flowsim"
	// InstallDir is where the install init container mounts the shared emptyDir.
	InstallDir = "/flowsim-install"
	// ConfigDir holds the connector config key mounted from its Secret (driver only).
	ConfigDir = "/etc/flowsim/config"
	// VerifyDir holds spec.verify's connection key mounted from its Secret (driver only).
	VerifyDir = "/etc/flowsim/verify"
	// DefaultConnectorEntrypoint is the connector image convention.
	DefaultConnectorEntrypoint = "/connector/connector"

	volumeFlowsim = "flowsim"
	volumeConfig  = "connector-config"
	volumeTmp     = "tmp"
	volumeVerify  = "verify-connection"

	// NonRootUID runs every container (the distroless "nonroot" user).
	NonRootUID = 65532

	// driverJobSuffix, peerSuffix and policySuffix make the deterministic child names.
	driverJobSuffix = "-driver"
	peerSuffix      = "-peer"
	policySuffix    = "-connector"
)

// MatSimSweep: conditions, reasons and events. The run labels flowsim.dev/sweep,
// flowsim.dev/execution and flowsim.dev/target are in api/v1alpha1 (LabelSweep, ...):
// the CLI selects runs with them too.
const (
	// ConditionScheduleValid is False when the schedule or time zone cannot be used
	// (reason InvalidSchedule) or a selector is invalid (InvalidSelector).
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

	// EventScheduled: an execution started (note: trigger, runs planned).
	EventScheduled = "Scheduled"
	// EventCompleted: an execution completed (note: counts).
	EventCompleted = "Completed"
	// EventMissedSchedule: schedule times that never started (downtime, deadline).
	EventMissedSchedule = "MissedSchedule"
	// EventReplaced: an execution was stopped by a newer one.
	EventReplaced = "Replaced"
)
