package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	pf "github.com/estuary/protocols/flow"
	"github.com/estuary/protocols/materialize"
)

// migrateSteps are the steps of migrate (its Result.Loops): store with spec v1,
// apply spec v2 and store with it, read back with it.
const migrateSteps = 3

// migrateField is the optional field that spec v2 adds.
const migrateField = "extra"

// migrate: schema evolution over a table that already holds data. Documents are
// stored with spec v1; then spec v2 is applied (twice: the second apply must change
// nothing) — it adds an optional field, makes the required field `text` nullable,
// and adds a second binding. With v2 the old documents must load back unchanged,
// updated and new documents (which carry the new field) must be stored and load back
// exactly, and the second binding must take stores and load them back exactly (its
// own oracle: what binding 0 holds must not answer binding 1's Loads).
func (r *runner) migrate(ctx context.Context) error {
	var start = time.Now()
	defer func() { r.rep.txnTime = time.Since(start) }()
	var size = r.opts.Start

	// Spec v1.
	var s, _, err = r.open(ctx, r.opts.Connector, "stream v1", 0, fullRange, nil)
	if err != nil {
		return err
	}
	defer s.abort()
	var old = r.oracle.allocate(size)
	if _, err := r.transact(s, txnPlan{phase: "migrate: store with spec v1", loads: old, stores: old, loop: 1}); err != nil {
		return err
	}
	if err := r.finishStream(s); err != nil {
		return err
	}
	r.rep.Result.LoopsDone = 1

	// Spec v2, applied twice.
	var unsat, err2 = r.evolve(ctx)
	if err2 != nil {
		return err2
	}
	for n := 1; n <= 2; n++ {
		if err := r.apply(ctx, r.opts.Connector, fmt.Sprintf("migrate: ApplyUpsert of spec v2 (%d of 2)", n)); err != nil {
			var f, _ = asFailure(err)
			f.Check = CheckMigrateApply
			f.Message = "applying the evolved spec (a new optional field, a nullable field, a second binding) over tables holding data failed: " + f.Message
			if unsat != "" {
				f.Message += "; " + unsat
			}
			return f
		}
	}

	// Store and load with v2.
	var state = map[Check]Check{CheckLoadValue: CheckMigrateState, CheckLoadPhantom: CheckMigrateState, CheckLoadMissing: CheckMigrateState}
	s2, _, err := r.open(ctx, r.opts.Connector, "stream v2", 0, fullRange, nil)
	if err != nil {
		return err
	}
	defer s2.abort()
	var fresh = r.oracle.allocate(size)
	r.bindings[1].oracle.cover(len(r.oracle.rev))
	var both = catKeys(old, fresh)
	// The old documents load back as stored with v1; the updates and the new ones
	// carry the new field.
	t, err := r.transact(s2, txnPlan{phase: "migrate: load v1 documents, store with spec v2", loads: both, stores: both, remap: state, holdCommit: true})
	if err != nil {
		return err
	}
	// The second binding takes every key, the old ones at its first revision (binding
	// 0 holds them at their second), so that each binding holds documents the other
	// does not.
	if err := r.storeSecondBinding(s2, t, both); err != nil {
		return err
	}
	if err := r.commit(s2, t, 2); err != nil {
		return err
	}
	r.rep.Result.LoopsDone = 2
	if _, err := r.transact(s2, txnPlan{phase: "migrate: read back with spec v2", loads: both, remap: state, loop: 3}); err != nil {
		return err
	}
	if _, err := r.transact(s2, txnPlan{phase: "migrate: read back the binding spec v2 added", loads: both, remap: state, binding: 1}); err != nil {
		return err
	}
	r.rep.Result.LoopsDone = 3
	return r.finishStream(s2)
}

// evolve builds spec v2 from v1: the schema gains an optional field and relaxes
// `text` to nullable, Validate is asked again (for both bindings), and documents
// from here on carry the new field.
//
// unsat says which fields Validate answered UNSATISFIABLE for spec v2 (empty: none):
// the connector cannot evolve them in place, the likely reason an ApplyUpsert of v2
// then fails.
func (r *runner) evolve(ctx context.Context) (unsat string, _ error) {
	var g, ok = r.src.(*genSource)
	if !ok {
		return "", failf(CheckSetupConfig, "migrate", "the migrate test needs generated documents (matsim.Rich or matsim.Basic); %s is kept in memory", r.schema.TypeName)
	}
	var v2, err = evolvedSchema(r.schema)
	if err != nil {
		return "", failf(CheckSetupConfig, "migrate", "%v", err)
	}
	res2, err := secondResource(r.opts.Resource)
	if err != nil {
		return "", failf(CheckSetupConfig, "migrate", "%v", err)
	}
	var vreq = v2.validateRequest(r.names, r.opts.Config, r.opts.Resource)
	vreq.Bindings = append(vreq.Bindings, &materialize.ValidateRequest_Binding{ResourceSpecJson: res2, Collection: v2.collectionSpec(r.names)})
	var cctx, cancel = context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	vresp, err := r.opts.Connector.Validate(cctx, vreq)
	if err != nil {
		return "", r.unaryFailure(cctx, CheckMigrateApply, "migrate: Validate of spec v2", "Validate", err)
	}
	if err := vresp.Validate(); err != nil {
		return "", failf(CheckProtocolInvalid, "migrate: Validate of spec v2", "the connector sent an invalid ValidateResponse: %v", err)
	}
	if len(vresp.Bindings) != 2 {
		return "", failf(CheckProtocolInvalid, "migrate: Validate of spec v2", "ValidateResponse has %d bindings for 2 requested", len(vresp.Bindings))
	}
	var unsatisfiable []string
	for b, vb := range vresp.Bindings {
		var fields = make([]string, 0, len(vb.Constraints))
		for f := range vb.Constraints {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			if c := vb.Constraints[f]; c.Type == materialize.Constraint_UNSATISFIABLE {
				unsatisfiable = append(unsatisfiable, fmt.Sprintf("binding %d field %q (%s)", b, f, c.Reason))
			}
		}
	}
	if len(unsatisfiable) != 0 {
		unsat = "Validate of spec v2 answered UNSATISFIABLE for " + strings.Join(unsatisfiable, ", ") +
			": the connector cannot evolve these fields of the existing tables in place"
		r.rep.Notes = append(r.rep.Notes, unsat)
	}
	var sels [2]*selection
	for b, vb := range vresp.Bindings {
		if vb.DeltaUpdates {
			return "", failf(CheckDeltaModeDiffers, "migrate: Validate of spec v2", "binding %d of spec v2 came back with delta_updates=true; migrate needs standard updates", b)
		}
		if sels[b], err = v2.selectFields(vb); err != nil {
			var msg = fmt.Sprintf("binding %d: %v", b, err)
			if unsat != "" {
				msg += "; " + unsat
			}
			return "", failf(CheckMigrateApply, "migrate: Validate of spec v2", "%s", msg)
		}
	}
	var spec = v2.materializationSpec(r.names, r.opts.Config, r.opts.Resource, sels[0])
	var second = v2.materializationSpec(r.names, r.opts.Config, res2, sels[1]).Bindings[0]
	second.Shuffle.GroupName += "/v2"
	spec.Bindings = append(spec.Bindings, second)
	if err := spec.Validate(); err != nil {
		return "", failf(CheckSetupConfig, "migrate", "matsim built an invalid spec v2: %v", err)
	}
	// Documents of keys allocated from now on, and every later revision, are v2.
	var m = &migSource{genSource: g, from: uint64(len(r.oracle.rev)), v1Values: r.schema.Values, v2Values: v2.Values}
	r.src, r.oracle.src, r.schema, r.sel, r.spec = m, m, v2, sels[0], spec
	// A new spec is a new version, as a new build is for the runtime: a connector
	// that treats an ApplyUpsert of the version it holds as a no-op must apply v2.
	r.version = specVersion(spec)
	r.bindings[0].sel = sels[0]
	r.bindings = append(r.bindings, &boundBinding{name: strings.Join(sels[1].ResourcePath, "."), sel: sels[1], oracle: newOracle(m)})
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("spec v2 adds the optional field %q, makes \"text\" nullable and adds the binding %s", migrateField, strings.Join(sels[1].ResourcePath, ".")))
	return unsat, nil
}

// storeSecondBinding stores keys into the binding spec v2 added, as part of
// transaction t, a Store request a batch: their documents' hashes pend in that
// binding's oracle and commit (or abort) with t.
func (r *runner) storeSecondBinding(s *stream, t *txn, keys keySeq) error {
	var b = r.bindings[1]
	var n = keyCount(keys)
	var it keyIter
	if n > 0 {
		it = keys.iter()
	}
	// Recorded first, so that the stores pend with t whatever happens next.
	t.others = append(t.others, bindingStores{binding: 1, stores: txnStores{keys: keys}})
	var batch []uint64
	for lo := 0; lo < n; lo += r.opts.Batch {
		batch = nextKeys(batch[:0], it, min(r.opts.Batch, n-lo))
		var st = &materialize.TransactionRequest_Store{Binding: 1}
		for _, i := range batch {
			var rev = b.oracle.rev[i] + 1
			var begin = uint32(len(st.Arena))
			var valuesAt, docAt int
			st.Arena, valuesAt, docAt = r.src.appendItem(st.Arena, i, rev, b.sel.valueIdx)
			st.PackedKeys = append(st.PackedKeys, pf.Slice{Begin: begin, End: uint32(valuesAt)})
			st.PackedValues = append(st.PackedValues, pf.Slice{Begin: uint32(valuesAt), End: uint32(docAt)})
			st.DocsJson = append(st.DocsJson, pf.Slice{Begin: uint32(docAt), End: uint32(len(st.Arena))})
			st.Exists = append(st.Exists, rev > 1)
			b.oracle.sendStore(i, docHash(st.Arena[docAt:]))
		}
		if err := s.send(&materialize.TransactionRequest{Store: st}, "Store"); err != nil {
			return fmt.Errorf("storing into the binding spec v2 added: %w", err)
		}
		if err := r.drain(s); err != nil {
			return err
		}
	}
	r.rep.Loops[t.statIdx].Stored += int64(n)
	t.docs += int64(n)
	return nil
}

// cover grows the oracle of a binding other than 0 to judge keys 0 to n-1, which
// binding 0's oracle allocated.
func (o *oracle) cover(n int) {
	if d := n - len(o.rev); d > 0 {
		o.allocate(d)
	}
}

// evolvedSchema is v1 with the optional field migrateField (string or null) and
// `text` relaxed to nullable and no longer required.
func evolvedSchema(v1 *docSchema) (*docSchema, error) {
	if _, ok := v1.Fields["text"]; !ok {
		return nil, fmt.Errorf("the migrate test needs matsim.Rich documents (a required field \"text\")")
	}
	var v2 = &docSchema{TypeName: v1.TypeName, Keys: v1.Keys, Fields: map[string]*field{}}
	for k, f := range v1.Fields {
		var c = *f
		v2.Fields[k] = &c
	}
	v2.Fields["text"].Required = false
	v2.Fields["text"].Types = []string{"null", "string"}
	v2.Fields[migrateField] = &field{Name: migrateField, Types: []string{"null", "string"}}
	v2.Values = append(append([]string{}, v1.Values...), migrateField)
	sort.Strings(v2.Values)

	var js map[string]interface{}
	if err := json.Unmarshal(v1.JSON, &js); err != nil {
		return nil, fmt.Errorf("the v1 schema: %w", err)
	}
	var props, _ = js["properties"].(map[string]interface{})
	if props == nil {
		return nil, fmt.Errorf("the v1 schema has no properties")
	}
	props[migrateField] = map[string]interface{}{"type": []string{"string", "null"}}
	props["text"] = map[string]interface{}{"type": []string{"string", "null"}}
	if req, ok := js["required"].([]interface{}); ok {
		var keep []interface{}
		for _, f := range req {
			if f != "text" {
				keep = append(keep, f)
			}
		}
		js["required"] = keep
	}
	var err error
	if v2.JSON, err = json.Marshal(js); err != nil {
		return nil, err
	}
	return v2, nil
}

// secondResource derives the resource of the added binding from the first: its
// name or table with the suffix "_v2".
func secondResource(res json.RawMessage) (json.RawMessage, error) {
	var m map[string]interface{}
	if err := json.Unmarshal(res, &m); err != nil || m == nil {
		return nil, fmt.Errorf("--resource must be a mapping for migrate: %s", clip(string(res), 120))
	}
	for _, k := range []string{"table", "name"} {
		if s, ok := m[k].(string); ok && s != "" {
			m[k] = s + "_v2"
			return json.Marshal(m)
		}
	}
	return nil, fmt.Errorf("migrate adds a second binding named after the first: give --resource a \"table\" or \"name\" member (got %s)", clip(string(res), 120))
}

// migSource yields v2 documents — with the new field — for keys allocated at or
// after from, and for every revision after the first; v1 documents otherwise.
type migSource struct {
	*genSource
	from               uint64
	v1Values, v2Values []string
	buf                []byte
}

func (m *migSource) isV2(i uint64, rev uint32) bool { return i >= m.from || rev >= 2 }

func extraValue(i uint64, rev uint32) string {
	return "added in v2 — key " + strconv.FormatUint(i, 10) + " rev " + strconv.FormatUint(uint64(rev), 10)
}

func (m *migSource) appendJSON(b []byte, i uint64, rev uint32) []byte {
	b = m.genSource.appendJSON(b, i, rev)
	if !m.isV2(i, rev) {
		return b
	}
	b = append(b[:len(b)-1], `,"`+migrateField+`":`...)
	return append(appendString(b, extraValue(i, rev)), '}')
}

func (m *migSource) appendItem(b []byte, i uint64, rev uint32, valueIdx []int) ([]byte, int, int) {
	m.scratch.Generate(m.seed, i, rev)
	var ta = m.scratch.(tupleAppender)
	b = ta.appendKeyTuple(b)
	var valuesAt = len(b)
	for _, j := range valueIdx {
		var name = m.v2Values[j]
		if name == migrateField {
			if m.isV2(i, rev) {
				b = appendTupleBytes(b, 0x02, extraValue(i, rev))
			} else {
				b = append(b, 0x00)
			}
			continue
		}
		b = ta.appendValuesTuple(b, []int{indexOf(m.v1Values, name)})
	}
	var docAt = len(b)
	return m.appendJSON(b, i, rev), valuesAt, docAt
}

func (m *migSource) equal(doc []byte, i uint64, rev uint32) string {
	m.buf = m.appendJSON(m.buf[:0], i, rev)
	return jsonDiff(m.buf, doc)
}

func indexOf(list []string, s string) int {
	for k, v := range list {
		if v == s {
			return k
		}
	}
	return -1
}
