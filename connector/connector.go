// Package connector is the seam between the matsim engine and the ways a
// materialization connector is reached: in process, a local command or Docker image
// speaking the stdin/stdout framing (connector/stdio), or a gRPC endpoint
// (connector/grpcconn). The engine consumes only the Connector interface.
package connector

import (
	"fmt"

	"github.com/estuary/protocols/materialize"
)

// Revision of the materialize protocol a connector speaks.
type Revision string

const (
	// Dec2021 has ApplyUpsert/ApplyDelete, Acknowledge/Acknowledged and DriverCommitted.
	Dec2021 Revision = "2021-12"
	// Oct2021 has a single Apply, no Acknowledge, and calls DriverCommitted "Committed"
	// (same field number). Transports adapt it so that the engine always speaks Dec2021.
	Oct2021 Revision = "2021-10"
	// Auto asks the transport to detect the revision.
	Auto Revision = "auto"
)

// ParseRevision accepts the flag spellings of a Revision.
func ParseRevision(s string) (Revision, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "2021-12", "dec2021", "dec-2021":
		return Dec2021, nil
	case "2021-10", "oct2021", "oct-2021":
		return Oct2021, nil
	}
	return "", fmt.Errorf("unknown protocol revision %q (want auto, 2021-12 or 2021-10)", s)
}

// Info describes how a connector is reached, for reports and logs.
type Info struct {
	// Transport is one of "in-process", "command", "image", "endpoint".
	Transport string `json:"transport"`
	// Target names what was run or dialed: a binary, an image, an address.
	Target string `json:"target"`
	// Protocol is the revision in use (detected or chosen).
	Protocol Revision `json:"protocol"`
}

func (i Info) String() string {
	return fmt.Sprintf("%s %s (protocol %s)", i.Transport, i.Target, i.Protocol)
}

// Connector is a materialization connector the engine can drive. Every call of the
// embedded DriverClient speaks the Dec2021 revision, whatever the connector speaks.
type Connector interface {
	materialize.DriverClient
	// Info describes the connector. Protocol may read Auto until the first call.
	Info() Info
	// Close releases processes, containers and connections. It is safe to call twice.
	Close() error
}

// InProcess wraps a DriverServer running in this process.
func InProcess(server materialize.DriverServer, name string) Connector {
	return inProcess{DriverClient: materialize.AdaptServerToClient(server), name: name}
}

type inProcess struct {
	materialize.DriverClient
	name string
}

func (c inProcess) Info() Info {
	return Info{Transport: "in-process", Target: c.name, Protocol: Dec2021}
}

func (inProcess) Close() error { return nil }
