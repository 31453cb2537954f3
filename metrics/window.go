package render

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/planetdeps/planet/internal/atomicfile"
	"github.com/planetdeps/planet/internal/trust"
	"github.com/planetdeps/planet/snapshot"
)

// Window metric names: families of a scan with an observation window
// (scan --window), next to the instant families above, which they leave
// as they are.
const (
	// MetricWindowBytes is a counter per dependency and direction of the
	// TCP payload bytes seen in all windows so far: rate() of it is the
	// dependency's bandwidth. Kept monotonic across runs by CounterState.
	MetricWindowBytes = "planet_traffic_window_bytes_total"
	// MetricWindowConnections counts the connections opened, likewise.
	MetricWindowConnections = "planet_traffic_window_connections_total"
	// MetricWindowRate is the last window's bytes per second, a gauge that
	// needs no state.
	MetricWindowRate = "planet_traffic_window_bytes_per_second"
	// MetricWindowSeconds is the last window's length.
	MetricWindowSeconds = "planet_scan_window_seconds"
)

// windowLabels: the dependency's labels (as planet_upstream's) with which
// side depends on which (dependency: upstream, downstream) and which way the
// bytes went (direction: egress from this host, ingress to it, as
// planet_traffic_bytes_total says it).
var windowLabels = []string{"dependency", "direction", "local_address", "local_hostgroup", "port", "process_name", "protocol", "remote_address", "remote_hostgroup"}

// connectionWindowLabels: windowLabels without direction.
var connectionWindowLabels = slices.Delete(slices.Clone(windowLabels), 1, 2)

// windowLabelValues returns the label values of one record and direction.
func windowLabelValues(s *snapshot.Snapshot, c *snapshot.Connection, direction string) []string {
	addr, group := remote(c.RemoteIP, c.RemoteDomain, c.RemoteHostgroup)
	return []string{string(c.Direction), direction, s.Host.Label(), s.Host.Hostgroup, strconv.Itoa(int(c.Port)), c.Process, c.Protocol, addr, group}
}

// windowGauges are the stateless window families: the last window's bytes
// per second and its length. Nothing for a snapshot without a window.
func windowGauges(s *snapshot.Snapshot) []*family {
	if s.Window == nil {
		return nil
	}
	rate := newFamily(MetricWindowRate, "gauge",
		"TCP payload bytes per second over the last observation window, per dependency and direction (egress: sent by this host).", sum, windowLabels...)
	for i := range s.Connections {
		c := &s.Connections[i]
		if c.Window == nil {
			continue
		}
		rate.add(c.Window.BytesSentPerSecond, windowLabelValues(s, c, "egress")...)
		rate.add(c.Window.BytesReceivedPerSecond, windowLabelValues(s, c, "ingress")...)
	}
	secs := newFamily(MetricWindowSeconds, "gauge", "Length of the last observation window, in seconds.", sum)
	secs.add(s.Window.Seconds)
	return []*family{rate, secs}
}

// CounterStateName is the counter state's file name in the state directory.
const CounterStateName = "window-counters.json"

// counterSchema names the state file's format.
const counterSchema = "planet.window-counters/v1"

// Bounds of the counter state: a series not seen in a window for
// counterMaxIdle is dropped (if it comes back it starts at zero, which
// Prometheus' rate() reads as a counter reset), and beyond maxCounterSeries
// the longest idle go first. The file is refused beyond maxCounterFile.
const (
	counterMaxIdle   = 7 * 24 * time.Hour
	maxCounterSeries = 20_000
	maxCounterFile   = 32 << 20
)

// CounterState keeps the window counters' totals between runs, so that
// planet_traffic_window_bytes_total only grows. It is bounded (see
// maxCounterSeries, counterMaxIdle); deleting its file resets every counter
// to zero, which Prometheus handles as an ordinary counter reset.
type CounterState struct {
	Schema string           `json:"schema"`
	Series []*counterSeries `json:"series"`
	index  map[string]*counterSeries
}

type counterSeries struct {
	Metric   string    `json:"metric"`
	Labels   []string  `json:"labels"` // values, in windowLabels' order
	Value    uint64    `json:"value"`
	LastSeen time.Time `json:"last_seen"`
}

func seriesKey(metric string, labels []string) string {
	return metric + "\xff" + strings.Join(labels, "\xff")
}

// LoadCounterState reads the state file at path. A missing file is an
// empty state. The file must be one only this user (or root) can change
// (internal/trust): anything else, and a file that is not valid state, is
// an error; the caller may then start over from an empty state.
func LoadCounterState(path string) (*CounterState, error) {
	cs := &CounterState{Schema: counterSchema, index: map[string]*counterSeries{}}
	f, err := trust.For(os.Geteuid()).Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cs, nil
	}
	if err != nil {
		return cs, fmt.Errorf("window counter state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCounterFile+1))
	if err != nil {
		return cs, fmt.Errorf("window counter state %s: %w", path, err)
	}
	if len(b) > maxCounterFile {
		return cs, fmt.Errorf("window counter state %s: larger than %d bytes", path, maxCounterFile)
	}
	var got CounterState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		return cs, fmt.Errorf("window counter state %s: %w", path, err)
	}
	if got.Schema != counterSchema {
		return cs, fmt.Errorf("window counter state %s: schema %q, want %q", path, got.Schema, counterSchema)
	}
	for i, s := range got.Series {
		if s == nil || (s.Metric != MetricWindowBytes && s.Metric != MetricWindowConnections) || len(s.Labels) != len(windowLabels) {
			return cs, fmt.Errorf("window counter state %s: series[%d] is not a window counter", path, i)
		}
		cs.Series = append(cs.Series, s)
		cs.index[seriesKey(s.Metric, s.Labels)] = s
	}
	return cs, nil
}

// Add counts one windowed snapshot's bytes and connections into the totals,
// then applies the bounds. A snapshot without a window adds nothing.
func (cs *CounterState) Add(s *snapshot.Snapshot) {
	if s.Window == nil {
		return
	}
	now := s.ScannedAt
	add := func(metric string, v uint64, labels []string) {
		for i, l := range labels {
			labels[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
		k := seriesKey(metric, labels)
		c := cs.index[k]
		if c == nil {
			c = &counterSeries{Metric: metric, Labels: labels}
			cs.index[k] = c
			cs.Series = append(cs.Series, c)
		}
		c.Value += v
		c.LastSeen = now
	}
	for i := range s.Connections {
		c := &s.Connections[i]
		if c.Window == nil {
			continue
		}
		add(MetricWindowBytes, c.Window.BytesSent, windowLabelValues(s, c, "egress"))
		add(MetricWindowBytes, c.Window.BytesReceived, windowLabelValues(s, c, "ingress"))
		// Connections have no byte direction: stored with an empty one.
		add(MetricWindowConnections, uint64(c.Window.Opened), windowLabelValues(s, c, ""))
	}
	cs.Series = slices.DeleteFunc(cs.Series, func(c *counterSeries) bool { return now.Sub(c.LastSeen) > counterMaxIdle })
	if len(cs.Series) > maxCounterSeries {
		slices.SortStableFunc(cs.Series, func(a, b *counterSeries) int { return b.LastSeen.Compare(a.LastSeen) })
		cs.Series = cs.Series[:maxCounterSeries]
	}
	clear(cs.index)
	for _, c := range cs.Series {
		cs.index[seriesKey(c.Metric, c.Labels)] = c
	}
}

// Save writes the state to path atomically (internal/atomicfile: nothing
// planted at the path can redirect the write), readable by its owner only.
func (cs *CounterState) Save(path string) error {
	slices.SortFunc(cs.Series, func(a, b *counterSeries) int {
		return cmp.Or(strings.Compare(a.Metric, b.Metric), slices.Compare(a.Labels, b.Labels))
	})
	return atomicfile.Write(path, 0o600, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		return enc.Encode(cs)
	})
}

// families returns the counter families of the state.
func (cs *CounterState) families() []*family {
	bytesF := newFamily(MetricWindowBytes, "counter",
		"TCP payload bytes moved per dependency and direction (egress: sent by this host) within observation windows, summed over all windows so far; rate() gives bytes per second.", sum, windowLabels...)
	connF := newFamily(MetricWindowConnections, "counter",
		"TCP connections opened per dependency within observation windows, summed over all windows so far; rate() gives connections per second.", sum, connectionWindowLabels...)
	for _, c := range cs.Series {
		if c.Metric == MetricWindowConnections {
			connF.add(float64(c.Value), slices.Delete(slices.Clone(c.Labels), 1, 2)...)
			continue
		}
		bytesF.add(float64(c.Value), slices.Clone(c.Labels)...)
	}
	return []*family{bytesF, connF}
}

// WriteScanTextfile writes dir/planet.prom for a scan. With a window and a
// stateDir, it also carries the window counters: their totals are read from
// stateDir/window-counters.json, this window added, the textfile written,
// and only then the state saved, so a failed textfile write counts nothing
// twice. An unreadable state is logged and replaced: the counters restart
// from zero, which Prometheus reads as a reset.
func WriteScanTextfile(dir, stateDir string, s *snapshot.Snapshot, log *slog.Logger) error {
	if s == nil || s.Window == nil || stateDir == "" {
		return WriteTextfileDir(dir, s)
	}
	path := filepath.Join(stateDir, CounterStateName)
	cs, err := LoadCounterState(path)
	if err != nil {
		log.Warn("window counters restart from zero", "error", err)
	}
	cs.Add(s)
	b, err := textfile(s, cs.families()...)
	if err != nil {
		return err
	}
	if err := writeTextfileDir(dir, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return err
	}
	// The state directory is scan's (--state-dir, which keeps the last good
	// inventory too): made here when this is its first use.
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("window counter state: %w", err)
	}
	return cs.Save(path)
}
