package controllers

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/internal/cli"
	"github.com/flowsim/flowsim/matsim/engine"
)

// The controller→driver contract. DriverArgs builds the arguments of `flowsim matsim
// <test>` from a MatSimRun; parseDriverArgs parses them with the flowsim binary's own
// command (internal/cli, the flags of cmdline.NewFlags and the transport flags), so a
// flag the driver does not take, or takes for other tests only, fails here rather than
// in a cluster. TestDriverArgsRoundTrip carries every MatSimRunSpec field through both.

// parseDriverArgs returns the test and the flags that args set, as the driver sees them.
func parseDriverArgs(t *testing.T, args []string) (string, map[string]string) {
	t.Helper()
	if len(args) < 2 || args[0] != "matsim" {
		t.Fatalf("driver args %q do not start with matsim TEST", args)
	}
	var root = cli.NewMatsimCommand(cli.CommandOptions{})
	var sub, rest, err = root.Find(args[1:])
	if err != nil || sub == root {
		t.Fatalf("the driver has no command for %q (%v)", args[:2], err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Fatalf("the driver rejects %q: %v", args, err)
	}
	if extra := sub.Flags().Args(); len(extra) != 0 {
		t.Fatalf("the driver takes no arguments besides flags, got %q in %q", extra, args)
	}
	var flags = map[string]string{}
	sub.Flags().Visit(func(f *pflag.Flag) { flags[f.Name] = f.Value.String() })
	return sub.Name(), flags
}

// specField says where one MatSimRunSpec field goes: a driver flag (set puts an example
// value in the spec, get reads it back from the parsed flags; tests lists the tests whose
// driver takes it, nil for all), or the pods and the Job, not the driver (why).
type specField struct {
	tests []flowsimv1.MatSimTest
	set   func(s *flowsimv1.MatSimRunSpec)
	get   func(flags map[string]string, s *flowsimv1.MatSimRunSpec)
	why   string
}

func int32Flag(t *testing.T, flags map[string]string, name string) *int32 {
	var v, err = strconv.ParseInt(flags[name], 10, 32)
	if err != nil {
		t.Fatalf("--%s %q: %v", name, flags[name], err)
	}
	return ptr.To(int32(v))
}

func specFields(t *testing.T) map[string]specField {
	var pods = func(where string) specField { return specField{why: where} }
	return map[string]specField{
		"Test": pods("the driver's subcommand, `flowsim matsim TEST`: checked by every round trip"),
		"Config.SecretRef.Key": {
			set: func(s *flowsimv1.MatSimRunSpec) {
				s.Config = flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "cfg", Key: "endpoint.yaml"}}
			},
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				var key, ok = strings.CutPrefix(f["config"], ConfigDir+"/")
				if !ok {
					t.Fatalf("--config %q is not a file in %s", f["config"], ConfigDir)
				}
				s.Config.SecretRef = &flowsimv1.SecretKeyRef{Key: key}
			},
		},
		"Config.SecretRef.Name": pods("the driver container's config Secret volume"),
		"Config.Inline": {
			set: func(s *flowsimv1.MatSimRunSpec) {
				s.Config = flowsimv1.ConnectorConfig{Inline: &runtime.RawExtension{Raw: []byte(`{"address":"pg:5432","id":9007199254740993}`)}}
			},
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				s.Config.Inline = &runtime.RawExtension{Raw: []byte(f["config"])}
			},
		},
		"Resource": {
			set: func(s *flowsimv1.MatSimRunSpec) {
				s.Resource.Raw = []byte(`{"shard":18446744073709551615,"table":"t"}`)
			},
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) { s.Resource.Raw = []byte(f["resource"]) },
		},
		"Loops": {
			set: func(s *flowsimv1.MatSimRunSpec) { s.Loops = ptr.To[int32](7) },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) { s.Loops = int32Flag(t, f, "loops") },
		},
		"Start": {
			set: func(s *flowsimv1.MatSimRunSpec) { s.Start = ptr.To[int32](33) },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) { s.Start = int32Flag(t, f, "start") },
		},
		"Batch": {
			set: func(s *flowsimv1.MatSimRunSpec) { s.Batch = ptr.To[int32](77) },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) { s.Batch = int32Flag(t, f, "batch") },
		},
		"Seed": {
			set: func(s *flowsimv1.MatSimRunSpec) { s.Seed = ptr.To[int64](1234567890123) },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				var v, err = strconv.ParseInt(f["seed"], 10, 64)
				if err != nil {
					t.Fatalf("--seed %q: %v", f["seed"], err)
				}
				s.Seed = &v
			},
		},
		"CrashAt": {
			tests: []flowsimv1.MatSimTest{flowsimv1.TestRecovery},
			set:   func(s *flowsimv1.MatSimRunSpec) { s.CrashAt = []flowsimv1.CrashPoint{"after-commit", "after-stores"} },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				for _, p := range strings.Split(f["crash-at"], ",") {
					s.CrashAt = append(s.CrashAt, flowsimv1.CrashPoint(p))
				}
			},
		},
		"ExactlyOnce": {
			tests: []flowsimv1.MatSimTest{flowsimv1.TestFence, flowsimv1.TestRecovery},
			set:   func(s *flowsimv1.MatSimRunSpec) { s.ExactlyOnce = ptr.To(true) },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				if f["exactly-once"] == "true" {
					s.ExactlyOnce = ptr.To(true)
				}
			},
		},
		"Cleanup": {
			set: func(s *flowsimv1.MatSimRunSpec) { s.Cleanup = ptr.To(true) },
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				if f["cleanup"] == "true" {
					s.Cleanup = ptr.To(true)
				}
			},
		},
		"Verify.SQL": {
			tests: []flowsimv1.MatSimTest{flowsimv1.TestDelta, flowsimv1.TestRecovery},
			set: func(s *flowsimv1.MatSimRunSpec) {
				s.Verify = &flowsimv1.VerifySpec{SQL: "SELECT flow_document FROM $FLOWSIM_TABLE"}
			},
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				s.Verify = &flowsimv1.VerifySpec{SQL: f["verify-sql"]}
			},
		},
		"Verify.SecretRef.Key": {
			tests: []flowsimv1.MatSimTest{flowsimv1.TestDelta, flowsimv1.TestRecovery},
			set: func(s *flowsimv1.MatSimRunSpec) {
				s.Verify = &flowsimv1.VerifySpec{SQL: "SELECT 1", SecretRef: &flowsimv1.SecretKeyRef{Name: "v", Key: "conn.yaml"}}
			},
			get: func(f map[string]string, s *flowsimv1.MatSimRunSpec) {
				var key, ok = strings.CutPrefix(f["verify-connection"], VerifyDir+"/")
				if !ok {
					t.Fatalf("--verify-connection %q is not a file in %s", f["verify-connection"], VerifyDir)
				}
				s.Verify = &flowsimv1.VerifySpec{SQL: f["verify-sql"], SecretRef: &flowsimv1.SecretKeyRef{Key: key}}
			},
		},
		"Verify.SecretRef.Name":      pods("the driver container's verify Secret volume"),
		"Connector.Image":            pods("the connector container's image"),
		"Connector.Command":          pods("the command connector-proxy runs"),
		"Connector.Protocol":         pods("connector-proxy's --protocol; the driver speaks 2021-12 to the proxy for a 2021 child, auto otherwise"),
		"Connector.Env":              pods("the connector container's env"),
		"Connector.Resources":        pods("the connector container's resources"),
		"Connector.ImagePullPolicy":  pods("the connector container's pull policy"),
		"Connector.ImagePullSecrets": pods("the pod's image pull secrets"),
		"Driver.Image":               pods("the driver container's image"),
		"Driver.Resources":           pods("the driver container's resources"),
		"Timeout":                    pods("the Job's activeDeadlineSeconds"),
		"BackoffLimit":               pods("the Job's backoffLimit"),
		"TTLSecondsAfterFinished":    pods("the Job's ttlSecondsAfterFinished"),
	}
}

// leafFields lists the field paths of t, descending into the API package's own structs.
func leafFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		var f = t.Field(i)
		var ft = f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeOf(flowsimv1.MatSimRunSpec{}).PkgPath() {
			out = append(out, leafFields(ft, prefix+f.Name+".")...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

// fieldAt is the value at a field path of s (the zero value behind a nil pointer).
func fieldAt(s *flowsimv1.MatSimRunSpec, path string) any {
	var v = reflect.ValueOf(s).Elem()
	for _, name := range strings.Split(path, ".") {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		v = v.FieldByName(name)
	}
	return v.Interface()
}

func TestEverySpecFieldHasADriverMapping(t *testing.T) {
	var fields = specFields(t)
	var paths = leafFields(reflect.TypeOf(flowsimv1.MatSimRunSpec{}), "")
	for _, p := range paths {
		if _, ok := fields[p]; !ok {
			t.Errorf("MatSimRunSpec.%s has no entry in specFields: say which driver flag carries it (and extend DriverArgs), or where else it goes", p)
		}
	}
	for p := range fields {
		if !slices.Contains(paths, p) {
			t.Errorf("specFields names %s, which MatSimRunSpec does not have", p)
		}
	}
}

func TestDriverArgsRoundTrip(t *testing.T) {
	var fields = specFields(t)
	for _, test := range engine.Tests {
		var base = func() *flowsimv1.MatSimRun {
			return testRun(func(r *flowsimv1.MatSimRun) {
				r.Spec.Test = flowsimv1.MatSimTest(test)
				r.Spec.Loops, r.Spec.Seed = nil, nil
			})
		}
		var applies = func(f specField) bool {
			return f.set != nil && (f.tests == nil || slices.Contains(f.tests, flowsimv1.MatSimTest(test)))
		}
		// One field at a time: it reaches the driver, unchanged.
		for path, f := range fields {
			if !applies(f) {
				continue
			}
			t.Run(test+"/"+path, func(t *testing.T) {
				var run = base()
				f.set(&run.Spec)
				var args, err = DriverArgs(run)
				if err != nil {
					t.Fatalf("DriverArgs: %v", err)
				}
				var gotTest, flags = parseDriverArgs(t, args)
				if gotTest != test {
					t.Errorf("the driver runs %s, want %s", gotTest, test)
				}
				var got flowsimv1.MatSimRunSpec
				f.get(flags, &got)
				if diff := cmp.Diff(fieldAt(&run.Spec, path), fieldAt(&got, path)); diff != "" {
					t.Errorf("spec.%s does not survive the trip to the driver (args %q) (-spec +driver):\n%s", path, args, diff)
				}
			})
		}
		// Every field the test takes at once (one config form): the driver accepts the lot.
		t.Run(test+"/all", func(t *testing.T) {
			var run = base()
			for path, f := range fields {
				if applies(f) && path != "Config.Inline" {
					f.set(&run.Spec)
				}
			}
			var args, err = DriverArgs(run)
			if err != nil {
				t.Fatalf("DriverArgs: %v", err)
			}
			parseDriverArgs(t, args)
		})
	}
}
