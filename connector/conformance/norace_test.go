//go:build !race

package conformance_test

const timeoutScale = 1
