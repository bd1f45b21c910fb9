package pgdriver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

func TestSpecSchemasParse(t *testing.T) {
	var resp, err = new(Driver).Spec(context.Background(), &pm.SpecRequest{EndpointType: pf.EndpointType_FLOW_SINK})
	if err != nil {
		t.Fatalf("Spec: %v", err)
	}
	for _, tc := range []struct {
		name     string
		schema   json.RawMessage
		required []string
		props    []string
	}{
		{"endpoint", resp.EndpointSpecSchemaJson, []string{"address", "user", "database"}, []string{"address", "user", "password", "database", "schema"}},
		{"resource", resp.ResourceSpecSchemaJson, []string{"table"}, []string{"table", "delta_updates"}},
	} {
		var s struct {
			Type       string                     `json:"type"`
			Required   []string                   `json:"required"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tc.schema, &s); err != nil {
			t.Fatalf("%s schema doesn't parse: %v", tc.name, err)
		}
		if s.Type != "object" {
			t.Errorf("%s schema type = %q, want object", tc.name, s.Type)
		}
		if diff := cmp.Diff(tc.required, s.Required); diff != "" {
			t.Errorf("%s schema required (-want +got):\n%s", tc.name, diff)
		}
		var props []string
		for _, p := range tc.props {
			if _, ok := s.Properties[p]; ok {
				props = append(props, p)
			}
		}
		if diff := cmp.Diff(tc.props, props); diff != "" {
			t.Errorf("%s schema properties (-want +got):\n%s", tc.name, diff)
		}
	}
	if !strings.Contains(string(resp.EndpointSpecSchemaJson), `"secret": true`) {
		t.Errorf("password isn't marked secret in the endpoint schema")
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
		want              Config
	}{
		{name: "defaults schema", in: `{"address":"db:5432","user":"u","password":"p","database":"d"}`,
			want: Config{Address: "db:5432", User: "u", Password: "p", Database: "d", Schema: "public"}},
		{name: "missing address", in: `{"user":"u","database":"d"}`, wantErr: "missing address"},
		{name: "missing user", in: `{"address":"a","database":"d"}`, wantErr: "missing user"},
		{name: "missing database", in: `{"address":"a","user":"u"}`, wantErr: "missing database"},
		{name: "unknown field", in: `{"address":"a","user":"u","database":"d","passwd":"x"}`, wantErr: `unknown field "passwd"`},
		{name: "not JSON", in: `{`, wantErr: "parsing endpoint config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, err = ParseConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var c = Config{Address: "h", User: "u", Password: "s3cret", Database: "d", Schema: "public"}
	if strings.Contains(c.String(), "s3cret") {
		t.Errorf("Config.String() shows the password: %s", c)
	}
	if got := c.hostPort(); got != "h:5432" {
		t.Errorf("hostPort() = %q, want h:5432", got)
	}
}

func TestParseResource(t *testing.T) {
	for _, tc := range []struct{ in, wantErr string }{
		{`{"table":"t","delta_updates":true}`, ""},
		{`{}`, "missing table"},
		{`{"table":"` + strings.Repeat("x", 64) + `"}`, "longer than 63"},
		{`{"table":"flow_checkpoints"}`, "reserved"},
		{`{"table":"t","delta":true}`, `unknown field "delta"`},
	} {
		var _, err = ParseResource([]byte(tc.in))
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ParseResource(%s) = %v, want error containing %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestConstraints(t *testing.T) {
	var coll = testCollection("acme/c")
	coll.Projections = append(coll.Projections,
		pf.Projection{Field: strings.Repeat("f", 64), Ptr: "/long", Inference: pf.Inference{Types: []string{"string"}}},
		pf.Projection{Field: "untyped", Ptr: "/untyped"},
		pf.Projection{Field: "arr", Ptr: "/arr", Inference: pf.Inference{Types: []string{"array"}}},
	)
	var got = map[string]pm.Constraint_Type{}
	for f, c := range constraints(&coll, false) {
		got[f] = c.Type
		if c.Reason == "" {
			t.Errorf("constraint of %q has no reason", f)
		}
	}
	var want = map[string]pm.Constraint_Type{
		"id":                    pm.Constraint_LOCATION_REQUIRED,
		"name":                  pm.Constraint_LOCATION_REQUIRED,
		"flow_document":         pm.Constraint_LOCATION_REQUIRED,
		"big":                   pm.Constraint_LOCATION_RECOMMENDED,
		"num":                   pm.Constraint_LOCATION_RECOMMENDED,
		"flag":                  pm.Constraint_LOCATION_RECOMMENDED,
		"opt":                   pm.Constraint_LOCATION_RECOMMENDED,
		"obj":                   pm.Constraint_FIELD_OPTIONAL,
		"arr":                   pm.Constraint_FIELD_OPTIONAL,
		"mixed":                 pm.Constraint_FIELD_OPTIONAL,
		strings.Repeat("f", 64): pm.Constraint_FIELD_FORBIDDEN,
		"untyped":               pm.Constraint_FIELD_FORBIDDEN,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("standard binding (-want +got):\n%s", diff)
	}

	if c := constraints(&coll, true)["flow_document"]; c.Type != pm.Constraint_LOCATION_RECOMMENDED {
		t.Errorf("delta binding: root document is %v, want LOCATION_RECOMMENDED", c.Type)
	}

	// A key the connector can't make a primary key column is unsatisfiable.
	coll.Projections[0].Inference.Types = []string{"object"}
	if c := constraints(&coll, false)["id"]; c.Type != pm.Constraint_UNSATISFIABLE || !strings.Contains(c.Reason, "scalar") {
		t.Errorf("object key: got %v %q, want UNSATISFIABLE naming the scalar requirement", c.Type, c.Reason)
	}
}

func TestCreateSQL(t *testing.T) {
	var spec = testSpec(t, "acme/m", Config{Address: "h", User: "u", Database: "d", Schema: "s"}, bindingOpt{table: "t"}, bindingOpt{table: "d", delta: true})
	var _, tables, err = resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	var want = `CREATE TABLE IF NOT EXISTS "s"."t" (
	"id" NUMERIC NOT NULL,
	"name" TEXT NOT NULL,
	"big" NUMERIC,
	"flag" BOOLEAN,
	"mixed" JSON,
	"num" NUMERIC,
	"obj" JSON,
	"opt" TEXT,
	"flow_document" JSON NOT NULL,
	PRIMARY KEY ("id", "name")
)`
	if diff := cmp.Diff(want, tables[0].createSQL()); diff != "" {
		t.Errorf("standard table (-want +got):\n%s", diff)
	}
	if got := tables[1].createSQL(); strings.Contains(got, "PRIMARY KEY") || strings.Contains(got, `"flow_document" JSON NOT NULL`) {
		t.Errorf("delta table has a primary key or a required document:\n%s", got)
	}
}

// userTables lists the tables of a database outside the system schemas.
func userTables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	var rows, err = conn.Query(context.Background(), `SELECT table_schema || '.' || table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var out, err2 = pgx.CollectRows(rows, pgx.RowTo[string])
	if err2 != nil {
		t.Fatal(err2)
	}
	return out
}

func TestValidateConnectsAndFailsWithTheDatabasesReason(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	var ctx = context.Background()

	var request = func(c Config) *pm.ValidateRequest {
		return &pm.ValidateRequest{
			Materialization:  "acme/m",
			EndpointType:     pf.EndpointType_FLOW_SINK,
			EndpointSpecJson: mustJSON(t, c),
			Bindings: []*pm.ValidateRequest_Binding{
				{ResourceSpecJson: json.RawMessage(`{"table":"things"}`), Collection: testCollection("acme/a")},
				{ResourceSpecJson: json.RawMessage(`{"table":"events","delta_updates":true}`), Collection: testCollection("acme/b")},
			},
		}
	}

	var resp, err = d.Validate(ctx, request(cfg))
	if err != nil {
		t.Fatalf("Validate with a good config: %v", err)
	}
	if diff := cmp.Diff([]string{"flow", "things"}, resp.Bindings[0].ResourcePath); diff != "" {
		t.Errorf("ResourcePath (-want +got):\n%s", diff)
	}
	if resp.Bindings[0].DeltaUpdates || !resp.Bindings[1].DeltaUpdates {
		t.Errorf("DeltaUpdates = %v, %v; want false, true", resp.Bindings[0].DeltaUpdates, resp.Bindings[1].DeltaUpdates)
	}
	if got := resp.Bindings[0].Constraints["flow_document"].Type; got != pm.Constraint_LOCATION_REQUIRED {
		t.Errorf("root document of a standard binding is %v, want LOCATION_REQUIRED", got)
	}

	// A port nobody listens on.
	var l, _ = net.Listen("tcp", "127.0.0.1:0")
	var closedPort = l.Addr().(*net.TCPAddr).Port
	l.Close()

	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"wrong password", func(c *Config) { c.Password = "not-" + c.Password }, "password authentication failed"},
		{"unreachable host", func(c *Config) { c.Address = "127.0.0.1:" + strconv.Itoa(closedPort) }, "connection refused"},
		{"missing database", func(c *Config) { c.Database = "no_such_db" }, `database "no_such_db" does not exist`},
		{"bad resource", func(c *Config) {}, `unknown field "tabel"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c = cfg
			tc.mutate(&c)
			var req = request(c)
			if tc.name == "bad resource" {
				req.Bindings[0].ResourceSpecJson = json.RawMessage(`{"tabel":"x"}`)
			}
			var _, err = d.Validate(ctx, req)
			if err == nil {
				t.Fatalf("Validate succeeded, want an error containing %q", tc.want)
			}
			var msg = err.Error()
			t.Logf("Validate error: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q doesn't contain the reason %q", msg, tc.want)
			}
			if strings.Contains(msg, cfg.Password) {
				t.Errorf("error shows the password: %q", msg)
			}
			if strings.Contains(msg, "goroutine") || strings.Contains(msg, ".go:") {
				t.Errorf("error has a stack trace: %q", msg)
			}
		})
	}

	// Validate creates nothing, good config or bad.
	var conn = srv.Conn(t, cfg.Database)
	if got := userTables(t, conn); len(got) != 0 {
		t.Errorf("Validate created tables: %v", got)
	}
	var schemas int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'flow'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("Validate created schema flow (count %d, err %v)", schemas, err)
	}
}

func TestApplyUpsertIsIdempotentAndApplyDeleteDrops(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	var ctx = context.Background()
	var spec = testSpec(t, "acme/m", cfg, bindingOpt{table: "things"}, bindingOpt{table: "events", delta: true})
	var conn = srv.Conn(t, cfg.Database)

	// A dry run describes and creates nothing.
	var dry, err = d.ApplyUpsert(ctx, &pm.ApplyRequest{Materialization: spec, Version: "v1", DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !strings.Contains(dry.ActionDescription, `CREATE TABLE IF NOT EXISTS "flow"."things"`) {
		t.Errorf("dry run description doesn't create the table:\n%s", dry.ActionDescription)
	}
	if got := userTables(t, conn); len(got) != 0 {
		t.Fatalf("dry run created tables: %v", got)
	}

	var first = applyUpsert(t, d, spec)
	for _, want := range []string{`CREATE SCHEMA IF NOT EXISTS "flow"`, `"flow"."flow_checkpoints"`, `"flow"."things"`, `"flow"."events"`} {
		if !strings.Contains(first, want) {
			t.Errorf("first ApplyUpsert description lacks %s:\n%s", want, first)
		}
	}
	var wantTables = []string{"flow.events", "flow.flow_checkpoints", "flow.things"}
	if diff := cmp.Diff(wantTables, userTables(t, conn)); diff != "" {
		t.Fatalf("tables after ApplyUpsert (-want +got):\n%s", diff)
	}
	var catalog = func() string {
		var s string
		if err := conn.QueryRow(ctx, `SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY table_name, ordinal_position)
			FROM information_schema.columns WHERE table_schema = 'flow'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		var pk string
		if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(conrelid::regclass::text || ':' || pg_get_constraintdef(oid), ',' ORDER BY 1), '')
			FROM pg_constraint WHERE connamespace = 'flow'::regnamespace AND contype = 'p'`).Scan(&pk); err != nil {
			t.Fatal(err)
		}
		return s + "\n" + pk
	}
	var before = catalog()
	if !strings.Contains(before, `flow.things:PRIMARY KEY (id, name)`) {
		t.Errorf("things has no primary key (id, name):\n%s", before)
	}
	if strings.Contains(before, "flow.events:PRIMARY KEY") {
		t.Errorf("delta table events has a primary key:\n%s", before)
	}

	if second := applyUpsert(t, d, spec); second != "" {
		t.Errorf("second ApplyUpsert wasn't a no-op: %q", second)
	}
	if diff := cmp.Diff(before, catalog()); diff != "" {
		t.Errorf("second ApplyUpsert changed the catalog (-before +after):\n%s", diff)
	}

	// A new value field is added as a column; a changed type is refused.
	var grown = testSpec(t, "acme/m", cfg, bindingOpt{table: "things"}, bindingOpt{table: "events", delta: true})
	var b0 = grown.Bindings[0]
	b0.Collection.Projections = append(b0.Collection.Projections, pf.Projection{Field: "extra", Ptr: "/extra", Inference: pf.Inference{Types: []string{"string"}}})
	b0.FieldSelection.Values = []string{"big", "extra", "flag", "mixed", "num", "obj", "opt"}
	if got := applyUpsert(t, d, grown); got != `ALTER TABLE "flow"."things" ADD COLUMN "extra" TEXT` {
		t.Errorf("ApplyUpsert with a new field: %q", got)
	}
	b0.Collection.Projections[len(b0.Collection.Projections)-1].Inference.Types = []string{"boolean"}
	if _, err := d.ApplyUpsert(ctx, &pm.ApplyRequest{Materialization: grown, Version: "v2"}); err == nil || !strings.Contains(err.Error(), `column "extra" is text`) {
		t.Errorf("ApplyUpsert changing a column's type: err = %v, want a type mismatch", err)
	}

	// ApplyDelete drops the tables and the materialization's checkpoint rows, not
	// another's, and keeps flow_checkpoints (another materialization may have
	// applied it and not yet opened).
	if _, err := conn.Exec(ctx, `INSERT INTO flow.flow_checkpoints VALUES ('acme/m', 0, 4294967295, 1, ''), ('acme/other', 0, 4294967295, 1, '')`); err != nil {
		t.Fatal(err)
	}
	var del, err2 = d.ApplyDelete(ctx, &pm.ApplyRequest{Materialization: spec, Version: "v1"})
	if err2 != nil {
		t.Fatalf("ApplyDelete: %v", err2)
	}
	if diff := cmp.Diff([]string{"flow.flow_checkpoints"}, userTables(t, conn)); diff != "" {
		t.Errorf("tables after ApplyDelete (-want +got):\n%s\ndescription %q", diff, del.ActionDescription)
	}
	var left string
	if err := conn.QueryRow(ctx, `SELECT string_agg(materialization, ',') FROM flow.flow_checkpoints`).Scan(&left); err != nil || left != "acme/other" {
		t.Errorf("checkpoint rows after ApplyDelete: %q (%v), want only acme/other's", left, err)
	}
}

// Materializations applied at the same moment into one new schema (a sweep's runs
// against one database) all succeed: without serialising, two would both see
// flow_checkpoints missing and PostgreSQL fails the second CREATE TABLE IF NOT
// EXISTS with a unique violation on its catalog (found by the nightly e2e sweep).
func TestConcurrentAppliesIntoANewSchema(t *testing.T) {
	var cfg, srv = testDB(t)
	var d = new(Driver)
	const n = 8
	var errs = make(chan error, n)
	var start = make(chan struct{})
	for i := range n {
		var spec = testSpec(t, fmt.Sprintf("acme/m%d", i), cfg, bindingOpt{table: fmt.Sprintf("t%d", i)})
		go func() {
			<-start
			var _, err = d.ApplyUpsert(context.Background(), &pm.ApplyRequest{Materialization: spec, Version: "v1"})
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var conn = srv.Conn(t, cfg.Database)
	if got := len(userTables(t, conn)); got != n+1 {
		t.Errorf("%d tables after %d applies, want %d (each its own and flow_checkpoints)", got, n, n+1)
	}
}

func TestValidateRefusesAnExistingTableWithTheWrongKey(t *testing.T) {
	var cfg, srv = testDB(t)
	var ctx = context.Background()
	var conn = srv.Conn(t, cfg.Database)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA flow;
		CREATE TABLE flow.other_key (id NUMERIC PRIMARY KEY, name TEXT);
		CREATE TABLE flow.keyed (id NUMERIC, name TEXT, PRIMARY KEY (id, name));`); err != nil {
		t.Fatal(err)
	}
	var validate = func(resource string) error {
		var _, err = new(Driver).Validate(ctx, &pm.ValidateRequest{
			Materialization: "acme/m", EndpointType: pf.EndpointType_FLOW_SINK, EndpointSpecJson: mustJSON(t, cfg),
			Bindings: []*pm.ValidateRequest_Binding{{ResourceSpecJson: json.RawMessage(resource), Collection: testCollection("acme/a")}},
		})
		return err
	}
	for _, tc := range []struct{ resource, want string }{
		{`{"table":"other_key"}`, `primary key (id), which doesn't match the collection key [/id /name]`},
		{`{"table":"keyed","delta_updates":true}`, "delta updates append rows"},
	} {
		if err := validate(tc.resource); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate %s: err = %v, want it to contain %q", tc.resource, err, tc.want)
		}
	}
	// ApplyUpsert refuses it too, should Validate have been skipped.
	var spec = testSpec(t, "acme/m", cfg, bindingOpt{table: "other_key"})
	if _, err := new(Driver).ApplyUpsert(ctx, &pm.ApplyRequest{Materialization: spec, Version: "v1"}); err == nil || !strings.Contains(err.Error(), "doesn't match the collection key") {
		t.Errorf("ApplyUpsert onto a table with another key: err = %v", err)
	}
	// A table whose primary key is the collection key, and new tables, are fine.
	for _, r := range []string{`{"table":"keyed"}`, `{"table":"new_table"}`, `{"table":"new_delta","delta_updates":true}`} {
		if err := validate(r); err != nil {
			t.Errorf("Validate %s: %v", r, err)
		}
	}
}
