package verifier

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

// Connection says how to reach PostgreSQL: a URL, or the fields of the example
// connector's endpoint config (so that its --config serves as is). Other members
// are ignored.
type Connection struct {
	URL      string `json:"url,omitempty"`
	Address  string `json:"address,omitempty"` // host[:port], port 5432 by default
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Database string `json:"database,omitempty"`
}

// ParseConnection decodes a connection from JSON.
func ParseConnection(b []byte) (Connection, error) {
	var c Connection
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("verify connection: %w", err)
	}
	switch {
	case c.URL != "":
		if _, err := pgx.ParseConfig(c.URL); err != nil {
			return c, errors.New("verify connection: url is not a PostgreSQL connection URL")
		}
	case c.Address == "" || c.User == "" || c.Database == "":
		return c, errors.New("verify connection: give url, or address, user and database (password optional)")
	}
	return c, nil
}

// String describes c without its password.
func (c Connection) String() string {
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err == nil {
			u.User = url.User(u.User.Username())
			return u.Redacted()
		}
		return "postgres://…"
	}
	return fmt.Sprintf("postgres://%s@%s/%s", c.User, c.hostPort(), c.Database)
}

func (c Connection) hostPort() string {
	if _, _, err := net.SplitHostPort(c.Address); err == nil {
		return c.Address
	}
	return net.JoinHostPort(strings.Trim(c.Address, "[]"), "5432")
}

func (c Connection) config() (*pgx.ConnConfig, error) {
	var s = c.URL
	if s == "" {
		var u = url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password), Host: c.hostPort(), Path: "/" + c.Database}
		u.RawQuery = url.Values{"sslmode": {"prefer"}, "application_name": {"flowsim-verify"}}.Encode()
		s = u.String()
	}
	var cfg, err = pgx.ParseConfig(s)
	if err != nil {
		return nil, fmt.Errorf("bad connection for %s", c) // the parser's message may hold the password
	}
	cfg.ConnectTimeout = 30 * time.Second
	return cfg, nil
}

// SQL runs Query against PostgreSQL and reads each row's single column as a JSON
// document (json, jsonb or text). In the query $FLOWSIM_TABLE is the resource path
// as a qualified, quoted identifier ("schema"."table"), $FLOWSIM_SCHEMA its first
// element quoted, and $FLOWSIM_RESOURCE_PATH the same as $FLOWSIM_TABLE.
type SQL struct {
	Query string
	Conn  Connection
}

// NewSQL checks a --verify-sql query and its connection.
func NewSQL(query string, conn Connection) (*SQL, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("--verify-sql: empty query")
	}
	if _, err := expand(query, sqlVariables(nil)); err != nil {
		return nil, fmt.Errorf("--verify-sql: %w", err)
	}
	return &SQL{Query: query, Conn: conn}, nil
}

func (s *SQL) String() string { return fmt.Sprintf("--verify-sql %q against %s", s.Query, s.Conn) }

func sqlVariables(path []string) map[string]string {
	var v = map[string]string{"FLOWSIM_TABLE": pgx.Identifier(path).Sanitize(), "FLOWSIM_SCHEMA": ""}
	v["FLOWSIM_RESOURCE_PATH"] = v["FLOWSIM_TABLE"]
	if len(path) > 1 {
		v["FLOWSIM_SCHEMA"] = pgx.Identifier{path[0]}.Sanitize()
	}
	return v
}

// Rows implements matsim.Verifier.
func (s *SQL) Rows(ctx context.Context, resourcePath []string, fn func(doc []byte) error) error {
	var query, err = expand(s.Query, sqlVariables(resourcePath))
	if err != nil {
		return err
	}
	cfg, err := s.Conn.config()
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to %s: %s", s.Conn, reason(err, s.Conn.Password))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Text results: a json column arrives verbatim, jsonb as PostgreSQL prints it.
	rows, err := conn.Query(ctx, query, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return fmt.Errorf("running %s: %s", query, reason(err, s.Conn.Password))
	}
	defer rows.Close()
	if n := len(rows.FieldDescriptions()); n != 1 {
		return fmt.Errorf("the query must select exactly one column (the document); %s selects %d", query, n)
	}
	for rows.Next() {
		var doc = rows.RawValues()[0]
		if doc == nil {
			doc = []byte("null")
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("running %s: %s", query, reason(err, s.Conn.Password))
	}
	return nil
}

// reason is the server's message for err, without the password.
func reason(err error, password string) string {
	var msg = err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg = fmt.Sprintf("%s: %s (SQLSTATE %s)", pgErr.Severity, pgErr.Message, pgErr.Code)
	}
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "********")
	}
	return string(bytes.Join(bytes.Fields([]byte(msg)), []byte(" ")))
}
