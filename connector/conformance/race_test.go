//go:build race

package conformance_test

// Under the race detector every connector process is a race-instrumented test
// binary, slow to start: the suite's timeouts are this many times longer.
const timeoutScale = 4
