package verifier

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{`psql -At -c 'SELECT doc FROM t'`, []string{"psql", "-At", "-c", "SELECT doc FROM t"}, ""},
		{`dump "a \"quoted\" name" plain\ space`, []string{"dump", `a "quoted" name`, "plain space"}, ""},
		{`a | b > c *`, []string{"a", "|", "b", ">", "c", "*"}, ""},
		{`x ''`, []string{"x", ""}, ""},
		{`x 'open`, nil, "unterminated '"},
		{`  `, nil, "empty command"},
	} {
		var got, err = SplitCommand(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("SplitCommand(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestExpand(t *testing.T) {
	var vars = Variables([]string{"matsim", "delta"})
	var got, err = expand("--table=$FLOWSIM_TABLE ${FLOWSIM_SCHEMA}.x $FLOWSIM_RESOURCE_PATH $1 $HOME", vars)
	if err != nil || got != "--table=delta matsim.x matsim.delta $1 $HOME" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := expand("$FLOWSIM_TABEL", vars); err == nil || !strings.Contains(err.Error(), "unknown variable $FLOWSIM_TABEL") {
		t.Fatalf("a misspelt variable must be an error, got %v", err)
	}
	if got, _ := expand("SELECT flow_document FROM $FLOWSIM_TABLE", sqlVariables([]string{"matsim", `we"ird`})); got != `SELECT flow_document FROM "matsim"."we""ird"` {
		t.Fatalf("SQL variables must be quoted identifiers, got %s", got)
	}
}

// TestHelperProcess is the command the Command tests run (this test binary).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("FLOWSIM_VERIFIER_HELPER") != "1" {
		t.Skip("run by the Command tests")
	}
	var args = os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	args = args[1:]
	switch args[0] {
	case "rows":
		fmt.Printf("{\"table\":%q,\"env\":%q}\n\n{\"n\":2}\n", args[1], os.Getenv("FLOWSIM_TABLE"))
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "relation \"x\" does not exist")
		os.Exit(3)
	}
	os.Exit(2)
}

func helper(t *testing.T, args string) *Command {
	t.Helper()
	t.Setenv("FLOWSIM_VERIFIER_HELPER", "1")
	var c, err = NewCommand(os.Args[0] + " -test.run=TestHelperProcess -- " + args)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommandReadsNDJSON(t *testing.T) {
	var got []string
	var err = helper(t, "rows $FLOWSIM_TABLE").Rows(context.Background(), []string{"s", "events"}, func(doc []byte) error {
		got = append(got, string(doc))
		return nil
	})
	var want = []string{`{"table":"events","env":"events"}`, ``, `{"n":2}`}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestCommandFailureShowsStderr(t *testing.T) {
	var err = helper(t, "fail").Rows(context.Background(), []string{"t"}, func([]byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), `relation "x" does not exist`) {
		t.Fatalf("got %v", err)
	}
	c, _ := NewCommand("/nonexistent/dump")
	if err := c.Rows(context.Background(), []string{"t"}, func([]byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "starting /nonexistent/dump") {
		t.Fatalf("got %v", err)
	}
	if _, err := NewCommand("dump $FLOWSIM_TABEL"); err == nil {
		t.Fatal("a misspelt variable must be refused up front")
	}
}

func TestParseConnection(t *testing.T) {
	var c, err = ParseConnection([]byte(`{"address":"db:6432","user":"flow","password":"s3cret","database":"d","schema":"x"}`))
	if err != nil || c.String() != "postgres://flow@db:6432/d" {
		t.Fatalf("got %s, %v", c, err)
	}
	c, err = ParseConnection([]byte(`{"url":"postgres://flow:s3cret@db/d?sslmode=disable"}`))
	if err != nil || strings.Contains(c.String(), "s3cret") {
		t.Fatalf("got %s, %v", c, err)
	}
	if _, err := ParseConnection([]byte(`{"table":"t"}`)); err == nil || !strings.Contains(err.Error(), "give url, or address, user and database") {
		t.Fatalf("got %v", err)
	}
}
