package engine

import (
	"fmt"

	"github.com/flowsim/flowsim/matsim/result"
)

// ProgressEvent says how far a run is, for a live display (Options.OnProgress). One
// is sent after each Load or Store request and when a transaction commits, so that
// a display moves within seconds at any --start.
type ProgressEvent struct {
	Test string
	// Phase names the transaction, as in the report ("loop 2 of 5").
	Phase string
	// Loop numbers the loops of basic and delta (0 for other transactions), of Loops.
	Loop, Loops int
	// Done of Total documents of this transaction were sent (Loads and Stores).
	Done, Total int64
	// Committed is set once the transaction's DriverCommitted arrived.
	Committed bool
}

// progress reports a transaction's progress to Options.OnProgress.
func (r *runner) progress(phase string, loop int, done, total int64, committed bool) {
	if r.opts.OnProgress == nil {
		return
	}
	r.opts.OnProgress(ProgressEvent{
		Test: r.opts.Test, Phase: phase, Loop: loop, Loops: r.opts.Loops,
		Done: done, Total: total, Committed: committed,
	})
}

// loopDone writes the FLOWSIM-PROGRESS line of a completed loop (a loop of basic and
// delta, a phase of fence, a crash point of recovery) to Options.Progress, with the
// documents loaded and stored so far.
func (r *runner) loopDone(loop, loops int) {
	if r.opts.Progress == nil {
		return
	}
	var docs int64
	for _, l := range r.rep.Loops {
		docs += l.Loaded + l.Stored
	}
	fmt.Fprint(r.opts.Progress, result.Progress{Test: r.opts.Test, Loop: loop, Loops: loops, Docs: docs}.Line())
}
