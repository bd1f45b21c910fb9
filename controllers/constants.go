package controllers

import flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"

// The pod layout of a run: ports, paths, volumes and child-name suffixes. Label keys,
// condition types, reasons, event names and container names are in api/v1alpha1/names.go.

// Names and paths inside the pods.
const (
	// ProxyPort is where the connector proxy serves the materialize Driver and gRPC health.
	ProxyPort = 7070
	// ProxyPortName names ProxyPort on containers and the peer Service.
	ProxyPortName = "grpc"

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

// Transitional aliases of names in api/v1alpha1/names.go, for the MatSimSweep controller's
// files only, so that they merge with the sweep rework unchanged. Remove them once merged:
//
//	names=$(sed -n 's/^\t\([A-Za-z]*\) *= flowsimv1\..*/\1/p' controllers/constants.go | paste -sd'|')
//	perl -pi -e "s/(?<![.\\w\"])($names)\\b/flowsimv1.\$1/g unless m{^\\s*//}" controllers/matsimsweep_*.go
//
// then delete this block and run gofmt. New code uses flowsimv1.<Name>.
const (
	ConditionActive        = flowsimv1.ConditionActive
	ConditionScheduleValid = flowsimv1.ConditionScheduleValid
	EventCompleted         = flowsimv1.EventCompleted
	EventMissedSchedule    = flowsimv1.EventMissedSchedule
	EventReplaced          = flowsimv1.EventReplaced
	EventScheduled         = flowsimv1.EventScheduled
	LabelManagedBy         = flowsimv1.LabelManagedBy
	LabelName              = flowsimv1.LabelName
	LabelPartOf            = flowsimv1.LabelPartOf
	LabelTest              = flowsimv1.LabelTest
	ReasonCheckFailed      = flowsimv1.ReasonCheckFailed
	ReasonExecutionRunning = flowsimv1.ReasonExecutionRunning
	ReasonIdle             = flowsimv1.ReasonIdle
	ReasonInvalidSchedule  = flowsimv1.ReasonInvalidSchedule
	ReasonInvalidSelector  = flowsimv1.ReasonInvalidSelector
	ReasonNamespaceDeleted = flowsimv1.ReasonNamespaceDeleted
	ReasonPassed           = flowsimv1.ReasonPassed
	ReasonReplaced         = flowsimv1.ReasonReplaced
	ReasonRunDeleted       = flowsimv1.ReasonRunDeleted
	ReasonScheduleValid    = flowsimv1.ReasonScheduleValid
	ReasonSetupError       = flowsimv1.ReasonSetupError
	ReasonSuspended        = flowsimv1.ReasonSuspended
	ReasonTargetDeleted    = flowsimv1.ReasonTargetDeleted
	ValueManagedBy         = flowsimv1.ValueManagedBy
	ValueName              = flowsimv1.ValueName
	ValuePartOf            = flowsimv1.ValuePartOf
)
