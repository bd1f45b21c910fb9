// Package reference is flowsim's reference materialization connector: an in-memory
// (or file-backed, for connector processes started one per call) store that
// implements the Dec 2021 materialize protocol exactly — standard and delta-updates
// bindings, fencing of overlapping key ranges, Acknowledge, checkpoints — and that
// can misbehave on purpose: its endpoint config may name a defect (see Defects) so
// that flowsim's own tests prove each check catches what it claims to.
//
// The in-memory store keeps documents in arenas indexed by key (about 16–32 bytes a
// key in memory) and moves them to an unlinked spill file beyond a memory budget
// (see Options), so that runs of 10^8 documents fit; docs/performance.md has the
// numbers.
package reference

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
)

// Config is the reference connector's endpoint configuration.
type Config struct {
	// StateDir keeps the store in a directory shared by every process that names it.
	// Empty: the store lives in the memory of this Driver.
	StateDir string `json:"state_dir,omitempty"`
	// Defect names a deliberate fault to inject (see Defects). Empty: none.
	Defect string `json:"defect,omitempty"`
	// SkipAppliedVersion makes an ApplyUpsert of the version applied last a no-op,
	// as SQL connectors that keep applied specs in a table do: correct, and a
	// connector a tester must drive with a new version for every new spec.
	SkipAppliedVersion bool `json:"skip_applied_version,omitempty"`
}

// Resource is the reference connector's resource configuration.
type Resource struct {
	// Name of the table. Default "flowsim".
	Name string `json:"name,omitempty"`
	// DeltaUpdates makes the binding append-only.
	DeltaUpdates bool `json:"delta_updates,omitempty"`
}

const endpointSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "flowsim reference connector",
  "type": "object",
  "properties": {
    "state_dir": {"type": "string", "description": "Directory holding the store, shared by connector processes. Empty: in memory."},
    "defect": {"type": "string", "description": "A deliberate fault to inject (flowsim's own tests use these)."},
    "skip_applied_version": {"type": "boolean", "description": "Treat an ApplyUpsert of the version applied last as a no-op, as SQL connectors keeping applied specs do."}
  },
  "additionalProperties": false
}`

const resourceSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "flowsim reference connector table",
  "type": "object",
  "properties": {
    "name": {"type": "string", "description": "Table name. Default flowsim."},
    "delta_updates": {"type": "boolean", "description": "Append-only (delta updates) binding."}
  },
  "additionalProperties": false
}`

// Driver is the reference connector. It implements materialize.DriverServer.
type Driver struct {
	mem *memStore
}

var _ materialize.DriverServer = (*Driver)(nil)

// Options tune the in-memory store of a Driver.
type Options struct {
	// MemoryBudget is how many bytes of stored documents the in-memory store keeps
	// in memory; beyond it, the oldest move to spill files in SpillDir (each table
	// keeps at least the megabyte it is appending to in memory). The keys' index
	// (12–32 bytes a key) is always in memory. Zero: DefaultMemoryBudget.
	MemoryBudget int64
	// SpillDir is where spill files go (unlinked as soon as they are created).
	// Empty: os.TempDir(). When they cannot be written, everything stays in memory.
	SpillDir string
}

// New returns a reference connector whose in-memory store is empty, with the
// default Options.
func New() *Driver { return NewWithOptions(Options{}) }

// NewWithOptions returns a reference connector whose in-memory store is empty.
func NewWithOptions(o Options) *Driver {
	if o.MemoryBudget == 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	return &Driver{mem: newMemStore(newBudget(o.MemoryBudget, o.SpillDir))}
}

// Restart returns a new connector "process" over the same durable store: whatever
// this one committed survives, anything it held only in memory does not.
func (d *Driver) Restart() *Driver { return &Driver{mem: d.mem} }

func parseConfig(b json.RawMessage) (Config, error) {
	var c Config
	if len(b) == 0 {
		return c, nil
	}
	var dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("parsing reference connector config: %w", err)
	}
	if c.Defect != "" {
		if _, ok := defectByName(c.Defect); !ok {
			return c, fmt.Errorf("unknown defect %q; known defects: %s", c.Defect, strings.Join(DefectNames(), ", "))
		}
	}
	return c, nil
}

func parseResource(b json.RawMessage) (Resource, error) {
	var r Resource
	if len(b) != 0 {
		var dec = json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return r, fmt.Errorf("parsing reference connector resource: %w", err)
		}
	}
	if r.Name == "" {
		r.Name = "flowsim"
	}
	return r, nil
}

func (d *Driver) storeFor(c Config) (store, error) {
	if c.StateDir == "" {
		return d.mem, nil
	}
	return fileStoreFor(c.StateDir)
}

// Spec implements materialize.DriverServer.
func (d *Driver) Spec(ctx context.Context, req *materialize.SpecRequest) (*materialize.SpecResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating request: %w", err)
	}
	return &materialize.SpecResponse{
		EndpointSpecSchemaJson: json.RawMessage(endpointSchema),
		ResourceSpecSchemaJson: json.RawMessage(resourceSchema),
		DocumentationUrl:       connector.ReferenceDocumentationURL,
	}, nil
}

// Validate implements materialize.DriverServer.
func (d *Driver) Validate(ctx context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating request: %w", err)
	}
	if _, err := parseConfig(req.EndpointSpecJson); err != nil {
		return nil, err
	}
	var out = &materialize.ValidateResponse{}
	for _, b := range req.Bindings {
		var res, err = parseResource(b.ResourceSpecJson)
		if err != nil {
			return nil, err
		}
		var cs = map[string]*materialize.Constraint{}
		for _, p := range b.Collection.Projections {
			switch {
			case p.IsPrimaryKey:
				cs[p.Field] = &materialize.Constraint{Type: materialize.Constraint_LOCATION_REQUIRED, Reason: "keys identify documents"}
			case p.Ptr == "" && !res.DeltaUpdates:
				cs[p.Field] = &materialize.Constraint{Type: materialize.Constraint_FIELD_REQUIRED, Reason: "the document is stored and loaded"}
			case p.Ptr == "":
				cs[p.Field] = &materialize.Constraint{Type: materialize.Constraint_FIELD_OPTIONAL, Reason: "delta updates store the document anyway"}
			default:
				cs[p.Field] = &materialize.Constraint{Type: materialize.Constraint_LOCATION_RECOMMENDED, Reason: "values are kept"}
			}
		}
		out.Bindings = append(out.Bindings, &materialize.ValidateResponse_Binding{
			Constraints:  cs,
			ResourcePath: []string{res.Name},
			DeltaUpdates: res.DeltaUpdates,
		})
	}
	return out, nil
}

// applyTarget validates an Apply request and returns its config and store.
func (d *Driver) applyTarget(req *materialize.ApplyRequest) (Config, store, error) {
	if err := req.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("validating request: %w", err)
	}
	var cfg, err = parseConfig(req.Materialization.EndpointSpecJson)
	if err != nil {
		return cfg, nil, err
	}
	st, err := d.storeFor(cfg)
	return cfg, st, err
}

// ApplyUpsert implements materialize.DriverServer. It creates the tables; applying
// the same spec again changes nothing.
func (d *Driver) ApplyUpsert(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	var cfg, st, err = d.applyTarget(req)
	if err != nil {
		return nil, err
	}
	if cfg.Defect == "apply-fails" {
		return nil, fmt.Errorf("simulated failure to apply (defect apply-fails)")
	}
	var created []string
	if req.DryRun {
		return &materialize.ApplyResponse{ActionDescription: "dry run: nothing applied"}, nil
	}
	var skipped bool
	var storeID string
	err = st.update(func(s *state) error {
		if s.ID == "" {
			var b [8]byte
			_, _ = rand.Read(b[:])
			s.ID = hex.EncodeToString(b[:])
		}
		storeID = s.ID
		var mat = string(req.Materialization.Materialization)
		var applied, seen = s.Versions[mat]
		if s.Versions == nil {
			s.Versions = map[string]string{} // gob decodes an empty map as nil
		}
		s.Versions[mat] = req.Version
		switch {
		case cfg.SkipAppliedVersion && seen && applied == req.Version:
			skipped = true
			return nil
		case cfg.Defect == "drop-on-version-change" && seen && applied != req.Version:
			for _, b := range req.Materialization.Bindings {
				delete(s.Tables, b.ResourcePath[0]) // recreated empty below: the data is lost
			}
		}
		for _, b := range req.Materialization.Bindings {
			var name = b.ResourcePath[0]
			var fields = b.FieldSelection.AllFields()
			if tbl, ok := s.Tables[name]; !ok {
				s.table(name).Fields = fields
				created = append(created, name)
			} else if cfg.Defect == "apply-once" {
				return fmt.Errorf("table %s already exists (defect apply-once)", name)
			} else if !sameFields(tbl.Fields, fields) {
				switch cfg.Defect {
				case "drop-on-apply":
					s.drop(name) // recreated empty: the data is lost
					s.table(name).Fields = fields
				case "ignore-new-field":
					// The table keeps the columns it was created with.
				default:
					tbl.Fields = fields
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var store = "; " + connector.ReferenceStoreMarker + storeID
	if skipped {
		return &materialize.ApplyResponse{ActionDescription: "version " + req.Version + " is applied already: nothing to do" + store}, nil
	}
	if len(created) == 0 {
		return &materialize.ApplyResponse{ActionDescription: "nothing to create" + store}, nil
	}
	return &materialize.ApplyResponse{ActionDescription: "created tables " + strings.Join(created, ", ") + store}, nil
}

// ApplyDelete implements materialize.DriverServer.
func (d *Driver) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	var _, st, err = d.applyTarget(req)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return &materialize.ApplyResponse{ActionDescription: "dry run: nothing deleted"}, nil
	}
	err = st.update(func(s *state) error {
		for _, b := range req.Materialization.Bindings {
			s.drop(b.ResourcePath[0])
		}
		delete(s.Checkpoint, string(req.Materialization.Materialization))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &materialize.ApplyResponse{ActionDescription: "dropped tables"}, nil
}

// Transactions implements materialize.DriverServer.
func (d *Driver) Transactions(stream materialize.Driver_TransactionsServer) error {
	var req, err = stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	} else if err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("validating request: %w", err)
	}
	if req.Open == nil {
		return fmt.Errorf("protocol error: expected Open, got %v", req)
	}
	var t, terr = newTxnSession(d, stream, req.Open)
	if terr != nil {
		return terr
	}
	return t.run()
}

// errFenced is returned when a stream's commit was fenced off by a newer stream.
var errFenced = errors.New("this stream was fenced off by a newer stream over an overlapping key range")

// openFence fences every row of the materialization overlapping [begin, end] and
// returns this stream's fence and the checkpoint of the narrowest covering row, as
// the SQL drivers of the protocols module do: a split child starts from its
// parent's checkpoint, and streams over disjoint ranges never fence each other.
func openFence(s *state, mat string, begin, end uint32, defect string) (int64, []byte) {
	var exactOnly, stale, fenceNewer = defect == "exact-range-only", defect == "stale-checkpoint", defect == "fence-newer"
	var global = defect == "global-fence"
	var rows = s.Checkpoint[mat]
	var mine *fenceRow
	var maxFence int64
	for _, r := range rows {
		var overlaps = r.Begin <= end && r.End >= begin
		var exact = r.Begin == begin && r.End == end
		if exact {
			mine = r
		}
		if (overlaps && !exactOnly) || exact || global {
			r.Fence++
		}
		if r.Fence > maxFence {
			maxFence = r.Fence
		}
	}
	var newRow = mine == nil
	if mine == nil {
		mine = &fenceRow{Begin: begin, End: end, Fence: maxFence + 1}
		s.Checkpoint[mat] = append(rows, mine)
		for _, r := range rows {
			var partial = r.Begin <= end && r.End >= begin && !(r.Begin <= begin && r.End >= end)
			if fenceNewer && partial {
				defer func() { mine.Fence++ }() // the bug: this stream fences itself too
				break
			}
		}
	}
	// The checkpoint of the narrowest row covering [begin, end].
	var best *fenceRow
	for _, r := range s.Checkpoint[mat] {
		if r.Begin <= begin && r.End >= end && len(r.Checkpoint) != 0 {
			if best == nil || r.End-r.Begin < best.End-best.Begin {
				best = r
			}
		}
	}
	if best == nil || newRow && defect == "split-loses-checkpoint" {
		return mine.Fence, nil
	}
	if stale {
		return mine.Fence, best.First
	}
	return mine.Fence, best.Checkpoint
}

func findRow(s *state, mat string, begin, end uint32) *fenceRow {
	for _, r := range s.Checkpoint[mat] {
		if r.Begin == begin && r.End == end {
			return r
		}
	}
	return nil
}

var _ = pf.Arena{}

func sameFields(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}
