package engine

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	pc "go.gazette.dev/core/consumer/protocol"
)

// checkpointOf is the Flow checkpoint of stream s's current round: its source
// journal names the materialization and the stream, so that a checkpoint of another
// materialization is never taken for one of this run's.
func (r *runner) checkpointOf(s *stream) []byte {
	return flowCheckpoint(r.checkpointPrefix()+s.name, s.round)
}

// checkpointPrefix starts the stream tag of this run's checkpoints (after
// flowCheckpoint's "flowsim/source/").
func (r *runner) checkpointPrefix() string { return r.names.Materialization + "/" }

// prepareCheckpoint is checkpointOf(s), sent with Prepare; the run remembers every
// one it sent, so that a checkpoint an Opened returns can be told apart from one the
// connector's store kept from an earlier run of the same materialization.
func (r *runner) prepareCheckpoint(s *stream) []byte {
	var cp = r.checkpointOf(s)
	if r.prepared == nil {
		r.prepared = map[string]bool{}
	}
	r.prepared[string(cp)] = true
	return cp
}

// foreignCheckpoint fails, as a setup error naming it, when an Opened returned a
// non-empty checkpoint that this run never sent: the connector's store kept it from
// an earlier run of the same materialization (the same test, --seed and --resource
// over the same endpoint, with its data tables dropped or fresh but its checkpoints
// kept). That is no fault of the connector, which rightly returns what it stores.
func (r *runner) foreignCheckpoint(phase string, opened []byte) error {
	if len(opened) == 0 || r.prepared[string(opened)] {
		return nil
	}
	// Only a checkpoint of this materialization: one of another (or bytes that are
	// no checkpoint of flowsim's) is the connector's fault, judged as such.
	var cp pc.Checkpoint
	if cp.Unmarshal(opened) != nil || len(cp.Sources) == 0 {
		return nil
	}
	for j := range cp.Sources {
		if !strings.HasPrefix(string(j), "flowsim/source/"+r.checkpointPrefix()) {
			return nil
		}
	}
	return failf(CheckSetupConfig, phase, "the connector's Opened returned %s, a checkpoint this run never committed: its store still holds it from an earlier run of materialization %s "+
		"(the same test, --seed and --resource over this endpoint), so nothing of the connector could be judged from it; "+
		"rerun with another --seed or --resource, or delete that materialization's checkpoints (e.g. its rows of the connector's checkpoints table)",
		describeCheckpoint(opened), r.names.Materialization)
}

// resourceHash is the part of a materialization's name that tells runs over
// different resources apart: a hash of the resource config (its canonical JSON) and
// the document type.
func resourceHash(resource json.RawMessage, typeName string) string {
	var canonical = []byte(resource)
	var v interface{}
	if json.Unmarshal(resource, &v) == nil {
		canonical, _ = json.Marshal(v) // sorted members, no spaces
	}
	var h = sha256.New()
	h.Write(canonical)
	h.Write([]byte{0})
	h.Write([]byte(typeName))
	return fmt.Sprintf("%x", h.Sum(nil)[:4])
}
