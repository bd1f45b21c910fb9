package kubecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// LogStreamer streams a container's log: the cluster's pods/log, or a fake in tests
// (envtest has no kubelet).
type LogStreamer interface {
	Stream(ctx context.Context, namespace, pod, container string, follow bool) (io.ReadCloser, error)
}

// podLogs reads logs from the API server (GET pods/log).
type podLogs struct{ cs kubernetes.Interface }

func (p podLogs) Stream(ctx context.Context, namespace, pod, container string, follow bool) (io.ReadCloser, error) {
	return p.cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
}

// logsGrace is how long `logs -f` keeps reading after the run finished, for the last
// lines of a container that the kubelet is still stopping.
const logsGrace = 5 * time.Second

func (k *kube) logsCommand() *cobra.Command {
	var driver, conn, peer, follow bool
	var cmd = &cobra.Command{
		Use:   "logs RUN [--driver|--connector|--peer] [-f]",
		Short: "Print the log of a run's driver (default), connector sidecar or fence peer connector",
		Long: `logs prints a container log of the run's latest driver pod: the matsim driver (--driver,
the default), the connector behind flowsim's proxy (--connector), or the fence test's
second connector (--peer). -f follows it: it waits for the pod if the run has not started
yet, and stops when the container ends, saying how the run finished.`,
		Example: `  flowsim kube logs basic-x7k2p
  flowsim kube logs fence-q8m2z --peer -f`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n = 0
			for _, b := range []bool{driver, conn, peer} {
				if b {
					n++
				}
			}
			if n > 1 {
				return usage("choose one of --driver, --connector, --peer")
			}
			s, err := k.connect(cmd.Context())
			if err != nil {
				return err
			}
			var which = "driver"
			switch {
			case conn:
				which = "connector"
			case peer:
				which = "peer"
			}
			names, err := runsOnly("logs", args)
			if err != nil {
				return err
			}
			return k.logs(cmd.Context(), s, names[0], which, follow)
		},
	}
	cmd.Flags().BoolVar(&driver, "driver", false, "the matsim driver container (default)")
	cmd.Flags().BoolVar(&conn, "connector", false, "the connector sidecar of the driver pod")
	cmd.Flags().BoolVar(&peer, "peer", false, "the fence test's peer connector pod")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until the container ends")
	return cmd
}

// logTarget picks the pod and container of a run's log; pod is empty while there is none.
func logTarget(run *flowsimv1.MatSimRun, which string) (pod, container string) {
	switch which {
	case "connector":
		return run.Status.PodName, flowsimv1.ContainerConnector
	case "peer":
		return run.Status.PeerPodName, flowsimv1.ContainerConnector
	}
	return run.Status.PodName, flowsimv1.ContainerDriver
}

func (k *kube) logs(ctx context.Context, s *session, name, which string, follow bool) error {
	var run, err = s.getRun(ctx, name)
	if err != nil {
		return err
	}
	if which == "peer" && run.Spec.Test != flowsimv1.TestFence {
		return usage("run %s/%s is a %s test: only fence runs have a peer", s.ns, name, run.Spec.Test)
	}
	var pod, container = logTarget(run, which)
	if pod == "" {
		if !follow || run.Status.Phase.IsFinished() {
			return usage("run %s/%s has no %s pod (%s); %s", s.ns, name, which, progressLine(run), podHint(run, follow))
		}
		fmt.Fprintf(k.stderr, "waiting for the %s pod of run %s/%s ...\n", which, s.ns, name)
		run, err = s.waitUntil(ctx, name, func(*flowsimv1.MatSimRun) {}, func(r *flowsimv1.MatSimRun) bool {
			var p, _ = logTarget(r, which)
			return p != "" || r.Status.Phase.IsFinished()
		})
		if err != nil {
			return err
		}
		if pod, container = logTarget(run, which); pod == "" {
			return usage("run %s/%s finished without a %s pod (%s): flowsim kube describe %s -n %s", s.ns, name, which, progressLine(run), name, s.ns)
		}
	}
	var logs = k.opts.Logs
	if logs == nil {
		logs = podLogs{cs: s.cs}
	}
	var sctx, cancel = context.WithCancel(ctx)
	defer cancel()
	stream, err := logs.Stream(sctx, s.ns, pod, container, follow)
	if err != nil {
		return s.apiErr("get", "pods/log", pod, err)
	}
	defer stream.Close()
	if !follow {
		if _, err := io.Copy(k.stdout, stream); err != nil {
			return usage("reading the log of %s/%s: %v", pod, container, err)
		}
		return nil
	}

	// Follow: copy until the container ends, while watching the run; once the run has
	// finished, give the stream logsGrace to deliver its last lines.
	var copied = make(chan error, 1)
	go func() {
		var _, err = io.Copy(k.stdout, stream)
		copied <- err
	}()
	var finished = make(chan *flowsimv1.MatSimRun, 1)
	go func() {
		var r, err = s.waitFinished(sctx, name, func(*flowsimv1.MatSimRun) {})
		if err == nil {
			finished <- r
		}
	}()
	var copyErr error
	select {
	case copyErr = <-copied:
	case <-finished:
		select {
		case copyErr = <-copied:
		case <-time.After(logsGrace):
			cancel()
			<-copied
		}
	case <-ctx.Done():
		cancel()
		<-copied
		return nil
	}
	// The stream ended: say how the run stands.
	cancel()
	final, err := s.getRun(context.WithoutCancel(ctx), name)
	if err != nil {
		return err
	}
	if copyErr != nil && !errors.Is(copyErr, context.Canceled) && !final.Status.Phase.IsFinished() {
		return usage("the log of %s/%s ended: %v (%s)", pod, container, copyErr, progressLine(final))
	}
	if final.Status.Phase.IsFinished() {
		fmt.Fprintf(k.stderr, "%s; report: flowsim kube report %s -n %s\n", progressLine(final), name, s.ns)
	} else {
		fmt.Fprintf(k.stderr, "the %s container's log ended; %s\n", which, progressLine(final))
	}
	return nil
}

func podHint(run *flowsimv1.MatSimRun, follow bool) string {
	if run.Status.Phase.IsFinished() {
		return fmt.Sprintf("see flowsim kube describe %s -n %s", run.Name, run.Namespace)
	}
	if !follow {
		return "use -f to wait for it"
	}
	return ""
}
