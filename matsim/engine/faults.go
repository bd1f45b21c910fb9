package engine

// Fault is a way a connector process (or server) can misbehave, whatever transport
// reaches it. Every transport maps a fault to the same check: the conformance suite
// (connector/conformance) runs each fault over in-process, --command, --image and
// --endpoint through connector-proxy, and asserts the check of this table.
type Fault string

// The faults of the table.
const (
	FaultError    Fault = "error"     // the call fails: an error returned, a non-zero exit, a crash
	FaultHang     Fault = "hang"      // no answer within --call-timeout
	FaultGarbage  Fault = "garbage"   // bytes on stdout that are not a frame of the expected message
	FaultNoAnswer Fault = "no-answer" // the call or stream ends cleanly without the awaited answer
	FaultInvalid  Fault = "invalid"   // an answer that fails its own Validate()
	FaultSlowExit Fault = "slow-exit" // the answer, then the process takes a while (less than the bound) to exit
	FaultLinger   Fault = "linger"    // the answer, then the process neither exits nor closes stdout
)

// FaultRow is one row of the fault table: what a fault is, and the check it fails
// during setup (Spec, Validate, ApplyUpsert: the check of the call) and during the
// transactions stream (Open, Acknowledge, Load, Prepare, Commit and the end of the
// stream). An empty check means the run is not failed by it.
type FaultRow struct {
	Fault Fault
	// What describes the fault for the README.
	What string
	// Setup is true when a setup call with this fault fails its call's setup check
	// (setup.spec, setup.validate or setup.apply, exit 2); false when it passes.
	Setup bool
	// Stream is the check a transactions stream with this fault fails ("" passes).
	Stream Check
}

// SetupCallChecks maps each setup call to its check: during setup, whatever the
// fault, the call's check fails (exit 2: the test could not be set up, so nothing of
// the connector's transactions was judged).
var SetupCallChecks = []struct {
	Call  string
	Check Check
}{{"Spec", CheckSetupSpec}, {"Validate", CheckSetupValidate}, {"ApplyUpsert", CheckSetupApply}}

// FaultTable is the one table of fault → check → exit code, the same for every
// transport. The README's table is generated from it.
var FaultTable = []FaultRow{
	{FaultError, "the call fails: an error returned, a non-zero exit, a crash, a kill by a signal (the message carries the exit status and the last 4 KiB of stderr)", true, CheckConnectorError},
	{FaultHang, "no answer within `--call-timeout` (the process is killed, its container removed)", true, CheckTimeout},
	{FaultGarbage, "stdout holds something other than a frame of the expected message: a log line, a truncated or oversize frame, bytes that are not the message, bytes after a unary response", true, CheckConnectorError},
	{FaultNoAnswer, "the process exits 0 (the server returns) without the awaited answer", true, CheckConnectorError},
	{FaultInvalid, "an answer that fails its own `Validate()` (a SpecResponse without DocumentationUrl, an empty merge-patch checkpoint)", true, CheckProtocolInvalid},
	{FaultSlowExit, "the answer comes, and the process exits (ends the stream) later, within the bound: for a unary call the end of `--call-timeout` and at most 5 s after the answer, for a stream `--call-timeout` after matsim closed it", false, ""},
	{FaultLinger, "the answer comes, but the process neither exits nor closes stdout within that bound; the message says the answer came and which wait ran out", true, CheckTimeout},
}

// ExitCodeOf is the exit code of a run whose first failure is check.
func ExitCodeOf(c Check) int {
	if c == "" {
		return 0
	}
	if isSetup(c) {
		return 2
	}
	return 1
}
