package render

import (
	"fmt"
	"strconv"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/snapshot"
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

// legend explains the numbers and line widths of a diagram's edges, for
// the kinds of figures its edges carry: bandwidth over observation windows,
// byte totals of the sockets alive at the scans (a different thing, never a
// rate), or neither (no legend).
func legend(g *graph.Graph) []string {
	var windowed, totals bool
	for _, e := range g.Edges {
		switch {
		case e.Windowed:
			windowed = true
		case e.PortBytesToServer+e.PortBytesToClient > 0:
			totals = true
		}
	}
	if !windowed && !totals {
		return nil
	}
	lines := []string{"Edges: protocol/port, then"}
	if windowed {
		lines = append(lines, "B/s: bandwidth over the scans' observation windows, client to server (→) and back (←)")
	}
	if totals {
		lines = append(lines, "\"since open\": bytes both ways, lifetime totals of the TCP sockets alive when scanned, not a rate")
	}
	unit := "bytes per second"
	switch {
	case windowed && totals:
		unit = "bytes per second, or of the bytes"
	case totals:
		unit = "bytes"
	}
	return append(lines, "Line width grows with the log of the "+unit+"; dashed: seen from one end only")
}

// windowSummary is the table's line about a snapshot's window.
func windowSummary(w *snapshot.Window) string {
	out := fmt.Sprintf("%s for %.1f s (%s", w.Start.UTC().Format(time.RFC3339), w.Seconds, w.Method)
	if w.CutShort {
		out += fmt.Sprintf(", cut short of %.0f s", w.Requested)
	}
	out += fmt.Sprintf("): %d connections opened, %d closed", w.Opened, w.Closed)
	if w.Unattributed > 0 {
		out += fmt.Sprintf(", %d without a process", w.Unattributed)
	}
	if w.ResetUnknown > 0 {
		out += fmt.Sprintf(", %d reset or failed here, unseen", w.ResetUnknown)
	}
	if w.EventOverruns > 0 {
		out += fmt.Sprintf(", events lost %d times", w.EventOverruns)
	}
	return out
}
