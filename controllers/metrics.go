package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// runsTotal counts finished runs by test and result (the status reason: Passed,
	// CheckFailed, ConnectorCrashed, ...; a bounded set).
	runsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "flowsim",
		Subsystem: "matsimrun",
		Name:      "finished_total",
		Help:      "MatSimRuns that finished, by test and result (the status reason).",
	}, []string{"test", "result"})

	// runDuration observes how long finished runs took, from start to completion.
	runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "flowsim",
		Subsystem: "matsimrun",
		Name:      "duration_seconds",
		Help:      "Duration of finished MatSimRuns from the creation of their first pod to completion, by test and result.",
		Buckets:   prometheus.ExponentialBuckets(5, 2, 12), // 5s .. ~2.8h
	}, []string{"test", "result"})
)

func init() {
	metrics.Registry.MustRegister(runsTotal, runDuration)
}

// MatSimSweep metrics, labelled by sweep name (a handful per cluster).
var (
	// sweepExecutionsTotal counts finished executions: passed (every run passed), failed
	// (a run failed or errored) or replaced.
	sweepExecutionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "flowsim",
		Subsystem: "matsimsweep",
		Name:      "executions_total",
		Help:      "MatSimSweep executions that finished, by sweep and result (passed, failed, replaced).",
	}, []string{"sweep", "result"})

	// sweepRunsTotal counts the runs of finished executions by outcome.
	sweepRunsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "flowsim",
		Subsystem: "matsimsweep",
		Name:      "runs_total",
		Help:      "Runs of finished MatSimSweep executions, by sweep and result (passed, failed, error).",
	}, []string{"sweep", "result"})

	// sweepLastSuccess is status.lastSuccessfulTime: alert when it is older than a day
	// for a nightly sweep ("the nightly sweep did not run or did not pass").
	sweepLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "flowsim",
		Subsystem: "matsimsweep",
		Name:      "last_success_timestamp_seconds",
		Help:      "Unix time at which the sweep's last execution in which every run passed completed.",
	}, []string{"sweep"})

	// sweepLastCompletion is status.lastCompletionTime ("the sweep did not run").
	sweepLastCompletion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "flowsim",
		Subsystem: "matsimsweep",
		Name:      "last_completion_timestamp_seconds",
		Help:      "Unix time at which the sweep's last execution completed, whatever its results.",
	}, []string{"sweep"})

	// sweepQueueDepth is the number of runs of running executions not created yet.
	sweepQueueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "flowsim",
		Subsystem: "matsimsweep",
		Name:      "queue_depth",
		Help:      "Runs of the sweep's running executions waiting for a slot (maxParallelRuns).",
	}, []string{"sweep"})

	// sweepActiveRuns is the number of the sweep's unfinished runs.
	sweepActiveRuns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "flowsim",
		Subsystem: "matsimsweep",
		Name:      "active_runs",
		Help:      "The sweep's MatSimRuns that exist and have not finished.",
	}, []string{"sweep"})
)

func init() {
	metrics.Registry.MustRegister(sweepExecutionsTotal, sweepRunsTotal, sweepLastSuccess,
		sweepLastCompletion, sweepQueueDepth, sweepActiveRuns)
}

// forgetSweepMetrics drops the gauges of a deleted sweep.
func forgetSweepMetrics(sweep string) {
	for _, g := range []*prometheus.GaugeVec{sweepLastSuccess, sweepLastCompletion, sweepQueueDepth, sweepActiveRuns} {
		g.DeleteLabelValues(sweep)
	}
}
