// Command manager runs the flowsim operator: it reconciles MatSimRuns into Jobs that run
// a connector (as a sidecar behind flowsim's connector proxy) and the matsim driver, and
// MatSimSweeps into scheduled executions of MatSimRuns over the cluster's MatSimTargets.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // MatSimSweep time zones in a FROM-scratch image

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/controllers"
)

func main() {
	var (
		flowsimImage    string
		pullPolicy      string
		metricsAddr     string
		probeAddr       string
		leaderElect     bool
		leaderNamespace string
		pullGrace       time.Duration
		restartLimit    int
		progress        time.Duration
		admission       controllers.AdmissionPolicy
		allowSecretEnv  bool
		watchNamespaces []string
	)
	flag.StringVar(&flowsimImage, "flowsim-image", "", "Image holding the static flowsim binary at /flowsim/flowsim; injected into every run's pod (required)")
	flag.StringVar(&pullPolicy, "flowsim-image-pull-policy", "", "Pull policy of --flowsim-image: Always, IfNotPresent or Never (default: Kubernetes' default)")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles")
	flag.StringVar(&leaderNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's namespace)")
	flag.DurationVar(&pullGrace, "image-pull-grace-period", 2*time.Minute, "How long a run's pod may fail to pull an image before the run fails")
	flag.IntVar(&restartLimit, "connector-restart-limit", 3, "How many times the connector sidecar may crash before the driver starts, before the run fails")
	flag.DurationVar(&progress, "progress-interval", 15*time.Second, "How often a running driver's progress is read from its log; 0 disables it")
	flag.Func("allowed-connector-images", "Comma-separated image patterns (Go path.Match: * does not cross a /, e.g. ghcr.io/acme/*) that spec.connector.image must match; repeatable; unset allows any image",
		func(v string) error {
			admission.ConnectorImages = append(admission.ConnectorImages, splitList(v)...)
			return nil
		})
	flag.Func("allowed-driver-images", "Comma-separated image patterns that spec.driver.image must match when set (--flowsim-image is always allowed); repeatable; unset allows any image",
		func(v string) error {
			admission.DriverImages = append(admission.DriverImages, splitList(v)...)
			return nil
		})
	flag.BoolVar(&allowSecretEnv, "allow-secret-env", true, "Allow spec.connector.env with valueFrom.secretKeyRef (false: such runs fail as NotAllowed)")
	flag.Func("watch-namespace", "Namespace to watch for MatSimRuns (comma-separated, repeatable); unset watches all namespaces. Use with the namespaced install (config/namespaced)",
		func(v string) error { watchNamespaces = append(watchNamespaces, splitList(v)...); return nil })
	var zapOpts = zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: manager --flowsim-image IMAGE [flags]\n\nExample:\n  manager --flowsim-image ghcr.io/flowsim/flowsim:v0.1.0 --leader-elect\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	var log = ctrl.Log.WithName("setup")

	if flowsimImage == "" {
		fmt.Fprintln(os.Stderr, "manager: --flowsim-image is required")
		flag.Usage()
		os.Exit(2)
	}
	switch corev1.PullPolicy(pullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		fmt.Fprintf(os.Stderr, "manager: --flowsim-image-pull-policy must be Always, IfNotPresent or Never, not %q\n", pullPolicy)
		os.Exit(2)
	}

	admission.ForbidSecretEnv = !allowSecretEnv
	if err := admission.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		os.Exit(2)
	}
	var cacheOpts = controllers.CacheOptions()
	if len(watchNamespaces) != 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}

	var scheme = runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, flowsimv1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "Building the scheme")
			os.Exit(1)
		}
	}

	var cfg = ctrl.GetConfigOrDie()
	var mgr, err = ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "flowsim-operator.flowsim.dev",
		LeaderElectionNamespace: leaderNamespace,
		// Safe: the manager exits right after its manager stops.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
	})
	if err != nil {
		log.Error(err, "Creating the manager")
		os.Exit(1)
	}
	var clientset = kubernetes.NewForConfigOrDie(cfg)

	if err := (&controllers.MatSimRunReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("flowsim-operator"),
		Build: controllers.BuildOptions{
			FlowsimImage:           flowsimImage,
			FlowsimImagePullPolicy: corev1.PullPolicy(pullPolicy),
		},
		Policy: controllers.StatusOptions{
			ImagePullGracePeriod:  pullGrace,
			ConnectorRestartLimit: int32(restartLimit),
		},
		Admission:        admission,
		Logs:             controllers.PodLogReader{Clientset: clientset},
		ProgressInterval: progress,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "Setting up the MatSimRun controller")
		os.Exit(1)
	}
	if len(watchNamespaces) != 0 {
		// Sweeps are cluster-scoped and select namespaces: a namespaced install has no
		// rights for them (config/namespaced), so it runs MatSimRuns only.
		log.Info("Watching only some namespaces: the MatSimSweep controller is not started")
	} else if err := (&controllers.MatSimSweepReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("flowsim-operator"),
		Now:      time.Now,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "Setting up the MatSimSweep controller")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Adding the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Adding the readiness check")
		os.Exit(1)
	}

	log.Info("Starting the manager", "flowsimImage", flowsimImage, "leaderElection", leaderElect,
		"watchNamespaces", watchNamespaces, "allowedConnectorImages", admission.ConnectorImages,
		"allowedDriverImages", admission.DriverImages, "allowSecretEnv", allowSecretEnv)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Running the manager")
		os.Exit(1)
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
