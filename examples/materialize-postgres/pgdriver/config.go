// Package pgdriver is a Flow materialization connector for PostgreSQL: an
// implementation of materialize.DriverServer (Dec 2021 revision) in which the
// database is authoritative. Documents and the Flow checkpoint commit in one
// database transaction, guarded by a fence that every newer stream of an overlapping
// key range bumps.
//
// It is flowsim's worked example of a connector developed against matsim; see
// docs/postgres.md.
package pgdriver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Config is the endpoint configuration of the connector.
type Config struct {
	// Address is host[:port] of the server; the port defaults to 5432.
	Address string `json:"address"`
	// User and Password authenticate the connector.
	User     string `json:"user"`
	Password string `json:"password,omitempty"`
	// Database to connect to.
	Database string `json:"database"`
	// Schema that holds the target tables and flow_checkpoints; "public" by default.
	Schema string `json:"schema,omitempty"`
}

// Resource is the configuration of one binding.
type Resource struct {
	// Table is the name of the target table, in the config's schema.
	Table string `json:"table"`
	// DeltaUpdates appends every stored document instead of keeping one row per key.
	DeltaUpdates bool `json:"delta_updates,omitempty"`
}

// maxIdentifier is PostgreSQL's NAMEDATALEN-1: longer names are silently truncated.
const maxIdentifier = 63

// ConnectTimeout bounds how long Validate, Apply and Open wait to reach the server.
var ConnectTimeout = 10 * time.Second

const configSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "PostgreSQL connection",
  "type": "object",
  "required": ["address", "user", "database"],
  "additionalProperties": false,
  "properties": {
    "address": {
      "type": "string",
      "title": "Address",
      "description": "host:port of the server. The port defaults to 5432.",
      "examples": ["localhost:5432"]
    },
    "user": {
      "type": "string",
      "title": "User",
      "description": "Database user to connect as."
    },
    "password": {
      "type": "string",
      "title": "Password",
      "description": "Password of the user.",
      "secret": true
    },
    "database": {
      "type": "string",
      "title": "Database",
      "description": "Name of the database to connect to."
    },
    "schema": {
      "type": "string",
      "title": "Schema",
      "description": "Schema holding the target tables and the flow_checkpoints table. Created when missing.",
      "default": "public",
      "maxLength": 63
    }
  }
}`

const resourceSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "PostgreSQL table",
  "type": "object",
  "required": ["table"],
  "additionalProperties": false,
  "properties": {
    "table": {
      "type": "string",
      "title": "Table",
      "description": "Name of the target table, in the configured schema. Created by apply-upsert.",
      "minLength": 1,
      "maxLength": 63
    },
    "delta_updates": {
      "type": "boolean",
      "title": "Delta updates",
      "description": "Append every stored document (no primary key, no loads) instead of keeping one row per key.",
      "default": false
    }
  }
}`

// DocumentationURL is returned by Spec.
const DocumentationURL = "https://github.com/flowsim/flowsim/blob/main/docs/postgres.md"

// strictUnmarshal decodes b into v, refusing unknown fields and trailing data.
func strictUnmarshal(b []byte, v any) error {
	var dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// ParseConfig decodes and checks an endpoint configuration.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := strictUnmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parsing endpoint config: %w", err)
	}
	if c.Schema == "" {
		c.Schema = "public"
	}
	return c, c.Validate()
}

// Validate returns an error naming the first missing or bad field.
func (c Config) Validate() error {
	switch {
	case c.Address == "":
		return errors.New("endpoint config: missing address")
	case c.User == "":
		return errors.New("endpoint config: missing user")
	case c.Database == "":
		return errors.New("endpoint config: missing database")
	case len(c.Schema) > maxIdentifier:
		return fmt.Errorf("endpoint config: schema %q is longer than %d bytes", c.Schema, maxIdentifier)
	}
	return nil
}

// String describes c without its password, for logs and errors.
func (c Config) String() string {
	return fmt.Sprintf("postgres://%s@%s/%s (schema %s)", c.User, c.hostPort(), c.Database, c.Schema)
}

func (c Config) hostPort() string {
	if _, _, err := net.SplitHostPort(c.Address); err == nil {
		return c.Address
	}
	return net.JoinHostPort(strings.Trim(c.Address, "[]"), "5432")
}

// connConfig builds the pgx configuration. Values come from c alone, not from
// PG* environment variables that ParseConfig would otherwise consult.
func (c Config) connConfig() (*pgx.ConnConfig, error) {
	var u = url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(c.User, c.Password),
		Host:   c.hostPort(),
		Path:   "/" + c.Database,
	}
	var q = url.Values{}
	q.Set("sslmode", "prefer")
	q.Set("application_name", "flowsim-materialize-postgres")
	u.RawQuery = q.Encode()

	var cfg, err = pgx.ParseConfig(u.String())
	if err != nil {
		// The URL holds the password: don't wrap the parser's message verbatim.
		return nil, fmt.Errorf("endpoint config: bad address %q", c.Address)
	}
	cfg.ConnectTimeout = ConnectTimeout
	return cfg, nil
}

// Connect opens a connection and returns the server's reason when it can't.
func (c Config) Connect(ctx context.Context) (*pgx.Conn, error) {
	var cfg, err = c.connConfig()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %s", c, connectReason(err, c.Password))
	}
	return conn, nil
}

// connectReason reduces a pgx connect error to the database's (or network's)
// reason. pgconn's message already omits the password; scrub it anyway in case
// a server echoes something back.
func connectReason(err error, password string) string {
	var reason = err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		reason = fmt.Sprintf("%s: %s (SQLSTATE %s)", pgErr.Severity, pgErr.Message, pgErr.Code)
	}
	if password != "" {
		reason = strings.ReplaceAll(reason, password, "********")
	}
	// pgx reports each attempt (TLS, then plain) on its own line: one line, no repeats.
	var lines []string
	var seen = map[string]bool{}
	for _, l := range strings.Split(reason, "\n") {
		if l = strings.TrimSpace(l); l != "" && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}

// ParseResource decodes and checks a binding's resource configuration.
func ParseResource(b []byte) (Resource, error) {
	var r Resource
	if err := strictUnmarshal(b, &r); err != nil {
		return r, fmt.Errorf("parsing resource config: %w", err)
	}
	switch {
	case r.Table == "":
		return r, errors.New("resource config: missing table")
	case len(r.Table) > maxIdentifier:
		return r, fmt.Errorf("resource config: table %q is longer than %d bytes", r.Table, maxIdentifier)
	case r.Table == checkpointsTable:
		return r, fmt.Errorf("resource config: table %q is reserved for checkpoints", r.Table)
	}
	return r, nil
}
