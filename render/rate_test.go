package render

import (
	"regexp"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
)

func TestRateSI(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0, "0 B/s"}, {949.6, "950 B/s"}, {999.4, "999 B/s"}, {1000, "1.0 kB/s"}, {80_000, "80.0 kB/s"},
		{999_960, "1.0 MB/s"}, {1_234_567, "1.2 MB/s"}, {3e12, "3.0 TB/s"},
	} {
		if got := rateSI(tt.in); got != tt.want {
			t.Errorf("rateSI(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDOTWindowedEdge: a link from windowed scans is labelled with its
// bandwidth each way, not with lifetime byte totals, and its pen width
// follows the bandwidth on the bytes' log scale; the one legend explains
// bandwidth alone, or both kinds of figures when links of both are drawn.
func TestDOTWindowedEdge(t *testing.T) {
	g, err := graph.Merge(nil, graph.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes = []*graph.Node{{ID: "app", Kind: graph.KindHostgroup, HostCount: 1}, {ID: "db", Kind: graph.KindHostgroup, HostCount: 1}, {ID: "web", Kind: graph.KindHostgroup, HostCount: 1}}
	g.Edges = []*graph.Edge{{From: "app", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, Sockets: 3,
		EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 19_700_000, PortBytesToClient: 1 << 20, Windowed: true, BytesPerSecondToServer: 1_200_000, BytesPerSecondToClient: 80_000},
	}}
	var doc strings.Builder
	if err := graph.Write(&doc, g); err != nil {
		t.Fatal(err)
	}
	if g, err = graph.Parse([]byte(doc.String()), "windowed.graph.json"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := DOT(&b, g); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, `label="tcp/5432\n→ 1.2 MB/s ← 80.0 kB/s"`) {
		t.Errorf("no bandwidth label in\n%s", out)
	}
	// 1.28 MB/s: 1 + 0.6 log10(1280), as 1.28 MB would be.
	if strings.Contains(out, "MiB since open\"") || !strings.Contains(out, "penwidth=2.9") {
		t.Errorf("want no lifetime total in the label and a pen width of 2.9:\n%s", out)
	}
	if !strings.Contains(out, "bandwidth, bytes per second over the") || strings.Contains(out, "totals of the connections") ||
		!strings.Contains(out, "line width: bytes per second, log scale") || strings.Count(out, "legend") != 2 {
		t.Errorf("the legend does not explain bandwidth alone, once:\n%s", out)
	}
	var m strings.Builder
	if err := Mermaid(&m, g, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.String(), "#8594; 1.2 MB/s #8592; 80.0 kB/s") {
		t.Errorf("Mermaid link without the bandwidth:\n%s", m.String())
	}

	// A second link from scans without a window: its totals since open, and
	// the legend says what both kinds of numbers and widths mean.
	g.Edges = append(g.Edges, &graph.Edge{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: graph.SeenBoth, Sockets: 1,
		EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 3 << 20, PortBytesToClient: 50 << 20}})
	b.Reset()
	if err := DOT(&b, g); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{
		`→ 3.0 MiB ← 50.0 MiB since open`,
		`→ 1.2 MB/s ← 80.0 kB/s`,
		"bandwidth, bytes per second over the",
		"← server to client, &quot;since open&quot;: totals of the connections open",
		"line width: bytes per second where there is a window, else bytes; log scale",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mixed: no %q in\n%s", want, out)
		}
	}
	if strings.Count(out, "legend") != 2 { // the node and its title
		t.Errorf("mixed: want one legend:\n%s", out)
	}
}

// TestTableWindow: a windowed snapshot's table says what the window was and
// gives each record its connections and bandwidth; the instant columns stay.
func TestTableWindow(t *testing.T) {
	var b strings.Builder
	s := windowed()
	s.Window.Unattributed, s.Window.CutShort = 3, true
	if err := Table(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"2025-03-01T12:29:56Z for 300.0 s (sock_diag destroy events, cut short of 300 s): 40 connections opened, 40 closed, 3 without a process",
		"OPENED  CLOSED  SENT/S    RECEIVED/S",
		"1.6 MB/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestTableWindowBytesUnknown: a record whose window has no byte counters
// shows its connection counts and no rate ("-"), never "0 B/s".
func TestTableWindowBytesUnknown(t *testing.T) {
	s := windowed()
	for i := range s.Connections {
		if w := s.Connections[i].Window; w != nil {
			w.BytesSent, w.BytesReceived, w.BytesSentPerSecond, w.BytesReceivedPerSecond = 0, 0, 0, 0
			w.BytesUnknown = true
		}
	}
	var b strings.Builder
	if err := Table(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "0 B/s") || strings.Contains(out, "MB/s") {
		t.Errorf("table shows a rate for records with unknown bytes:\n%s", out)
	}
	if !regexp.MustCompile(`\b40\s+40\s+-\s+-`).MatchString(out) {
		t.Errorf("table lacks the backup record's 40 opened, 40 closed and no rates:\n%s", out)
	}
}
