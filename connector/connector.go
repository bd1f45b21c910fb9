// Package connector is the seam between the matsim engine and the ways a
// materialization connector is reached: in process, a local command or Docker image
// speaking the stdin/stdout framing (connector/stdio), or a gRPC endpoint
// (connector/grpcconn). The engine consumes only the Connector and Session
// interfaces defined here, which flowsim owns: every transport gives the same
// guarantees, in particular that Session.Kill returns only once the connector side
// of the stream has stopped.
package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/estuary/protocols/materialize"
)

// Revision of the materialize protocol a connector speaks.
type Revision string

// Era holds the revision a client was given or detected, safe for concurrent use:
// the one home of what every transport's client keeps of it. The zero Era holds "".
type Era struct{ v atomic.Value }

// Get returns the revision.
func (e *Era) Get() Revision {
	var r, _ = e.v.Load().(Revision)
	return r
}

// Set records the revision.
func (e *Era) Set(r Revision) { e.v.Store(r) }

const (
	// Dec2021 has ApplyUpsert/ApplyDelete, Acknowledge/Acknowledged and DriverCommitted.
	Dec2021 Revision = "2021-12"
	// Oct2021 has a single Apply, no Acknowledge, and calls DriverCommitted "Committed"
	// (same field number). Transports adapt it so that the engine always speaks Dec2021.
	Oct2021 Revision = "2021-10"
	// Era2022 is github.com/estuary/flow's TransactionRequest (January 2022 to April
	// 2023): the 2021 subcommands and wire shapes, but Acknowledge first in every
	// transaction, Flush (Prepare's field), StartCommit{runtime checkpoint} (Commit's
	// field) and StartedCommit{driver checkpoint} (DriverCommitted's field).
	Era2022 Revision = "2022"
	// Compat is a subcommand connector whose era (2021-12 or 2022) cannot be told from
	// its answers to spec, validate and apply-upsert: it is driven with transactions
	// that both eras accept (those of Era2022, whose extra fields a 2021-12 connector
	// skips), so that neither is failed for the other's rules.
	Compat Revision = "2021-12|2022"
	// Current is today's protocol (since April 2023): no subcommand, one stream of
	// materialize.Request/Response for everything.
	Current Revision = "2023"
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
	case "2022":
		return Era2022, nil
	case "2023", "current":
		return Current, nil
	}
	return "", fmt.Errorf("unknown protocol revision %q (want auto, 2021-10, 2021-12, 2022, or 2023 also called current)", s)
}

// RevisionNames lists the flag values of --protocol, for help and completion.
var RevisionNames = []string{"auto", "2021-10", "2021-12", "2022", "2023", "current"}

// Pipelines reports whether the revision lets the runtime send a transaction's
// Loads before the previous commit was confirmed, and Acknowledge anywhere among
// them (the 2021 eras). Later eras take Acknowledge first, after the previous
// StartedCommit, and the engine keeps to that.
func (r Revision) Pipelines() bool { return r == Dec2021 || r == Oct2021 || r == Auto || r == "" }

// Subcommands reports whether connectors of the revision take a subcommand per
// call (spec, validate, apply-upsert, transactions).
func (r Revision) Subcommands() bool { return r != Current }

// Info describes how a connector is reached, for reports and logs.
type Info struct {
	// Transport is one of "in-process", "command", "image", "endpoint".
	Transport string `json:"transport"`
	// Target names what was run or dialed: a binary, an image, an address.
	Target string `json:"target"`
	// Protocol is the revision in use (detected or chosen).
	Protocol Revision `json:"protocol"`
	// Behind is the revision of the connector behind connector-proxy, as the proxy
	// reports it (empty otherwise): the proxy speaks Protocol to flowsim and
	// translates for its child.
	Behind Revision `json:"behind,omitempty"`
}

// Spoken is the revision the connector itself speaks: Behind when known.
func (i Info) Spoken() Revision {
	if i.Behind != "" {
		return i.Behind
	}
	return i.Protocol
}

func (i Info) String() string {
	if i.Behind != "" && i.Behind != i.Protocol {
		return fmt.Sprintf("%s %s (protocol %s, behind connector-proxy, which speaks %s to flowsim)", i.Transport, i.Target, i.Behind, i.Protocol)
	}
	return fmt.Sprintf("%s %s (protocol %s)", i.Transport, i.Target, i.Protocol)
}

// ProtocolHeader is the gRPC response header in which connector-proxy names the
// revision its child connector speaks.
const ProtocolHeader = "flowsim-connector-protocol"

// Connector is a materialization connector the engine can drive. Every call speaks
// the Dec2021 revision, whatever the connector speaks (see Adapt).
type Connector interface {
	Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error)
	Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error)
	ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error)
	ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error)
	// Transactions opens a transactions session. Ending ctx kills it.
	Transactions(ctx context.Context) (Session, error)
	// Info describes the connector.
	Info() Info
	// Close releases processes, containers and connections. It is safe to call twice.
	Close() error
}

// Session is one transactions stream. Send, CloseSend and Kill may be called from
// one goroutine while Recv is called from another.
type Session interface {
	// Send transmits a request. When the connector already ended the stream it
	// returns io.EOF (Recv then returns the real error) or the connector's error.
	Send(*materialize.TransactionRequest) error
	// Recv returns the next response; io.EOF once the connector ended the stream cleanly.
	Recv() (*materialize.TransactionResponse, error)
	// CloseSend ends the request side cleanly: a correct connector then ends the stream.
	CloseSend() error
	// Kill ends the session abruptly, as a crash of the runtime does, and returns
	// only once the connector side has stopped: in process, its Transactions returned;
	// a command or image, the process (and container) is gone; through
	// connector-proxy, the proxy confirmed that its child was reaped. It returns an
	// error saying what could not be confirmed within its bound. Kill after the
	// stream ended returns nil at once; it is safe to call more than once.
	Kill() error
}

// KillTimeout bounds the wait of Session.Kill for the connector side to stop.
const KillTimeout = 30 * time.Second

// EraError says that a connector answered in none of the protocol eras flowsim
// tried: flowsim cannot drive it (or it is broken in every era), which is a setup
// failure naming each attempt, never a verdict on its transactions.
type EraError struct {
	Target   string
	Attempts []EraAttempt
}

// EraAttempt is one era tried and how it failed.
type EraAttempt struct {
	Era string
	Err error
}

func (e *EraError) Error() string {
	var b strings.Builder
	// Both readings stay open: a connector of an era flowsim does not speak, or one
	// of an era it does speak that fails at Spec (a config it cannot parse, a crash).
	fmt.Fprintf(&b, "connector %s did not answer Spec in any protocol era flowsim speaks: it speaks none of them, or it fails at Spec in its own (each attempt's error follows)", e.Target)
	for _, a := range e.Attempts {
		fmt.Fprintf(&b, "\n  as %s: %v", a.Era, a.Err)
	}
	b.WriteString("\n(choose the era with --protocol to see one attempt only)")
	return b.String()
}

// Unwrap gives the attempts' errors.
func (e *EraError) Unwrap() []error {
	var errs []error
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}

// ErrNoApplyDelete is wrapped by the error of ApplyDelete when the connector's
// protocol era has no apply-delete (2021-10 and today's era): nothing was asked of
// the connector, so nothing is its fault.
var ErrNoApplyDelete = errors.New("the connector's protocol has no apply-delete")

// ReferenceDocumentationURL is the documentation URL flowsim's reference connector
// answers Spec with: it names the reference connector whatever the transport.
const ReferenceDocumentationURL = "https://github.com/flowsim/flowsim#the-reference-connector"

// ReferenceStoreMarker precedes the store's identity in the reference connector's
// ApplyUpsert description: instances sharing a store (one state_dir) report the same.
const ReferenceStoreMarker = "reference store "

// ReferenceStoreOf is the store identity in an ApplyUpsert description of the
// reference connector, or "".
func ReferenceStoreOf(description string) string {
	var _, id, ok = strings.Cut(description, ReferenceStoreMarker)
	if !ok {
		return ""
	}
	if i := strings.IndexAny(id, " ;"); i >= 0 {
		id = id[:i]
	}
	return id
}
