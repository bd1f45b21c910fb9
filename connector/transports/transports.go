// Package transports turns command-line flags into a connector.Connector: a local
// command or a Docker image speaking the stdio convention (connector/stdio), or a
// materialize.Driver gRPC endpoint (connector/grpcconn). With none of them set, the
// caller uses its built-in connector.
package transports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flowsim/flowsim/protocol/wire2023"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/lib/redact"
	"github.com/spf13/pflag"
)

// DockerArgsEnv holds extra `docker run` options, split like a shell would; they go
// before the --docker-arg flags.
const DockerArgsEnv = "FLOWSIM_DOCKER_ARGS"

// Options select and configure a transport.
type Options struct {
	// Command runs a local connector binary: a command line split like a shell would
	// ("'/opt/my connector' --verbose"); the subcommand is appended.
	Command string
	// Image runs a local Docker image, on Network (default host), with DockerArgs
	// as extra `docker run` options.
	Image      string
	Network    string
	DockerArgs []string
	// Endpoint dials a materialize.Driver gRPC server (a connector or connector-proxy), HOST:PORT.
	Endpoint string
	// Protocol the connector speaks (Auto detects).
	Protocol connector.Revision
	// Codec frames a stdio connector of today's era (FLOW_RUNTIME_CODEC): proto
	// (default) or json.
	Codec wire2023.Codec
	// MaxFrame caps one message in bytes (stdio frame or gRPC message).
	MaxFrame int
	// CallTimeout bounds each call (stdio streams: each awaited response) and the
	// dial of Endpoint. Zero means none, for library callers; the --call-timeout flag
	// must be positive (the CLI rejects 0).
	CallTimeout time.Duration
	// Stderr receives a stdio connector's stderr (default os.Stderr).
	Stderr io.Writer
	// Redactor, when set, redacts what a stdio connector's errors quote of its output
	// before it is cut (stdio.Options.Redactor).
	Redactor *redact.Redactor
}

// AddFlags registers --command, --image, --network, --docker-arg, --endpoint,
// --protocol, --max-frame and --call-timeout on fs, bound to o.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	if o.Network == "" {
		o.Network = "host"
	}
	if o.Protocol == "" {
		o.Protocol = connector.Auto
	}
	if o.MaxFrame == 0 {
		o.MaxFrame = stdio.DefaultMaxFrame
	}
	fs.Var((*connectorFlag)(&o.Command), "command", `run a local connector binary, e.g. "/usr/local/bin/connector --verbose" (split like a shell; the subcommand is appended)`)
	fs.Var((*connectorFlag)(&o.Image), "image", "run a connector image present in the local Docker engine (never pulled)")
	fs.StringVar(&o.Network, "network", o.Network, "Docker network of --image containers")
	fs.StringArrayVar(&o.DockerArgs, "docker-arg", o.DockerArgs, "extra docker run option for --image, one argument per flag (repeatable), e.g. --docker-arg=-v --docker-arg=/data:/data; also $"+DockerArgsEnv)
	fs.Var((*connectorFlag)(&o.Endpoint), "endpoint", "dial a materialize.Driver gRPC server (a connector or flowsim connector-proxy), HOST:PORT")
	fs.Var((*revisionValue)(&o.Protocol), "protocol", "protocol era of the connector: auto (detect), 2021-10, 2021-12, 2022, or 2023 (today's, also called current)")
	fs.Var((*codecValue)(&o.Codec), "codec", "framing of a today's-era (2023) connector on stdin/stdout, passed as "+wire2023.CodecEnv+": proto or json")
	fs.IntVar(&o.MaxFrame, "max-frame", o.MaxFrame, "largest message in bytes (stdio frame or gRPC message)")
	fs.DurationVar(&o.CallTimeout, "call-timeout", o.CallTimeout, "longest wait for any one connector answer (a call, or a response of the transactions stream), and for dialing --endpoint; must be positive")
}

type codecValue wire2023.Codec

func (c *codecValue) String() string {
	if *c == "" {
		return string(wire2023.Proto)
	}
	return string(*c)
}
func (c *codecValue) Type() string { return "codec" }
func (c *codecValue) Set(s string) error {
	var v, err = wire2023.ParseCodec(s)
	if err != nil {
		return err
	}
	*c = codecValue(v)
	return nil
}

// connectorFlag is a string flag that picks the connector: given empty or blank
// (`--command "$CONNECTOR"` with the variable unset), it is a usage error rather
// than a run of the caller's built-in connector that passes.
type connectorFlag string

// ConnectorFlag returns a pflag.Value like --command's: a string that may not be
// empty or blank when given.
func ConnectorFlag(p *string) pflag.Value { return (*connectorFlag)(p) }

func (c *connectorFlag) String() string { return string(*c) }
func (c *connectorFlag) Type() string   { return "string" }
func (c *connectorFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty: give a value, or leave the flag out to use the built-in connector")
	}
	*c = connectorFlag(s)
	return nil
}

type revisionValue connector.Revision

func (r *revisionValue) String() string { return string(*r) }
func (r *revisionValue) Type() string   { return "revision" }
func (r *revisionValue) Set(s string) error {
	var v, err = connector.ParseRevision(s)
	if err != nil {
		return err
	}
	*r = revisionValue(v)
	return nil
}

// UsageError is a mistake in the flags (exit code 2), as opposed to a connector
// that could not be started.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Open returns the connector the options select, and ok=false (with no error) when
// none of --command, --image and --endpoint was given. More than one is a
// *UsageError naming them.
func Open(ctx context.Context, o Options) (conn connector.Connector, ok bool, err error) {
	var set []string
	for _, f := range []struct{ name, value string }{
		{"--command", o.Command}, {"--image", o.Image}, {"--endpoint", o.Endpoint},
	} {
		if strings.TrimSpace(f.value) != "" {
			set = append(set, f.name)
		}
	}
	switch len(set) {
	case 0:
		return nil, false, nil
	case 1:
	default:
		return nil, false, &UsageError{fmt.Errorf("%s are mutually exclusive: choose one way to reach the connector", strings.Join(set, " and "))}
	}
	if o.Protocol == "" {
		o.Protocol = connector.Auto
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	var so = stdio.Options{Protocol: o.Protocol, Codec: o.Codec, MaxFrame: o.MaxFrame, CallTimeout: o.CallTimeout, Stderr: o.Stderr, Redactor: o.Redactor}

	switch {
	case o.Command != "":
		var argv, err = SplitCommand(o.Command)
		if err != nil {
			return nil, false, &UsageError{fmt.Errorf("--command: %w", err)}
		}
		c, err := stdio.NewCommand(argv, so)
		if err != nil {
			return nil, false, err
		}
		return c, true, nil
	case o.Image != "":
		var args []string
		if env := os.Getenv(DockerArgsEnv); strings.TrimSpace(env) != "" {
			if args, err = SplitCommand(env); err != nil {
				return nil, false, &UsageError{fmt.Errorf("$%s: %w", DockerArgsEnv, err)}
			}
		}
		args = append(args, o.DockerArgs...)
		c, err := stdio.NewImage(ctx, stdio.Docker{Image: o.Image, Network: o.Network, Args: args}, so)
		if err != nil {
			return nil, false, err
		}
		return c, true, nil
	default:
		var c, err = grpcconn.Dial(ctx, o.Endpoint, grpcconn.Options{
			Protocol: o.Protocol, MaxMessage: o.MaxFrame, CallTimeout: o.CallTimeout,
		})
		if err != nil {
			return nil, false, err
		}
		return c, true, nil
	}
}

// SplitCommand splits s into words like a POSIX shell, without expansions:
// whitespace separates words, single quotes keep everything literally, double quotes
// keep everything but \" \\ \$ and \`, and a backslash outside quotes escapes the
// next character.
func SplitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	var inWord bool
	for i := 0; i < len(s); i++ {
		var c = s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					cur.WriteByte(s[i])
				}
			}
		case c == '\'':
			inWord = true
			var j = strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			var closed bool
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, fmt.Errorf("unterminated double quote in %q", s)
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// DockerEnv reports whether arg, a `docker run` argument following prev, sets an
// environment variable (`-e NAME=VALUE`, `--env NAME=VALUE`, `--env=NAME=VALUE`,
// `-eNAME=VALUE`): prefix is what precedes NAME within arg ("", "--env=" or "-e").
// `prefix + name` alone makes docker take the value from its own environment.
func DockerEnv(prev, arg string) (prefix, name, value string, ok bool) {
	var assignment string
	switch {
	case prev == "-e" || prev == "--env":
		assignment = arg
	case strings.HasPrefix(arg, "--env="):
		prefix, assignment = "--env=", arg[len("--env="):]
	case strings.HasPrefix(arg, "-e") && len(arg) > 2 && arg[2] != '-':
		prefix, assignment = "-e", arg[2:]
	default:
		return "", "", "", false
	}
	name, value, ok = strings.Cut(assignment, "=")
	return prefix, name, value, ok && name != ""
}

// DockerSecrets returns the environment that args and $FLOWSIM_DOCKER_ARGS give
// the connector's containers, as a JSON object for redact.Redactor.Learn: the values
// of names that look secret (PGPASSWORD), URL passwords in any value.
func DockerSecrets(args []string) []byte {
	if env, err := SplitCommand(os.Getenv(DockerArgsEnv)); err == nil {
		args = append(env, args...)
	}
	var vars = map[string]string{}
	for i, a := range args {
		var prev string
		if i > 0 {
			prev = args[i-1]
		}
		if _, name, value, ok := DockerEnv(prev, a); ok {
			vars[name] = value
		}
	}
	if len(vars) == 0 {
		return nil
	}
	var b, _ = json.Marshal(vars)
	return b
}
