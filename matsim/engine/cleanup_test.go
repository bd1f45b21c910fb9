package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// deletes is the reference connector recording every ApplyDelete; fail, when set,
// is what ApplyDelete returns instead.
type deletes struct {
	*reference.Driver
	got  *[]*materialize.ApplyRequest
	fail error
}

func (d deletes) ApplyDelete(ctx context.Context, req *materialize.ApplyRequest) (*materialize.ApplyResponse, error) {
	*d.got = append(*d.got, req)
	if d.fail != nil {
		return nil, d.fail
	}
	return d.Driver.ApplyDelete(ctx, req)
}

func runCleanup(t *testing.T, test, config string, fail error) (*Report, []*materialize.ApplyRequest) {
	t.Helper()
	var got []*materialize.ApplyRequest
	var rep = run(t, test, 7, config, func(o *Options) {
		o.Cleanup = true
		o.Connector = connector.InProcess(deletes{Driver: reference.New(), got: &got, fail: fail}, "reference recording deletes")
		o.Reopen = nil
	})
	return rep, got
}

// After a passing run, --cleanup deletes the spec and version applied last (migrate's
// v2, with both bindings), and the result says so; the verdict stays passed.
func TestCleanupDeletesWhatThePassingTestApplied(t *testing.T) {
	for _, test := range []string{"basic", "migrate"} {
		var rep, got = runCleanup(t, test, `{}`, nil)
		if !rep.Passed() || rep.Result.Cleanup != "done: dropped tables" {
			t.Fatalf("%s: outcome %s (%s), cleanup %q; want passed and done", test, rep.Result.Outcome, rep.Result.Message, rep.Result.Cleanup)
		}
		var wantBindings = map[string]int{"basic": 1, "migrate": 2}[test]
		if len(got) != 1 || len(got[0].Materialization.Bindings) != wantBindings || got[0].Version == "" {
			t.Fatalf("%s: ApplyDelete requests %v; want one, of the last applied spec with %d bindings", test, got, wantBindings)
		}
	}
}

// A run that did not pass is never cleaned up: what it left is the evidence.
func TestCleanupLeavesAFailedRunAlone(t *testing.T) {
	var rep, got = runCleanup(t, "basic", `{"defect":"drop-store"}`, nil)
	if rep.Passed() || len(got) != 0 || rep.Result.Cleanup != "" {
		t.Fatalf("outcome %s, %d ApplyDelete calls, cleanup %q; want a failed run, none, empty", rep.Result.Outcome, len(got), rep.Result.Cleanup)
	}
}

// A connector whose era has no apply-delete is skipped, and a failed ApplyDelete is
// reported; neither changes the verdict of the test that passed.
func TestCleanupSkippedOrFailedKeepsTheVerdict(t *testing.T) {
	for _, c := range []struct {
		fail error
		want string
	}{
		{fmt.Errorf("protocol 2023: %w", connector.ErrNoApplyDelete), "skipped: the connector's protocol has no apply-delete; delete the test's tables (t) yourself"},
		{errors.New("DROP TABLE t: permission denied"), "failed: ApplyDelete of t (version "},
	} {
		var rep, got = runCleanup(t, "basic", `{}`, c.fail)
		if !rep.Passed() || len(got) != 1 || !strings.HasPrefix(rep.Result.Cleanup, c.want) {
			t.Fatalf("outcome %s (%s), cleanup %q; want passed and %q", rep.Result.Outcome, rep.Result.Message, rep.Result.Cleanup, c.want)
		}
	}
}
