package kubecli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/matsim/cmdline"
)

// runsOnly takes the names of a command that acts on runs only.
func runsOnly(cmd string, args []string) ([]string, error) {
	var kind, names = kindOf(args)
	if kind != kindRuns {
		return nil, usage("%s acts on runs only, not %s", cmd, kind)
	}
	return names, nil
}

func (k *kube) getCommand() *cobra.Command {
	var output string
	var all bool
	var cmd = &cobra.Command{
		Use:   "get [runs|targets|sweeps] [NAME...]",
		Short: "List runs (default), targets or sweeps with their state",
		Example: `  flowsim kube get
  flowsim kube get runs basic-x7k2p -o yaml
  flowsim kube get -A -o wide
  flowsim kube get targets -A
  flowsim kube get sweeps`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var kind, names = kindOf(args)
			if !slices.Contains([]string{"", "wide", "yaml", "json", "name"}, output) {
				return usage("-o must be wide, yaml, json or name (got %q)", output)
			}
			s, err := k.connect(cmd.Context())
			if err != nil {
				return err
			}
			if kind != kindRuns {
				return k.getOthers(cmd.Context(), s, kind, names, output, all)
			}
			runs, err := s.listRuns(cmd.Context(), names, all)
			if err != nil {
				return err
			}
			return k.printRuns(runs, output, all)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, yaml, json or name")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list runs of every namespace")
	return cmd
}

// listRuns gets the named runs, or lists them all.
func (s *session) listRuns(ctx context.Context, names []string, allNamespaces bool) ([]flowsimv1.MatSimRun, error) {
	if len(names) == 0 {
		var list flowsimv1.MatSimRunList
		var opts []client.ListOption
		if !allNamespaces {
			opts = append(opts, client.InNamespace(s.ns))
		}
		if err := s.c.List(ctx, &list, opts...); err != nil {
			return nil, s.apiErr("list", "matsimruns.flowsim.dev", "", err)
		}
		slices.SortFunc(list.Items, func(a, b flowsimv1.MatSimRun) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		return list.Items, nil
	}
	var out []flowsimv1.MatSimRun
	for _, n := range names {
		var run, err = s.getRun(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *run)
	}
	return out, nil
}

func (s *session) getRun(ctx context.Context, name string) (*flowsimv1.MatSimRun, error) {
	var run flowsimv1.MatSimRun
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &run); err != nil {
		if apierrors.IsNotFound(err) && !isMissingCRD(err) {
			return nil, usage("run %q not found in namespace %q (flowsim kube get -n %s lists its runs)", name, s.ns, s.ns)
		}
		return nil, s.apiErr("get", "matsimruns.flowsim.dev", name, err)
	}
	run.SetGroupVersionKind(flowsimv1.GroupVersion.WithKind("MatSimRun"))
	return &run, nil
}

func (k *kube) printRuns(runs []flowsimv1.MatSimRun, output string, allNamespaces bool) error {
	switch output {
	case "name":
		for _, r := range runs {
			fmt.Fprintf(k.stdout, "matsimrun.flowsim.dev/%s\n", r.Name)
		}
		return nil
	case "yaml", "json":
		for i := range runs {
			runs[i].SetGroupVersionKind(flowsimv1.GroupVersion.WithKind("MatSimRun"))
		}
		var v any = runs
		if len(runs) == 1 {
			v = runs[0]
		} else {
			v = map[string]any{"apiVersion": "v1", "kind": "List", "items": runs}
		}
		var b, err = yaml.Marshal(v)
		if output == "json" {
			b, err = yaml.YAMLToJSON(b)
			b = append(b, '\n')
		}
		if err != nil {
			return err
		}
		_, err = k.stdout.Write(b)
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(k.stderr, "No runs found.")
		return nil
	}
	var tw = tabwriter.NewWriter(k.stdout, 0, 8, 3, ' ', 0)
	var head = []string{"NAME", "TEST", "PHASE", "RESULT", "PROGRESS", "AGE"}
	if allNamespaces {
		head = append([]string{"NAMESPACE"}, head...)
	}
	if output == "wide" {
		head = append(head, "IMAGE", "SEED", "VERIFIED", "CHECK")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range runs {
		var row = []string{r.Name, string(r.Spec.Test), phaseOf(&r), dash(r.Status.Reason), progressCell(&r), age(k.opts.Now(), r.CreationTimestamp.Time)}
		if allNamespaces {
			row = append([]string{r.Namespace}, row...)
		}
		if output == "wide" {
			var seed, verified, check = "-", "-", "-"
			if r.Status.Seed != nil {
				seed = fmt.Sprint(*r.Status.Seed)
			}
			if r.Status.Result != nil {
				verified = fmt.Sprint(r.Status.Result.Verified)
				check = dash(r.Status.Result.Check)
			}
			row = append(row, r.Spec.Connector.Image, seed, verified, check)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func progressCell(r *flowsimv1.MatSimRun) string {
	switch {
	case r.Status.Result != nil:
		return fmt.Sprintf("%d/%d", r.Status.Result.LoopsDone, r.Status.Result.Loops)
	case r.Status.Progress != nil:
		return fmt.Sprintf("%d/%d", r.Status.Progress.Loop, r.Status.Progress.Loops)
	}
	return "-"
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

func (k *kube) describeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe [runs|targets|sweeps] NAME",
		Short: "Show a run's spec, status, conditions, pods and events (targets and sweeps: as YAML)",
		Example: `  flowsim kube describe basic-x7k2p -n team-a
  flowsim kube describe sweep nightly`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var kind, names = kindOf(args)
			if len(names) != 1 {
				return usage("describe takes one name")
			}
			s, err := k.connect(cmd.Context())
			if err != nil {
				return err
			}
			switch kind {
			case kindTargets:
				var t, err = s.getTarget(cmd.Context(), names[0])
				if err != nil {
					return err
				}
				return printObject(k.stdout, t, "yaml")
			case kindSweeps:
				var sw, err = s.getSweep(cmd.Context(), names[0])
				if err != nil {
					return err
				}
				return printObject(k.stdout, sw, "yaml")
			}
			run, err := s.getRun(cmd.Context(), names[0])
			if err != nil {
				return err
			}
			var events corev1.EventList
			// Events are a courtesy: a user who may not list them still sees the run.
			_ = s.c.List(cmd.Context(), &events, client.InNamespace(s.ns),
				client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("involvedObject.name", run.Name)})
			return k.describe(k.stdout, run, events.Items)
		},
	}
}

func (k *kube) describe(w io.Writer, run *flowsimv1.MatSimRun, events []corev1.Event) error {
	var tw = tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	var sp, st = run.Spec, run.Status
	fmt.Fprintf(tw, "Name:\t%s\n", run.Name)
	fmt.Fprintf(tw, "Namespace:\t%s\n", run.Namespace)
	fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", run.CreationTimestamp.UTC().Format(time.RFC3339), age(k.opts.Now(), run.CreationTimestamp.Time))
	fmt.Fprintf(tw, "Test:\t%s\n", sp.Test)
	fmt.Fprintf(tw, "Connector:\t%s\n", sp.Connector.Image)
	if len(sp.Connector.Command) != 0 {
		fmt.Fprintf(tw, "  Command:\t%s\n", strings.Join(sp.Connector.Command, " "))
	}
	fmt.Fprintf(tw, "  Protocol:\t%s\n", dash(string(sp.Connector.Protocol)))
	switch {
	case sp.Config.SecretRef != nil:
		fmt.Fprintf(tw, "Config:\tSecret %s, key %s\n", sp.Config.SecretRef.Name, sp.Config.SecretRef.Key)
	case sp.Config.Inline != nil:
		fmt.Fprintf(tw, "Config:\tinline (%d bytes)\n", len(sp.Config.Inline.Raw))
	}
	fmt.Fprintf(tw, "Resource:\t%s\n", string(sp.Resource.Raw))
	fmt.Fprintf(tw, "Phase:\t%s\n", phaseOf(run))
	if st.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", st.Reason)
	}
	if st.Message != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", strings.ReplaceAll(st.Message, "\n", "\n\t"))
	}
	if st.Seed != nil {
		fmt.Fprintf(tw, "Seed:\t%d\n", *st.Seed)
	}
	if st.StartTime != nil {
		fmt.Fprintf(tw, "Started:\t%s\n", st.StartTime.UTC().Format(time.RFC3339))
	}
	if st.CompletionTime != nil {
		fmt.Fprintf(tw, "Completed:\t%s\n", st.CompletionTime.UTC().Format(time.RFC3339))
	}
	if st.JobName != "" {
		fmt.Fprintf(tw, "Job:\t%s\n", st.JobName)
	}
	if st.PodName != "" {
		fmt.Fprintf(tw, "Pod:\t%s (attempts: %d)\n", st.PodName, st.Attempts)
	}
	if st.PeerPodName != "" {
		fmt.Fprintf(tw, "Peer pod:\t%s\n", st.PeerPodName)
	}
	if p := st.Progress; p != nil && !st.Phase.IsFinished() {
		fmt.Fprintf(tw, "Progress:\tloop %d/%d, %d documents\n", p.Loop, p.Loops, p.Documents)
	}
	if r := st.Result; r != nil {
		fmt.Fprintf(tw, "Result:\t%s, %d/%d loops, %d loaded, %d stored, %d verified in %s (%s docs/s), protocol %s\n",
			r.Outcome, r.LoopsDone, r.Loops, r.Loaded, r.Stored, r.Verified, r.Duration.Duration, r.DocsPerSecond, dash(r.Protocol))
		if r.Check != "" {
			fmt.Fprintf(tw, "  Check:\t%s\n", r.Check)
		}
	}
	if len(st.Conditions) != 0 {
		fmt.Fprintf(tw, "Conditions:\n")
		fmt.Fprintf(tw, "  Type\tStatus\tReason\tMessage\n")
		for _, c := range st.Conditions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, firstLine(c.Message))
		}
	}
	slices.SortFunc(events, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	if len(events) == 0 {
		fmt.Fprintf(tw, "Events:\t<none>\n")
	} else {
		fmt.Fprintf(tw, "Events:\n  Type\tReason\tAge\tMessage\n")
		for _, e := range events {
			var t = e.LastTimestamp.Time
			if t.IsZero() {
				t = e.EventTime.Time
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Type, e.Reason, age(k.opts.Now(), t), firstLine(e.Message))
		}
	}
	return tw.Flush()
}

func (k *kube) deleteCommand() *cobra.Command {
	var ignoreNotFound bool
	var cmd = &cobra.Command{
		Use:   "delete [runs|targets|sweeps] NAME...",
		Short: "Delete runs (their Job, pods and config Secret go with them), targets or sweeps",
		Example: `  flowsim kube delete basic-x7k2p
  flowsim kube delete runs a b --ignore-not-found
  flowsim kube delete sweep nightly`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var kind, names = kindOf(args)
			if len(names) == 0 {
				return usage("delete takes one or more names")
			}
			s, err := k.connect(cmd.Context())
			if err != nil {
				return err
			}
			for _, n := range names {
				var obj client.Object
				var what, where = "run", fmt.Sprintf(" in namespace %q", s.ns)
				switch kind {
				case kindTargets:
					obj, what = &flowsimv1.MatSimTarget{}, "target"
				case kindSweeps:
					obj, what, where = &flowsimv1.MatSimSweep{}, "sweep", ""
				default:
					obj = &flowsimv1.MatSimRun{}
				}
				obj.SetName(n)
				if kind != kindSweeps {
					obj.SetNamespace(s.ns)
				}
				var resource = "matsim" + what + "s.flowsim.dev"
				err := s.c.Delete(cmd.Context(), obj, client.PropagationPolicy("Background"))
				switch {
				case err == nil:
					fmt.Fprintf(k.stdout, "matsim%s.flowsim.dev/%s deleted\n", what, n)
				case apierrors.IsNotFound(err) && !isMissingCRD(err) && ignoreNotFound:
				case apierrors.IsNotFound(err) && !isMissingCRD(err):
					return usage("%s %q not found%s", what, n, where)
				default:
					return s.apiErr("delete", resource, n, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "do not fail when a run does not exist")
	return cmd
}

func (k *kube) waitCommand() *cobra.Command {
	var timeout time.Duration
	var report string
	var files reportFiles
	var cmd = &cobra.Command{
		Use:   "wait [runs] NAME",
		Short: "Wait until a run finishes, then print its report; the exit code is the run's",
		Long: `wait follows a run (as 'run' does after submitting it) until it finishes and prints its
report. Exit codes as for 'run'; 124 when --timeout expires first.`,
		Example: `  flowsim kube wait basic-x7k2p --timeout 20m --junit report.xml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names, err = runsOnly("wait", args)
			if err != nil {
				return err
			}
			if len(names) != 1 {
				return usage("wait takes one run name")
			}
			if report != "text" && report != "json" {
				return usage("--report must be text or json (got %q)", report)
			}
			if err := files.check(); err != nil {
				return err
			}
			var ctx = cmd.Context()
			s, err := k.connect(ctx)
			if err != nil {
				return err
			}
			if _, err := s.getRun(ctx, names[0]); err != nil {
				return err
			}
			var wctx, cancel = ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				wctx, cancel = context.WithTimeout(ctx, timeout)
			}
			defer cancel()
			var view = k.newProgressView()
			run, err := s.waitFinished(wctx, names[0], view.update)
			view.done()
			if err != nil {
				if ctx.Err() == nil && wctx.Err() != nil {
					return cmdline.WithExitCode(ExitTimeout, fmt.Errorf("timed out after %s waiting for run %s/%s to finish", timeout, s.ns, names[0]))
				}
				if ctx.Err() != nil {
					return cmdline.WithExitCode(ExitInterrupted, fmt.Errorf("interrupted; run %s/%s keeps running", s.ns, names[0]))
				}
				return err
			}
			return k.printReport(run, report, files)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (exit 124); 0 waits as long as it takes")
	cmd.Flags().StringVar(&report, "report", "text", "report format on stdout: text or json")
	cmd.Flags().StringVar(&files.junit, "junit", "", "also write a JUnit XML report to this file")
	cmd.Flags().StringVar(&files.json, "json", "", "also write the JSON report to this file")
	return cmd
}

func (k *kube) reportCommand() *cobra.Command {
	var report, execution string
	var files reportFiles
	var cmd = &cobra.Command{
		Use:   "report RUN | report sweep NAME [--execution N] [--junit FILE] [--json FILE]",
		Short: "Print a finished run's report (as a local run prints it), or a sweep execution's; write JUnit/JSON files",
		Long: `report prints the report of a finished run from its status, and exits with the run's
exit code (0 passed, 1 failed check, 2 setup error, 3 infrastructure failure). A run that
has not finished yet is an error (exit 2): use 'flowsim kube wait'.

'report sweep NAME' reports one execution of a sweep (--execution, default the latest):
a line per target and test; --junit writes a testsuite per target and a testcase per
test. Exit 1 when a run failed, 2 when one could not be set up or completed, else 0.`,
		Example: `  flowsim kube report basic-x7k2p --junit report.xml --json report.json
  flowsim kube report sweep nightly --junit nightly.xml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var kind, names = kindOf(args)
			if len(names) != 1 || kind == kindTargets {
				return usage("report takes one run name, or sweep NAME")
			}
			if execution != "" && kind != kindSweeps {
				return usage("--execution applies to sweeps")
			}
			if report != "text" && report != "json" {
				return usage("--report must be text or json (got %q)", report)
			}
			if err := files.check(); err != nil {
				return err
			}
			s, err := k.connect(cmd.Context())
			if err != nil {
				return err
			}
			if kind == kindSweeps {
				return k.sweepReport(cmd.Context(), s, names[0], execution, report, files)
			}
			run, err := s.getRun(cmd.Context(), names[0])
			if err != nil {
				return err
			}
			if !run.Status.Phase.IsFinished() {
				return usage("run %s/%s has not finished (%s): flowsim kube wait %s -n %s", s.ns, run.Name, progressLine(run), run.Name, s.ns)
			}
			return k.printReport(run, report, files)
		},
	}
	cmd.Flags().StringVar(&report, "report", "text", "report format on stdout: text or json")
	cmd.Flags().StringVar(&files.junit, "junit", "", "write a JUnit XML report to this file")
	cmd.Flags().StringVar(&files.json, "json", "", "write the JSON report to this file")
	cmd.Flags().StringVar(&execution, "execution", "", "sweeps: the execution to report (default the latest)")
	return cmd
}
