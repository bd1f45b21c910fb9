package pgdriver

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/estuary/protocols/fdb/tuple"
	pf "github.com/estuary/protocols/flow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// kind is how a column stores its JSON values.
type kind int

const (
	kindNumeric kind = iota // integer or number → NUMERIC: exact, arbitrary precision
	kindText                // string → TEXT
	kindBool                // boolean → BOOLEAN
	kindJSON                // object, array, or several types → JSON (kept verbatim)
)

// sqlType is the column type of a kind, as CREATE TABLE spells it.
func (k kind) sqlType() string {
	switch k {
	case kindNumeric:
		return "NUMERIC"
	case kindText:
		return "TEXT"
	case kindBool:
		return "BOOLEAN"
	default:
		return "JSON"
	}
}

// infoSchemaType is the column type as information_schema.columns.data_type spells it.
func (k kind) infoSchemaType() string { return strings.ToLower(k.sqlType()) }

// column is one selected field of a binding.
type column struct {
	field    string // Flow field name; also the column name
	kind     kind
	key      bool
	document bool // the root document
	notNull  bool
}

func (c column) ident() string { return pgx.Identifier{c.field}.Sanitize() }

// columnFor maps a projection to a column, or returns why it can't be stored.
func columnFor(p *pf.Projection) (column, string) {
	var c = column{field: p.Field, key: p.IsPrimaryKey, document: p.IsRootDocumentProjection()}
	if len(p.Field) > maxIdentifier {
		return c, fmt.Sprintf("field name is %d bytes; PostgreSQL truncates identifiers to %d bytes", len(p.Field), maxIdentifier)
	}
	if c.document {
		c.kind = kindJSON
		return c, ""
	}
	var types []string
	for _, t := range p.Inference.Types {
		if t != "null" {
			types = append(types, t)
		}
	}
	if len(p.Inference.Types) == 0 {
		return c, "no type is inferred for this location"
	}
	if len(types) != 1 {
		// Only null, or several types: keep the JSON value itself.
		c.kind = kindJSON
	} else {
		switch types[0] {
		case "integer", "number", "numeric":
			c.kind = kindNumeric
		case "string":
			c.kind = kindText
		case "boolean":
			c.kind = kindBool
		case "object", "array":
			c.kind = kindJSON
		default:
			return c, fmt.Sprintf("unsupported JSON type %q", types[0])
		}
	}
	if c.key && c.kind == kindJSON {
		return c, fmt.Sprintf("a key column needs exactly one scalar type to be part of the primary key; this location has types %v", p.Inference.Types)
	}
	return c, ""
}

// table is a binding as the transactions see it.
type table struct {
	index    int
	name     string // table name, unqualified
	ident    string // schema-qualified, quoted
	delta    bool
	keys     []column
	values   []column
	document *column // nil when no root document is selected (delta updates only)
}

// columns lists every column in the order rows are copied: keys, values, document.
func (t *table) columns() []column {
	var out = append(append([]column{}, t.keys...), t.values...)
	if t.document != nil {
		out = append(out, *t.document)
	}
	return out
}

func (t *table) columnNames() []string {
	var out []string
	for _, c := range t.columns() {
		out = append(out, c.field)
	}
	return out
}

// newTable resolves a binding of an applied materialization.
func newTable(schema string, index int, b *pf.MaterializationSpec_Binding) (*table, error) {
	var res, err = ParseResource(b.ResourceSpecJson)
	if err != nil {
		return nil, fmt.Errorf("binding %d: %w", index, err)
	}
	if res.DeltaUpdates != b.DeltaUpdates {
		return nil, fmt.Errorf("binding %d: resource delta_updates=%v but the binding has DeltaUpdates=%v", index, res.DeltaUpdates, b.DeltaUpdates)
	}
	var t = &table{index: index, name: res.Table, ident: pgx.Identifier{schema, res.Table}.Sanitize(), delta: b.DeltaUpdates}

	var resolve = func(field string) (column, error) {
		var p = b.Collection.GetProjection(field)
		if p == nil {
			return column{}, fmt.Errorf("binding %d (table %s): selected field %q has no projection", index, t.ident, field)
		}
		var c, reason = columnFor(p)
		if reason != "" {
			return c, fmt.Errorf("binding %d (table %s): field %q can't be stored: %s", index, t.ident, field, reason)
		}
		return c, nil
	}
	var fs = &b.FieldSelection
	if len(fs.Keys) == 0 {
		return nil, fmt.Errorf("binding %d (table %s): no key fields are selected", index, t.ident)
	}
	for _, f := range fs.Keys {
		var c, err = resolve(f)
		if err != nil {
			return nil, err
		}
		c.key, c.notNull = true, true
		t.keys = append(t.keys, c)
	}
	for _, f := range fs.Values {
		var c, err = resolve(f)
		if err != nil {
			return nil, err
		}
		c.key = false
		t.values = append(t.values, c)
	}
	if fs.Document != "" {
		var c, err = resolve(fs.Document)
		if err != nil {
			return nil, err
		}
		c.kind, c.document, c.notNull = kindJSON, true, !t.delta
		t.document = &c
	} else if !t.delta {
		return nil, fmt.Errorf("binding %d (table %s): the root document must be selected (it is what Load returns)", index, t.ident)
	}
	return t, nil
}

// createSQL is the CREATE TABLE statement of t.
func (t *table) createSQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", t.ident)
	for i, c := range t.columns() {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n\t%s %s", c.ident(), c.kind.sqlType())
		if c.notNull {
			b.WriteString(" NOT NULL")
		}
	}
	if !t.delta {
		var keys []string
		for _, c := range t.keys {
			keys = append(keys, c.ident())
		}
		fmt.Fprintf(&b, ",\n\tPRIMARY KEY (%s)", strings.Join(keys, ", "))
	}
	b.WriteString("\n)")
	return b.String()
}

// ---- Converting tuple elements to column values ----

// convert turns an element unpacked from a Flow tuple into a value that pgx
// encodes into a column of kind k.
func convert(k kind, field string, v tuple.TupleElement) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindNumeric:
		switch n := v.(type) {
		case int64:
			return n, nil
		case int:
			return int64(n), nil
		case uint64:
			return pgtype.Numeric{Int: new(big.Int).SetUint64(n), Valid: true}, nil
		case *big.Int:
			return pgtype.Numeric{Int: new(big.Int).Set(n), Valid: true}, nil
		case big.Int:
			return pgtype.Numeric{Int: new(big.Int).Set(&n), Valid: true}, nil
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				return nil, fmt.Errorf("field %q: %v is not a JSON number", field, n)
			}
			return n, nil
		case float32:
			return float64(n), nil
		}
	case kindText:
		if s, ok := v.(string); ok {
			if strings.IndexByte(s, 0) >= 0 {
				// PostgreSQL text can't hold U+0000. The root document keeps the
				// exact string; the column gets a visible replacement.
				s = strings.ReplaceAll(s, "\x00", "\uFFFD")
			}
			return s, nil
		}
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kindJSON:
		return jsonValue(v)
	}
	return nil, fmt.Errorf("field %q: a %s column can't hold %T %v", field, k.sqlType(), v, v)
}

// convertKey is convert for key columns, which may not be changed or be null.
func convertKey(k kind, field string, v tuple.TupleElement) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("key field %q is null", field)
	}
	if s, ok := v.(string); ok && strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("key field %q holds U+0000, which PostgreSQL text can't store", field)
	}
	return convert(k, field, v)
}

// jsonValue re-encodes a tuple element as the JSON it came from.
func jsonValue(v tuple.TupleElement) (any, error) {
	switch x := v.(type) {
	case []byte: // objects and arrays are packed as their JSON bytes
		return json.RawMessage(append([]byte(nil), x...)), nil
	case *big.Int:
		return json.RawMessage(x.String()), nil
	case uint64, int64, int, bool, string, float32:
		var b, err = json.Marshal(x)
		return json.RawMessage(b), err
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", x)
		}
		var b, err = json.Marshal(x)
		return json.RawMessage(b), err
	}
	return nil, fmt.Errorf("can't encode %T as JSON", v)
}
