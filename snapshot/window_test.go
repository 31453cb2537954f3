package snapshot

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func windowedSnap() *Snapshot {
	at := time.Date(2026, 11, 30, 12, 5, 0, 0, time.UTC)
	return &Snapshot{
		Schema: Schema, PlanetVersion: "test", ScannedAt: at, Host: Host{Hostname: "h"},
		Window: &Window{Start: at.Add(-290 * time.Second), Seconds: 290, Requested: 290, Method: WindowEvents, Opened: 4, Closed: 4, BytesMeaning: WindowBytesMeaning},
		Connections: []Connection{{Direction: Upstream, Protocol: "tcp", Port: 5432, RemoteIP: netip.MustParseAddr("10.0.0.9"),
			Window: &ConnWindow{Opened: 4, Closed: 4, BytesSent: 2900, BytesSentPerSecond: 10, FirstSeen: at.Add(-200 * time.Second), LastSeen: at}}},
	}
}

// TestWindowCodec: a windowed snapshot round-trips through the v1 codec,
// and an inconsistent window is an error naming the field.
func TestWindowCodec(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, windowedSnap()); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(buf.Bytes(), "w.json")
	if err != nil {
		t.Fatal(err)
	}
	if got.Window.Seconds != 290 || got.Connections[0].Window.BytesSent != 2900 || !got.Connections[0].Window.LastSeen.Equal(got.ScannedAt) {
		t.Errorf("round trip: %+v %+v", got.Window, got.Connections[0].Window)
	}
	for _, tt := range []struct {
		name  string
		spoil func(*Snapshot)
		want  string
	}{
		{"record window without a snapshot window", func(s *Snapshot) { s.Window = nil }, "connections[0].window"},
		{"no length", func(s *Snapshot) { s.Window.Seconds = 0 }, "window.seconds"},
		{"unknown method", func(s *Snapshot) { s.Window.Method = "guess" }, "window.method"},
		{"no start", func(s *Snapshot) { s.Window.Start = time.Time{} }, "window.start"},
		{"negative rate", func(s *Snapshot) { s.Connections[0].Window.BytesReceivedPerSecond = -1 }, "connections[0].window.bytes_received_per_second"},
		{"negative opened", func(s *Snapshot) { s.Connections[0].Window.Opened = -4 }, "connections[0].window.opened"},
	} {
		s := windowedSnap()
		tt.spoil(s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}
