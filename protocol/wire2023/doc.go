// Package wire2023 holds flowsim's own messages of today's materialize protocol
// (the current era, April 2023 on: one bidirectional stream of materialize.Request
// and materialize.Response), generated from wire2023.proto, with the codecs a
// connector speaks them in: length-prefixed protobuf and protobuf's JSON mapping on
// stdin/stdout (chosen by FLOW_RUNTIME_CODEC), and gRPC
// (/materialize.Connector/Materialize).
//
// Why flowsim's own: github.com/estuary/flow/go/protocols (today's module) and
// github.com/estuary/protocols (the 2021 module that flowsim's CLI links) register
// the same gogo protobuf names, and one binary that links both panics at start-up.
// These messages are registered as flowsim.wire2023.* and are proven
// byte-compatible with the real module (v0.6.10) in both codecs by the tests of
// protocol/wire2023/wireproof. docs/protocol-wire.md records the facts.
package wire2023
