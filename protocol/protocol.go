// Package protocol is the materialize protocol as flowsim's engine speaks it: one
// era-neutral model of the messages, written here, with no import of any real
// protocol module. Each era's adapter (connector/era…) translates it to and from the
// messages that era's connectors read and write; the engine never sees an era.
//
// Why flowsim owns this model: the 2021 module (github.com/estuary/protocols) and
// today's (github.com/estuary/flow/go/protocols) register the same protobuf names,
// so one process that links both panics at start-up. The engine links neither, so a
// connector of either era can call matsim.Run from its own main.
//
// The transaction model follows today's protocol, which is a superset in meaning of
// the older eras:
//
//	Open → Opened
//	per transaction: Acknowledge → Acknowledged (acknowledges the previous commit;
//	  the first one is a no-op), Load* → Flush → Loaded* then Flushed,
//	  Store* → StartCommit → StartedCommit
//
// The 2021 eras map onto it as: Flush = Prepare (which carries the runtime
// checkpoint there, so Flush carries it too), Flushed = Prepared (its driver
// checkpoint is a StateUpdate), StartCommit = Commit, StartedCommit =
// DriverCommitted (Committed in 2021-10, which has no Acknowledge).
//
// Connector state: a connector may send a StateUpdate on Flushed or StartedCommit
// (transactional: it is durable once the transaction commits) and on Acknowledged
// (best effort). The runtime reduces the updates (RFC 7396 when MergePatch is set,
// replacement otherwise) and returns the reduced state in the next Open.State: the
// 2021 eras' driver checkpoint is exactly this state.
package protocol

import (
	"context"
	"encoding/json"
	"fmt"
)

// ---- Specifications ----

// Materialization is what a materialization is built from: the engine fills it, each
// era's adapter turns it into that era's MaterializationSpec (adding whatever
// templates that era requires).
type Materialization struct {
	Name string
	// Config is the connector's endpoint configuration (JSON).
	Config   json.RawMessage
	Bindings []*Binding
}

// Binding of a collection to a resource of the destination.
type Binding struct {
	// Resource is the binding's resource configuration (JSON).
	Resource     json.RawMessage
	ResourcePath []string
	DeltaUpdates bool
	Collection   Collection
	Fields       FieldSelection
	// Backfill counts how often the binding was backfilled (eras that have it).
	Backfill uint32
}

// Collection is the materialized collection.
type Collection struct {
	Name string
	// Schema is the collection's JSON schema.
	Schema json.RawMessage
	// Key holds the JSON pointers of the collection key, in order.
	Key         []string
	Projections []Projection
}

// Projection of a document location onto a field.
type Projection struct {
	Ptr          string
	Field        string
	IsPrimaryKey bool
	Explicit     bool
	Inference    Inference
}

// Inference is what the schema says of a location.
type Inference struct {
	// Types are JSON types: "null", "boolean", "integer", "number", "string",
	// "array", "object".
	Types       []string
	MustExist   bool
	Title       string
	Description string
	// String holds the string format facts when Types includes "string".
	String *StringInference
}

// StringInference holds what is known of a string location.
type StringInference struct {
	Format    string
	MaxLength uint32
}

// FieldSelection says which fields a binding materializes.
type FieldSelection struct {
	// Keys in key order.
	Keys []string
	// Values sorted.
	Values []string
	// Document is the field of the whole document ("" for none, as delta bindings may).
	Document    string
	FieldConfig map[string]json.RawMessage
}

// ---- Unary calls ----

// SpecRequest asks for the connector's specification.
type SpecRequest struct {
	// Config, when set, is the endpoint configuration (eras that send one).
	Config json.RawMessage
}

// SpecResponse is the connector's specification.
type SpecResponse struct {
	// Protocol is the protocol number the connector answers with (today's era:
	// 3032023); 0 where the era has none.
	Protocol         uint32
	EndpointSchema   json.RawMessage
	ResourceSchema   json.RawMessage
	DocumentationURL string
}

// ValidateRequest asks the connector to validate a proposed materialization.
type ValidateRequest struct {
	Name     string
	Config   json.RawMessage
	Bindings []*ValidateBinding
	// LastMaterialization is the materialization as last applied, for eras that send
	// it (nil on the first Validate).
	LastMaterialization *Materialization
}

// ValidateBinding is one proposed binding.
type ValidateBinding struct {
	Resource    json.RawMessage
	Collection  Collection
	FieldConfig map[string]json.RawMessage
	Backfill    uint32
}

// ValidateResponse holds the connector's constraints, one entry per binding.
type ValidateResponse struct {
	Bindings []*ValidatedBinding
}

// ValidatedBinding is the connector's answer for one binding.
type ValidatedBinding struct {
	// Constraints by field name.
	Constraints  map[string]Constraint
	DeltaUpdates bool
	ResourcePath []string
}

// Constraint is the connector's constraint on one field.
type Constraint struct {
	Type   ConstraintType
	Reason string
}

// ConstraintType is era-neutral: adapters map each era's numbering (which changed
// within today's era) onto these names.
type ConstraintType int

const (
	ConstraintInvalid ConstraintType = iota
	FieldRequired
	LocationRequired
	LocationRecommended
	FieldOptional
	FieldForbidden
	Incompatible
	Unsatisfiable
)

var constraintNames = [...]string{"INVALID", "FIELD_REQUIRED", "LOCATION_REQUIRED",
	"LOCATION_RECOMMENDED", "FIELD_OPTIONAL", "FIELD_FORBIDDEN", "INCOMPATIBLE", "UNSATISFIABLE"}

func (c ConstraintType) String() string {
	if c >= 0 && int(c) < len(constraintNames) {
		return constraintNames[c]
	}
	return fmt.Sprintf("CONSTRAINT(%d)", int(c))
}

// Selectable says whether a field of this constraint may be selected.
func (c ConstraintType) Selectable() bool {
	switch c {
	case FieldRequired, LocationRequired, LocationRecommended, FieldOptional:
		return true
	}
	return false
}

// ApplyRequest asks the connector to apply a materialization to the destination.
type ApplyRequest struct {
	Materialization *Materialization
	// Version identifies this materialization's spec: a connector may skip an Apply of
	// a version it already applied.
	Version string
	DryRun  bool
	// LastMaterialization and LastVersion: as last applied, where the era sends them.
	LastMaterialization *Materialization
	LastVersion         string
	// State is the reduced connector state, where the era sends it.
	State json.RawMessage
}

// ApplyResponse describes what was applied.
type ApplyResponse struct {
	ActionDescription string
	State             *StateUpdate
}

// ---- Transactions ----

// StateUpdate is an update of the connector's state (2021 eras: its driver checkpoint).
type StateUpdate struct {
	JSON json.RawMessage
	// MergePatch: JSON is an RFC 7396 merge patch of the current state; otherwise it
	// replaces the state.
	MergePatch bool
}

// Request is one message from the runtime (flowsim) to the connector; exactly one
// field is set.
type Request struct {
	Open        *Open
	Acknowledge *Acknowledge
	Load        *Load
	Flush       *Flush
	Store       *Store
	StartCommit *StartCommit
}

// Name is the message's name, for errors.
func (r *Request) Name() string {
	switch {
	case r == nil:
		return "nil request"
	case r.Open != nil:
		return "Open"
	case r.Acknowledge != nil:
		return "Acknowledge"
	case r.Load != nil:
		return "Load"
	case r.Flush != nil:
		return "Flush"
	case r.Store != nil:
		return "Store"
	case r.StartCommit != nil:
		return "StartCommit"
	}
	return "empty request"
}

// Open opens a transactions stream over the key range [KeyBegin, KeyEnd].
type Open struct {
	Materialization *Materialization
	Version         string
	KeyBegin        uint32
	KeyEnd          uint32
	// State is the reduced connector state (2021 eras: the driver checkpoint JSON);
	// empty on the first Open.
	State json.RawMessage
}

// Acknowledge tells the connector the previous commit is durable on the runtime's side.
type Acknowledge struct{}

// Load asks for the documents of these keys (packed tuples of the collection key).
type Load struct {
	Binding uint32
	Keys    [][]byte
}

// Flush ends the Loads of a transaction: the connector sends its remaining Loaded
// documents, then Flushed. RuntimeCheckpoint is the checkpoint this transaction will
// commit; eras that take it here (2021: Prepare) read it, the others get it again in
// StartCommit.
type Flush struct {
	RuntimeCheckpoint []byte
}

// Store holds documents to store, all of one binding.
type Store struct {
	Binding uint32
	Docs    []StoredDoc
}

// StoredDoc is one document to store.
type StoredDoc struct {
	KeyPacked    []byte
	ValuesPacked []byte
	Doc          json.RawMessage
	// Exists: the document was loaded (or stored earlier in this stream).
	Exists bool
}

// StartCommit asks the connector to commit the transaction, with the runtime
// checkpoint it commits.
type StartCommit struct {
	RuntimeCheckpoint []byte
}

// Response is one message from the connector; exactly one field is set.
type Response struct {
	Opened        *Opened
	Acknowledged  *Acknowledged
	Loaded        *Loaded
	Flushed       *Flushed
	StartedCommit *StartedCommit
}

// Name is the message's name, for errors.
func (r *Response) Name() string {
	switch {
	case r == nil:
		return "nil response"
	case r.Opened != nil:
		return "Opened"
	case r.Acknowledged != nil:
		return "Acknowledged"
	case r.Loaded != nil:
		return "Loaded"
	case r.Flushed != nil:
		return "Flushed"
	case r.StartedCommit != nil:
		return "StartedCommit"
	}
	return "empty response"
}

// Opened answers Open. RuntimeCheckpoint is set by connectors that keep the runtime
// checkpoint in the destination (a marshalled gazette consumer Checkpoint).
type Opened struct {
	RuntimeCheckpoint []byte
}

// Acknowledged answers Acknowledge.
type Acknowledged struct {
	State *StateUpdate
}

// Loaded holds documents of requested keys, all of one binding.
type Loaded struct {
	Binding uint32
	Docs    []json.RawMessage
}

// Flushed says every Loaded of the transaction was sent.
type Flushed struct {
	State *StateUpdate
}

// StartedCommit says the connector committed (or durably started committing) the
// transaction.
type StartedCommit struct {
	State *StateUpdate
}

// ---- The runtime's side ----

// Client is a connector as the runtime drives it in this model, whatever era and
// transport carry it (connector/era2023's Client; connector.Bridge puts one under
// the engine).
type Client interface {
	Spec(context.Context, *SpecRequest) (*SpecResponse, error)
	Validate(context.Context, *ValidateRequest) (*ValidateResponse, error)
	Apply(context.Context, *ApplyRequest) (*ApplyResponse, error)
	// Transactions opens a transactions stream; ending ctx kills it.
	Transactions(context.Context) (Session, error)
}

// Session is one transactions stream, the runtime's side. Send, CloseSend and Kill
// may be called from one goroutine while Recv is called from another.
type Session interface {
	Send(*Request) error
	// Recv returns the next response; io.EOF once the connector ended the stream cleanly.
	Recv() (*Response, error)
	// CloseSend ends the requests cleanly.
	CloseSend() error
	// Kill ends the stream abruptly and returns once the connector side stopped.
	Kill() error
}

// ---- Connectors written against this model ----

// Server is a connector written against this model (flowsim's reference connector,
// the PostgreSQL example). connector.InProcess drives one directly; each era's
// adapter gives it that era's face (a 2021 DriverServer, today's stdio and gRPC
// stream), so one implementation speaks every era.
type Server interface {
	Spec(context.Context, *SpecRequest) (*SpecResponse, error)
	Validate(context.Context, *ValidateRequest) (*ValidateResponse, error)
	Apply(context.Context, *ApplyRequest) (*ApplyResponse, error)
	// Transactions serves one transactions stream until the runtime closes it
	// (Recv returns io.EOF: return nil) or an error ends it.
	Transactions(TransactionsStream) error
}

// TransactionsStream is the connector's side of a transactions stream.
type TransactionsStream interface {
	Context() context.Context
	// Recv returns the next request; io.EOF once the runtime closed its side.
	Recv() (*Request, error)
	Send(*Response) error
}
