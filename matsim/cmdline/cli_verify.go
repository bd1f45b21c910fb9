package cmdline

import (
	"encoding/json"
	"fmt"

	"flag"

	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/matsim/engine"
	"github.com/flowsim/flowsim/matsim/verifier"
)

// VerifyFlags select a Verifier for delta and recovery (on a delta binding).
type VerifyFlags struct {
	command, sql, connection string
}

// AddFlags defines --verify-command, --verify-sql and --verify-connection on fs.
func (v *VerifyFlags) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&v.command, "verify-command", "", "after the last commit, run this command (no shell; $FLOWSIM_TABLE, $FLOWSIM_SCHEMA, $FLOWSIM_RESOURCE_PATH are expanded) "+
		"that prints the destination's rows as NDJSON documents, and compare them with what was committed")
	fs.StringVar(&v.sql, "verify-sql", "", "like --verify-command, with a PostgreSQL query selecting one column, the document "+
		`(e.g. 'SELECT flow_document FROM $FLOWSIM_TABLE'; $FLOWSIM_TABLE is the quoted, qualified resource path)`)
	fs.StringVar(&v.connection, "verify-connection", "", "--verify-sql: the PostgreSQL connection, an inline YAML mapping or a YAML file "+
		"({url: postgres://...} or {address, user, password, database}); default: --config")
}

// build returns the selected verifier, or nil. config is the connector's config,
// the default connection of --verify-sql; red learns the secrets of
// --verify-connection (its URL password, its password key).
func (v *VerifyFlags) build(config json.RawMessage, red *redact.Redactor) (engine.Verifier, error) {
	switch {
	case v.command != "" && v.sql != "":
		return nil, fmt.Errorf("give --verify-command or --verify-sql, not both")
	case v.connection != "" && v.sql == "":
		return nil, fmt.Errorf("--verify-connection needs --verify-sql")
	case v.command != "":
		return verifier.NewCommand(v.command)
	case v.sql != "":
		var conn = config
		if v.connection != "" {
			var err error
			if conn, err = resolveYAML("--verify-connection", v.connection); err != nil {
				return nil, err
			}
			red.Learn(conn)
		}
		var c, err = verifier.ParseConnection(conn)
		if err != nil {
			if v.connection == "" {
				return nil, fmt.Errorf("--verify-sql: --config is not a PostgreSQL connection (%v); give --verify-connection", err)
			}
			return nil, err
		}
		return verifier.NewSQL(v.sql, c)
	}
	return nil, nil
}
