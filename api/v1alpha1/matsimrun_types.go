package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// MatSimTest names one of the matsim tests.
// +kubebuilder:validation:Enum=basic;delta;fence;recovery;migrate
type MatSimTest string

const (
	// TestBasic: standard (non-delta) updates, loaded and verified every loop.
	TestBasic MatSimTest = "basic"
	// TestDelta: delta updates; the connector never loads.
	TestDelta MatSimTest = "delta"
	// TestFence: two streams on the same key range; the older one must be fenced off.
	// It runs a second connector in a peer pod.
	TestFence MatSimTest = "fence"
	// TestRecovery: streams are cut mid-transaction and must recover from the last commit.
	TestRecovery MatSimTest = "recovery"
	// TestMigrate: spec v1, then an evolved spec v2 over the same tables.
	TestMigrate MatSimTest = "migrate"
)

// ProtocolRevision selects the revision of the materialize protocol spoken to the connector.
// +kubebuilder:validation:Enum=auto;"2021-12";"2021-10";"2022";"2023"
type ProtocolRevision string

const (
	// ProtocolAuto lets the driver detect the revision from the connector's answers.
	ProtocolAuto ProtocolRevision = "auto"
	// Protocol202112 has Acknowledge and separate apply-upsert/apply-delete.
	Protocol202112 ProtocolRevision = "2021-12"
	// Protocol202110 has a single apply and no Acknowledge.
	Protocol202110 ProtocolRevision = "2021-10"
	// Protocol2022 is github.com/estuary/flow's TransactionRequest (2022 to April
	// 2023): the 2021 subcommands, Acknowledge first, Flush and StartCommit.
	Protocol2022 ProtocolRevision = "2022"
	// Protocol2023 is today's protocol: no subcommand, one Request/Response stream.
	Protocol2023 ProtocolRevision = "2023"
)

// RunPhase is the coarse state of a run.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type RunPhase string

const (
	// PhasePending: accepted; the pod is not running yet (scheduling, pulling images,
	// waiting for the peer connector).
	PhasePending RunPhase = "Pending"
	// PhaseRunning: the driver pod runs.
	PhaseRunning RunPhase = "Running"
	// PhaseSucceeded: the driver reported that every check passed.
	PhaseSucceeded RunPhase = "Succeeded"
	// PhaseFailed: a check failed, or the run could not complete; see status.reason.
	PhaseFailed RunPhase = "Failed"
)

// IsFinished reports whether p is a terminal phase.
func (p RunPhase) IsFinished() bool { return p == PhaseSucceeded || p == PhaseFailed }

// ConnectorSpec is the connector under test and how to start it.
type ConnectorSpec struct {
	// Image of the connector, e.g. ghcr.io/estuary/materialize-postgres:v1.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image"`

	// Command starts the connector; the protocol subcommand (spec, validate, transactions, ...)
	// is appended by the connector proxy. The image's ENTRYPOINT is not used, so this
	// defaults to the image convention ["/connector/connector"].
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command,omitempty"`

	// Protocol is the materialize protocol revision the connector speaks.
	// +optional
	// +kubebuilder:default=auto
	Protocol ProtocolRevision `json:"protocol,omitempty"`

	// Env of the connector container. Values may come from Secrets (valueFrom.secretKeyRef);
	// the kubelet resolves them, the operator never reads them.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources of the connector container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ImagePullPolicy of the connector image.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// ImagePullSecrets for the connector image (and the flowsim image), in the run's namespace.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// SecretKeyRef names one key of a Secret in the run's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key within the Secret whose value is the connector's configuration (YAML or JSON).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ConnectorConfig is the connector's endpoint configuration, from exactly one source.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != has(self.inline)",message="exactly one of config.secretRef or config.inline must be set"
type ConnectorConfig struct {
	// SecretRef mounts the configuration from a Secret key into the driver container only.
	// Use it whenever the configuration holds credentials.
	// +optional
	SecretRef *SecretKeyRef `json:"secretRef,omitempty"`

	// Inline configuration for setups with no secrets (e.g. a throwaway database in the
	// same namespace). It is visible to anyone who can read the MatSimRun or its Job.
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Inline *runtime.RawExtension `json:"inline,omitempty"`
}

// DriverSpec overrides how the matsim driver container runs.
type DriverSpec struct {
	// Image of the driver; defaults to the flowsim image the operator was started with.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image,omitempty"`

	// Resources of the driver container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// CrashPoint is where the recovery test ends a stream abruptly.
// +kubebuilder:validation:Enum=before-acknowledge;after-acknowledge;after-load;after-loads;after-prepare;after-prepared;after-store;after-stores;after-commit;after-committed;after-next-acknowledge;all
type CrashPoint string

// VerifySpec reads a delta-updates binding back with a SQL query against PostgreSQL
// (the driver's --verify-sql) and compares the rows with what was committed.
type VerifySpec struct {
	// SQL selects one column, the document (json, jsonb or text), of every row of the
	// binding. $FLOWSIM_TABLE is the binding's resource path as a quoted, qualified
	// identifier, e.g. SELECT flow_document FROM $FLOWSIM_TABLE.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	SQL string `json:"sql"`

	// SecretRef holds the PostgreSQL connection, YAML or JSON: {url: postgres://...} or
	// {address, user, password, database}; mounted in the driver container only.
	// Unset: the connector's config is the connection.
	// +optional
	SecretRef *SecretKeyRef `json:"secretRef,omitempty"`
}

// MatSimRunSpec describes one run of a matsim test.
// +kubebuilder:validation:XValidation:rule="!has(self.crashAt) || self.test == 'recovery'",message="crashAt applies only to the recovery test",fieldPath=".crashAt"
// +kubebuilder:validation:XValidation:rule="!has(self.exactlyOnce) || !self.exactlyOnce || self.test == 'fence' || self.test == 'recovery'",message="exactlyOnce applies only to the fence and recovery tests",fieldPath=".exactlyOnce"
// +kubebuilder:validation:XValidation:rule="!has(self.verify) || self.test == 'delta' || self.test == 'recovery'",message="verify applies only to the delta and recovery tests",fieldPath=".verify"
// +kubebuilder:validation:XValidation:rule="self.test != 'fence' || !has(self.connector.command) || !self.connector.command.exists(c, c == 'reference-connector' || c.endsWith('/reference-connector'))",message="fence with the reference connector cannot pass in the operator: its state lives in each connector pod and fence runs two pods that must share it (run it locally: flowsim matsim fence)",fieldPath=".test"
// +kubebuilder:validation:XValidation:rule="(has(self.start) ? self.start : 500) < [1099511627776, 549755813888, 274877906944, 137438953472, 68719476736, 34359738368, 17179869184, 8589934592, 4294967296, 2147483648, 1073741824, 536870912, 268435456, 134217728, 67108864, 33554432, 16777216, 8388608, 4194304, 2097152, 1048576, 524288, 262144, 131072, 65536, 32768, 16384, 8192, 4096, 2048, 1024][has(self.loops) ? self.loops : 5]",message="start doubled over loops is more documents than the driver can address: start must be below 2^(40-loops) (loops 30 allows start up to 1023; unset start is 500, unset loops 5)",fieldPath=".start"
type MatSimRunSpec struct {
	// Test to run.
	Test MatSimTest `json:"test"`

	// Connector under test.
	Connector ConnectorSpec `json:"connector"`

	// Config is the connector's endpoint configuration.
	Config ConnectorConfig `json:"config"`

	// Resource is the binding's resource configuration (a mapping, e.g. {table: flowsim}).
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Resource runtime.RawExtension `json:"resource"`

	// Loops is the number of load/store/commit loops. Unset: the driver's default (5).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	Loops *int32 `json:"loops,omitempty"`

	// Start is the number of documents in the first loop; each loop doubles it (loop i has
	// start·2^i). Unset: the driver's default (500).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	Start *int32 `json:"start,omitempty"`

	// Batch is the number of documents per Load and Store request. Unset: the driver's default (1000).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Batch *int32 `json:"batch,omitempty"`

	// Seed of the documents and choices. Unset: derived from the run's UID and recorded in
	// status.seed; set it to that value to reproduce a run.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Seed *int64 `json:"seed,omitempty"`

	// CrashAt lists the recovery test's crash points (recovery only). Unset: all of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=12
	CrashAt []CrashPoint `json:"crashAt,omitempty"`

	// ExactlyOnce asserts that the connector stores Flow checkpoints transactionally
	// (fence and recovery only, the driver's --exactly-once): an empty Opened checkpoint
	// after a commit then fails the run instead of passing as "verified at-least-once only".
	// +optional
	ExactlyOnce *bool `json:"exactlyOnce,omitempty"`
	// Cleanup, after a passing run, asks the connector to delete what the test applied
	// (the driver's --cleanup: ApplyDelete of the last applied spec, which the SQL
	// connectors answer by dropping the tables and checkpoints), so that nightly sweeps
	// with $(FLOWSIM_RUN) table names leave nothing behind. A run that did not pass is
	// left as it is (its tables are the evidence); a connector whose protocol has no
	// apply-delete (2021-10, today's era) is skipped. status.result.cleanup says how it
	// went; it never changes the verdict.
	// +optional
	Cleanup *bool `json:"cleanup,omitempty"`
	// Verify reads a delta-updates binding back after delta (or after each crash point
	// of recovery on a delta binding) and fails the run when a committed document is
	// missing, duplicated, changed, or a row was never committed. A command verifier
	// (--verify-command) is not offered in pods: the driver image has no client tools.
	// +optional
	Verify *VerifySpec `json:"verify,omitempty"`

	// Timeout bounds the whole run, from the creation of its first pod.
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('168h')",message="timeout must be between 1s and 168h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// BackoffLimit is the number of times the Job retries a pod that failed for a reason
	// other than the driver's verdict (a failed check or setup error is never retried).
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// TTLSecondsAfterFinished deletes the finished Job (and its pod and logs) after this long.
	// At least 60, so that the operator reads the driver's result before the pod goes.
	// Unset: the Job is kept until the MatSimRun is deleted.
	// +optional
	// +kubebuilder:validation:Minimum=60
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// Driver overrides for the matsim driver container.
	// +optional
	Driver DriverSpec `json:"driver,omitempty"`
}

// RunProgress is what the driver reported so far while running.
type RunProgress struct {
	// Loop completed so far, out of Loops.
	Loop  int32 `json:"loop"`
	Loops int32 `json:"loops"`
	// Documents sent and received so far.
	Documents int64 `json:"documents"`
	// UpdatedAt is when the progress was read.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
}

// RunResult is the driver's report, parsed from its termination message.
type RunResult struct {
	// Outcome: passed, failed (a check failed) or error (setup error).
	Outcome string `json:"outcome"`
	// Protocol revision that was spoken.
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// LoopsDone out of Loops.
	LoopsDone int32 `json:"loopsDone"`
	Loops     int32 `json:"loops"`
	// Loaded: documents the connector returned from Loads.
	Loaded int64 `json:"loaded"`
	// Stored: documents sent to the connector.
	Stored int64 `json:"stored"`
	// Verified: documents judged equal to the expected state.
	Verified int64 `json:"verified"`
	// Duration of the whole run.
	Duration metav1.Duration `json:"duration"`
	// DocsPerSecond in the transactions phase, formatted with one decimal.
	DocsPerSecond string `json:"docsPerSecond"`
	// Check that failed first (see the README's table of checks).
	// +optional
	Check string `json:"check,omitempty"`
	// Message saying what broke; truncated to a few KiB.
	// +optional
	Message string `json:"message,omitempty"`
	// AtLeastOnceOnly: the connector returned no Flow checkpoint from Open, so the run
	// verified at-least-once delivery only (set spec.exactlyOnce to require checkpoints).
	// +optional
	AtLeastOnceOnly bool `json:"atLeastOnceOnly,omitempty"`
	// Cleanup after a passing run (spec.cleanup): "done: …", "skipped: …" or "failed: …".
	// +optional
	Cleanup string `json:"cleanup,omitempty"`
}

// MatSimRunStatus is the observed state of a run.
type MatSimRunStatus struct {
	// Phase of the run.
	// +optional
	Phase RunPhase `json:"phase,omitempty"`

	// Reason is a CamelCase word for the outcome (Passed, CheckFailed, ConnectorCrashed, ...),
	// the same as the reason of the Complete or Failed condition.
	// +optional
	Reason string `json:"reason,omitempty"`

	// Message explains Reason.
	// +optional
	Message string `json:"message,omitempty"`

	// Conditions: Started, Complete, Failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// StartTime is when the run's first child object was created.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the run finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// JobName of the driver Job.
	// +optional
	JobName string `json:"jobName,omitempty"`

	// PodName of the latest driver pod.
	// +optional
	PodName string `json:"podName,omitempty"`

	// PeerPodName of the fence test's peer connector pod.
	// +optional
	PeerPodName string `json:"peerPodName,omitempty"`

	// Attempts is the number of driver pods started.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// Seed the driver was given; set spec.seed to it to reproduce the run.
	// +optional
	Seed *int64 `json:"seed,omitempty"`

	// Progress while running.
	// +optional
	Progress *RunProgress `json:"progress,omitempty"`

	// Result reported by the driver.
	// +optional
	Result *RunResult `json:"result,omitempty"`
}

// MatSimRun runs one matsim test (basic, delta, fence, recovery or migrate) against a
// materialization connector image, in a Job whose pod holds the connector as a
// sidecar and the matsim driver.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=msr,categories=flowsim
// +kubebuilder:printcolumn:name="Test",type=string,JSONPath=`.spec.test`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.connector.image`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.reason`
// +kubebuilder:printcolumn:name="Verified",type=integer,JSONPath=`.status.result.verified`,priority=1
// +kubebuilder:printcolumn:name="Seed",type=integer,JSONPath=`.status.seed`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 52",message="metadata.name must be at most 52 characters: child objects add a suffix and label values are limited to 63"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label starting with a letter (it names a Service)"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.startTime) || self.spec == oldSelf.spec",message="spec is immutable once the run has started"
type MatSimRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MatSimRunSpec   `json:"spec"`
	Status MatSimRunStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MatSimRunList is a list of MatSimRuns.
type MatSimRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MatSimRun `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MatSimRun{}, &MatSimRunList{})
}
