package kubecli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flowsim/flowsim/lib/yamljson"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/internal/cli/progress"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/flowsim/flowsim/matsim/engine"
)

// ConfigKey is the key of the config in the Secret `kube run` creates.
const ConfigKey = "config.yaml"

type runFlags struct {
	file        string
	name        string
	image       string
	command     []string
	protocol    string
	config      string
	resource    string
	loops       int32
	start       int32
	batch       int32
	seed        int64
	crashAt     []string
	exactlyOnce bool
	cleanup     bool
	timeout     time.Duration
	driverImage string
	pullPolicy  string
	wait        bool
	report      string
	junit       string
	json        string
}

func (k *kube) runCommand() *cobra.Command {
	var f runFlags
	var cmd = &cobra.Command{
		Use:   "run TEST --image IMAGE [--config FILE|YAML] [--resource YAML] [flags] | run -f run.yaml",
		Short: "Run a matsim test in the cluster as a MatSimRun, follow it and print its report",
		Long: `run creates a MatSimRun for TEST (basic, delta, fence, recovery, migrate) in the namespace, with
the connector config in a Secret owned by the run (deleted with it), waits for the run to
finish while showing its progress, and prints the same report as a local run. -f takes a
MatSimRun manifest instead ('-' for stdin). --wait=false prints the run's name and returns.

Ctrl-C stops waiting, not the run: the run goes on in the cluster and flowsim prints how to
follow or delete it.

Exit codes: 0 passed, 1 the connector failed a check or crashed, 2 usage or setup error,
3 the cluster could not complete the run (image pull, deadline, pod deleted, ...), 130 interrupted.`,
		Example: `  # The reference connector of the flowsim image (no database needed)
  flowsim kube run basic --image flowsim/flowsim:dev --command /flowsim/flowsim,reference-connector \
    --config '{state_dir: /tmp/ref}' --resource '{name: t}'
  # Your connector, its config from a file (stored in a Secret, never inline)
  flowsim kube run fence -n team-a --image ghcr.io/acme/materialize-x:v1 --config config.yaml --resource '{table: t1}' --loops 3
  flowsim kube run -f config/samples/matsimrun_basic.yaml --wait=false`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return k.run(cmd, args, &f)
		},
	}
	var fs = cmd.Flags()
	fs.StringVarP(&f.file, "filename", "f", "", "a MatSimRun manifest (YAML or JSON; - for stdin) instead of TEST and flags")
	fs.StringVar(&f.name, "name", "", "name of the MatSimRun (default: TEST-<random>)")
	fs.StringVar(&f.image, "image", "", "connector image under test (required with TEST)")
	fs.StringSliceVar(&f.command, "command", nil, "how to start the connector, comma separated (default /connector/connector)")
	fs.StringVar(&f.protocol, "protocol", "auto", "materialize protocol era of the connector: auto, 2021-10, 2021-12, 2022 or 2023")
	fs.StringVar(&f.config, "config", "", "connector endpoint config: an inline YAML mapping, or a path to a YAML file; stored in a Secret owned by the run")
	fs.StringVar(&f.resource, "resource", "", "resource config: an inline YAML mapping, or a path to a YAML file (default {})")
	fs.Int32Var(&f.loops, "loops", 0, "load/store/commit loops (default: the driver's, 5)")
	fs.Int32Var(&f.start, "start", 0, "documents in the first loop, doubling each loop (default: the driver's, 500)")
	fs.Int32Var(&f.batch, "batch", 0, "documents per Load and Store request (default: the driver's, 1000)")
	fs.Int64Var(&f.seed, "seed", 0, "seed of documents and choices (default: derived from the run; always reported)")
	fs.StringSliceVar(&f.crashAt, "crash-at", nil, "recovery: crash points, comma separated: "+strings.Join(engine.CrashPoints, ", ")+" (default all)")
	fs.BoolVar(&f.exactlyOnce, "exactly-once", false, "fence, recovery: assert that the connector stores Flow checkpoints transactionally (spec.exactlyOnce)")
	fs.BoolVar(&f.cleanup, "cleanup", false, "after a passing run, ask the connector to delete what the test applied (spec.cleanup)")
	fs.DurationVar(&f.timeout, "timeout", 0, "bound on the whole run in the cluster (default: the operator's, 30m)")
	fs.StringVar(&f.driverImage, "driver-image", "", "flowsim image of the driver (default: the operator's --flowsim-image)")
	fs.StringVar(&f.pullPolicy, "image-pull-policy", "", "connector image pull policy: Always, IfNotPresent or Never")
	fs.BoolVar(&f.wait, "wait", true, "wait for the run to finish and print its report; --wait=false prints its name and returns")
	fs.StringVar(&f.report, "report", "text", "report format on stdout: text or json")
	fs.StringVar(&f.junit, "junit", "", "also write a JUnit XML report to this file")
	fs.StringVar(&f.json, "json", "", "also write the JSON report to this file")
	return cmd
}

// testFlags may only be given with TEST, not with -f.
var testFlags = []string{"name", "image", "command", "protocol", "config", "resource", "loops", "start", "batch", "seed", "crash-at", "timeout", "driver-image", "image-pull-policy"}

func (k *kube) run(cmd *cobra.Command, args []string, f *runFlags) error {
	var ctx = cmd.Context()
	if f.report != "text" && f.report != "json" {
		return usage("--report must be text or json (got %q)", f.report)
	}
	var files = reportFiles{junit: f.junit, json: f.json}
	if err := files.check(); err != nil {
		return err
	}
	var run *flowsimv1.MatSimRun
	var configData []byte
	var err error
	switch {
	case f.file != "" && len(args) != 0:
		return usage("give either TEST or -f FILE, not both")
	case f.file != "":
		for _, name := range testFlags {
			if cmd.Flags().Changed(name) {
				return usage("--%s cannot be combined with -f: put it in the manifest", name)
			}
		}
		if run, err = readRunManifest(f.file, cmd.InOrStdin()); err != nil {
			return err
		}
	case len(args) == 0:
		return usage("which test? flowsim kube run TEST (one of %s) --image IMAGE, or -f run.yaml (see 'flowsim kube run --help')", strings.Join(engine.Tests, ", "))
	default:
		if run, configData, err = runFromFlags(args[0], f, cmd); err != nil {
			return err
		}
	}

	s, err := k.connect(ctx)
	if err != nil {
		return err
	}
	if err := s.submit(ctx, k, run, configData, k.flags.Namespace != nil && *k.flags.Namespace != ""); err != nil {
		return err
	}
	if !f.wait {
		fmt.Fprintln(k.stdout, run.Name)
		return nil
	}
	final, err := k.follow(ctx, s, run.Name)
	if err != nil {
		return err
	}
	return k.printReport(final, f.report, files)
}

// printReport prints a finished run's report and returns its exit code as an error.
func (k *kube) printReport(run *flowsimv1.MatSimRun, format string, files reportFiles) error {
	var rep = reportOf(run)
	var err error
	if format == "json" {
		err = rep.writeJSON(k.stdout)
	} else {
		err = rep.writeText(k.stdout)
	}
	if err != nil {
		return usage("writing the report: %v", err)
	}
	if err := files.write(rep); err != nil {
		return err
	}
	return finalError(rep)
}

// runFromFlags builds the MatSimRun of `kube run TEST` and the config for its Secret.
func runFromFlags(test string, f *runFlags, cmd *cobra.Command) (*flowsimv1.MatSimRun, []byte, error) {
	if !slices.Contains(engine.Tests, test) {
		return nil, nil, usage("unknown test %q (want one of %s)", test, strings.Join(engine.Tests, ", "))
	}
	if f.image == "" {
		return nil, nil, usage("--image is required: the connector image under test")
	}
	var run = &flowsimv1.MatSimRun{}
	run.Name = f.name
	if run.Name == "" {
		run.Name = test + "-" + utilrand.String(5)
	}
	run.Spec.Test = flowsimv1.MatSimTest(test)
	run.Spec.Connector.Image = f.image
	run.Spec.Connector.Command = f.command
	switch p := flowsimv1.ProtocolRevision(f.protocol); p {
	case flowsimv1.ProtocolAuto, flowsimv1.Protocol202112, flowsimv1.Protocol202110, flowsimv1.Protocol2022, flowsimv1.Protocol2023:
		run.Spec.Connector.Protocol = p
	default:
		return nil, nil, usage("--protocol must be auto, 2021-10, 2021-12, 2022 or 2023 (got %q)", f.protocol)
	}
	switch p := corev1.PullPolicy(f.pullPolicy); p {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		run.Spec.Connector.ImagePullPolicy = p
	default:
		return nil, nil, usage("--image-pull-policy must be Always, IfNotPresent or Never (got %q)", f.pullPolicy)
	}
	resource, _, err := yamlFlag("--resource", f.resource)
	if err != nil {
		return nil, nil, err
	}
	run.Spec.Resource = runtime.RawExtension{Raw: resource}
	var configData []byte
	if f.config != "" {
		if _, configData, err = yamlFlag("--config", f.config); err != nil {
			return nil, nil, err
		}
		run.Spec.Config.SecretRef = &flowsimv1.SecretKeyRef{Name: run.Name + "-config", Key: ConfigKey}
	} else {
		run.Spec.Config.Inline = &runtime.RawExtension{Raw: []byte("{}")}
	}
	for _, n := range []struct {
		flag string
		v    int32
		dst  **int32
	}{{"loops", f.loops, &run.Spec.Loops}, {"start", f.start, &run.Spec.Start}, {"batch", f.batch, &run.Spec.Batch}} {
		if cmd.Flags().Changed(n.flag) {
			if n.v < 1 {
				return nil, nil, usage("--%s must be at least 1 (got %d)", n.flag, n.v)
			}
			*n.dst = ptr.To(n.v)
		}
	}
	if cmd.Flags().Changed("seed") {
		if f.seed < 1 {
			return nil, nil, usage("--seed must be at least 1 (got %d)", f.seed)
		}
		run.Spec.Seed = ptr.To(f.seed)
	}
	for _, c := range f.crashAt {
		if !slices.Contains(engine.CrashPoints, c) {
			return nil, nil, usage("--crash-at: unknown crash point %q (want %s)", c, strings.Join(engine.CrashPoints, ", "))
		}
		run.Spec.CrashAt = append(run.Spec.CrashAt, flowsimv1.CrashPoint(c))
	}
	if len(f.crashAt) != 0 && test != "recovery" {
		return nil, nil, usage("--crash-at applies only to the recovery test")
	}
	if f.exactlyOnce {
		if test != "fence" && test != "recovery" {
			return nil, nil, usage("--exactly-once applies only to the fence and recovery tests")
		}
		run.Spec.ExactlyOnce = ptr.To(true)
	}
	if f.cleanup {
		run.Spec.Cleanup = ptr.To(true)
	}
	if cmd.Flags().Changed("timeout") {
		if f.timeout < time.Second {
			return nil, nil, usage("--timeout must be at least 1s (got %s)", f.timeout)
		}
		run.Spec.Timeout = &metav1.Duration{Duration: f.timeout}
	}
	run.Spec.Driver.Image = f.driverImage
	return run, configData, nil
}

// yamlFlag reads a flag that is an inline YAML mapping or a path to a YAML file holding
// one (lib/yamljson.Flag, the rule of `flowsim matsim` too). It returns the mapping as
// JSON, and the text as given (for the config's Secret).
func yamlFlag(flag, value string) (asJSON, text []byte, err error) {
	if asJSON, text, err = yamljson.Flag(flag, value); err != nil {
		return nil, nil, usage("%v", err)
	}
	return asJSON, text, nil
}

// readRunManifest reads a MatSimRun from a file or stdin, rejecting unknown fields.
func readRunManifest(path string, stdin io.Reader) (*flowsimv1.MatSimRun, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usage("-f %s: %v", path, err)
	}
	var run = &flowsimv1.MatSimRun{}
	if err := sigsyaml.UnmarshalStrict(b, run); err != nil {
		return nil, usage("-f %s: not a MatSimRun manifest: %v", path, err)
	}
	if run.Kind != "MatSimRun" || run.APIVersion != flowsimv1.GroupVersion.String() {
		return nil, usage("-f %s: want kind MatSimRun, apiVersion %s (got kind %q, apiVersion %q)", path, flowsimv1.GroupVersion, run.Kind, run.APIVersion)
	}
	if run.Name == "" && run.GenerateName == "" {
		run.Name = string(run.Spec.Test) + "-" + utilrand.String(5)
	}
	run.Status = flowsimv1.MatSimRunStatus{}
	return run, nil
}

// submit creates the config Secret (when there is one) and the run, then makes the run
// the Secret's owner so that deleting the run deletes it. The Secret comes first, so the
// run's pod never waits for it.
func (s *session) submit(ctx context.Context, k *kube, run *flowsimv1.MatSimRun, configData []byte, nsFlag bool) error {
	switch {
	case run.Namespace == "":
		run.Namespace = s.ns
	case nsFlag && run.Namespace != s.ns:
		return usage("the manifest's namespace %q differs from --namespace %q", run.Namespace, s.ns)
	}
	s.ns = run.Namespace
	var secret *corev1.Secret
	if configData != nil {
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: run.Spec.Config.SecretRef.Name, Namespace: run.Namespace,
				Labels: map[string]string{flowsimv1.LabelRun: run.Name, flowsimv1.LabelManagedBy: "flowsim-cli"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{ConfigKey: configData},
		}
		if err := s.c.Create(ctx, secret, client.FieldOwner(FieldManager)); err != nil {
			return s.apiErr("create", "secrets", secret.Name, err)
		}
	}
	if err := s.c.Create(ctx, run, client.FieldOwner(FieldManager)); err != nil {
		if secret != nil {
			_ = s.c.Delete(context.WithoutCancel(ctx), secret)
		}
		if apierrors.IsAlreadyExists(err) {
			return usage("a MatSimRun %q already exists in namespace %q: choose another --name, or delete it (flowsim kube delete %s -n %s)", run.Name, run.Namespace, run.Name, run.Namespace)
		}
		if apierrors.IsInvalid(err) {
			return usage("the API server rejected the run: %s", serverMessage(err))
		}
		return s.apiErr("create", "matsimruns.flowsim.dev", run.Name, err)
	}
	if secret != nil {
		var patch = client.MergeFrom(secret.DeepCopy())
		secret.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: flowsimv1.GroupVersion.String(), Kind: "MatSimRun", Name: run.Name, UID: run.UID,
		}}
		if err := s.c.Patch(ctx, secret, patch, client.FieldOwner(FieldManager)); err != nil {
			return s.apiErr("patch", "secrets", secret.Name, err)
		}
	}
	fmt.Fprintf(k.stderr, "matsimrun.flowsim.dev/%s created in namespace %s\n", run.Name, run.Namespace)
	return nil
}

// follow waits until the run finishes, showing its progress, and returns it. Ctrl-C
// (ctx cancelled) leaves the run running and says how to follow or delete it.
func (k *kube) follow(ctx context.Context, s *session, name string) (*flowsimv1.MatSimRun, error) {
	var view = k.newProgressView()
	var run, err = s.waitFinished(ctx, name, view.update)
	view.done()
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(k.stderr, "\nInterrupted: the run %s/%s keeps running in the cluster.\n", s.ns, name)
		fmt.Fprintf(k.stderr, "  follow it:  flowsim kube wait %s -n %s   (or: flowsim kube logs %s -n %s -f)\n", name, s.ns, name, s.ns)
		fmt.Fprintf(k.stderr, "  report:     flowsim kube report %s -n %s\n", name, s.ns)
		fmt.Fprintf(k.stderr, "  delete it:  flowsim kube delete %s -n %s\n", name, s.ns)
		return nil, cmdline.WithExitCode(ExitInterrupted, fmt.Errorf("interrupted while waiting for run %s/%s", s.ns, name))
	}
	return run, err
}

// waitFinished watches the run until it is finished, calling update with every version
// seen. A run deleted meanwhile is an infrastructure failure.
func (s *session) waitFinished(ctx context.Context, name string, update func(*flowsimv1.MatSimRun)) (*flowsimv1.MatSimRun, error) {
	return s.waitUntil(ctx, name, update, func(r *flowsimv1.MatSimRun) bool { return r.Status.Phase.IsFinished() })
}

// waitUntil watches the run until done(run), calling update with every version seen.
func (s *session) waitUntil(ctx context.Context, name string, update func(*flowsimv1.MatSimRun), done func(*flowsimv1.MatSimRun) bool) (*flowsimv1.MatSimRun, error) {
	for {
		var run flowsimv1.MatSimRun
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &run); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if apierrors.IsNotFound(err) {
				return nil, cmdline.WithExitCode(ExitInfra, fmt.Errorf("run %s/%s was deleted before it finished", s.ns, name))
			}
			return nil, s.apiErr("get", "matsimruns.flowsim.dev", name, err)
		}
		update(&run)
		if done(&run) {
			return &run, nil
		}
		var w, err = s.c.Watch(ctx, &flowsimv1.MatSimRunList{}, &client.ListOptions{
			Namespace:     s.ns,
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name),
			Raw:           &metav1.ListOptions{ResourceVersion: run.ResourceVersion, AllowWatchBookmarks: true},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, s.apiErr("watch", "matsimruns.flowsim.dev", name, err)
		}
		var finished, gone, err2 = drain(ctx, w, name, update, done)
		w.Stop()
		switch {
		case err2 != nil:
			return nil, err2
		case gone:
			return nil, cmdline.WithExitCode(ExitInfra, fmt.Errorf("run %s/%s was deleted before it finished", s.ns, name))
		case finished != nil:
			return finished, nil
		}
		// The watch ended (timeout, compaction): read the run again and watch anew.
	}
}

func drain(ctx context.Context, w watch.Interface, name string, update func(*flowsimv1.MatSimRun), done func(*flowsimv1.MatSimRun) bool) (finished *flowsimv1.MatSimRun, gone bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, false, nil
			}
			if o, ok := ev.Object.(*flowsimv1.MatSimRun); ok && o.Name != name {
				continue
			}
			switch ev.Type {
			case watch.Deleted:
				return nil, true, nil
			case watch.Error:
				return nil, false, nil // e.g. 410 Gone: start over from a fresh read
			case watch.Added, watch.Modified:
				if run, ok := ev.Object.(*flowsimv1.MatSimRun); ok {
					update(run)
					if done(run) {
						return run, false, nil
					}
				}
			}
		}
	}
}

// progressView shows a run's progress on stderr: one line per change (loop, phase), as a
// local run does on a pipe. On a terminal the final phase is coloured as the local
// display colours PASS/FAIL (internal/cli/progress: NO_COLOR and TERM=dumb honoured).
type progressView struct {
	w     io.Writer
	last  string
	paint progress.Painter
}

func (k *kube) newProgressView() *progressView {
	var color = k.opts.Terminal(k.stderr)
	if _, off := os.LookupEnv("NO_COLOR"); off {
		color = false
	}
	return &progressView{w: k.stderr, paint: progress.NewPainter(color)}
}

func (v *progressView) update(run *flowsimv1.MatSimRun) {
	var line = progressLine(run)
	if line == v.last {
		return
	}
	v.last = line
	switch run.Status.Phase {
	case flowsimv1.PhaseSucceeded:
		line = strings.Replace(line, string(run.Status.Phase), v.paint.Pass(string(run.Status.Phase)), 1)
	case flowsimv1.PhaseFailed:
		line = strings.Replace(line, string(run.Status.Phase), v.paint.Fail(string(run.Status.Phase)), 1)
	}
	fmt.Fprintln(v.w, line)
}

func (v *progressView) done() {}

// progressLine describes where a run is, in one line.
func progressLine(run *flowsimv1.MatSimRun) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "run %s/%s: %s", run.Namespace, run.Name, phaseOf(run))
	var st = run.Status
	switch {
	case st.Phase.IsFinished():
		if st.Reason != "" {
			fmt.Fprintf(&b, " (%s)", st.Reason)
		}
	case st.Progress != nil:
		fmt.Fprintf(&b, ", loop %d/%d, %d documents", st.Progress.Loop, st.Progress.Loops, st.Progress.Documents)
	case st.Reason != "":
		fmt.Fprintf(&b, " (%s)", st.Reason)
	}
	return b.String()
}

func phaseOf(run *flowsimv1.MatSimRun) string {
	if run.Status.Phase == "" {
		return "Submitted"
	}
	return string(run.Status.Phase)
}
