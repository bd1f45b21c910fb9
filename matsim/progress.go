package matsim

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
