// Package layering holds no code, only the test that keeps the module's imports pointing
// down. Every package of the module stands on one floor:
//
//	apps        internal/cli, internal/kubecli, controllers, cmd/..., examples/..., test/..., hack/...
//	engine      matsim, matsim/verifier
//	transports  connector, connector/...
//	leaf        lib/..., protocol, matsim/result, api/v1alpha1, config
//
// A package may import packages of its own floor or of a floor below. The engine imports
// no Kubernetes or CLI code; the transports do not import the engine; the leaf helpers
// import nothing of the module above them. The flowsim CLI links API types and client-go,
// not the operator (controller-runtime's manager, package controllers).
package layering
