package render

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/snapshot"
)

func TestTableGolden(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, fx.Snap()); err != nil {
				t.Fatal(err)
			}
			golden(t, fx.Name+".table.golden", buf.Bytes())
		})
	}
}

// A hostile name must neither reach the terminal raw (escape sequences,
// bidi overrides) nor break a row into several lines or columns.
func TestTableHostileNames(t *testing.T) {
	s := hostile()
	var buf bytes.Buffer
	if err := Table(&buf, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	for i, line := range lines {
		for _, r := range line {
			if r < 0x20 || r == 0x7f || r == '\u202e' {
				t.Errorf("line %d holds %U: %q", i+1, r, line)
			}
		}
	}
	for _, c := range s.Connections {
		want := c.RemoteIP.String() + "  "
		found := false
		for _, line := range lines {
			if strings.Contains(line, want) && strings.Contains(line, cell(c.Process)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no single line shows %s with process %s", c.RemoteIP, cell(c.Process))
		}
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "-"},
		{"sshd", "sshd"},
		{"日本語", "日本語"},
		{"two words", "two words"},
		{"a\tb", `"a\tb"`},
		{"a\nb", `"a\nb"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"bad\xff", `"bad\xff"`},
		{`say "hi"`, `"say \"hi\""`},
		{"rtl\u202e", `"rtl\u202e"`},
	} {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBytesIEC(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {126_014_316, "120.2 MiB"},
		{1 << 40, "1.0 TiB"}, {^uint64(0), "16.0 EiB"},
	} {
		if got := bytesIEC(tc.in); got != tc.want {
			t.Errorf("bytesIEC(%d) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestTableNil(t *testing.T) {
	if err := Table(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("Table(nil) succeeded")
	}
}

// TestGraphTableFits: a 40-host group with every host and domain, and 300
// external peers, at a terminal 80 columns wide: no line wider than 80,
// lists capped with "+N more", addresses in numeric order.
func TestGraphTableFits(t *testing.T) {
	g := &graph.Graph{Schema: graph.Schema, By: graph.ByHostgroup, External: "ip"}
	web := &graph.Node{ID: "payments-frontend-web", Kind: graph.KindHostgroup, HostCount: 40}
	for i := range 40 {
		web.Hosts = append(web.Hosts, fmt.Sprintf("payments-frontend-web-%02d", i))
		web.Domains = append(web.Domains, fmt.Sprintf("payments-frontend-web-%02d.eu-west-1.service.consul", i))
	}
	g.Nodes = append(g.Nodes, web)
	for i := range 300 {
		ip := fmt.Sprintf("10.0.%d.%d", i/100, i%100)
		g.Nodes = append(g.Nodes, &graph.Node{ID: ip, Kind: graph.KindExternal, HostCount: 1})
		g.Edges = append(g.Edges, &graph.Edge{From: web.ID, To: ip, Protocol: "tcp", Port: 443, SeenFrom: graph.SeenClient,
			EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"java", "python3", "node", "envoy", "nginx"}}, ClientHosts: 40, ServerHosts: 1, Sockets: 1,
			EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 123456789, PortBytesToClient: 987654321}})
	}
	var buf bytes.Buffer
	if err := graph.Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	g, err := graph.Parse(buf.Bytes(), "wide")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := GraphTableWidth(&out, g, 80); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(out.String(), "\n") {
		if w := uniseg.StringWidth(line); w > 80 {
			t.Errorf("line %d is %d columns wide: %q", i+1, w, line)
		}
	}
	if !strings.Contains(out.String(), "+39 more") {
		t.Errorf("the 40 hosts are not capped with +39 more at 80 columns:\n%s", out.String())
	}
	// Numeric order: 10.0.0.9 before 10.0.0.10, 10.0.0.99 before 10.0.1.0.
	text := out.String()
	for _, pair := range [][2]string{{"\n10.0.0.9 ", "\n10.0.0.10 "}, {"\n10.0.0.99 ", "\n10.0.1.0 "}, {" 10.0.0.9 ", " 10.0.0.10 "}} {
		a, b := strings.Index(text, pair[0]), strings.Index(text, pair[1])
		if a < 0 || b < 0 || a > b {
			t.Errorf("%q not before %q", pair[0], pair[1])
		}
	}
	// Without a width nothing is cut.
	out.Reset()
	if err := GraphTable(&out, g); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "…") || !strings.Contains(out.String(), "payments-frontend-web-00.eu-west-1.service.consul") {
		t.Error("GraphTable without a width cut a cell")
	}
	// Lists are capped all the same: 3 names, then the rest counted.
	if !strings.Contains(out.String(), "payments-frontend-web-00,payments-frontend-web-01,payments-frontend-web-02,+37 more") {
		t.Errorf("the 40 hosts are not capped with +37 more:\n%s", out.String())
	}
}

func TestTableShowsConntrack(t *testing.T) {
	s := &snapshot.Snapshot{
		Schema: snapshot.Schema, ScannedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Host: snapshot.Host{Hostname: "docker-1", Addresses: []netip.Addr{netip.MustParseAddr("10.1.0.5")}},
		Connections: []snapshot.Connection{
			{Direction: snapshot.Downstream, Protocol: "tcp", Port: 8080, RemoteIP: netip.MustParseAddr("10.9.0.50"),
				Flows: 3, EndedFlows: 1, BackendIP: netip.MustParseAddr("172.17.0.2"), BackendPort: 80},
			{Direction: snapshot.Upstream, Protocol: "tcp", Port: 8000, Process: "caller", RemoteIP: netip.MustParseAddr("10.3.0.4"),
				Sockets: 1, States: map[string]int{"ESTABLISHED": 1}, DialledIP: netip.MustParseAddr("10.96.0.10"), DialledPort: 80},
		},
	}
	var buf bytes.Buffer
	if err := Table(&buf, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flows=3,ended=1 backend=172.17.0.2:80", "ESTABLISHED=1 dialled=10.96.0.10:80"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}
