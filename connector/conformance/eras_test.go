package conformance_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/conformance"
	"github.com/flowsim/flowsim/connector/transports"
	"github.com/flowsim/flowsim/matsim/engine"
)

// The fault connector speaking today's era (one Request/Response stream, no
// subcommand), over --command with the era detected and through connector-proxy as
// in a pod: the same fault fails the same check with the same exit code as it does
// in the 2021 eras. Left out: a setup call's slow exit and linger (the fault
// connector writes that answer itself, as a 2021 frame), and Prepare:invalid (an
// empty 2021 driver checkpoint becomes a Flushed without state, which today's era
// allows: the fault has no form in it).
func TestConformanceTodaysEra(t *testing.T) {
	var current = []transport{
		{name: "command", timeout: timeoutScale * time.Second,
			open: func(t *testing.T, s sc, _ string) connector.Connector {
				return openTransport(t, transports.Options{Command: fmt.Sprintf("'%s' %s %s --protocol 2023", self(t), conformance.Arg, s)}, timeoutScale*time.Second)
			}},
		{name: "endpoint", timeout: timeoutScale * time.Second,
			open: func(t *testing.T, s sc, _ string) connector.Connector {
				var addr = serveProxy(t, self(t), conformance.Arg, s.String(), "--protocol", "2023")
				return openTransport(t, transports.Options{Endpoint: addr}, timeoutScale*time.Second)
			}},
	}
	for _, tr := range current {
		t.Run(tr.name, func(t *testing.T) {
			for _, s := range scenarios {
				if isSetup(s.Call) && (s.Fault == engine.FaultSlowExit || s.Fault == engine.FaultLinger) ||
					s.Call == conformance.CallPrepare && s.Fault == engine.FaultInvalid {
					continue
				}
				if s.Fault == engine.FaultSlowExit {
					s.Delay = min(tr.timeout/4, time.Second)
				}
				var name = s.String()
				if s.Call == "" {
					name = "none"
				}
				t.Run(strings.ReplaceAll(name, ":", "/"), func(t *testing.T) { runScenario(t, tr, s) })
			}
		})
	}
}
