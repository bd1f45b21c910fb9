package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MatSimTargetSpec is a connector that a team offers to fleet sweeps: a MatSimRun's spec
// (copy one that passed) and the tests to repeat it with.
// +kubebuilder:validation:XValidation:rule="!has(self.tests) || self.run.test in self.tests",message="run.test must be one of tests",fieldPath=".tests"
// +kubebuilder:validation:XValidation:rule="!has(self.tests) || !('fence' in self.tests) || !has(self.run.connector.command) || !self.run.connector.command.exists(c, c == 'reference-connector' || c.endsWith('/reference-connector'))",message="fence with the reference connector cannot pass in the operator: its state lives in each connector pod and fence runs two pods that must share it; leave fence out of tests (run it locally: flowsim matsim fence)",fieldPath=".tests"
type MatSimTargetSpec struct {
	// Run is the spec of every MatSimRun made from this target, exactly as a MatSimRun
	// has it. A sweep sets run.test to each of tests in turn and keeps run.crashAt only
	// for recovery, run.verify only for delta and recovery, run.exactlyOnce only for
	// fence and recovery. The text $(FLOWSIM_RUN) in run.resource or run.config.inline
	// becomes a name unique to each run (see docs/operator.md).
	Run MatSimRunSpec `json:"run"`

	// Tests to run in each sweep execution, one MatSimRun per test. Unset: run.test only.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	Tests []MatSimTest `json:"tests,omitempty"`
}

// TestsToRun lists the tests a sweep runs for the target, in spec order.
func (s *MatSimTargetSpec) TestsToRun() []MatSimTest {
	if len(s.Tests) == 0 {
		return []MatSimTest{s.Run.Test}
	}
	return s.Tests
}

// RunSpecFor is the spec of the target's MatSimRun for one test.
func (s *MatSimTargetSpec) RunSpecFor(test MatSimTest) MatSimRunSpec {
	var spec = *s.Run.DeepCopy()
	spec.Test = test
	// What the MatSimRun rules allow only for some tests is kept only for those: a
	// target's verify (delta) must not make its basic run invalid.
	if test != TestRecovery {
		spec.CrashAt = nil
	}
	if test != TestDelta && test != TestRecovery {
		spec.Verify = nil
	}
	if test != TestFence && test != TestRecovery {
		spec.ExactlyOnce = nil
	}
	return spec
}

// MatSimTarget declares a connector, next to its config Secret, that cluster-wide
// MatSimSweeps test on their schedule. The team that owns the connector owns the target;
// the platform team's sweeps select targets by namespace and labels. A target has no
// status: the sweeps' statuses and the MatSimRuns they create (labelled with the
// target's name) say what happened to it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=mst,categories=flowsim
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.run.connector.image`
// +kubebuilder:printcolumn:name="Tests",type=string,JSONPath=`.spec.tests`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it is a label value on the runs"
type MatSimTarget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MatSimTargetSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// MatSimTargetList is a list of MatSimTargets.
type MatSimTargetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MatSimTarget `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MatSimTarget{}, &MatSimTargetList{})
}
