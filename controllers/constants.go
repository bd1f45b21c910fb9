package controllers

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
