package matsim

import (
	"context"
	"fmt"
	"io"

	"github.com/flowsim/flowsim/connector"
	"github.com/spf13/pflag"
)

// transportFlags select how the connector is reached.
type transportFlags struct {
	image, network, command, endpoint, peerEndpoint, protocol string
}

func (t *transportFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&t.image, "image", "", "connector Docker image (run as docker run -i --rm --network NETWORK IMAGE <subcommand>)")
	fs.StringVar(&t.network, "network", "host", "Docker network of --image")
	fs.StringVar(&t.command, "command", "", "local connector command speaking the stdio protocol, e.g. \"./connector --flag\"")
	fs.StringVar(&t.endpoint, "endpoint", "", "HOST:PORT of a materialize.Driver gRPC server (a connector or flowsim connector-proxy)")
	fs.StringVar(&t.peerEndpoint, "peer-endpoint", "", "fence only: HOST:PORT of a second connector process over the same store, for the newer stream")
	fs.StringVar(&t.protocol, "protocol", "auto", "protocol revision: auto, 2021-12 or 2021-10")
}

// open returns the connector the flags select; ok is false when none was selected.
func (t *transportFlags) open(ctx context.Context, stderr io.Writer) (conn, peer connector.Connector, ok bool, err error) {
	if t.image == "" && t.command == "" && t.endpoint == "" {
		if t.peerEndpoint != "" {
			return nil, nil, false, fmt.Errorf("--peer-endpoint needs --endpoint, --command or --image")
		}
		return nil, nil, false, nil
	}
	return nil, nil, false, fmt.Errorf("transports are not wired yet")
}
