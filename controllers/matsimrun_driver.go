package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// DriverArgs are the arguments of `flowsim` in the driver container: `flowsim matsim
// TEST` and the flags of matsim.NewFlags and the transport flags. This is the whole
// controller→driver contract; TestDriverArgsRoundTrip parses the result with the flowsim
// binary's own command and carries every MatSimRunSpec field through it (a new field
// fails TestEverySpecFieldHasADriverMapping until it is mapped here or said to go
// elsewhere).
func DriverArgs(run *flowsimv1.MatSimRun) ([]string, error) {
	var args = []string{"matsim", string(run.Spec.Test),
		"--endpoint", fmt.Sprintf("127.0.0.1:%d", ProxyPort)}
	if run.Spec.Test == flowsimv1.TestFence {
		args = append(args, "--peer-endpoint", PeerEndpoint(run))
	}

	switch config := run.Spec.Config; {
	case config.SecretRef != nil:
		args = append(args, "--config", ConfigDir+"/"+config.SecretRef.Key)
	case config.Inline != nil:
		var b, err = compactJSON(config.Inline.Raw)
		if err != nil {
			return nil, fmt.Errorf("spec.config.inline: %w", err)
		}
		args = append(args, "--config", string(b))
	default:
		return nil, fmt.Errorf("spec.config: neither secretRef nor inline is set")
	}

	var res, err = compactJSON(run.Spec.Resource.Raw)
	if err != nil {
		return nil, fmt.Errorf("spec.resource: %w", err)
	}
	args = append(args, "--resource", string(res))

	for _, f := range []struct {
		flag string
		v    *int32
	}{{"--loops", run.Spec.Loops}, {"--start", run.Spec.Start}, {"--batch", run.Spec.Batch}} {
		if f.v != nil {
			args = append(args, f.flag, strconv.Itoa(int(*f.v)))
		}
	}
	if run.Spec.ExactlyOnce != nil && *run.Spec.ExactlyOnce {
		args = append(args, "--exactly-once")
	}
	if run.Spec.Cleanup != nil && *run.Spec.Cleanup {
		args = append(args, "--cleanup")
	}
	switch run.Spec.Test {
	case flowsimv1.TestDelta:
		// The committed documents would otherwise flood the container log.
		args = append(args, "--output", "/dev/null")
	case flowsimv1.TestRecovery:
		if len(run.Spec.CrashAt) > 0 {
			var points = make([]string, len(run.Spec.CrashAt))
			for i, p := range run.Spec.CrashAt {
				points[i] = string(p)
			}
			args = append(args, "--crash-at", strings.Join(points, ","))
		}
	}
	args = append(args, verifyArgs(run)...)
	// The driver always talks to connector-proxy, which serves the 2021 service
	// whatever its child speaks: spec.connector.protocol goes to the proxy
	// (proxyCommand). The driver pipelines transactions as the 2021 eras allow only
	// when the child is known to be of one; otherwise (auto) it drives the subset
	// every later era accepts.
	args = append(args,
		"--seed", strconv.FormatInt(SeedFor(run), 10),
		"--protocol", driverProtocol(run.Spec.Connector.Protocol),
		"--result-file", "/dev/termination-log",
		"--log.level", "info",
	)
	return args, nil
}

// compactJSON re-encodes a JSON object without insignificant space. Numbers keep
// their exact spelling (json.Number): an integer above 2^53 must reach the connector
// unchanged, not rounded through float64.
func compactJSON(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("is empty")
	}
	var d = json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("must be a mapping: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("must be a single mapping")
	}
	return json.Marshal(v)
}

// verifyArgs are the driver's flags for spec.verify: --verify-sql, and the
// connection mounted from its Secret (else the driver uses the connector's config).
func verifyArgs(run *flowsimv1.MatSimRun) []string {
	var v = run.Spec.Verify
	if v == nil {
		return nil
	}
	var args = []string{"--verify-sql", v.SQL}
	if v.SecretRef != nil {
		args = append(args, "--verify-connection", VerifyDir+"/"+v.SecretRef.Key)
	}
	return args
}

// driverProtocol is the driver's --protocol towards connector-proxy.
func driverProtocol(child flowsimv1.ProtocolRevision) string {
	if child == flowsimv1.Protocol202112 || child == flowsimv1.Protocol202110 {
		return string(flowsimv1.Protocol202112)
	}
	return string(flowsimv1.ProtocolAuto)
}
