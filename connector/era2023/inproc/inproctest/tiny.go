// Package inproctest holds a small connector of today's era, written against the
// real module (github.com/estuary/flow/go/protocols/materialize) as today's
// connectors are, for the tests of the packages that run such connectors in
// flowsim's process or from their own main.
package inproctest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	pf "github.com/estuary/flow/go/protocols/flow"
	pm "github.com/estuary/flow/go/protocols/materialize"
)

// Tiny validates every request as today's boilerplate does, keeps documents in a
// map committed at StartCommit, and keeps a commit counter in its connector state.
// It is correct unless Fail or DropStores is set. One Tiny may serve several
// streams at once (fence opens two); they share its store.
type Tiny struct {
	// Fail, when set, is returned at the first Store.
	Fail error
	// DropStores makes it acknowledge stores and never keep them: a defect
	// matsim's load.missing catches.
	DropStores bool

	mu      sync.Mutex
	store   map[string]string // packed key → document
	commits int
	opened  *pm.Request_Open
}

// Opened is the last Open the connector received.
func (c *Tiny) Opened() *pm.Request_Open {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened
}

// Materialize serves one stream.
func (c *Tiny) Materialize(s pm.Connector_MaterializeServer) error {
	var pending = map[string]string{}
	var loads []string
	for {
		var req, err = s.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		} else if err = req.Validate_(); err != nil {
			return fmt.Errorf("validating request: %w", err)
		}
		var resp *pm.Response
		switch {
		case req.Spec != nil:
			resp = &pm.Response{Spec: &pm.Response_Spec{Protocol: 3032023, ConfigSchemaJson: json.RawMessage(`{"type":"object"}`),
				ResourceConfigSchemaJson: json.RawMessage(`{"type":"object"}`), DocumentationUrl: "https://example.com"}}
		case req.Validate != nil:
			var v = &pm.Response_Validated{}
			for _, b := range req.Validate.Bindings {
				var vb = &pm.Response_Validated_Binding{ResourcePath: []string{"t"}}
				for _, p := range b.Collection.Projections {
					// As today's SQL connectors do: keys required, top-level fields
					// recommended (the runtime then sends non-empty valuesPacked, which
					// the real module's Store validation requires), the rest optional.
					var t = pm.Response_Validated_Constraint_FIELD_OPTIONAL
					switch {
					case p.IsPrimaryKey:
						t = pm.Response_Validated_Constraint_LOCATION_REQUIRED
					case p.Ptr != "" && !strings.Contains(p.Ptr[1:], "/"):
						t = pm.Response_Validated_Constraint_LOCATION_RECOMMENDED
					}
					vb.ProjectionConstraints = append(vb.ProjectionConstraints, &pm.Response_Validated_ProjectionConstraint{
						Field: p.Field, Constraint: &pm.Response_Validated_Constraint{Type: t, Reason: "tiny"}})
				}
				v.Bindings = append(v.Bindings, vb)
			}
			resp = &pm.Response{Validated: v}
		case req.Apply != nil:
			resp = &pm.Response{Applied: &pm.Response_Applied{ActionDescription: "applied " + req.Apply.Version}}
		case req.Open != nil:
			c.mu.Lock()
			c.opened = req.Open
			c.mu.Unlock()
			resp = &pm.Response{Opened: &pm.Response_Opened{}}
		case req.Acknowledge != nil:
			resp = &pm.Response{Acknowledged: &pm.Response_Acknowledged{}}
		case req.Load != nil:
			loads = append(loads, string(req.Load.KeyPacked))
		case req.Flush != nil:
			for _, k := range loads {
				c.mu.Lock()
				var doc, ok = c.store[k]
				c.mu.Unlock()
				if ok {
					if err := s.Send(&pm.Response{Loaded: &pm.Response_Loaded{DocJson: json.RawMessage(doc)}}); err != nil {
						return err
					}
				}
			}
			loads = nil
			resp = &pm.Response{Flushed: &pm.Response_Flushed{}}
		case req.Store != nil:
			if c.Fail != nil {
				return c.Fail
			}
			if !c.DropStores {
				pending[string(req.Store.KeyPacked)] = string(req.Store.DocJson)
			}
		case req.StartCommit != nil:
			c.mu.Lock()
			if c.store == nil {
				c.store = map[string]string{}
			}
			for k, v := range pending {
				c.store[k] = v
			}
			c.commits++
			var n = c.commits
			c.mu.Unlock()
			pending = map[string]string{}
			resp = &pm.Response{StartedCommit: &pm.Response_StartedCommit{State: &pf.ConnectorState{
				UpdatedJson: json.RawMessage(fmt.Sprintf(`{"commits":%d}`, n)), MergePatch: true}}}
		}
		if resp != nil {
			if err := s.Send(resp); err != nil {
				return err
			}
		}
	}
}
