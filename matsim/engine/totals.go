package engine

import "github.com/flowsim/flowsim/matsim/result"

// totals sets the run's totals in Result from the transactions in Loops, the one
// place they are computed (their definitions are in docs/tests.md, "Reports and
// secrets"):
//   - loaded: Loaded documents the connector returned, over every transaction;
//   - verified: of those, the documents judged equal to the expected state
//     (a missing document was never loaded), plus the rows a delta verifier
//     read back that matched a committed document (0 <= verified <= loaded +
//     rows read back);
//   - stored: documents sent in Store requests;
//   - docs/s: (loaded+stored) per second of the transactions phase (from the
//     first stream's Open to the last stream's end; setup is not counted).
func (rep *Report) totals() {
	var t result.Result
	for _, l := range rep.Loops {
		t.Loaded += l.Loaded
		t.Stored += l.Stored
		t.Verified += max(0, min(l.Verified, l.Loaded))
	}
	t.Verified += rep.verifiedRows
	rep.Result.Loaded, rep.Result.Stored, rep.Result.Verified = t.Loaded, t.Stored, t.Verified
	rep.Result.DocsPerSecond = 0
	if rep.txnTime > 0 {
		rep.Result.DocsPerSecond = float64(t.Loaded+t.Stored) / rep.txnTime.Seconds()
	}
}
