// Package matsimtests is the one list of matsim's tests. It sits at the bottom so
// that every face of flowsim — the engine, the CLI, the operator's API and the
// entry point for today's connectors (matsim/current), which must not link the
// engine — reads the same list.
package matsimtests

import "slices"

// Names are the test names, in documentation order.
var Names = []string{"basic", "delta", "fence", "recovery", "migrate"}

// Is reports whether name is a test.
func Is(name string) bool { return slices.Contains(Names, name) }
