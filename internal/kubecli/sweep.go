package kubecli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/internal/sweepreport"
	"github.com/flowsim/flowsim/lib/outfile"
	"github.com/flowsim/flowsim/matsim/cmdline"
)

// Kinds the resource commands accept, with their aliases (as kubectl's short names).
const (
	kindRuns    = "runs"
	kindTargets = "targets"
	kindSweeps  = "sweeps"
)

var kindAliases = map[string]string{
	"runs": kindRuns, "run": kindRuns, "matsimruns": kindRuns, "matsimrun": kindRuns, "msr": kindRuns,
	"targets": kindTargets, "target": kindTargets, "matsimtargets": kindTargets, "matsimtarget": kindTargets, "mst": kindTargets,
	"sweeps": kindSweeps, "sweep": kindSweeps, "matsimsweeps": kindSweeps, "matsimsweep": kindSweeps, "msw": kindSweeps,
}

// kindOf separates an optional leading kind (also as kind/name) from the names; runs
// by default.
func kindOf(args []string) (kind string, names []string) {
	if len(args) == 0 {
		return kindRuns, nil
	}
	if k, ok := kindAliases[strings.ToLower(args[0])]; ok {
		return k, args[1:]
	}
	if k, name, ok := strings.Cut(args[0], "/"); ok {
		if kind, ok := kindAliases[strings.ToLower(k)]; ok {
			return kind, append([]string{name}, args[1:]...)
		}
	}
	return kindRuns, args
}

func (s *session) getTarget(ctx context.Context, name string) (*flowsimv1.MatSimTarget, error) {
	var t flowsimv1.MatSimTarget
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &t); err != nil {
		if apierrors.IsNotFound(err) && !isMissingCRD(err) {
			return nil, usage("target %q not found in namespace %q", name, s.ns)
		}
		return nil, s.apiErr("get", "matsimtargets.flowsim.dev", name, err)
	}
	t.SetGroupVersionKind(flowsimv1.GroupVersion.WithKind("MatSimTarget"))
	return &t, nil
}

func (s *session) getSweep(ctx context.Context, name string) (*flowsimv1.MatSimSweep, error) {
	var sw flowsimv1.MatSimSweep
	if err := s.c.Get(ctx, client.ObjectKey{Name: name}, &sw); err != nil {
		if apierrors.IsNotFound(err) && !isMissingCRD(err) {
			return nil, usage("sweep %q not found (sweeps are cluster-scoped; flowsim kube get sweeps lists them)", name)
		}
		return nil, s.apiErr("get", "matsimsweeps.flowsim.dev", name, err)
	}
	sw.SetGroupVersionKind(flowsimv1.GroupVersion.WithKind("MatSimSweep"))
	return &sw, nil
}

// getOthers is `get targets|sweeps`.
func (k *kube) getOthers(ctx context.Context, s *session, kind string, names []string, output string, all bool) error {
	var objs []client.Object
	switch kind {
	case kindTargets:
		if len(names) == 0 {
			var list flowsimv1.MatSimTargetList
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(s.ns))
			}
			if err := s.c.List(ctx, &list, opts...); err != nil {
				return s.apiErr("list", "matsimtargets.flowsim.dev", "", err)
			}
			for i := range list.Items {
				list.Items[i].SetGroupVersionKind(flowsimv1.GroupVersion.WithKind("MatSimTarget"))
				objs = append(objs, &list.Items[i])
			}
		}
		for _, n := range names {
			var t, err = s.getTarget(ctx, n)
			if err != nil {
				return err
			}
			objs = append(objs, t)
		}
	case kindSweeps:
		if len(names) == 0 {
			var list flowsimv1.MatSimSweepList
			if err := s.c.List(ctx, &list); err != nil {
				return s.apiErr("list", "matsimsweeps.flowsim.dev", "", err)
			}
			for i := range list.Items {
				list.Items[i].SetGroupVersionKind(flowsimv1.GroupVersion.WithKind("MatSimSweep"))
				objs = append(objs, &list.Items[i])
			}
		}
		for _, n := range names {
			var sw, err = s.getSweep(ctx, n)
			if err != nil {
				return err
			}
			objs = append(objs, sw)
		}
	}
	slices.SortFunc(objs, func(a, b client.Object) int {
		return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
	})
	switch output {
	case "name":
		for _, o := range objs {
			fmt.Fprintf(k.stdout, "%s.flowsim.dev/%s\n", strings.ToLower(o.GetObjectKind().GroupVersionKind().Kind), o.GetName())
		}
		return nil
	case "yaml", "json":
		var v any = objs
		if len(objs) == 1 {
			v = objs[0]
		} else {
			v = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
		}
		return printObject(k.stdout, v, output)
	}
	if len(objs) == 0 {
		fmt.Fprintf(k.stderr, "No %s found.\n", kind)
		return nil
	}
	var tw = tabwriter.NewWriter(k.stdout, 0, 8, 3, ' ', 0)
	if kind == kindTargets {
		fmt.Fprintln(tw, "NAMESPACE\tNAME\tIMAGE\tTESTS\tAGE")
		for _, o := range objs {
			var t = o.(*flowsimv1.MatSimTarget)
			var tests []string
			for _, x := range t.Spec.TestsToRun() {
				tests = append(tests, string(x))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Namespace, t.Name, t.Spec.Run.Connector.Image, strings.Join(tests, ","), age(k.opts.Now(), t.CreationTimestamp.Time))
		}
	} else {
		fmt.Fprintln(tw, "NAME\tSCHEDULE\tSUSPEND\tACTIVE\tLAST RESULT\tAGE")
		for _, o := range objs {
			var sw = o.(*flowsimv1.MatSimSweep)
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\n", sw.Name, sw.Spec.Schedule, sw.Spec.Suspend != nil && *sw.Spec.Suspend,
				len(sw.Status.Active), dash(sw.Status.LastResult), age(k.opts.Now(), sw.CreationTimestamp.Time))
		}
	}
	return tw.Flush()
}

func printObject(w io.Writer, v any, output string) error {
	var b, err = yaml.Marshal(v)
	if err == nil && output == "json" {
		b, err = yaml.YAMLToJSON(b)
		b = append(b, '\n')
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (k *kube) sweepCommand() *cobra.Command {
	var cmd = &cobra.Command{
		Use:   "sweep",
		Short: "Act on MatSimSweeps (nightly fleet tests)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var value string
	var trigger = &cobra.Command{
		Use:   "trigger NAME",
		Short: "Start an execution of a sweep now, whatever its schedule",
		Long: `trigger sets the sweep's ` + flowsimv1.TriggerAnnotation + ` annotation to a new value; the operator
starts one execution for it (setting the same value again starts nothing). Follow it with
'flowsim kube get sweeps' and 'flowsim kube report sweep NAME'.`,
		Example: `  flowsim kube sweep trigger nightly`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ctx = cmd.Context()
			s, err := k.connect(ctx)
			if err != nil {
				return err
			}
			sw, err := s.getSweep(ctx, args[0])
			if err != nil {
				return err
			}
			if value == "" {
				value = "cli-" + strconv.FormatInt(k.opts.Now().Unix(), 10)
			}
			if sw.Annotations[flowsimv1.TriggerAnnotation] == value {
				return usage("sweep %s already has %s=%s: choose another --value", sw.Name, flowsimv1.TriggerAnnotation, value)
			}
			var patch = client.MergeFrom(sw.DeepCopy())
			if sw.Annotations == nil {
				sw.Annotations = map[string]string{}
			}
			sw.Annotations[flowsimv1.TriggerAnnotation] = value
			if err := s.c.Patch(ctx, sw, patch, client.FieldOwner(FieldManager)); err != nil {
				return s.apiErr("patch", "matsimsweeps.flowsim.dev", sw.Name, err)
			}
			fmt.Fprintf(k.stdout, "matsimsweep.flowsim.dev/%s triggered (%s=%s)\n", sw.Name, flowsimv1.TriggerAnnotation, value)
			fmt.Fprintf(k.stderr, "follow it: flowsim kube get sweeps %s; report: flowsim kube report sweep %s\n", sw.Name, sw.Name)
			return nil
		},
	}
	trigger.Flags().StringVar(&value, "value", "", "trigger value (default cli-<unix time>)")
	trigger.SetFlagErrorFunc(flagError)
	cmd.AddCommand(trigger)
	return cmd
}

// sweepReport prints an execution of a sweep (the latest by default) and writes its
// JUnit/JSON; exit 4 while the execution has not finished, 1 when a run failed, 2 when
// one had an error, 0 otherwise.
func (k *kube) sweepReport(ctx context.Context, s *session, name, execution, format string, files reportFiles) error {
	var sw, err = s.getSweep(ctx, name)
	if err != nil {
		return err
	}
	var execs = append(append([]flowsimv1.SweepExecution{}, sw.Status.Active...), sw.Status.History...)
	if execution == "" {
		var latest *flowsimv1.SweepExecution
		for i := range execs {
			if latest == nil || execs[i].StartTime.After(latest.StartTime.Time) {
				latest = &execs[i]
			}
		}
		if latest == nil {
			return usage("sweep %s has no execution yet (flowsim kube sweep trigger %s starts one)", name, name)
		}
		execution = latest.Name
	}
	var runs flowsimv1.MatSimRunList
	if err := s.c.List(ctx, &runs, client.MatchingLabels{flowsimv1.LabelExecution: execution}); err != nil {
		return s.apiErr("list", "matsimruns.flowsim.dev", "", err)
	}
	rep, err := sweepreport.Build(sw, execution, runs.Items)
	if err != nil {
		var names []string
		for _, e := range execs {
			names = append(names, e.Name)
		}
		return usage("sweep %s: %v (executions: %s)", name, err, strings.Join(names, ", "))
	}
	if format == "json" {
		var b, err = rep.JSON()
		if err != nil {
			return err
		}
		k.stdout.Write(append(b, '\n'))
	} else {
		writeSweepText(k.stdout, rep)
	}
	for _, f := range []struct {
		path string
		fn   func() ([]byte, error)
	}{{files.junit, rep.JUnit}, {files.json, rep.JSON}} {
		if f.path == "" {
			continue
		}
		if err := outfile.Write(f.path, func(w io.Writer) error {
			var b, err = f.fn()
			if err == nil {
				_, err = w.Write(b)
			}
			return err
		}); err != nil {
			return usage("writing %s: %v", f.path, err)
		}
	}
	var c = rep.Counts
	switch {
	case rep.Phase == string(flowsimv1.ExecutionRunning) || c.Queued+c.Pending+c.Running > 0:
		return cmdline.WithExitCode(ExitUnfinished, fmt.Errorf("sweep %s execution %s has not finished (%d queued, %d pending, %d running of %d): this report is partial; run it again when the execution completes (kubectl wait matsimsweep/%s --for=condition=Active=False)",
			name, execution, c.Queued, c.Pending, c.Running, c.Total, name))
	case rep.Counts.Failed > 0:
		return cmdline.WithExitCode(ExitFailed, fmt.Errorf("%w: %d of %d runs failed", cmdline.ErrFailed, rep.Counts.Failed, rep.Counts.Total))
	case rep.Counts.Error > 0:
		return cmdline.WithExitCode(ExitSetup, fmt.Errorf("sweep %s execution %s: %d of %d runs could not be set up or completed", name, execution, rep.Counts.Error, rep.Counts.Total))
	}
	return nil
}

func writeSweepText(w io.Writer, r sweepreport.Report) {
	var c = r.Counts
	fmt.Fprintf(w, "sweep %s, execution %s (%s): %d/%d passed, %d failed, %d error, %d running, %d pending\n",
		r.Sweep, r.Execution, dash(r.Phase), c.Passed, c.Total, c.Failed, c.Error, c.Running, c.Pending)
	var tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  TARGET\tTEST\tOUTCOME\tCHECK/REASON\tRUN\t")
	for _, t := range r.Targets {
		for _, x := range t.Tests {
			fmt.Fprintf(tw, "  %s/%s\t%s\t%s\t%s\t%s\t\n", t.Namespace, t.Name, x.Test, x.Outcome, dash(firstNonEmpty(x.Check, x.Reason)), dash(x.Run))
		}
	}
	tw.Flush()
	for _, t := range r.Targets {
		for _, x := range t.Tests {
			if x.Message != "" && (x.Outcome == "failed" || x.Outcome == "error") {
				fmt.Fprintf(w, "\n  FAIL %s/%s %s: %s\n", t.Namespace, t.Name, x.Test, firstLine(x.Message))
			}
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
