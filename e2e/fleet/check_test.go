//go:build e2e

package fleet_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/golden"
	"github.com/planetdeps/planet/internal/testenv"
	"github.com/planetdeps/planet/snapshot"
)

// wantListeners: every scanned host's server processes, "process bind".
var wantListeners = map[string][]string{
	"lb":      {"haproxy :::80", "node_exporter :::9100"},
	"web-1":   {"node_exporter :::9100", "web :::8080"},
	"web-2":   {"node_exporter :::9100", "web :::8080"},
	"db":      {"darkstat 127.0.0.1:667", "node_exporter :::9100", "postgres :::5432"},
	"monitor": {"node_exporter :::9100"},
	"cache":   {"memcached :::11211", "node_exporter :::9100"},
}

// checkSnapshots: each host's own view, before merging.
func checkSnapshots(t *testing.T, f *fleet, snaps map[string]*snapshot.Snapshot) {
	for _, h := range scanned {
		s := snaps[h.name]
		p := f.ports[h.name]
		if s.Host.Hostname != h.name || s.Host.Hostgroup != h.hostgroup || s.Host.Domain != h.name+".service.consul" {
			t.Errorf("%s: host %+v, want hostname %s, hostgroup %s, domain %s.service.consul", h.name, s.Host, h.name, h.hostgroup, h.name)
		}
		if !slices.Contains(s.Host.Addresses, p.IPv4.Addr()) || !slices.Contains(s.Host.Addresses, p.IPv6.Addr()) {
			t.Errorf("%s: addresses %v, want %s and %s among them", h.name, s.Host.Addresses, p.IPv4.Addr(), p.IPv6.Addr())
		}
		want := []string{snapshot.SourceSockets, snapshot.SourceInventory}
		if h.name == "db" {
			want = append(want, snapshot.SourceDarkstat)
		}
		for _, name := range want {
			src, ok := s.Source(name)
			if !ok || !src.OK {
				t.Errorf("%s: source %s: %+v (present %v), want ok", h.name, name, src, ok)
			}
		}
		if src, _ := s.Source(snapshot.SourceSockets); src.Detail != "netlink" {
			t.Errorf("%s: sockets read by %q, want netlink (root, live host)", h.name, src.Detail)
		}
		if s.UnownedSockets != 0 || len(s.Warnings) > 0 {
			t.Errorf("%s: %d unowned sockets, warnings %q; as root every socket's process is known", h.name, s.UnownedSockets, s.Warnings)
		}
		var ls []string
		for _, l := range s.Listeners {
			ls = append(ls, l.Process+" "+l.Bind())
			if l.Protocol != "tcp" {
				t.Errorf("%s: listener %+v: the fleet has only TCP servers", h.name, l)
			}
		}
		slices.Sort(ls)
		if !slices.Equal(ls, wantListeners[h.name]) {
			t.Errorf("%s: listeners %q, want %q", h.name, ls, wantListeners[h.name])
		}
	}

	// The IPv6 dependency, from both ends: web-2 -> db over fd00:250:1::/64.
	web2v6 := f.ports["web-2"].IPv6.Addr()
	find := func(s *snapshot.Snapshot, dir snapshot.Direction, ip netip.Addr, port uint16) *snapshot.Connection {
		for i, c := range s.Connections {
			if c.Direction == dir && c.RemoteIP == ip && c.Port == port {
				return &s.Connections[i]
			}
		}
		return nil
	}
	if c := find(snaps["web-2"], snapshot.Upstream, dbIPv6, 5432); c == nil {
		t.Errorf("web-2: no upstream to [%s]:5432 in %+v", dbIPv6, snaps["web-2"].Connections)
	} else if c.Process != "web" || c.RemoteHostgroup != "db" || c.BytesSent != web2ToDB+1 || c.BytesReceived != postgresGreet {
		t.Errorf("web-2 -> [%s]:5432: %+v, want process web, hostgroup db, %d bytes sent (with the SYN), %d received", dbIPv6, *c, web2ToDB+1, postgresGreet)
	}
	if c := find(snaps["db"], snapshot.Downstream, web2v6, 5432); c == nil {
		t.Errorf("db: no downstream from [%s] on 5432 in %+v", web2v6, snaps["db"].Connections)
	} else if c.Process != "postgres" || c.RemoteHostgroup != "web" || c.BytesReceived != web2ToDB {
		t.Errorf("db <- [%s]:5432: %+v, want process postgres, hostgroup web, %d bytes received", web2v6, *c, web2ToDB)
	}
	// cache is known by its default route's source, not by its docker
	// bridge (whose address sorts first and is in the "containers" range
	// of the inventory); the bridge is still listed.
	if a := snaps["cache"].Host.Addresses; len(a) == 0 || a[0] != cacheIP || !slices.Contains(a, dockerBridge.Addr()) {
		t.Errorf("cache: addresses %v, want %s first and %s among them", a, cacheIP, dockerBridge.Addr())
	}
	// Its IPv4 client socket on the port of the v6only listener is upstream
	// to db; memcached's only peer is web-2, over IPv6.
	if c := find(snaps["cache"], snapshot.Upstream, f.ports["db"].IPv4.Addr(), 5432); c == nil || c.Process != "warmer" || c.RemoteHostgroup != "db" {
		t.Errorf("cache: upstream to db:5432 is %+v, want process warmer, hostgroup db", c)
	}
	for _, c := range snaps["cache"].Connections {
		if c.Direction == snapshot.Downstream && c.Port == cachePort && c.RemoteIP != f.ports["web-2"].IPv6.Addr() {
			t.Errorf("cache: downstream on the v6only port from %s: %+v; only web-2's IPv6 connection is", c.RemoteIP, c)
		}
	}
	if c := find(snaps["cache"], snapshot.Downstream, f.ports["web-2"].IPv6.Addr(), cachePort); c == nil || c.Process != "memcached" || c.RemoteHostgroup != "web" {
		t.Errorf("cache: downstream from web-2 on %d is %+v, want process memcached, hostgroup web", cachePort, c)
	}
	// The loopback dependency inside db, from both ends.
	lo := netip.MustParseAddr("127.0.0.1")
	if c := find(snaps["db"], snapshot.Upstream, lo, 5432); c == nil || c.Process != "backup" || c.RemoteHostgroup != "localhost" {
		t.Errorf("db: upstream to 127.0.0.1:5432 is %+v, want process backup, hostgroup localhost", c)
	}
	if c := find(snaps["db"], snapshot.Downstream, lo, 5432); c == nil || c.Process != "postgres" {
		t.Errorf("db: downstream from 127.0.0.1 on 5432 is %+v, want process postgres", c)
	}
}

// checkOwnSockets: a scan reports the host's dependencies, not planet's
// own reads of its sources. Neither the inventory fetch of this scan (the
// control node serves it) nor the darkstat read of an earlier scan (db's
// loopback port 667) may show up as a connection, and darkstat peers that
// are no host's address (IPv6 link-local neighbour discovery, multicast)
// are not peers: they would become external nodes named after random MAC
// addresses.
func checkOwnSockets(t *testing.T, f *fleet, snaps map[string]*snapshot.Snapshot) {
	t.Helper()
	ctl := f.ports["control"]
	for _, h := range scanned {
		for _, c := range snaps[h.name].Connections {
			switch {
			case c.RemoteIP == ctl.IPv4.Addr() || c.RemoteIP == ctl.IPv6.Addr():
				t.Errorf("%s: planet's own inventory fetch reported as a dependency: %+v", h.name, c)
			case c.Port == 667 && c.RemoteIP.IsLoopback():
				t.Errorf("%s: planet's darkstat read (an earlier scan's) reported as a dependency: %+v", h.name, c)
			}
		}
		if tr := snaps[h.name].Traffic; tr != nil {
			for _, p := range tr.Peers {
				if !p.RemoteIP.IsGlobalUnicast() {
					t.Errorf("%s: darkstat peer %s is not a host address (link-local or multicast) but kept: %+v", h.name, p.RemoteIP, p)
				}
			}
		}
	}
}

// checkTraffic compares darkstat's traffic in the graph with what the
// services sent: the same pairs, each within trafficTolerance.
func checkTraffic(t *testing.T, g *graph.Graph, want []wantTraffic) {
	t.Helper()
	var got, exp []string
	for _, tr := range g.Traffic {
		got = append(got, tr.From+" -> "+tr.To+" "+tr.SeenFrom.String())
	}
	for _, w := range want {
		exp = append(exp, w.From+" -> "+w.To+" "+w.SeenFrom.String())
		tr := trafficOf(g, w.From, w.To)
		if tr == nil {
			continue
		}
		lo, hi := trafficTolerance(w.Payload)
		t.Logf("traffic %s -> %s: darkstat %d bytes for %d sent (+%d)", w.From, w.To, tr.Bytes, w.Payload, int64(tr.Bytes)-int64(w.Payload))
		if tr.Bytes < lo || tr.Bytes > hi {
			t.Errorf("traffic %s -> %s: %d bytes, want %d..%d (%d bytes of payload)", w.From, w.To, tr.Bytes, lo, hi, w.Payload)
		}
	}
	if !slices.Equal(got, exp) {
		t.Errorf("traffic pairs (from -> to seen_from):\n got %q\nwant %q", got, exp)
	}
}

// keepGraph writes the graph, normalised, as a golden file for the diff
// issue (go test -update rewrites it). Normalised: generated_at is fixed,
// and darkstat's byte counts, which vary with packet timing, are replaced
// by the payload they were checked against. Everything else (namespace
// addresses, hostnames, sockets, per-port byte counters) is already
// deterministic.
func keepGraph(t *testing.T, g *graph.Graph, traffic []wantTraffic, path string) {
	t.Helper()
	if t.Failed() {
		// The differences are already reported; a golden diff would only
		// repeat them, and a failed run must not rewrite the file.
		if golden.Updating() {
			t.Errorf("%s not rewritten: the test failed before it", path)
		} else {
			t.Logf("%s not compared: the test failed before it", path)
		}
		return
	}
	golden.Check(t, path, normalGraph(t, g, traffic))
}

// normalGraph is g as keepGraph stores it: generated_at fixed and
// darkstat's byte counts replaced by the payloads in traffic. It changes g.
func normalGraph(t *testing.T, g *graph.Graph, traffic []wantTraffic) []byte {
	t.Helper()
	g.GeneratedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, w := range traffic {
		if tr := trafficOf(g, w.From, w.To); tr != nil {
			tr.Bytes = w.Payload
		}
	}
	var b bytes.Buffer
	if err := graph.Write(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkRender renders the graph (and db's snapshot, for the textfile) in
// every format and hands each output to the program that consumes it.
func checkRender(t *testing.T, f *fleet, graphPath, dbSnapshot string) {
	dir := t.TempDir()
	if _, err := f.runErr("render", "--help"); err != nil {
		t.Errorf("planet has no render command yet (issue 5); every render check below fails: %v", err)
	}
	render := func(t *testing.T, format, input string) []byte {
		t.Helper()
		out := filepath.Join(dir, "out."+format)
		if _, err := f.runErr("render", "--format", format, "-o", out, input); err != nil {
			t.Fatalf("render --format %s: %v", format, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g, err := graph.Parse(mustRead(t, graphPath), graphPath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("textfile", func(t *testing.T) {
		text := render(t, "textfile", dbSnapshot)
		for _, want := range [][]string{
			{"planet_upstream{", `process_name="backup"`, `remote_hostgroup="localhost"`, `port="5432"`, `local_hostgroup="db"`},
			{"planet_downstream{", `process_name="postgres"`, `remote_hostgroup="web"`, `remote_address="web-1.service.consul"`, `port="5432"`},
			{"planet_downstream{", `process_name="node_exporter"`, `remote_hostgroup="monitor"`, `port="9100"`},
			{"planet_server_process{", `bind=":::5432"`, `process_name="postgres"`},
			{"planet_traffic_bytes_total{", `direction="ingress"`, `remote_hostgroup="web"`, `remote_ip="` + f.ip4("web-1") + `"`},
		} {
			if !hasLine(text, want...) {
				t.Errorf("textfile has no line with %q:\n%s", want, text)
			}
		}
		cmd := exec.Command(testenv.NeedCommand(t, "promtool", "prometheus"), "check", "metrics")
		cmd.Stdin = bytes.NewReader(text)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, b)
		}
		checkNodeExporter(t, text)
	})

	t.Run("dot", func(t *testing.T) {
		dot := render(t, "dot", graphPath)
		for _, n := range g.Nodes {
			if !bytes.Contains(dot, []byte(`"`+n.ID+`"`)) && !bytes.Contains(dot, []byte(n.ID)) {
				t.Errorf("DOT does not mention node %s", n.ID)
			}
		}
		for _, e := range g.Edges {
			if !bytes.Contains(dot, fmt.Appendf(nil, "tcp/%d", e.Port)) {
				t.Errorf("DOT has no label tcp/%d for %s", e.Port, e)
			}
		}
		bin := testenv.NeedCommand(t, "dot", "graphviz")
		cmd := exec.Command(bin, "-Tsvg")
		cmd.Stdin = bytes.NewReader(dot)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		svg, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("dot -Tsvg: %v\n%s\n--- DOT:\n%s", err, stderr.String(), dot)
		}
		checkSVG(t, "dot -Tsvg of planet's DOT", svg, g)
	})

	t.Run("svg", func(t *testing.T) {
		checkSVG(t, "planet render --format svg", render(t, "svg", graphPath), g)
	})

	t.Run("mermaid", func(t *testing.T) {
		m := render(t, "mermaid", graphPath)
		if !bytes.HasPrefix(m, []byte("flowchart LR")) {
			t.Errorf("mermaid does not start with flowchart LR:\n%s", m)
		}
		for _, e := range g.Edges {
			if !bytes.Contains(m, fmt.Appendf(nil, "%d", e.Port)) {
				t.Errorf("mermaid does not mention port %d of %s:\n%s", e.Port, e, m)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		out, err := f.runErr("render", "--format", "table", graphPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range g.Edges {
			if !hasLine(out, e.From, e.To, fmt.Sprint(e.Port)) {
				t.Errorf("table has no row for %s:\n%s", e, out)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		out := render(t, "json", graphPath)
		g2, err := graph.Parse(out, "render --format json")
		if err != nil {
			t.Fatal(err)
		}
		if len(g2.Edges) != len(g.Edges) || len(g2.Nodes) != len(g.Nodes) {
			t.Errorf("json render: %d nodes, %d edges; the graph has %d, %d", len(g2.Nodes), len(g2.Edges), len(g.Nodes), len(g.Edges))
		}
	})
}

// hasLine reports whether some line of text contains every one of subs.
func hasLine(text []byte, subs ...string) bool {
	for line := range strings.Lines(string(text)) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// checkSVG: well-formed XML (encoding/xml, strict) whose root is <svg> and
// whose text names every node.
func checkSVG(t *testing.T, what string, svg []byte, g *graph.Graph) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var root string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", what, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", what, root)
	}
	for _, n := range g.Nodes {
		if !strings.Contains(text.String(), n.ID) {
			t.Errorf("%s: no text names node %s", what, n.ID)
		}
	}
}

// checkNodeExporter puts the textfile into the textfile directory of a real
// prometheus-node-exporter (on the test's loopback) and finds every planet
// line of the file in its scrape, with no scrape error.
func checkNodeExporter(t *testing.T, text []byte) {
	bin := testenv.NeedCommand(t, "prometheus-node-exporter", "prometheus-node-exporter")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "planet.prom"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	base := testenv.StartNodeExporter(t, bin, dir)
	scrape := testenv.HTTPGet(t, base+"/metrics")
	var served []string
	for line := range strings.Lines(scrape) {
		if strings.HasPrefix(line, "planet_") || strings.HasPrefix(line, "# HELP planet_") || strings.HasPrefix(line, "# TYPE planet_") {
			served = append(served, line)
		}
	}
	if got := strings.Join(served, ""); got != string(text) {
		t.Errorf("node_exporter serves the planet series differently from the file.\n--- served:\n%s\n--- file:\n%s", got, text)
	}
	if !strings.Contains(scrape, "\nnode_textfile_scrape_error 0\n") {
		t.Errorf("node_textfile_scrape_error is not 0")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
