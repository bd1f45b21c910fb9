package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	pf "github.com/estuary/protocols/flow"
	pm "github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/examples/materialize-postgres/pgdriver"
	"github.com/flowsim/flowsim/internal/pgtest"
	"github.com/flowsim/flowsim/matsim/engine"
	pb "go.gazette.dev/core/broker/protocol"
)

func TestCommandLine(t *testing.T) {
	var bin, err = binary()
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	for _, tc := range []struct {
		args     []string
		code     int
		inOutput string
	}{
		{nil, 2, "spec | validate | apply-upsert | apply-delete | transactions"},
		{[]string{"help"}, 0, strings.Join(engine.Tests, "|")},
		{[]string{"nope"}, 2, `unknown subcommand "nope"`},
		{[]string{"spec"}, 1, "stdin"}, // no request on stdin
	} {
		var cmd = exec.Command(bin, tc.args...)
		var out, _ = cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != tc.code {
			t.Errorf("%v: exit code %d, want %d\n%s", tc.args, got, tc.code, out)
		}
		if !strings.Contains(string(out), tc.inOutput) {
			t.Errorf("%v: output doesn't mention %q:\n%s", tc.args, tc.inOutput, out)
		}
	}
}

// TestStdioValidateReportsTheDatabasesReason runs the built binary's validate
// subcommand the way an image is run: a wrong password must fail the call with
// PostgreSQL's reason on stderr, a non-zero exit, no password and no stack trace.
func TestStdioValidateReportsTheDatabasesReason(t *testing.T) {
	var srv = pgtest.Shared(t)
	var bin, err = binary()
	if err != nil {
		t.Fatalf("building the connector: %v", err)
	}
	var client, cerr = stdio.NewCommand([]string{bin}, stdio.Options{CallTimeout: time.Minute})
	if cerr != nil {
		t.Fatal(cerr)
	}
	defer client.Close()

	var cfg = pgdriver.Config{Address: srv.Address(), User: srv.User, Password: srv.Password, Database: "postgres"}
	var request = func(c pgdriver.Config) *pm.ValidateRequest {
		var endpoint, _ = json.Marshal(c)
		var key = pf.Projection{Field: "id", Ptr: "/id", IsPrimaryKey: true, Inference: pf.Inference{Types: []string{"integer"}, MustExist: true}}
		var doc = pf.Projection{Field: "flow_document", Inference: pf.Inference{Types: []string{"object"}, MustExist: true}}
		return &pm.ValidateRequest{
			Materialization:  "acme/m",
			EndpointType:     pf.EndpointType_FLOW_SINK,
			EndpointSpecJson: endpoint,
			Bindings: []*pm.ValidateRequest_Binding{{
				ResourceSpecJson: json.RawMessage(`{"table":"t"}`),
				Collection: pf.CollectionSpec{
					Collection: "acme/c", SchemaUri: "file:///c.json", SchemaJson: json.RawMessage(`{}`),
					KeyPtrs: []string{"/id"}, Projections: []pf.Projection{key, doc},
					PartitionTemplate: &pb.JournalSpec{Name: "acme/c", Replication: 1, Flags: pb.JournalSpec_O_RDWR,
						Fragment: pb.JournalSpec_Fragment{Length: 1 << 20, CompressionCodec: pb.CompressionCodec_NONE, RefreshInterval: time.Minute}},
				},
			}},
		}
	}
	var ctx = context.Background()
	var good = request(cfg)
	if err := good.Validate(); err != nil {
		t.Fatalf("test request is invalid: %v", err)
	}
	resp, err := client.Validate(ctx, good)
	if err != nil {
		t.Fatalf("validate with a good config: %v", err)
	}
	if c := resp.Bindings[0].Constraints["id"]; c == nil || c.Type != pm.Constraint_LOCATION_REQUIRED {
		t.Errorf("key constraint = %v, want LOCATION_REQUIRED", c)
	}

	var bad = cfg
	bad.Password = "wrong-" + cfg.Password
	_, err = client.Validate(ctx, request(bad))
	if err == nil {
		t.Fatal("validate with a wrong password succeeded")
	}
	var ce *stdio.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *stdio.CallError: %v", err, err)
	}
	if ce.ExitCode == 0 {
		t.Errorf("the connector exited 0 on a failed validate")
	}
	if !strings.Contains(ce.Stderr, "password authentication failed") {
		t.Errorf("stderr lacks the database's reason:\n%s", ce.Stderr)
	}
	if strings.Contains(ce.Stderr, cfg.Password) || strings.Contains(ce.Stderr, "goroutine ") {
		t.Errorf("stderr shows the password or a stack trace:\n%s", ce.Stderr)
	}
}
