package kubecli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowsim/flowsim/lib/outfile"
	"github.com/flowsim/flowsim/lib/shell"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/result"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// exitCodeOf maps a finished run's outcome (flowsimv1.Outcome) to the exit code of a
// local run of the same outcome, or ExitInfra when the cluster could not complete it.
func exitCodeOf(run *flowsimv1.MatSimRun) int {
	switch flowsimv1.Outcome(run) {
	case flowsimv1.OutcomePassed:
		return ExitPassed
	case flowsimv1.OutcomeFailed:
		return ExitFailed
	}
	if run.Status.Reason == flowsimv1.ReasonSetupError {
		return ExitSetup
	}
	return ExitInfra
}

// runReport is a run's report: matsim's own, rebuilt from the run's status, and where the
// run ran.
type runReport struct {
	*engine.Report
	Run   runInfo `json:"run"`
	rerun string
}

type runInfo struct {
	Namespace string             `json:"namespace"`
	Name      string             `json:"name"`
	Phase     flowsimv1.RunPhase `json:"phase"`
	Reason    string             `json:"reason,omitempty"`
	Message   string             `json:"message,omitempty"`
	Pod       string             `json:"pod,omitempty"`
	ExitCode  int                `json:"exitCode"`
}

// reportOf rebuilds the report of a finished run from its status. The driver's numbers
// and first failure are in status.result; per-transaction figures stay in the driver's
// log (flowsim kube logs RUN).
func reportOf(run *flowsimv1.MatSimRun) *runReport {
	var st = run.Status
	var rep = &engine.Report{}
	rep.Result.V = result.Version
	rep.Result.Test = string(run.Spec.Test)
	rep.Connector = connector.Info{Transport: "cluster", Target: run.Spec.Connector.Image, Protocol: connector.Revision(run.Spec.Connector.Protocol)}
	if st.Seed != nil {
		rep.Result.Seed = uint64(*st.Seed)
	} else if run.Spec.Seed != nil {
		rep.Result.Seed = uint64(*run.Spec.Seed)
	}
	if r := st.Result; r != nil {
		rep.Result.Outcome = result.Outcome(r.Outcome)
		rep.Result.Protocol = r.Protocol
		if r.Protocol != "" {
			rep.Connector.Protocol = connector.Revision(r.Protocol)
		}
		rep.Result.LoopsDone, rep.Result.Loops = int(r.LoopsDone), int(r.Loops)
		rep.Result.Loaded, rep.Result.Stored, rep.Result.Verified = r.Loaded, r.Stored, r.Verified
		rep.Result.DurationMillis = r.Duration.Milliseconds()
		rep.Result.DocsPerSecond, _ = strconv.ParseFloat(r.DocsPerSecond, 64)
		if rep.Result.DocsPerSecond > 0 { // docs/s = (loaded+stored) / transactions time
			rep.SetTransactionsTime(time.Duration(float64(r.Loaded+r.Stored) / rep.Result.DocsPerSecond * float64(time.Second)))
		}
		rep.Result.Check, rep.Result.Message = r.Check, r.Message
		if r.Check != "" {
			rep.Failures = []*engine.Failure{failureOf(r.Check, r.Message)}
		}
	}
	var code = exitCodeOf(run)
	switch {
	case code == ExitPassed:
		rep.Result.Outcome = result.Passed
	case st.Result == nil || code == ExitInfra || (code == ExitFailed && rep.Result.Outcome == result.Passed):
		// No verdict from the driver, or the connector crashed after it reported: the
		// run's reason is the failure.
		if code == ExitFailed {
			rep.Result.Outcome = result.Failed
		} else {
			rep.Result.Outcome = result.Error
		}
		rep.Result.Check, rep.Result.Message = st.Reason, st.Message
		rep.Failures = []*engine.Failure{{Check: engine.Check(st.Reason), Phase: "cluster", Message: st.Message}}
	}
	return &runReport{Report: rep, rerun: rerunCommand(run, rep.Result.Seed), Run: runInfo{
		Namespace: run.Namespace, Name: run.Name, Phase: st.Phase, Reason: st.Reason,
		Message: st.Message, Pod: st.PodName, ExitCode: code,
	}}
}

// failureOf rebuilds a Failure whose Error() is message, which the driver wrote as
// Failure.Error(): "check: phase: text".
func failureOf(check, message string) *engine.Failure {
	var f = &engine.Failure{Check: engine.Check(check), Phase: "driver", Message: message}
	if rest, ok := strings.CutPrefix(message, check+": "); ok {
		if phase, text, ok := strings.Cut(rest, ": "); ok {
			f.Phase, f.Message = phase, text
		}
	}
	return f
}

// writeText prints the report as a local run prints it, then where the run ran.
func (r *runReport) writeText(w io.Writer) error {
	var b strings.Builder
	if r.Run.ExitCode == ExitInfra {
		fmt.Fprintf(&b, "matsim %s: INFRASTRUCTURE FAILURE (%s)\n", r.Result.Test, r.Run.Reason)
		fmt.Fprintf(&b, "  connector: %s\n", r.Connector)
		fmt.Fprintf(&b, "  seed:      %d\n", r.Result.Seed)
		fmt.Fprintf(&b, "\n  %s: %s\n", r.Run.Reason, strings.ReplaceAll(r.Run.Message, "\n", "\n    "))
		fmt.Fprintf(&b, "  the cluster could not complete the run; the connector was not judged\n")
	} else if err := r.Report.WriteText(&b, rerunLine(r)); err != nil {
		return err
	}
	fmt.Fprintf(&b, "  run:       %s/%s (%s", r.Run.Namespace, r.Run.Name, r.Run.Phase)
	if r.Run.Reason != "" {
		fmt.Fprintf(&b, ", %s", r.Run.Reason)
	}
	b.WriteString(")\n")
	if r.Run.ExitCode != ExitPassed {
		fmt.Fprintf(&b, "  details:   flowsim kube describe %s -n %s; flowsim kube logs %s -n %s\n", r.Run.Name, r.Run.Namespace, r.Run.Name, r.Run.Namespace)
	}
	var _, err = io.WriteString(w, b.String())
	return err
}

// rerunLine is the local-report "reproduce:" line for a run: `flowsim kube run` with the
// run's spec and the seed it used. A config from a Secret is left to the user
// ($FLOWSIM_CONFIG: the file or YAML they passed).
func rerunLine(r *runReport) string { return r.rerun }

func (r *runReport) writeJSON(w io.Writer) error {
	var enc = json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// reportFiles are the --junit and --json outputs.
type reportFiles struct {
	junit, json string
}

// check fails early, before anything runs, when an output file cannot be written.
func (f reportFiles) check() error {
	for flag, p := range map[string]string{"--junit": f.junit, "--json": f.json} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return usage("%s %s: the folder %s does not exist", flag, p, filepath.Dir(p))
		}
	}
	return nil
}

func (f reportFiles) write(r *runReport) error {
	if f.junit != "" {
		if err := outfile.Write(f.junit, r.WriteJUnit); err != nil {
			return usage("writing --junit %s: %v", f.junit, err)
		}
	}
	if f.json != "" {
		if err := outfile.Write(f.json, r.writeJSON); err != nil {
			return usage("writing --json %s: %v", f.json, err)
		}
	}
	return nil
}

// finalError is what a command returns after printing a finished run's report: the
// run's exit code, with nothing more printed for a failed check (the report said it).
func finalError(r *runReport) error {
	switch r.Run.ExitCode {
	case ExitPassed:
		return nil
	case ExitFailed:
		return cmdline.WithExitCode(ExitFailed, fmt.Errorf("%w: %s", cmdline.ErrFailed, r.Result.Check))
	case ExitSetup:
		return cmdline.WithExitCode(ExitSetup, fmt.Errorf("run %s/%s: setup failed: %s", r.Run.Namespace, r.Run.Name, firstLine(r.Run.Message)))
	default:
		return cmdline.WithExitCode(r.Run.ExitCode, fmt.Errorf("run %s/%s: infrastructure failure: %s: %s", r.Run.Namespace, r.Run.Name, r.Run.Reason, firstLine(r.Run.Message)))
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// rerunCommand renders `flowsim kube run` for the spec of run with seed.
func rerunCommand(run *flowsimv1.MatSimRun, seed uint64) string {
	var sp = run.Spec
	var parts = []string{"flowsim kube run", string(sp.Test), "-n", shell.Quote(run.Namespace), "--image", shell.Quote(sp.Connector.Image)}
	if len(sp.Connector.Command) != 0 {
		parts = append(parts, "--command", shell.Quote(strings.Join(sp.Connector.Command, ",")))
	}
	if p := sp.Connector.Protocol; p != "" && p != flowsimv1.ProtocolAuto {
		parts = append(parts, "--protocol", string(p))
	}
	switch {
	case sp.Config.SecretRef != nil:
		parts = append(parts, `--config "$FLOWSIM_CONFIG"`)
	case sp.Config.Inline != nil && len(sp.Config.Inline.Raw) != 0 && string(sp.Config.Inline.Raw) != "{}":
		parts = append(parts, "--config", shell.Quote(string(sp.Config.Inline.Raw)))
	}
	if len(sp.Resource.Raw) != 0 && string(sp.Resource.Raw) != "{}" {
		parts = append(parts, "--resource", shell.Quote(string(sp.Resource.Raw)))
	}
	for _, f := range []struct {
		name string
		v    *int32
	}{{"--loops", sp.Loops}, {"--start", sp.Start}, {"--batch", sp.Batch}} {
		if f.v != nil {
			parts = append(parts, f.name, strconv.Itoa(int(*f.v)))
		}
	}
	if len(sp.CrashAt) != 0 {
		var cs []string
		for _, c := range sp.CrashAt {
			cs = append(cs, string(c))
		}
		parts = append(parts, "--crash-at", strings.Join(cs, ","))
	}
	if sp.Driver.Image != "" {
		parts = append(parts, "--driver-image", shell.Quote(sp.Driver.Image))
	}
	parts = append(parts, "--seed", strconv.FormatUint(seed, 10))
	return strings.Join(parts, " ")
}
