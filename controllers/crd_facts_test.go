package controllers

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/flowsim/flowsim/matsim"
)

// The CRDs restate facts whose home is the engine: the list of tests, the crash points,
// the flags' defaults and how many documents a run can address. Markers cannot import
// Go constants, so these tests fail when the generated CRDs and the engine differ.

func crdSpec(t *testing.T, file string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	var b, err = os.ReadFile(filepath.Join("..", "config", "crd", "bases", file))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil {
		t.Fatalf("%s: want one version with a schema", file)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
}

func enum(p apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for _, e := range p.Enum {
		out = append(out, strings.Trim(string(e.Raw), `"`))
	}
	return out
}

func maxItems(p apiextensionsv1.JSONSchemaProps) string {
	if p.MaxItems == nil {
		return "unset"
	}
	return fmt.Sprint(*p.MaxItems)
}

func TestCRDTestListIsTheEngines(t *testing.T) {
	var run = crdSpec(t, "flowsim.dev_matsimruns.yaml")
	if got := enum(run.Properties["test"]); !slices.Equal(got, matsim.Tests) {
		t.Errorf("MatSimRun spec.test enum is %v, the engine's tests are %v: fix the Enum marker of MatSimTest and run make manifests", got, matsim.Tests)
	}
	var crash = append(slices.Clone(matsim.CrashPoints), "all")
	var crashAt = run.Properties["crashAt"]
	if got := enum(*crashAt.Items.Schema); !slices.Equal(got, crash) {
		t.Errorf("MatSimRun spec.crashAt enum is %v, want the engine's crash points and all: %v", got, crash)
	}
	if crashAt.MaxItems == nil || *crashAt.MaxItems != int64(len(crash)) {
		t.Errorf("MatSimRun spec.crashAt maxItems is %s, want %d (a set of the crash points and all)", maxItems(crashAt), len(crash))
	}

	var target = crdSpec(t, "flowsim.dev_matsimtargets.yaml")
	var tests = target.Properties["tests"]
	if got := enum(*tests.Items.Schema); !slices.Equal(got, matsim.Tests) {
		t.Errorf("MatSimTarget spec.tests enum is %v, the engine's tests are %v", got, matsim.Tests)
	}
	if tests.MaxItems == nil || *tests.MaxItems != int64(len(matsim.Tests)) {
		t.Errorf("MatSimTarget spec.tests maxItems is %s, want %d: a set of the engine's tests (fix the MaxItems marker, run make manifests)", maxItems(tests), len(matsim.Tests))
	}
}

// startRule is the CEL rule on MatSimRun spec.start that the engine's bound implies:
// start·2^loops below 2^matsim.KeyBits, with the driver's defaults for unset fields.
func startRule(defaultStart, defaultLoops, maxLoops int) string {
	var bounds []string
	for loops := 0; loops <= maxLoops; loops++ {
		bounds = append(bounds, fmt.Sprint(uint64(1)<<(matsim.KeyBits-loops)))
	}
	return fmt.Sprintf("(has(self.start) ? self.start : %d) < [%s][has(self.loops) ? self.loops : %d]",
		defaultStart, strings.Join(bounds, ", "), defaultLoops)
}

func TestCRDStartBoundIsTheEngines(t *testing.T) {
	var run = crdSpec(t, "flowsim.dev_matsimruns.yaml")
	var loops = run.Properties["loops"]
	if loops.Maximum == nil {
		t.Fatal("MatSimRun spec.loops has no maximum")
	}
	var maxLoops = int(*loops.Maximum)
	if maxLoops >= matsim.KeyBits {
		t.Fatalf("spec.loops maximum %d leaves no document below 2^%d", maxLoops, matsim.KeyBits)
	}
	// The driver's defaults stand in for unset fields.
	var f = matsim.NewFlags("basic", flag.NewFlagSet("basic", flag.ContinueOnError))
	var want = startRule(f.Start, f.Loops, maxLoops)
	var rules []string
	for _, r := range run.XValidations {
		rules = append(rules, r.Rule)
	}
	if !slices.Contains(rules, want) {
		t.Errorf("MatSimRun has no CEL rule bounding spec.start as the engine does (matsim.KeyBits %d); the marker on MatSimRunSpec must be\n"+
			"// +kubebuilder:validation:XValidation:rule=%q,...\nrules now: %q", matsim.KeyBits, want, rules)
	}
	// The rule's bound is the engine's: the largest start allowed fits, one more does not.
	for l := 1; l <= maxLoops; l++ {
		var bound = int(uint64(1) << (matsim.KeyBits - l))
		if !matsim.StartFits(bound-1, l) || matsim.StartFits(bound, l) {
			t.Errorf("loops %d: the CRD allows start below %d, the engine's StartFits disagrees", l, bound)
		}
	}
}
