package engine

import (
	"strings"
	"testing"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

// fence with a peer instance of the reference connector: over one store it runs and
// passes; over separate stores (the operator's two pods, each with its own
// state_dir) it is a setup error saying why, never a connector check.
func TestFencePeerOfTheReferenceConnectorMustShareItsStore(t *testing.T) {
	var shared = reference.New()
	var rep = run(t, "fence", 3, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(shared, "reference")
		o.Peer = connector.InProcess(shared, "reference (peer, same store)")
	})
	if !rep.Passed() {
		t.Fatalf("fence with a peer over the same store: %s: %s", rep.Result.Check, rep.Result.Message)
	}
	rep = run(t, "fence", 3, `{}`, func(o *Options) {
		o.Connector = connector.InProcess(reference.New(), "reference")
		o.Peer = connector.InProcess(reference.New(), "reference (peer, another store)")
	})
	if rep.Result.Check != string(CheckSetupConfig) || rep.ExitCode() != 2 || !strings.Contains(rep.Result.Message, "keep separate ones") {
		t.Fatalf("fence with a peer over another store: %s exit %d: %s; want setup.config exit 2 saying the stores are separate", rep.Result.Check, rep.ExitCode(), rep.Result.Message)
	}
}
