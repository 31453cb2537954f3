package render

import (
	"fmt"
	"strconv"
	"time"

	"github.com/planetdeps/planet/snapshot"
)

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
