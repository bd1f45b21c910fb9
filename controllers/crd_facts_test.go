package controllers

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/estuary/protocols/materialize"
	"github.com/go-logr/logr"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
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
	if got := enum(run.Properties["test"]); !slices.Equal(got, engine.Tests) {
		t.Errorf("MatSimRun spec.test enum is %v, the engine's tests are %v: fix the Enum marker of MatSimTest and run make manifests", got, engine.Tests)
	}
	var crash = append(slices.Clone(engine.CrashPoints), "all")
	var crashAt = run.Properties["crashAt"]
	if got := enum(*crashAt.Items.Schema); !slices.Equal(got, crash) {
		t.Errorf("MatSimRun spec.crashAt enum is %v, want the engine's crash points and all: %v", got, crash)
	}
	if crashAt.MaxItems == nil || *crashAt.MaxItems != int64(len(crash)) {
		t.Errorf("MatSimRun spec.crashAt maxItems is %s, want %d (a set of the crash points and all)", maxItems(crashAt), len(crash))
	}

	var target = crdSpec(t, "flowsim.dev_matsimtargets.yaml")
	var tests = target.Properties["tests"]
	if got := enum(*tests.Items.Schema); !slices.Equal(got, engine.Tests) {
		t.Errorf("MatSimTarget spec.tests enum is %v, the engine's tests are %v", got, engine.Tests)
	}
	if tests.MaxItems == nil || *tests.MaxItems != int64(len(engine.Tests)) {
		t.Errorf("MatSimTarget spec.tests maxItems is %s, want %d: a set of the engine's tests (fix the MaxItems marker, run make manifests)", maxItems(tests), len(engine.Tests))
	}
}

// A sweep's plan entries hold a target's tests: the same bound, the engine's test count.
func TestCRDSweepPlanTestsAreTheEngines(t *testing.T) {
	var b, err = os.ReadFile(filepath.Join("..", "config", "crd", "bases", "flowsim.dev_matsimsweeps.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	var plan = crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["active"].Items.Schema.Properties["targets"].Items.Schema
	for _, field := range []string{"tests", "refused"} {
		var p = plan.Properties[field]
		if p.MaxItems == nil || *p.MaxItems != int64(len(engine.Tests)) {
			t.Errorf("MatSimSweep status.active[].targets[].%s maxItems is %s, want %d (the engine's tests)", field, maxItems(p), len(engine.Tests))
		}
	}
}

// startRule is the CEL rule on MatSimRun spec.start: start below bounds[loops], with the
// driver's defaults for unset fields.
func startRule(defaultStart, defaultLoops int, bounds []uint64) string {
	var b []string
	for _, v := range bounds {
		b = append(b, fmt.Sprint(v))
	}
	return fmt.Sprintf("(has(self.start) ? self.start : %d) < [%s][has(self.loops) ? self.loops : %d]",
		defaultStart, strings.Join(b, ", "), defaultLoops)
}

// refusing is a connector that fails every call: the engine reaches it only after it
// accepted the options.
type refusing struct{}

var errRefusing = errors.New("refusing connector")

func (refusing) Spec(context.Context, *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	return nil, errRefusing
}
func (refusing) Validate(context.Context, *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	return nil, errRefusing
}
func (refusing) ApplyUpsert(context.Context, *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return nil, errRefusing
}
func (refusing) ApplyDelete(context.Context, *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	return nil, errRefusing
}
func (refusing) Transactions(context.Context) (connector.Session, error) { return nil, errRefusing }
func (refusing) Info() connector.Info                                    { return connector.Info{} }
func (refusing) Close() error                                            { return nil }

// engineAddresses reports whether the engine accepts start documents doubled over loops:
// it refuses the options before it calls the connector when they are too many.
func engineAddresses(t *testing.T, loops int, start uint64) bool {
	var rep = engine.Execute(context.Background(), engine.Options{
		Test: "basic", Connector: refusing{}, Loops: loops, Start: int(start), Batch: 1000, Seed: 1,
		Config: []byte("{}"), Resource: []byte("{}"), Log: logr.Discard(),
	})
	var msg = fmt.Sprint(rep.Result.Message)
	for _, f := range rep.Failures {
		msg += " " + f.Message
	}
	return !strings.Contains(msg, "doubled over")
}

// The spec.start rule is the engine's bound, point for point: for every loops the CRD
// allows, the largest start it admits is one the engine addresses, and the smallest it
// refuses is one the engine refuses.
func TestCRDStartBoundIsTheEngines(t *testing.T) {
	var run = crdSpec(t, "flowsim.dev_matsimruns.yaml")
	var loops = run.Properties["loops"]
	if loops.Maximum == nil {
		t.Fatal("MatSimRun spec.loops has no maximum")
	}
	var maxLoops = int(*loops.Maximum)
	var bounds = make([]uint64, maxLoops+1)
	for l := 1; l <= maxLoops; l++ {
		// The smallest start the engine refuses at l loops: a binary search below 2^62.
		var lo, hi = uint64(1), uint64(1) << 62
		if engineAddresses(t, l, hi) {
			t.Fatalf("the engine addresses 2^62 documents doubled over %d loops", l)
		}
		for lo < hi {
			if mid := lo + (hi-lo)/2; engineAddresses(t, l, mid) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		bounds[l] = lo
	}
	// Index 0 is never read (loops ≥ 1); the rule continues the doubling there.
	bounds[0] = 2 * bounds[1]
	// The driver's defaults stand in for unset fields.
	var f = cmdline.NewFlags("basic", flag.NewFlagSet("basic", flag.ContinueOnError))
	var want = startRule(f.Start, f.Loops, bounds)
	var rules []string
	for _, r := range run.XValidations {
		rules = append(rules, r.Rule)
	}
	if !slices.Contains(rules, want) {
		t.Errorf("MatSimRun has no CEL rule bounding spec.start as the engine does; the marker on MatSimRunSpec must be\n"+
			"// +kubebuilder:validation:XValidation:rule=%q,...\nrules now: %q", want, rules)
	}
}
