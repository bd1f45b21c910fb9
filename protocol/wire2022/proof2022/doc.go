// Package proof2022 proves, in its tests, that protocol/wire2022, connector/era2022 and the
// compatible transaction round drive a real connector loop of the 2022 era's late
// shape (github.com/estuary/flow/go/protocols/materialize, January 2023). Run it
// with `make wire-proof`.
package proof2022
