// Package kubecli is `flowsim kube`: the flowsim CLI against a Kubernetes cluster. It
// finds the cluster as kubectl does (KUBECONFIG, --kubeconfig, --context, -n, in-cluster),
// installs the operator from the manifests embedded in the binary, submits MatSimRuns and
// follows them, and prints the same reports as a local run.
package kubecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/internal/cli/progress"
	"github.com/flowsim/flowsim/matsim/cmdline"
)

// Exit codes of `flowsim kube` commands. 0, 1 and 2 mean what they mean for a local run.
const (
	// ExitPassed: the run passed (or the command succeeded).
	ExitPassed = 0
	// ExitFailed: the connector failed a check, or crashed.
	ExitFailed = 1
	// ExitSetup: usage error, the cluster could not be used (no kubeconfig, unreachable,
	// forbidden, flowsim not installed, not found), or the run's setup failed.
	ExitSetup = 2
	// ExitInfra: the cluster could not complete the run (image pull, deadline, pod or
	// Job deleted, driver out of memory or crashed): the connector was not judged.
	ExitInfra = 3
	// ExitUnfinished: `kube report sweep` of an execution that has not finished (runs
	// queued, pending or running): the report is partial, not a verdict.
	ExitUnfinished = 4
	// ExitTimeout: `kube wait --timeout` expired before the run finished.
	ExitTimeout = 124
	// ExitInterrupted: Ctrl-C; the run keeps running in the cluster.
	ExitInterrupted = 130
)

// FieldManager is the field manager of every write (server-side apply and creates).
const FieldManager = "flowsim"

// Options are what tests replace; zero values are the real thing.
type Options struct {
	// Stdout and Stderr default to the command's.
	Stdout, Stderr io.Writer
	// Logs streams container logs; nil: the cluster's pods/log.
	Logs LogStreamer
	// Now is the clock for ages; nil: time.Now.
	Now func() time.Time
	// Terminal reports whether w is a terminal; nil: checks the file descriptor.
	Terminal func(w io.Writer) bool
}

// kube is the state of one `flowsim kube` invocation.
type kube struct {
	opts   Options
	flags  *genericclioptions.ConfigFlags
	stdout io.Writer
	stderr io.Writer
}

// NewCommand returns the `kube` command tree.
func NewCommand(o Options) *cobra.Command {
	var k = &kube{opts: o, flags: genericclioptions.NewConfigFlags(true)}
	if k.opts.Now == nil {
		k.opts.Now = time.Now
	}
	if k.opts.Terminal == nil {
		k.opts.Terminal = isTerminal
	}
	var cmd = &cobra.Command{
		Use:   "kube",
		Short: "Run matsim tests in a Kubernetes cluster through the flowsim operator",
		Long: `flowsim kube drives the flowsim operator from your machine: install it, run a test as a
MatSimRun and follow it, read reports and logs. The cluster is found as kubectl finds it:
--kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the in-cluster service account;
--context and -n/--namespace as in kubectl.

Exit codes: 0 passed, 1 the connector failed a check, 2 usage or setup error (including a
cluster that cannot be used), 3 infrastructure failure (the cluster could not complete the
run: image pull, deadline, pod deleted, ...), 4 'report sweep' of an execution that has not
finished, 124 'wait --timeout' expired, 130 interrupted.`,
		Example: `  flowsim kube install
  flowsim kube run basic --image flowsim/flowsim:dev --command /flowsim/flowsim,reference-connector --resource '{name: t}'
  flowsim kube get
  flowsim kube logs basic-x7k2p -f`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			k.stdout, k.stderr = k.opts.Stdout, k.opts.Stderr
			if k.stdout == nil {
				k.stdout = cmd.OutOrStdout()
			}
			if k.stderr == nil {
				k.stderr = cmd.ErrOrStderr()
			}
		},
	}
	k.flags.AddFlags(cmd.PersistentFlags())
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(
		k.installCommand(), k.uninstallCommand(),
		k.runCommand(),
		k.getCommand(), k.describeCommand(), k.deleteCommand(), k.waitCommand(),
		k.logsCommand(), k.reportCommand(), k.sweepCommand(),
	)
	for _, c := range cmd.Commands() {
		c.SetFlagErrorFunc(flagError)
	}
	return cmd
}

func flagError(c *cobra.Command, err error) error {
	return usage("%v (see '%s --help')", err, c.CommandPath())
}

// noArgs rejects arguments, naming the unknown subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usage("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

func isTerminal(w io.Writer) bool { return progress.IsTerminal(w) }

// usage is an exit-2 error.
func usage(format string, args ...any) error {
	return cmdline.WithExitCode(ExitSetup, fmt.Errorf(format, args...))
}

// scheme holds the kinds flowsim reads and writes.
var scheme = func() *runtime.Scheme {
	var s = runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, flowsimv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// session is a checked connection to a cluster.
type session struct {
	c       client.WithWatch
	cs      kubernetes.Interface
	ns      string
	server  string
	context string
}

// defaultRequestTimeout bounds the first request, so that an unreachable API server
// fails within seconds; --request-timeout overrides it.
const defaultRequestTimeout = 10 * time.Second

// connect loads the kubeconfig as kubectl does and checks that the API server answers.
func (k *kube) connect(ctx context.Context) (*session, error) {
	// kubectl falls back to http://localhost:8080 when nothing is configured; say instead
	// that there is no configuration.
	if raw, err := k.flags.ToRawKubeConfigLoader().RawConfig(); err == nil && len(raw.Clusters) == 0 &&
		(k.flags.APIServer == nil || *k.flags.APIServer == "") && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, errNoKubeconfig()
	}
	var cfg, err = k.flags.ToRESTConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errNoKubeconfig()
		}
		return nil, usage("loading the kubeconfig: %v", err)
	}
	var s = &session{server: cfg.Host}
	if raw, err := k.flags.ToRawKubeConfigLoader().RawConfig(); err == nil {
		s.context = raw.CurrentContext
		if k.flags.Context != nil && *k.flags.Context != "" {
			s.context = *k.flags.Context
		}
	}
	ns, _, err := k.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, usage("finding the namespace: %v", err)
	}
	s.ns = ns

	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "flowsim"
	var timeout = defaultRequestTimeout
	if cfg.Timeout > 0 {
		timeout = cfg.Timeout // --request-timeout
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, usage("configuring a client for %s: %v", s.where(), err)
	}
	s.cs = cs
	var pctx, cancel = context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Error(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var nerr net.Error
		if pctx.Err() != nil || (errors.As(err, &nerr) && nerr.Timeout()) {
			return nil, usage("cannot reach the Kubernetes API server %s: no answer within %s", s.where(), timeout)
		}
		return nil, s.apiErr("reach", "the API server", "", err)
	}
	// controller-runtime's client logs through a global logger; the CLI prints its own
	// messages (and would otherwise get a "SetLogger was never called" stack on stderr).
	ctrllog.SetLogger(logr.Discard())
	s.c, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, usage("configuring a client for %s: %v", s.where(), err)
	}
	return s, nil
}

func errNoKubeconfig() error {
	var where = clientcmd.RecommendedHomeFile
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		where = "$KUBECONFIG=" + env
	}
	return usage("no Kubernetes cluster configured: no kubeconfig at %s and not running in a pod; "+
		"pass --kubeconfig FILE or set KUBECONFIG (`kind create cluster` writes ~/.kube/config)", where)
}

// where names the API server and the kubeconfig context.
func (s *session) where() string {
	if s.context != "" {
		return fmt.Sprintf("%s (context %q)", s.server, s.context)
	}
	return s.server
}

// apiErr turns a client error into a one-line message saying what was attempted, and an
// exit code 2: flowsim not installed, forbidden, not found, unreachable.
func (s *session) apiErr(verb, resource, name string, err error) error {
	var what = resource
	if name != "" {
		what = fmt.Sprintf("%s %q", resource, name)
	}
	var in = ""
	if s.ns != "" && name != "" {
		in = fmt.Sprintf(" in namespace %q", s.ns)
	}
	var status apierrors.APIStatus
	switch {
	case meta.IsNoMatchError(err) || isMissingCRD(err):
		return usage("flowsim's resources (%s) are not installed in the cluster %s: run flowsim kube install", resource, s.where())
	case apierrors.IsForbidden(err):
		return usage("forbidden: you may not %s %s%s: %s", verb, what, in, serverMessage(err))
	case apierrors.IsNotFound(err) && name != "":
		return usage("%s not found%s on %s", what, in, s.where())
	case isUnreachable(err):
		return usage("cannot reach the Kubernetes API server %s: %v", s.where(), rootCause(err))
	case apierrors.IsUnauthorized(err):
		return usage("the API server %s does not accept your credentials (%s): check the kubeconfig's user", s.where(), serverMessage(err))
	case errors.As(err, &status):
		return usage("%s %s%s: %s", verb, what, in, serverMessage(err))
	}
	return usage("%s %s%s: %v", verb, what, in, err)
}

func serverMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// isMissingCRD: a 404 for a whole resource type (not an object) of flowsim's group.
func isMissingCRD(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	var d = status.Status().Details
	return d != nil && d.Group == flowsimv1.GroupVersion.Group && d.Name == "" && strings.Contains(status.Status().Message, "the server could not find the requested resource")
}

func isUnreachable(err error) bool {
	var uerr *url.Error
	var nerr net.Error
	var operr *net.OpError
	return errors.As(err, &uerr) || errors.As(err, &nerr) || errors.As(err, &operr)
}

func rootCause(err error) error {
	var operr *net.OpError
	if errors.As(err, &operr) {
		return operr
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
