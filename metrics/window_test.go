package metrics

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

func stateTextfile(t *testing.T, dir, state string, s *snapshot.Snapshot) string {
	t.Helper()
	var logs bytes.Buffer
	if err := WriteScanTextfile(dir, state, s, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, TextfileName))
	if err != nil {
		t.Fatal(err)
	}
	if logs.Len() > 0 {
		t.Logf("log: %s", logs.String())
	}
	return string(b)
}

func sampleValue(t *testing.T, text, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	t.Fatalf("no sample %s in\n%s", prefix, text)
	return ""
}

const backupEgress = `planet_traffic_window_bytes_total{dependency="upstream",direction="egress",local_address="debugapp.service.consul",local_hostgroup="debugapp",port="5432",process_name="backup",protocol="tcp",remote_address="db.service.consul",remote_hostgroup="db"}`

// TestWindowCounters: the byte counters grow by each window's bytes across
// runs, so rate() over them is the bandwidth; they reset cleanly (from
// zero, with a warning) when the state is corrupt or could be changed by
// another user; the original families are left exactly as they were.
func TestWindowCounters(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	s := windowed()
	first := stateTextfile(t, dir, state, s)
	if v := sampleValue(t, first, backupEgress); v != "4.8e+08" {
		t.Errorf("first window: %s, want 4.8e+08", v)
	}
	s.ScannedAt = s.ScannedAt.Add(300 * time.Second)
	second := stateTextfile(t, dir, state, s)
	if v := sampleValue(t, second, backupEgress); v != "9.6e+08" {
		t.Errorf("second window: %s, want 9.6e+08 (monotonic across runs)", v)
	}
	if v := sampleValue(t, second, `planet_traffic_window_connections_total{dependency="upstream",local_address="debugapp.service.consul",local_hostgroup="debugapp",port="5432",process_name="backup"`); v != "80" {
		t.Errorf("connections counter %s, want 80", v)
	}
	if v := sampleValue(t, second, `planet_traffic_window_bytes_per_second{dependency="upstream",direction="egress",local_address="debugapp.service.consul",local_hostgroup="debugapp",port="5432",process_name="backup"`); v != "1.6e+06" {
		t.Errorf("rate gauge %s, want 1.6e+06", v)
	}
	// The original families: every line of the instant scan's textfile is
	// there unchanged.
	for _, l := range strings.Split(string(textfileFor(t, realistic())), "\n") {
		if strings.HasPrefix(l, "planet_scan_timestamp_seconds") {
			continue
		}
		if !strings.Contains(second, l+"\n") {
			t.Errorf("line %q of the instant textfile is missing or changed", l)
		}
	}

	statePath := filepath.Join(state, CounterStateName)
	for name, spoil := range map[string]func() error{
		"corrupt":          func() error { return os.WriteFile(statePath, []byte(`{"schema":`), 0o600) },
		"other schema":     func() error { return os.WriteFile(statePath, []byte(`{"schema":"x/v9","series":[]}`), 0o600) },
		"world-writable":   func() error { return os.Chmod(statePath, 0o666) },
		"not a file (dir)": func() error { os.Remove(statePath); return os.Mkdir(statePath, 0o700) },
	} {
		t.Run(name, func(t *testing.T) {
			os.RemoveAll(statePath)
			stateTextfile(t, dir, state, s)
			if err := spoil(); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCounterState(statePath)
			if err == nil {
				t.Fatalf("a %s state was read", name)
			}
			if name == "not a file (dir)" {
				os.RemoveAll(statePath)
			}
			if v := sampleValue(t, stateTextfile(t, dir, state, s), backupEgress); v != "4.8e+08" {
				t.Errorf("after a %s state: %s, want a restart at 4.8e+08", name, v)
			}
		})
	}
}

// TestWindowCounterBounds: a series idle for more than a week leaves the
// state; the state never holds more than maxCounterSeries series.
func TestWindowCounterBounds(t *testing.T) {
	cs, err := LoadCounterState(filepath.Join(t.TempDir(), "none"))
	if err != nil {
		t.Fatal(err)
	}
	s := windowed()
	cs.Add(s)
	n := len(cs.Series)
	later := windowed()
	later.ScannedAt = later.ScannedAt.Add(8 * 24 * time.Hour)
	later.Connections[0].Window = nil
	cs.Add(later)
	if len(cs.Series) != n-3 {
		t.Errorf("%d series after the first record went idle for 8 days, want %d", len(cs.Series), n-3)
	}
	big := windowed()
	for i := range maxCounterSeries {
		big.Connections = append(big.Connections, snapshot.Connection{Direction: snapshot.Upstream, Protocol: "tcp", Port: uint16(i % 60000),
			RemoteIP: ip("10.8.0.1"), Process: "p" + strings.Repeat("x", i/60000), Window: &snapshot.ConnWindow{BytesSent: 1}})
	}
	cs.Add(big)
	if len(cs.Series) != maxCounterSeries {
		t.Errorf("%d series, want the bound %d", len(cs.Series), maxCounterSeries)
	}
}

// TestWindowTextfilePromtool: the windowed textfile, counters included,
// passes promtool's check and lint.
func TestWindowTextfilePromtool(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "prometheus")
	text := stateTextfile(t, t.TempDir(), t.TempDir(), windowed())
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, text)
	}
}

// TestWindowBytesUnknown: a record whose window has no byte counters (a
// namespace read through /proc) gives its connections counter but neither
// a byte counter nor a rate gauge: an unmeasured 0 is not exported.
func TestWindowBytesUnknown(t *testing.T) {
	s := windowed()
	marked := false
	for i := range s.Connections {
		if w := s.Connections[i].Window; w != nil && s.Connections[i].Process == "backup" {
			w.BytesSent, w.BytesReceived, w.BytesSentPerSecond, w.BytesReceivedPerSecond = 0, 0, 0, 0
			w.BytesUnknown, marked = true, true
		}
	}
	if !marked {
		t.Fatal("the fixture has no windowed record of backup")
	}
	text := stateTextfile(t, t.TempDir(), t.TempDir(), s)
	for _, absent := range []string{
		backupEgress,
		`planet_traffic_window_bytes_per_second{dependency="upstream",direction="egress",local_address="debugapp.service.consul",local_hostgroup="debugapp",port="5432",process_name="backup"`,
	} {
		if strings.Contains(text, absent) {
			t.Errorf("textfile has %s for a record with unknown bytes:\n%s", absent, text)
		}
	}
	if v := sampleValue(t, text, `planet_traffic_window_connections_total{dependency="upstream",local_address="debugapp.service.consul",local_hostgroup="debugapp",port="5432",process_name="backup"`); v != "40" {
		t.Errorf("connections counter %s, want 40", v)
	}
}
