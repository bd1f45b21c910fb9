// Package transports turns command-line flags into a connector.Connector: a local
// command or a Docker image speaking the stdio convention (connector/stdio), or a
// materialize.Driver gRPC endpoint (connector/grpcconn). With none of them set, the
// caller uses its built-in connector.
package transports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/stdio"
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
	// MaxFrame caps one message in bytes (stdio frame or gRPC message).
	MaxFrame int
	// CallTimeout bounds each call (stdio streams: each awaited response) and the
	// dial of Endpoint. Zero means none, for library callers; the --call-timeout flag
	// must be positive (the CLI rejects 0).
	CallTimeout time.Duration
	// Stderr receives a stdio connector's stderr (default os.Stderr).
	Stderr io.Writer
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
	fs.Var((*revisionValue)(&o.Protocol), "protocol", "protocol revision of the connector: auto, 2021-12 or 2021-10")
	fs.IntVar(&o.MaxFrame, "max-frame", o.MaxFrame, "largest message in bytes (stdio frame or gRPC message)")
	fs.DurationVar(&o.CallTimeout, "call-timeout", o.CallTimeout, "longest wait for any one connector answer (a call, or a response of the transactions stream), and for dialing --endpoint; must be positive")
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
	var so = stdio.Options{Protocol: o.Protocol, MaxFrame: o.MaxFrame, CallTimeout: o.CallTimeout, Stderr: o.Stderr}

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
