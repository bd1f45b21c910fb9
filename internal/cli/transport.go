package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/matsim/cmdline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// transportFlags select how the connector is reached (connector/transports), plus
// the fence test's second connector.
type transportFlags struct {
	opts         transports.Options
	peerEndpoint string
}

func (t *transportFlags) addFlags(fs *pflag.FlagSet, test string) {
	t.opts.Network = "host"
	t.opts.Protocol = connector.Auto
	t.opts.CallTimeout = 5 * time.Minute
	t.opts.AddFlags(fs) // its --call-timeout is also the engine's: matsim waits at most this long for any answer
	if test == "fence" {
		fs.Var(transports.ConnectorFlag(&t.peerEndpoint), "peer-endpoint", "HOST:PORT of a second connector process over the same store, for the newer stream")
	}
}

// open returns the connector the flags select; ok is false when none was selected.
// red redacts what errors quote of a connector's output before it is cut.
func (t *transportFlags) open(ctx context.Context, stderr io.Writer, red *redact.Redactor) (conn, peer connector.Connector, ok bool, err error) {
	t.opts.Stderr, t.opts.Redactor = stderr, red
	conn, ok, err = transports.Open(ctx, t.opts)
	if err != nil {
		return nil, nil, false, err
	}
	if !ok {
		if t.peerEndpoint != "" {
			return nil, nil, false, fmt.Errorf("--peer-endpoint needs --endpoint, --command or --image for the first stream")
		}
		return nil, nil, false, nil
	}
	if t.peerEndpoint != "" {
		var p = t.opts
		p.Command, p.Image, p.Endpoint = "", "", t.peerEndpoint
		if peer, _, err = transports.Open(ctx, p); err != nil {
			conn.Close()
			return nil, nil, false, fmt.Errorf("--peer-endpoint: %w", err)
		}
	}
	return conn, peer, true, nil
}

// rerunFlags are the flags set on cmd, one per value of a repeated flag (a rerun
// line repeats --docker-arg=-e --docker-arg=NAME=VALUE as given). A --docker-arg that
// sets an environment variable holding a secret (red finds one in it) becomes
// NAME alone, so that docker takes it from the environment, with a note saying so.
func rerunFlags(cmd *cobra.Command, red *redact.Redactor) []cmdline.FlagValue {
	var set []cmdline.FlagValue
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		var values = []string{fl.Value.String()}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for i, v := range values {
			var fv = cmdline.FlagValue{Name: fl.Name, Value: v}
			if fl.Name == "docker-arg" && red.String(v) != v {
				var prev string
				if i > 0 {
					prev = values[i-1]
				}
				if prefix, name, _, ok := transports.DockerEnv(prev, v); ok && red.String(prefix+name) == prefix+name {
					fv.Shown = prefix + name
					fv.Note = "--docker-arg sets " + name + " from the environment: export " + name + " with its value before running the line above"
				}
			}
			set = append(set, fv)
		}
	})
	return set
}
