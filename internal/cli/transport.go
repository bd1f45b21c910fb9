package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/transports"
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
func (t *transportFlags) open(ctx context.Context, stderr io.Writer) (conn, peer connector.Connector, ok bool, err error) {
	t.opts.Stderr = stderr
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
