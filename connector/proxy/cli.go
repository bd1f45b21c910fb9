package proxy

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/stdio"
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
of its stderr. SIGTERM drains: health turns NOT_SERVING, in-flight calls get
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
		RunE: func(cmd *cobra.Command, args []string) error {
			var rev, err = connector.ParseRevision(protocol)
			if err != nil {
				return err
			}
			client, err := stdio.NewCommand(args, stdio.Options{
				Protocol: rev, MaxFrame: maxFrame, CallTimeout: callTimeout, Stderr: os.Stderr,
			})
			if err != nil {
				return err
			}
			defer client.Close()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", listen, err)
			}
			var stderr = cmd.ErrOrStderr()
			err = Serve(cmd.Context(), lis, NewServer(client), Options{
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
	cmd.Flags().StringVar(&protocol, "protocol", "auto", "protocol revision of the connector: auto, 2021-12 or 2021-10 (clients always see 2021-12)")
	cmd.Flags().IntVar(&maxFrame, "max-frame", stdio.DefaultMaxFrame, "largest message in bytes, on stdio and on gRPC")
	cmd.Flags().DurationVar(&callTimeout, "call-timeout", 0, "deadline of a unary call and of each awaited response of a stream (0: none)")
	cmd.Flags().DurationVar(&grace, "grace-period", 10*time.Second, "on SIGTERM, how long in-flight calls may take to finish before they are cancelled")
	return cmd
}
