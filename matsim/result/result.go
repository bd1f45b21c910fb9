// Package result is the small, versioned format in which a matsim driver reports
// the outcome of a run: printed by `flowsim matsim ... --result-file`, parsed by the
// operator from the driver container's termination message. It imports nothing of
// the engine so that both sides can depend on it.
package result

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Version of the Result format. Bump when a field changes meaning.
const Version = 1

// Outcome of a run.
type Outcome string

const (
	// Passed: every check passed.
	Passed Outcome = "passed"
	// Failed: the connector failed a check (exit code 1).
	Failed Outcome = "failed"
	// Error: a usage or setup error; the connector was not judged (exit code 2).
	Error Outcome = "error"
	// Interrupted: a signal (SIGINT, SIGTERM) stopped the run; the connector was
	// stopped and not judged (exit code 130, or 143 for SIGTERM).
	Interrupted Outcome = "interrupted"
)

// Outcomes are every outcome with its exit code(s) and meaning, the one home of the
// README's exit code table.
var Outcomes = []struct {
	Outcome   Outcome
	ExitCodes string
	Meaning   string
}{
	{Passed, "0", "every check passed"},
	{Failed, "1", "the connector failed a check (the report names it)"},
	{Error, "2", "usage or setup error: bad flags or YAML, an unreachable connector, Spec/Validate/Apply failing; the connector was not judged"},
	{Interrupted, "130 (SIGINT), 143 (SIGTERM)", "a signal stopped the run: the connector was stopped and not judged (JUnit: an error, not a failure)"},
}

// ExitCode maps an Outcome to the process exit code of `flowsim matsim`; an
// interrupted run's code depends on the signal (130 is SIGINT's).
func (o Outcome) ExitCode() int {
	switch o {
	case Passed:
		return 0
	case Failed:
		return 1
	case Interrupted:
		return 130
	default:
		return 2
	}
}

// Result is the compact outcome of one matsim run.
type Result struct {
	V        int     `json:"v"`
	Test     string  `json:"test"`
	Outcome  Outcome `json:"outcome"`
	Seed     uint64  `json:"seed"`
	Protocol string  `json:"protocol,omitempty"`
	// Loops completed out of Loops planned.
	LoopsDone int `json:"loopsDone"`
	Loops     int `json:"loops"`
	// Documents loaded (returned by the connector), stored (sent to it) and verified
	// (judged equal to the expected state).
	Loaded   int64 `json:"loaded"`
	Stored   int64 `json:"stored"`
	Verified int64 `json:"verified"`
	// DurationMillis is the wall time of the whole run; DocsPerSecond is
	// (loaded+stored) per second of the transactions phase.
	DurationMillis int64   `json:"durationMs"`
	DocsPerSecond  float64 `json:"docsPerSec"`
	// Check is the identifier of the first failing check (see the README's table),
	// and Message says what broke. Both are empty when the run passed.
	Check   string `json:"check,omitempty"`
	Message string `json:"message,omitempty"`
	// AtLeastOnceOnly is set when the connector returned no Flow checkpoint from
	// Open after a commit: it relies on the runtime's recovery log, so the run could
	// verify at-least-once delivery only, not that the connector is exactly-once.
	AtLeastOnceOnly bool `json:"atLeastOnceOnly,omitempty"`
	// Cleanup says how the cleanup after a passing run (--cleanup) went: "done: …",
	// "skipped: …" or "failed: …"; empty when none was asked for or the run did not
	// pass. It never changes the outcome.
	Cleanup string `json:"cleanup,omitempty"`
}

// AtLeastOnceHeadline is what reports say when AtLeastOnceOnly is set.
const AtLeastOnceHeadline = "verified at-least-once only"

// maxCleanup is what Marshal keeps of Cleanup when the result is too long.
const maxCleanup = 256

// Marshal encodes r in at most max bytes (0: no limit), shortening Cleanup and then
// Message (on a rune boundary, with a marker) when needed. Kubernetes keeps at most
// 4096 bytes of a termination message. (Callers redact first: only then is it safe
// to cut.)
func (r Result) Marshal(max int) []byte {
	r.V = Version
	var b, _ = json.Marshal(r)
	if max <= 0 || len(b) <= max {
		return b
	}
	const marker = " …(truncated)"
	if len(r.Cleanup) > maxCleanup {
		var c = r.Cleanup[:maxCleanup]
		for len(c) > 0 && !utf8.ValidString(c) {
			c = c[:len(c)-1]
		}
		r.Cleanup = c + marker
		if b, _ = json.Marshal(r); len(b) <= max {
			return b
		}
	}
	var over = len(b) - max + len(marker) + 8 // slack for escaping
	var msg = r.Message
	if over >= len(msg) {
		msg = ""
	} else {
		msg = msg[:len(msg)-over]
		for len(msg) > 0 && !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	r.Message = strings.TrimRight(msg, " ") + marker
	b, _ = json.Marshal(r)
	for len(b) > max && len(r.Message) > len(marker) {
		r.Message = r.Message[:len(r.Message)-len(marker)-1]
		for len(r.Message) > 0 && !utf8.ValidString(r.Message) {
			r.Message = r.Message[:len(r.Message)-1]
		}
		r.Message += marker
		b, _ = json.Marshal(r)
	}
	return b
}

// Parse decodes a Result, rejecting unknown versions.
func Parse(b []byte) (Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("parsing matsim result: %w", err)
	}
	if r.V != Version {
		return r, fmt.Errorf("matsim result has version %d, this build understands %d", r.V, Version)
	}
	switch r.Outcome {
	case Passed, Failed, Error, Interrupted:
	default:
		return r, fmt.Errorf("matsim result has unknown outcome %q", r.Outcome)
	}
	return r, nil
}

// ProgressPrefix starts every progress line a driver prints to stderr, so that a
// reader of the log can find them among other output.
const ProgressPrefix = "FLOWSIM-PROGRESS "

// Progress is reported once per completed loop.
type Progress struct {
	V     int    `json:"v"`
	Test  string `json:"test"`
	Loop  int    `json:"loop"`
	Loops int    `json:"loops"`
	Docs  int64  `json:"docs"`
}

// Line renders p as one progress line, with the prefix and a trailing newline.
func (p Progress) Line() string {
	p.V = Version
	var b, _ = json.Marshal(p)
	return ProgressPrefix + string(b) + "\n"
}

// ParseProgress finds the last progress line in a log text.
func ParseProgress(log string) (Progress, bool) {
	var p Progress
	var found bool
	for _, line := range strings.Split(log, "\n") {
		var i = strings.Index(line, ProgressPrefix)
		if i < 0 {
			continue
		}
		var q Progress
		if json.Unmarshal([]byte(line[i+len(ProgressPrefix):]), &q) == nil && q.V == Version {
			p, found = q, true
		}
	}
	return p, found
}
