// Package wireproof proves, in its tests, that flowsim's own current-era messages
// (protocol/wire2023) are byte-compatible with the real module
// (github.com/estuary/flow/go/protocols/materialize v0.6.10) in both stdio codecs.
// It links the real module, so it must never import github.com/estuary/protocols
// (both register the same gogo names: a binary with both panics at start-up).
package wireproof
