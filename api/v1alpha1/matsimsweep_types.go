package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConcurrencyPolicy says what a sweep does when an execution is due while another runs.
// +kubebuilder:validation:Enum=Forbid;Replace;Allow
type ConcurrencyPolicy string

const (
	// ForbidConcurrent skips the due execution while one runs; like a CronJob, it starts
	// late when the running one ends, unless startingDeadlineSeconds has passed by then.
	ForbidConcurrent ConcurrencyPolicy = "Forbid"
	// ReplaceConcurrent stops the running execution (its unfinished runs are deleted) and
	// starts the due one.
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
	// AllowConcurrent runs executions side by side, at most MaxActiveExecutions (3); a due
	// execution waits, as under Forbid, while that many run. maxParallelRuns bounds their
	// runs together.
	AllowConcurrent ConcurrencyPolicy = "Allow"
)

// MatSimSweepSpec is a schedule and the targets it tests.
// +kubebuilder:validation:XValidation:rule="!has(self.maxParallelRunsPerNamespace) || self.maxParallelRunsPerNamespace <= self.maxParallelRuns",message="maxParallelRunsPerNamespace must not exceed maxParallelRuns",fieldPath=".maxParallelRunsPerNamespace"
type MatSimSweepSpec struct {
	// Schedule in cron format (five fields: minute hour day-of-month month day-of-week) or
	// a descriptor: @yearly, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>.
	// The API server checks the shape and refuses plain impossible dates (0 0 31 2 *);
	// the controller checks ranges and any other schedule that names no date (condition
	// ScheduleValid=False names what is wrong; such a sweep never starts).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[^ ]+ +[^ ]+ +((30|31)(,(30|31))* +(0?2|(?i:feb))(,(0?2|(?i:feb)))*|31(,31)* +(0?[2469]|11|(?i:feb|apr|jun|sep|nov))(,(0?[2469]|11|(?i:feb|apr|jun|sep|nov)))*) +[*?]$')",message="schedule never matches a date: day 30 or 31 of February, or day 31 of April, June, September or November"
	// +kubebuilder:validation:XValidation:rule="!self.contains('TZ=')",message="schedule must not set TZ= or CRON_TZ=: use spec.timeZone"
	// +kubebuilder:validation:XValidation:rule="self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.matches('^@every [0-9][0-9a-zµ.]*$') || self.matches('^[0-9*?/,A-Za-z-]+( +[0-9*?/,A-Za-z-]+){4}$')",message="schedule must be five cron fields (minute hour day-of-month month day-of-week) or @yearly, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"
	Schedule string `json:"schedule"`

	// TimeZone of the schedule, an IANA name such as Europe/Paris. Unset: UTC (not the
	// manager's local time).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$') && self != 'Local'",message="timeZone must be an IANA time zone name such as Europe/Paris or UTC"
	// +kubebuilder:validation:XValidation:rule="timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",message="timeZone must be a time zone known to the API server's time zone database"
	TimeZone *string `json:"timeZone,omitempty"`

	// Suspend stops scheduled executions; a running one continues, and the trigger
	// annotation still starts one.
	// +optional
	// +kubebuilder:default=false
	Suspend *bool `json:"suspend,omitempty"`

	// StartingDeadlineSeconds: an execution not started within this many seconds of its
	// scheduled time is skipped (a MissedSchedule event). Unset: no deadline.
	// +optional
	// +kubebuilder:validation:Minimum=0
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// ConcurrencyPolicy when an execution is due while another runs.
	// +optional
	// +kubebuilder:default=Forbid
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// MaxParallelRuns bounds the sweep's unfinished MatSimRuns across the cluster; the rest
	// queue and start as runs finish.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxParallelRuns int32 `json:"maxParallelRuns,omitempty"`

	// MaxParallelRunsPerNamespace bounds the sweep's unfinished MatSimRuns in any one
	// namespace. Unset: only maxParallelRuns applies.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxParallelRunsPerNamespace *int32 `json:"maxParallelRunsPerNamespace,omitempty"`

	// SuccessfulExecutionsHistoryLimit is how many finished executions in which every run
	// passed are kept, in status and as MatSimRuns; older ones' runs are deleted.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	SuccessfulExecutionsHistoryLimit *int32 `json:"successfulExecutionsHistoryLimit,omitempty"`

	// FailedExecutionsHistoryLimit is the same for executions with a run that did not pass.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	FailedExecutionsHistoryLimit *int32 `json:"failedExecutionsHistoryLimit,omitempty"`

	// NamespaceSelector chooses the namespaces whose targets are tested. Unset: every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Selector chooses MatSimTargets by label in those namespaces. Unset: every target.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// ExecutionPhase is the state of one sweep execution.
// +kubebuilder:validation:Enum=Running;Completed;Replaced
type ExecutionPhase string

const (
	// ExecutionRunning: runs are queued or unfinished.
	ExecutionRunning ExecutionPhase = "Running"
	// ExecutionCompleted: every run finished (or ended because its target went away).
	ExecutionCompleted ExecutionPhase = "Completed"
	// ExecutionReplaced: stopped by a newer execution (concurrencyPolicy Replace).
	ExecutionReplaced ExecutionPhase = "Replaced"
)

// ExecutionTrigger says why an execution started.
// +kubebuilder:validation:Enum=Schedule;Manual
type ExecutionTrigger string

const (
	// TriggerSchedule: the schedule was due (possibly late: a catch-up after downtime).
	TriggerSchedule ExecutionTrigger = "Schedule"
	// TriggerManual: the trigger annotation changed.
	TriggerManual ExecutionTrigger = "Manual"
)

// Outcomes of one run in a sweep execution. passed, failed and error are the driver's
// (matsim/result); the rest are the sweep's.
const (
	OutcomePassed  = "passed"
	OutcomeFailed  = "failed"
	OutcomeError   = "error"
	OutcomeQueued  = "queued"
	OutcomePending = "pending"
	OutcomeRunning = "running"
)

// ExecutionCounts counts the runs of one execution. Total = queued + pending + running +
// passed + failed + error.
type ExecutionCounts struct {
	// Total runs planned (targets × their tests) when the execution started.
	Total int32 `json:"total"`
	// Queued runs are not created yet (maxParallelRuns).
	// +optional
	Queued int32 `json:"queued,omitempty"`
	// Pending runs exist and have not started.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// Running runs have started.
	// +optional
	Running int32 `json:"running,omitempty"`
	// Passed runs: every check passed.
	// +optional
	Passed int32 `json:"passed,omitempty"`
	// Failed runs: the connector failed a check.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Error runs: could not judge the connector (setup error, crash, timeout, target or
	// namespace deleted, replaced).
	// +optional
	Error int32 `json:"error,omitempty"`
}

// Finished is the number of runs with a final outcome.
func (c ExecutionCounts) Finished() int32 { return c.Passed + c.Failed + c.Error }

// Summary is "passed/total", the sweep's LastResult print column.
func (c ExecutionCounts) Summary() string { return fmt.Sprintf("%d/%d", c.Passed, c.Total) }

// SweepRunResult is one target × test of an execution.
type SweepRunResult struct {
	// Namespace and Target name the MatSimTarget.
	Namespace string `json:"namespace"`
	Target    string `json:"target"`
	// Test run.
	Test MatSimTest `json:"test"`
	// Run is the MatSimRun's name (in Namespace); empty while queued.
	// +optional
	Run string `json:"run,omitempty"`
	// Outcome: queued, pending, running, passed, failed or error.
	Outcome string `json:"outcome"`
	// Reason is the run's status.reason, or why the sweep ended it (TargetDeleted,
	// NamespaceDeleted, RunDeleted, Replaced).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Check that failed first.
	// +optional
	Check string `json:"check,omitempty"`
	// Message, truncated to 256 bytes (the MatSimRun has it whole).
	// +optional
	Message string `json:"message,omitempty"`
	// Duration of the run.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Seed of the run: set it as spec.run.seed of the target to reproduce.
	// +optional
	Seed *int64 `json:"seed,omitempty"`
}

// SweepExecution is one execution of a sweep: a MatSimRun per target × test.
type SweepExecution struct {
	// Name of the execution; the label flowsim.dev/execution on its MatSimRuns.
	Name string `json:"name"`
	// Trigger that started it.
	Trigger ExecutionTrigger `json:"trigger"`
	// ScheduledTime is the schedule time it belongs to (the trigger time when manual).
	ScheduledTime metav1.Time `json:"scheduledTime"`
	// StartTime is when it started (later than ScheduledTime when caught up).
	StartTime metav1.Time `json:"startTime"`
	// CompletionTime is when it ended.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Phase: Running, Completed or Replaced.
	Phase ExecutionPhase `json:"phase"`
	// Counts of its runs by outcome.
	Counts ExecutionCounts `json:"counts"`
	// Results per target × test, at most 50 while running and 10 once finished: error and
	// failed first, then
	// running, pending, passed, queued. The MatSimRuns labelled with the execution hold all.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Results []SweepRunResult `json:"results,omitempty"`
	// ResultsOmitted is the number of runs left out of Results.
	// +optional
	ResultsOmitted int32 `json:"resultsOmitted,omitempty"`
	// Plan lists the execution's targets in the order their runs are created, fixed when
	// it started; kept only while it runs. At most MaxPlanTargets: a sweep selecting more
	// starts nothing (condition ScheduleValid=False, reason TooManyTargets).
	// (JSON name targets: the untyped "plan" strings of earlier versions are pruned, never
	// misread.)
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	Plan []PlanTarget `json:"targets,omitempty"`
	// Dispatched is how many runs of Plan (in order, a test at a time) were created or
	// ended without a run; the rest are queued.
	// +optional
	Dispatched int32 `json:"dispatched,omitempty"`
	// Refusals keeps the API server's message for the first runs it refused (their items
	// are marked in Plan); kept only while the execution runs.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Refusals []RunRefusal `json:"refusals,omitempty"`
}

// PlanTarget is one target of an execution's plan.
type PlanTarget struct {
	// Namespace and Target name the MatSimTarget.
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MaxLength=63
	Target string `json:"target"`
	// Tests to run, one MatSimRun each, in order.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	Tests []MatSimTest `json:"tests"`
	// Refused lists the tests whose MatSimRun the API server refused: they end as error
	// with reason RunRefused.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	Refused []MatSimTest `json:"refused,omitempty"`
}

// RunRefusal is the API server's answer to one refused MatSimRun of an execution.
type RunRefusal struct {
	Namespace string     `json:"namespace"`
	Target    string     `json:"target"`
	Test      MatSimTest `json:"test"`
	// Message, truncated to 256 bytes.
	Message string `json:"message"`
}

// MaxPlanTargets bounds SweepExecution.Plan, and MaxActiveExecutions
// MatSimSweepStatus.Active (concurrencyPolicy Allow): with the results and the history
// bounds, a sweep's status stays under etcd's object limit whatever the names (see
// TestSweepStatusSizeBounded).
const (
	MaxPlanTargets      = 1000
	MaxActiveExecutions = 3
	MaxRefusals         = 10
)

// MaxSweepResults bounds SweepExecution.Results of a running execution, and
// MaxSweepHistoryResults those of a finished one.
const (
	MaxSweepResults        = 50
	MaxSweepHistoryResults = 10
)

// MaxSweepResultMessage bounds SweepRunResult.Message in bytes.
const MaxSweepResultMessage = 256

// MatSimSweepStatus is the observed state of a sweep.
type MatSimSweepStatus struct {
	// Conditions: ScheduleValid, Active.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastScheduleTime is the schedule time of the last scheduled execution started.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// LastTrigger is the last value of the trigger annotation that started an execution.
	// +optional
	LastTrigger string `json:"lastTrigger,omitempty"`

	// LastCompletionTime is when the last execution completed (whatever its results).
	// +optional
	LastCompletionTime *metav1.Time `json:"lastCompletionTime,omitempty"`

	// LastSuccessfulTime is when the last execution in which every run passed completed.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// LastResult of the last completed execution: "passed/total".
	// +optional
	LastResult string `json:"lastResult,omitempty"`

	// MissedSchedules counts schedule times that never started (manager down for more
	// than one schedule, past startingDeadlineSeconds); see the MissedSchedule events.
	// +optional
	MissedSchedules int64 `json:"missedSchedules,omitempty"`

	// LastMissedTime is the latest schedule time that never started.
	// +optional
	LastMissedTime *metav1.Time `json:"lastMissedTime,omitempty"`

	// Active executions (more than one only with concurrencyPolicy Allow, at most
	// MaxActiveExecutions: a due execution waits while that many run).
	// +optional
	// +kubebuilder:validation:MaxItems=3
	Active []SweepExecution `json:"active,omitempty"`

	// History of finished executions, newest first, within the history limits.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	History []SweepExecution `json:"history,omitempty"`
}

// MatSimSweep runs every selected MatSimTarget of the cluster on a schedule (a nightly
// fleet test): each execution creates one MatSimRun per target × test, in the target's
// namespace, at most maxParallelRuns at a time.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=msw,categories=flowsim
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.active[0].counts.total`,priority=1
// +kubebuilder:printcolumn:name="Last Schedule",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Last Result",type=string,JSONPath=`.status.lastResult`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="metadata.name must be at most 40 characters: execution names add a suffix and label values are limited to 63"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label starting with a letter"
type MatSimSweep struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MatSimSweepSpec   `json:"spec"`
	Status MatSimSweepStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MatSimSweepList is a list of MatSimSweeps.
type MatSimSweepList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MatSimSweep `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MatSimSweep{}, &MatSimSweepList{})
}
