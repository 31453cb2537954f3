package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/snapshot"
)

// wideNames take a number of terminal columns other than their rune count:
// CJK (2 each), fullwidth Latin (2 each), e followed by a combining acute
// accent (1 for 2 runes), an emoji (2 for 1 rune).
var wideNames = []struct {
	name  string
	width int
}{
	{"数据库", 6},
	{"ｗｅｂ", 6},
	{"e\u0301", 1},
	{"🚀", 2},
	{"db", 2},
}

// displayWidth is the test's own reading of a line's width, independent of
// the library the renderer uses: the runes of wideNames, each counted as
// those names need, and everything else one column.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case r == '\u0301':
		case r == '🚀' || strings.ContainsRune("数据库ｗｅｂ", r):
			w += 2
		default:
			w++
		}
	}
	return w
}

func TestColumnsDisplayWidth(t *testing.T) {
	var buf bytes.Buffer
	c := newColumns(&buf)
	fmt.Fprintln(c, "NAME\tPORT\tNOTE")
	for i, n := range wideNames {
		fmt.Fprintf(c, "%s\t%d\tx\n", n.name, 1000+i)
	}
	c.Flush()
	want := "NAME    PORT  NOTE\n" +
		"数据库  1000  x\n" +
		"ｗｅｂ  1001  x\n" +
		"e\u0301       1002  x\n" +
		"🚀      1003  x\n" +
		"db      1004  x\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, n := range wideNames {
		if got := displayWidth(n.name); got != n.width {
			t.Fatalf("the test's displayWidth(%q) = %d, want %d", n.name, got, n.width)
		}
	}

	// Text after a line's last tab is not a cell, and a missing final
	// newline stays missing.
	buf.Reset()
	c = newColumns(&buf)
	fmt.Fprint(c, "a\tb\n数据库\tc")
	c.Flush()
	if got, want := buf.String(), "a       b\n数据库  c"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// wideSnapshot names processes, hostgroups and domains in wide scripts.
func wideSnapshot() *snapshot.Snapshot {
	s := &snapshot.Snapshot{
		Schema:    snapshot.Schema,
		ScannedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Host:      snapshot.Host{Hostname: "数据库-1", Hostgroup: "数据库"},
		Traffic:   &snapshot.Traffic{Source: "http://127.0.0.1:667/metrics", Format: "metrics"},
	}
	for i, n := range wideNames {
		remote := ip(fmt.Sprintf("10.0.0.%d", i+1))
		s.Listeners = append(s.Listeners, snapshot.Listener{Protocol: "tcp", Address: ip("0.0.0.0"), Port: uint16(1000 + i), Process: n.name, Sockets: 1})
		for _, dir := range []snapshot.Direction{snapshot.Upstream, snapshot.Downstream} {
			s.Connections = append(s.Connections, snapshot.Connection{Direction: dir, Protocol: "tcp", Port: uint16(2000 + i),
				Process: n.name, RemoteIP: remote, RemoteHostgroup: n.name, RemoteDomain: n.name + ".example", Sockets: 1,
				States: map[string]int{"ESTABLISHED": 1}, BytesSent: 2048, BytesReceived: 1})
		}
		s.Traffic.Peers = append(s.Traffic.Peers, snapshot.Peer{RemoteIP: remote, RemoteHostgroup: n.name, RemoteDomain: n.name + ".example", IngressBytes: 1, EgressBytes: 2})
	}
	return s
}

func wideGraph() *graph.Graph {
	g := &graph.Graph{Schema: graph.Schema, GeneratedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), By: graph.ByHostgroup, External: "ip", Snapshots: len(wideNames)}
	for _, n := range wideNames {
		g.Nodes = append(g.Nodes, &graph.Node{ID: n.name, Kind: graph.KindHostgroup, HostCount: 1, Hosts: []string{n.name + "-1"}, Domains: []string{n.name + ".example"}})
	}
	for i, n := range wideNames {
		to := wideNames[(i+1)%len(wideNames)].name
		g.Edges = append(g.Edges, &graph.Edge{From: n.name, To: to, Protocol: "tcp", Port: uint16(3000 + i), SeenFrom: graph.SeenBoth,
			EdgeNames: &graph.EdgeNames{ClientProcesses: []string{n.name}, ServerProcesses: []string{to}}, ClientHosts: 1, ServerHosts: 1, Sockets: 1})
		g.Traffic = append(g.Traffic, &graph.Traffic{From: n.name, To: to, Bytes: 4096, SeenFrom: graph.SeenBoth})
	}
	return g
}

// Every table planet prints lines up in terminal columns whatever script
// its names are in: in each section, every cell starts at the display
// column of its header's label.
func TestTablesAlignWideNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		write   func(*bytes.Buffer) error
		headers []string
		tables  int
	}{
		{"snapshot", func(b *bytes.Buffer) error { return Table(b, wideSnapshot()) },
			[]string{"PORT  PROTO", "HOSTGROUP  PORT", "HOSTGROUP  DOMAIN"}, 4},
		{"graph", func(b *bytes.Buffer) error { return GraphTable(b, wideGraph()) },
			[]string{"NODE  ", "CLIENT  ", "FROM  "}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.write(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, name := range wideNames {
				if !strings.Contains(out, name.name) {
					t.Errorf("table does not show %q", name.name)
				}
			}
			checked := 0
			for _, section := range strings.Split(out, "\n\n") {
				lines := strings.Split(strings.TrimRight(section, "\n"), "\n")
				for i, line := range lines {
					if !hasPrefixAny(line, tc.headers) {
						continue
					}
					checkAligned(t, line, lines[i+1:])
					checked++
				}
			}
			if checked != tc.tables {
				t.Errorf("checked %d tables, want %d:\n%s", checked, tc.tables, out)
			}
			if t.Failed() {
				t.Logf("table:\n%s", out)
			}
		})
	}
}

func hasPrefixAny(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// checkAligned wants every row to start a cell (a non-space after a space)
// at each display column where the header starts a label.
func checkAligned(t *testing.T, header string, rows []string) {
	t.Helper()
	var starts []int
	for i := 1; i < len(header); i++ {
		if header[i-1] == ' ' && header[i] != ' ' {
			starts = append(starts, i) // the header is ASCII: byte = column
		}
	}
	for _, row := range rows {
		cols := map[int]rune{}
		col := 0
		for _, r := range row {
			cols[col] = r
			col += displayWidth(string(r))
		}
		for _, s := range starts {
			if cols[s-1] != ' ' || cols[s] == ' ' || cols[s] == 0 {
				t.Errorf("row %q does not start a cell at column %d, as its header %q does", row, s, header)
			}
		}
	}
}
