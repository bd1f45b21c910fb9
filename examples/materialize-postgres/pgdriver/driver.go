package pgdriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
)

// checkpointsTable holds one row per materialization and key range: the Flow
// checkpoint committed with the data, and the fence that guards commits.
const checkpointsTable = "flow_checkpoints"

// Driver implements materialize.DriverServer for PostgreSQL.
type Driver struct {
	// Log receives progress messages. The zero value discards them.
	Log logr.Logger
}

var _ pm.DriverServer = (*Driver)(nil)

// New returns a Driver that logs to log.
func New(log logr.Logger) *Driver { return &Driver{Log: log} }

// Spec returns the JSON schemas of the endpoint and resource configurations.
func (d *Driver) Spec(ctx context.Context, req *pm.SpecRequest) (*pm.SpecResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("invalid SpecRequest: %w", err)
	}
	var resp = &pm.SpecResponse{
		EndpointSpecSchemaJson: json.RawMessage(configSchema),
		ResourceSpecSchemaJson: json.RawMessage(resourceSchema),
		DocumentationUrl:       DocumentationURL,
	}
	return resp, resp.Validate()
}

// Validate checks the configuration, connects to the database (so that bad
// credentials, hosts and databases fail here, with the server's reason) and
// returns the constraints of every binding. It creates nothing.
func (d *Driver) Validate(ctx context.Context, req *pm.ValidateRequest) (*pm.ValidateResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("invalid ValidateRequest: %w", err)
	}
	var cfg, err = ParseConfig(req.EndpointSpecJson)
	if err != nil {
		return nil, err
	}

	var resp = new(pm.ValidateResponse)
	var seen = map[string]int{}
	for i, b := range req.Bindings {
		var res, err = ParseResource(b.ResourceSpecJson)
		if err != nil {
			return nil, fmt.Errorf("binding %d (collection %s): %w", i, b.Collection.Collection, err)
		}
		if j, ok := seen[res.Table]; ok {
			return nil, fmt.Errorf("bindings %d and %d both materialize into table %q", j, i, res.Table)
		}
		seen[res.Table] = i
		resp.Bindings = append(resp.Bindings, &pm.ValidateResponse_Binding{
			Constraints:  constraints(&b.Collection, res.DeltaUpdates),
			ResourcePath: []string{cfg.Schema, res.Table},
			DeltaUpdates: res.DeltaUpdates,
		})
	}

	conn, err := cfg.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err = conn.Ping(ctx); err != nil {
		return nil, fmt.Errorf("checking the connection to %s: %w", cfg, err)
	}
	for i, b := range req.Bindings {
		var res, _ = ParseResource(b.ResourceSpecJson) // parsed above
		if err = checkExistingTable(ctx, conn, cfg.Schema, res, &b.Collection); err != nil {
			return nil, fmt.Errorf("binding %d (collection %s): %w", i, b.Collection.Collection, err)
		}
	}

	if err = resp.Validate(); err != nil {
		return nil, fmt.Errorf("building ValidateResponse: %w", err)
	}
	return resp, nil
}

// constraints says, for every projection of a collection, whether the connector
// needs it, wants it or can't store it.
func constraints(c *pf.CollectionSpec, delta bool) map[string]*pm.Constraint {
	var out = make(map[string]*pm.Constraint, len(c.Projections))
	for i := range c.Projections {
		var p = &c.Projections[i]
		var col, reason = columnFor(p)
		var required = p.IsPrimaryKey || (col.document && !delta)
		var con = new(pm.Constraint)

		switch {
		case reason != "" && required:
			con.Type, con.Reason = pm.Constraint_UNSATISFIABLE, "The connector needs this field but can't store it: "+reason
		case reason != "":
			con.Type, con.Reason = pm.Constraint_FIELD_FORBIDDEN, "The connector can't store this field: "+reason
		case p.IsPrimaryKey:
			con.Type, con.Reason = pm.Constraint_LOCATION_REQUIRED, "Key locations form the table's primary key"
		case col.document && !delta:
			con.Type, con.Reason = pm.Constraint_LOCATION_REQUIRED, "The root document is stored and returned by Load"
		case col.document:
			con.Type, con.Reason = pm.Constraint_LOCATION_RECOMMENDED, "The root document is appended with each delta update"
		case p.Inference.IsSingleScalarType():
			con.Type, con.Reason = pm.Constraint_LOCATION_RECOMMENDED, "Scalar values become typed columns"
		default:
			con.Type, con.Reason = pm.Constraint_FIELD_OPTIONAL, "Objects, arrays and mixed types are stored as JSON columns"
		}
		out[p.Field] = con
	}
	return out
}

// ApplyUpsert creates the schema, the flow_checkpoints table and every target
// table, and adds missing value columns to existing tables. It is idempotent: a
// second call with the same spec executes nothing and returns an empty
// ActionDescription. With DryRun it reports the statements without running them.
func (d *Driver) ApplyUpsert(ctx context.Context, req *pm.ApplyRequest) (*pm.ApplyResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("invalid ApplyRequest: %w", err)
	}
	var cfg, tables, err = resolve(req.Materialization)
	if err != nil {
		return nil, err
	}
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	var statements []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := lockDDL(ctx, tx); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, cfg.Schema).Scan(&exists); err != nil {
			return fmt.Errorf("looking up schema %q: %w", cfg.Schema, err)
		}
		if !exists {
			statements = append(statements, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{cfg.Schema}.Sanitize())
		}
		if cols, err := existingColumns(ctx, tx, cfg.Schema, checkpointsTable); err != nil {
			return err
		} else if len(cols) == 0 {
			statements = append(statements, checkpointsCreateSQL(cfg.Schema))
		}
		for i, t := range tables {
			var b = req.Materialization.Bindings[i]
			var res = Resource{Table: t.name, DeltaUpdates: t.delta}
			if err := checkExistingTable(ctx, tx, cfg.Schema, res, &b.Collection); err != nil {
				return err
			}
			var cols, err = existingColumns(ctx, tx, cfg.Schema, t.name)
			if err != nil {
				return err
			}
			alter, err := t.migrate(cols)
			if err != nil {
				return err
			}
			statements = append(statements, alter...)
		}
		if req.DryRun {
			return nil
		}
		return execAll(ctx, tx, statements)
	})
	if err != nil {
		return nil, fmt.Errorf("applying %s to %s: %w", req.Materialization.Materialization, cfg, err)
	}
	d.Log.Info("Applied materialization", "materialization", req.Materialization.Materialization,
		"statements", len(statements), "dryRun", req.DryRun)
	return &pm.ApplyResponse{ActionDescription: strings.Join(statements, ";\n")}, nil
}

// migrate returns the statements that make an existing table (with columns cols,
// name → information_schema data_type; empty when it doesn't exist) fit t.
func (t *table) migrate(cols map[string]string) ([]string, error) {
	if len(cols) == 0 {
		return []string{t.createSQL()}, nil
	}
	var out []string
	for _, c := range t.columns() {
		var have, ok = cols[c.field]
		switch {
		case !ok && (c.key || c.notNull):
			return nil, fmt.Errorf("table %s exists without column %q (a key or the document); drop it or choose another table", t.ident, c.field)
		case !ok:
			out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.ident, c.ident(), c.kind.sqlType()))
		case have != c.kind.infoSchemaType():
			return nil, fmt.Errorf("table %s column %q is %s, but the field needs %s", t.ident, c.field, have, c.kind.sqlType())
		}
	}
	return out, nil
}

// querier is what pgx.Tx and *pgx.Conn have in common here.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// checkExistingTable refuses a target table that exists with a primary key that
// doesn't fit the binding: a standard binding upserts on the collection key, and a
// delta binding appends rows, which a primary key would refuse.
func checkExistingTable(ctx context.Context, q querier, schema string, res Resource, c *pf.CollectionSpec) error {
	var rows, err = q.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
		JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
		WHERE n.nspname = $1 AND t.relname = $2 AND i.indisprimary
		ORDER BY k.ord`, schema, res.Table)
	if err != nil {
		return fmt.Errorf("looking up table %s.%s: %w", schema, res.Table, err)
	}
	pk, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("looking up table %s.%s: %w", schema, res.Table, err)
	}
	var ident = pgx.Identifier{schema, res.Table}.Sanitize()
	switch {
	case len(pk) == 0:
		return nil // absent, or a delta table: ApplyUpsert checks its columns
	case res.DeltaUpdates:
		return fmt.Errorf("table %s exists with primary key (%s), but delta updates append rows; use another table", ident, strings.Join(pk, ", "))
	case len(pk) != len(c.KeyPtrs):
		return fmt.Errorf("table %s exists with primary key (%s), which doesn't match the collection key %v; use another table", ident, strings.Join(pk, ", "), c.KeyPtrs)
	}
	for i, col := range pk {
		if p := c.GetProjection(col); p == nil || p.Ptr != c.KeyPtrs[i] {
			return fmt.Errorf("table %s exists with primary key (%s), which doesn't match the collection key %v; use another table", ident, strings.Join(pk, ", "), c.KeyPtrs)
		}
	}
	return nil
}

func existingColumns(ctx context.Context, tx querier, schema, name string) (map[string]string, error) {
	var rows, err = tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("looking up table %s.%s: %w", schema, name, err)
	}
	var out = map[string]string{}
	var col, typ string
	_, err = pgx.ForEachRow(rows, []any{&col, &typ}, func() error { out[col] = typ; return nil })
	if err != nil {
		return nil, fmt.Errorf("looking up table %s.%s: %w", schema, name, err)
	}
	return out, nil
}

// ddlLock is the key of the transaction-level advisory lock that every Apply takes
// first (advisory locks are per database). Two materializations applied at once into
// a new schema would otherwise both see flow_checkpoints (or the schema) missing and
// both create it: PostgreSQL fails the second CREATE ... IF NOT EXISTS with a
// unique violation on its catalog rather than waiting.
const ddlLock = 0x666c6f7773696d // "flowsim"

func lockDDL(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(ddlLock)); err != nil {
		return fmt.Errorf("taking the advisory lock that serialises applies: %w", err)
	}
	return nil
}

func checkpointsCreateSQL(schema string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	materialization TEXT NOT NULL,
	key_begin BIGINT NOT NULL,
	key_end BIGINT NOT NULL,
	fence BIGINT NOT NULL,
	checkpoint BYTEA NOT NULL,
	PRIMARY KEY (materialization, key_begin, key_end)
)`, pgx.Identifier{schema, checkpointsTable}.Sanitize())
}

// ApplyDelete drops every target table and deletes the materialization's
// checkpoint rows. flow_checkpoints stays: another materialization may have applied
// it and not yet opened (dropping it "once unused" raced with exactly that).
func (d *Driver) ApplyDelete(ctx context.Context, req *pm.ApplyRequest) (*pm.ApplyResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("invalid ApplyRequest: %w", err)
	}
	var cfg, tables, err = resolve(req.Materialization)
	if err != nil {
		return nil, err
	}
	conn, err := cfg.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	var statements []string
	var ckpt = pgx.Identifier{cfg.Schema, checkpointsTable}.Sanitize()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := lockDDL(ctx, tx); err != nil {
			return err
		}
		for _, t := range tables {
			if cols, err := existingColumns(ctx, tx, cfg.Schema, t.name); err != nil {
				return err
			} else if len(cols) != 0 {
				statements = append(statements, "DROP TABLE "+t.ident)
			}
		}
		var cols, err = existingColumns(ctx, tx, cfg.Schema, checkpointsTable)
		if err != nil {
			return err
		}
		if len(cols) != 0 {
			var mine int
			if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE materialization = $1`, ckpt),
				string(req.Materialization.Materialization)).Scan(&mine); err != nil {
				return fmt.Errorf("reading %s: %w", ckpt, err)
			}
			if mine != 0 {
				statements = append(statements, fmt.Sprintf("DELETE FROM %s WHERE materialization = %s",
					ckpt, quoteLiteral(string(req.Materialization.Materialization))))
			}
		}
		if req.DryRun {
			return nil
		}
		return execAll(ctx, tx, statements)
	})
	if err != nil {
		return nil, fmt.Errorf("deleting %s from %s: %w", req.Materialization.Materialization, cfg, err)
	}
	d.Log.Info("Deleted materialization", "materialization", req.Materialization.Materialization,
		"statements", len(statements), "dryRun", req.DryRun)
	return &pm.ApplyResponse{ActionDescription: strings.Join(statements, ";\n")}, nil
}

// resolve parses the endpoint config and every binding of a materialization.
func resolve(spec *pf.MaterializationSpec) (Config, []*table, error) {
	if spec.EndpointType != pf.EndpointType_FLOW_SINK {
		return Config{}, nil, fmt.Errorf("endpoint type %s is not FLOW_SINK", spec.EndpointType)
	}
	var cfg, err = ParseConfig(spec.EndpointSpecJson)
	if err != nil {
		return cfg, nil, err
	}
	var tables []*table
	var seen = map[string]int{}
	for i, b := range spec.Bindings {
		var t, err = newTable(cfg.Schema, i, b)
		if err != nil {
			return cfg, nil, err
		}
		if j, ok := seen[t.ident]; ok {
			return cfg, nil, fmt.Errorf("bindings %d and %d both materialize into %s", j, i, t.ident)
		}
		seen[t.ident] = i
		if want := []string{cfg.Schema, t.name}; len(b.ResourcePath) != 2 || b.ResourcePath[0] != want[0] || b.ResourcePath[1] != want[1] {
			return cfg, nil, fmt.Errorf("binding %d: ResourcePath %q doesn't match the config (want %q): validate again", i, b.ResourcePath, want)
		}
		tables = append(tables, t)
	}
	return cfg, tables, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// errFenced is returned by a commit of a stream that a newer one fenced off.
var errFenced = errors.New("fenced off")

// execAll runs statements in order in tx, naming the one that fails.
func execAll(ctx context.Context, tx pgx.Tx, statements []string) error {
	for _, s := range statements {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("executing %q: %w", s, err)
		}
	}
	return nil
}
