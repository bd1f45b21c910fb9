package cli

import (
	"strings"
	"testing"
)

func TestCLIVerifyFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"delta", "--verify-command", "dump", "--verify-sql", "SELECT 1"}, 2, "not both"},
		{[]string{"delta", "--verify-sql", "SELECT flow_document FROM $FLOWSIM_TABLE"}, 2, "--config is not a PostgreSQL connection"},
		{[]string{"delta", "--verify-connection", "{url: 'postgres://u@h/d'}"}, 2, "--verify-connection needs --verify-sql"},
		{[]string{"delta", "--verify-command", "dump $FLOWSIM_TABEL"}, 2, "unknown variable $FLOWSIM_TABEL"},
		{[]string{"basic", "--verify-command", "dump"}, 2, "unknown flag: --verify-command"},
		// The built-in reference connector's rows are verified in process.
		{[]string{"delta", "--loops", "2", "--start", "20", "--output", "/dev/null", "--config", "{defect: delta-drop-rows}", "--seed", "5"}, 1, "FAILED (delta.missing)"},
		{[]string{"delta", "--loops", "2", "--start", "20", "--output", "/dev/null", "--seed", "5"}, 0, "read back 60 row(s)"},
		{[]string{"delta", "--verify-command", "/nonexistent/dump", "--loops", "1", "--start", "5", "--output", "/dev/null"}, 2, "SETUP ERROR (setup.verify)"},
	} {
		var out, errOut, code = cli(t, CommandOptions{}, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.says) {
			t.Errorf("%q: exit %d, want %d saying %q:\n%s%s", c.args, code, c.code, c.says, out, errOut)
		}
	}
}

// --call-timeout's help matches what the CLI accepts: 0 is rejected, not "none".
func TestCallTimeoutHelp(t *testing.T) {
	var cmd = NewMatsimCommand(CommandOptions{})
	for _, sub := range cmd.Commands() {
		var f = sub.Flags().Lookup("call-timeout")
		if f == nil {
			t.Fatalf("%s has no --call-timeout", sub.Name())
		}
		if strings.Contains(f.Usage, "0: none") || !strings.Contains(f.Usage, "must be positive") {
			t.Errorf("%s --call-timeout help: %q", sub.Name(), f.Usage)
		}
	}
}
