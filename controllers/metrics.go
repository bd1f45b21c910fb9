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
