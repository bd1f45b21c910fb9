package engine

// DriverBytesPerDoc bounds what the driver keeps per document of a run: the
// oracle's 12.5 B per key, 26–27 B of peak heap with the GC's headroom
// (docs/performance.md), rounded up.
const DriverBytesPerDoc = 32

// PlannedDocuments bounds the number of documents a run of test allocates (the
// driver's memory grows with it): basic and delta double --start over --loops; the
// other tests run a few transactions of --start documents per phase.
func PlannedDocuments(test string, start, loops, crashPoints int) float64 {
	var s = float64(start)
	switch test {
	case "fence":
		return 8 * s * float64(fencePhases)
	case "recovery":
		return 4*s*float64(crashPoints) + s
	case "migrate":
		return 3 * s
	}
	var n float64
	for i := 0; i < loops; i++ {
		n += s * float64(uint64(1)<<i)
	}
	return n
}
