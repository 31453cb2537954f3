package metrics

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

// windowLabelValues returns the label values of one record and direction.
func windowLabelValues(s *snapshot.Snapshot, c *snapshot.Connection, direction string) []string {
	addr, group := RemoteLabels(c.RemoteIP, c.RemoteDomain, c.RemoteHostgroup)
	return []string{string(c.Direction), direction, s.Host.Label(), s.Host.Hostgroup, strconv.Itoa(int(c.Port)), c.Process, c.Protocol, addr, group}
}

// windowGauges are the stateless window families: the last window's bytes
// per second and its length. Nothing for a snapshot without a window.
func windowGauges(s *snapshot.Snapshot) []*family {
	if s.Window == nil {
		return nil
	}
	rate := newFamily(WindowRate, sum)
	for i := range s.Connections {
		c := &s.Connections[i]
		if c.Window == nil || c.Window.BytesUnknown {
			continue // no window, or no byte counters in it: no rate
		}
		rate.add(c.Window.BytesSentPerSecond, windowLabelValues(s, c, Egress)...)
		rate.add(c.Window.BytesReceivedPerSecond, windowLabelValues(s, c, Ingress)...)
	}
	secs := newFamily(WindowSeconds, sum)
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
		if s == nil || (s.Metric != WindowBytes.Name && s.Metric != WindowConnections.Name) || len(s.Labels) != len(WindowBytes.Labels) {
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
		if !c.Window.BytesUnknown {
			add(WindowBytes.Name, c.Window.BytesSent, windowLabelValues(s, c, Egress))
			add(WindowBytes.Name, c.Window.BytesReceived, windowLabelValues(s, c, Ingress))
		}
		// Connections have no byte direction: stored with an empty one.
		add(WindowConnections.Name, uint64(c.Window.Opened), windowLabelValues(s, c, ""))
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
	bytesF := newFamily(WindowBytes, sum)
	connF := newFamily(WindowConnections, sum)
	for _, c := range cs.Series {
		if c.Metric == WindowConnections.Name {
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
