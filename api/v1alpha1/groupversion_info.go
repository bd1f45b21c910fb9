// Package v1alpha1 contains the flowsim.dev/v1alpha1 API: MatSimRun, one run of a matsim
// test against a materialization connector image, reconciled into a Kubernetes Job;
// MatSimTarget, a connector a team offers to fleet sweeps (a MatSimRun spec and the tests
// to repeat it with); MatSimSweep, a schedule that runs the selected targets. names.go
// holds every label, condition, reason, event and container name that the operator writes
// and clients read, so that a client needs this package and client-go only.
//
// +kubebuilder:object:generate=true
// +groupName=flowsim.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "flowsim.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
