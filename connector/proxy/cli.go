package proxy

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/lib/redact"
	"github.com/spf13/cobra"
)

// NewCommand returns `connector-proxy --listen ADDR -- CMD [ARGS...]`.
func NewCommand() *cobra.Command {
	var (
		listen      string
		protocol    string
		maxFrame    int
		callTimeout time.Duration
		grace       time.Duration
		termLog     string
	)
	var cmd = &cobra.Command{
		Use:   "connector-proxy --listen ADDR -- CMD [ARGS...]",
		Short: "Serve a stdio connector over the materialize.Driver gRPC service",
		Long: `connector-proxy serves the materialize.Driver gRPC service (and grpc.health.v1) on
ADDR, running CMD ARGS plus the subcommand (spec, validate, apply-upsert, apply-delete,
transactions) once per call and speaking the length-prefixed stdin/stdout framing to
it. It is what runs inside a connector's container in Kubernetes, as a static binary
that needs no shell. The connector's stderr is passed through to the proxy's stderr;
when the connector exits non-zero, the gRPC error carries its exit status and the end
of its stderr. The proxy learns the endpoint config from the requests it forwards and
redacts its secrets from everything it prints; with --termination-log it keeps the end
of that redacted log in the container's termination message file, so that Kubernetes
never quotes the raw log. SIGTERM drains: health turns NOT_SERVING, in-flight calls get
--grace-period to finish, then they are cancelled and their processes reaped.`,
		Example: `  # in a connector container (ENTRYPOINT ["/connector/connector"]):
  flowsim connector-proxy --listen 127.0.0.1:9000 -- /connector/connector
  # then, from the driver:
  flowsim matsim basic --endpoint 127.0.0.1:9000`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("connector-proxy needs the connector command after --, for example: connector-proxy --listen 127.0.0.1:9000 -- /connector/connector")
			}
			if listen == "" {
				return fmt.Errorf("connector-proxy needs --listen ADDR, for example 127.0.0.1:9000")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			rev, err := connector.ParseRevision(protocol)
			if err != nil {
				return err
			}
			// Everything printed, the connector's stderr included, is redacted with what
			// the proxy learns of the config, and kept for the termination message.
			var red = &redact.Redactor{}
			var term *terminationLog
			var sinks = []io.Writer{os.Stderr}
			if termLog != "" {
				term = newTerminationLog(termLog)
				sinks = append(sinks, term)
			}
			var relay = red.Writer(lenient(sinks))
			var stderr = red.Writer(lenient(append([]io.Writer{cmd.ErrOrStderr()}, sinks[1:]...)))
			defer func() {
				if err != nil {
					fmt.Fprintf(stderr, "flowsim connector-proxy: %v\n", err)
				}
				_ = relay.Close()
				_ = stderr.Close()
				if term != nil {
					if ferr := term.Flush(); ferr != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "flowsim connector-proxy: writing the termination message: %v\n", ferr)
					}
				}
				err = red.Error(err)
			}()
			client, err := stdio.NewCommand(args, stdio.Options{
				Protocol: rev, MaxFrame: maxFrame, CallTimeout: callTimeout, Stderr: relay, Redactor: red,
			})
			if err != nil {
				return err
			}
			defer client.Close()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", listen, err)
			}
			err = Serve(cmd.Context(), lis, WithRedactor(NewServer(client), red), Options{
				MaxMessage: maxFrame,
				Grace:      grace,
				Ready: func(addr net.Addr) {
					fmt.Fprintf(stderr, "flowsim connector-proxy: serving materialize.Driver on %s for %s\n",
						addr, strings.Join(args, " "))
				},
			})
			fmt.Fprintf(stderr, "flowsim connector-proxy: stopped\n")
			return err
		},
	}
	cmd.Flags().SetInterspersed(false) // everything after CMD belongs to CMD
	cmd.Flags().StringVar(&listen, "listen", "", "address to serve on, HOST:PORT (loopback inside a pod, the pod IP for a peer; port 0 picks one)")
	cmd.Flags().StringVar(&protocol, "protocol", "auto", "protocol era of the connector: auto, 2021-10, 2021-12, 2022 or 2023 (clients always see the 2021 service; the proxy translates)")
	cmd.Flags().IntVar(&maxFrame, "max-frame", stdio.DefaultMaxFrame, "largest message in bytes, on stdio and on gRPC")
	cmd.Flags().DurationVar(&callTimeout, "call-timeout", 0, "deadline of a unary call and of each awaited response of a stream (0: none)")
	cmd.Flags().DurationVar(&grace, "grace-period", 10*time.Second, "on SIGTERM, how long in-flight calls may take to finish before they are cancelled")
	cmd.Flags().StringVar(&termLog, "termination-log", "", "keep the end of the redacted log in this file, the container's termination message (e.g. /dev/termination-log)")
	return cmd
}
