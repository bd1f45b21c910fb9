package stdio

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/flowsim/flowsim/connector/era2021"
	"github.com/flowsim/flowsim/connector/era2023"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"io"
	"os"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
)

// ProtocolEnv selects the revision ServeArgs speaks when no --protocol flag is given
// (for images, whose entrypoint takes only the subcommand: docker run -e …).
const ProtocolEnv = "FLOWSIM_CONNECTOR_PROTOCOL"

// RuntimeStateLogEnv, when set with protocol 2023, names a file: the connector then
// keeps state in the runtime (era2021.ServerKeepingState) and appends the state of
// each Open to the file, one line each. For tests of the transports that carry a
// connector's state (see docs/protocol-eras.md).
const RuntimeStateLogEnv = "FLOWSIM_RUNTIME_STATE_LOG"

// ServeArgs is the whole main of a stdio connector around server:
//
//	connector [--protocol 2021-12|2021-10] [--max-frame BYTES] SUBCOMMAND
//
// It parses the flags (the revision defaults to $FLOWSIM_CONNECTOR_PROTOCOL, then
// 2021-12), runs Serve, and returns the error to report on stderr (a
// flag error wraps flag.ErrHelp or says so).
func ServeArgs(ctx context.Context, server materialize.DriverServer, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var fs = flag.NewFlagSet("connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var protocol = fs.String("protocol", os.Getenv(ProtocolEnv), "protocol revision to speak: 2021-12 (default), 2021-10 or 2022 (emulated: their rules around the 2021-12 server) or 2023 (today's: no subcommand, codec from $"+w.CodecEnv+"); also $"+ProtocolEnv)
	var maxFrame = fs.Int("max-frame", DefaultMaxFrame, "largest request frame in bytes")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: connector [flags] spec|validate|apply-upsert|apply-delete|transactions (2021-10: apply)\n"+
			"Requests and responses are 4-byte little-endian length-prefixed protobuf on stdin/stdout.\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parsing flags: %w", err)
	}
	var rev, err = connector.ParseRevision(*protocol)
	if err != nil {
		return err
	}
	if rev == connector.Current {
		// Today's era: no subcommand, one stream, the codec from the environment.
		if fs.NArg() != 0 {
			return fmt.Errorf("protocol 2023 takes no subcommand (got %q)", fs.Args())
		}
		codec, err := w.ParseCodec(os.Getenv(w.CodecEnv))
		if err != nil {
			return err
		}
		var face = era2021.Server(server)
		if path := os.Getenv(RuntimeStateLogEnv); path != "" {
			var f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				return fmt.Errorf("$%s: %w", RuntimeStateLogEnv, err)
			}
			defer f.Close()
			face = era2021.ServerKeepingState(server, f)
		}
		return era2023.ServeStdio(ctx, face, stdin, stdout, codec)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("expected exactly one subcommand")
	}
	return Serve(ctx, server, fs.Args(), stdin, stdout, ServeOptions{Protocol: rev, MaxFrame: *maxFrame})
}
