package render

import (
	"strconv"

	"github.com/planetdeps/planet/graph"
)

// rateLabel is a windowed edge's bandwidth each way: client to server
// first (the edge's arrow), then back, e.g. "1.2 MB/s →, 80 kB/s ←".
func rateLabel(e *graph.Edge) string {
	return rateSI(e.BytesPerSecondToServer) + " →, " + rateSI(e.BytesPerSecondToClient) + " ←"
}

// rateSI prints bytes per second with SI prefixes (kB = 1000 B), one
// decimal from 1 kB/s up: 950 B/s, 80.0 kB/s, 1.2 MB/s.
func rateSI(bps float64) string {
	if bps < 1000 {
		return strconv.FormatFloat(bps, 'f', 0, 64) + " B/s"
	}
	unit := ""
	for _, u := range []string{"kB/s", "MB/s", "GB/s", "TB/s", "PB/s"} {
		bps /= 1000
		unit = u
		if bps < 999.95 {
			break
		}
	}
	return strconv.FormatFloat(bps, 'f', 1, 64) + " " + unit
}
