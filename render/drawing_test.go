package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
)

// serviceFleet is a graph the size of a real service fleet: teams of
// hostgroups named team-role (payments-api, payments-db...), each api
// calling its own db, cache and queue and two other teams' apis, workers
// reading the queue and the db, an edge proxy in front of every api, and
// infrastructure on every hostgroup: DNS lookups, node_exporter scrapes
// from monitoring and a local Consul agent. teams=10 gives 50 hostgroups
// and over 200 dependencies.
func serviceFleet(t testing.TB, teams int) *graph.Graph {
	t.Helper()
	g := &graph.Graph{Schema: graph.Schema, By: graph.ByHostgroup, External: "ip"}
	node := func(id string, hosts int) {
		g.Nodes = append(g.Nodes, &graph.Node{ID: id, Kind: graph.KindHostgroup, HostCount: hosts})
	}
	edge := func(from, to, proto string, port uint16, cp, sp string, bytes uint64) {
		g.Edges = append(g.Edges, &graph.Edge{From: from, To: to, Protocol: proto, Port: port, SeenFrom: graph.SeenBoth,
			EdgeNames: &graph.EdgeNames{ClientProcesses: []string{cp}, ServerProcesses: []string{sp}}, ClientHosts: 2, ServerHosts: 2, Sockets: 4,
			EdgeBytes: &graph.EdgeBytes{PortBytesToServer: bytes, PortBytesToClient: bytes * 3}})
	}
	names := []string{"payments", "search", "catalog", "users", "orders", "billing", "mail", "media", "reviews", "ads", "geo", "auth"}
	node("edge-proxy", 4)
	node("infra-dns", 2)
	node("infra-monitoring", 1)
	var all []string
	for i := range teams {
		team := names[i%len(names)]
		if i >= len(names) {
			team += fmt.Sprint(i / len(names))
		}
		for _, role := range []string{"api", "db", "cache", "queue", "worker"} {
			node(team+"-"+role, 2+i%3)
			all = append(all, team+"-"+role)
		}
		b := uint64(1+i) * 7_000_000
		edge("edge-proxy", team+"-api", "tcp", 8080, "haproxy", "java", b*40)
		edge(team+"-api", team+"-db", "tcp", 5432, "java", "postgres", b*10)
		edge(team+"-api", team+"-cache", "tcp", 6379, "java", "redis-server", b)
		edge(team+"-api", team+"-queue", "tcp", 9092, "java", "java", b/2)
		edge(team+"-worker", team+"-queue", "tcp", 9092, "python3", "java", b/3)
		edge(team+"-worker", team+"-db", "tcp", 5432, "python3", "postgres", b*2)
		for _, k := range []int{1, 3} {
			other := names[(i+k)%teams%len(names)]
			if (i+k)%teams >= len(names) {
				other += fmt.Sprint((i + k) % teams / len(names))
			}
			edge(team+"-api", other+"-api", "tcp", 8443, "java", "java", b/5)
		}
	}
	for _, n := range append(all, "edge-proxy", "infra-monitoring") {
		edge(n, "infra-dns", "udp", 53, "systemd-resolved", "unbound", 0)
		edge("infra-monitoring", n, "tcp", 9100, "prometheus", "node_exporter", 300_000)
		edge(n, n, "tcp", 8500, "consul", "consul", 0)
	}
	var buf bytes.Buffer
	if err := graph.Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	out, err := graph.Parse(buf.Bytes(), "service fleet")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDrawingServiceFleet: at 50 hostgroups and over 200 dependencies the
// picture keeps the application's dependencies, one link per node pair,
// folds the infrastructure into the legend's note and groups each team in
// a cluster.
func TestDrawingServiceFleet(t *testing.T) {
	g := serviceFleet(t, 10)
	if len(g.Nodes) < 50 || len(g.Edges) < 200 {
		t.Fatalf("fixture has %d nodes and %d edges, want at least 50 and 200", len(g.Nodes), len(g.Edges))
	}
	var buf bytes.Buffer
	if err := DOT(&buf, g); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	d := newDrawing(g, diffMarks{})
	if n := len(d.links); n != 80 {
		t.Errorf("%d links drawn, want the 80 application node pairs", n)
	}
	for _, l := range d.links {
		if l.infra {
			t.Errorf("infrastructure link %s -> %s drawn in a graph of %d links", l.from.ID, l.to.ID, len(g.Edges))
		}
	}
	for _, want := range []string{
		"udp/53 (DNS, unbound): 52 nodes → infra-dns",
		"tcp/8500 (Consul): within each of 52 nodes",
		"tcp/9100 (node_exporter): infra-monitoring → 52 nodes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("legend does not say %q", want)
		}
	}
	if n := strings.Count(out, "subgraph cluster_"); n != 11 {
		t.Errorf("%d clusters, want 11 (10 teams, infra)", n)
	}
	if !regexp.MustCompile(`label=" \\ntcp/5432 java → postgres\\n→ [0-9.]+ MiB ← [0-9.]+ [MG]iB since open\\n "`).MatchString(out) {
		t.Errorf("no link labelled with its port and processes")
	}
}

// TestDrawingLabelsClear lays the fleets out with Debian's Graphviz and
// checks that no edge label overlaps another link's label or a node box:
// the labels stay readable at 5, 9 and 50 hostgroups.
func TestDrawingLabelsClear(t *testing.T) {
	dotBin := testenv.NeedCommand(t, "dot", "graphviz")
	for _, tc := range []struct {
		name string
		g    func(t testing.TB) *graph.Graph
	}{
		{"fleet", func(t testing.TB) *graph.Graph { return mustMerge(t.(*testing.T), fleet()...) }},
		{"links", linksGraph},
		{"service-fleet-3", func(t testing.TB) *graph.Graph { return serviceFleet(t, 3) }},
		{"service-fleet-10", func(t testing.TB) *graph.Graph { return serviceFleet(t, 10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := DOT(&buf, tc.g(t)); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(dotBin, "-Tjson")
			cmd.Stdin = bytes.NewReader(buf.Bytes())
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("dot -Tjson: %v", err)
			}
			labels, nodes := layoutBoxes(t, out)
			for i, a := range labels {
				for _, b := range labels[i+1:] {
					if a.owner != b.owner && a.overlaps(b) {
						t.Errorf("label %q overlaps label %q", a.text, b.text)
					}
				}
				for _, n := range nodes {
					if a.overlaps(n) {
						t.Errorf("label %q overlaps node %q", a.text, n.text)
					}
				}
			}
			if os.Getenv("PLANET_DRAWING_DIR") != "" {
				// For a look: PLANET_DRAWING_DIR=/tmp/x go test -run TestDrawingLabelsClear
				if err := os.WriteFile(filepath.Join(os.Getenv("PLANET_DRAWING_DIR"), tc.name+".dot"), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type box struct {
	owner          int
	text           string
	x0, y0, x1, y1 float64
}

func (a box) overlaps(b box) bool {
	// A point of slack: Graphviz places labels touching their neighbours.
	return a.x0+1 < b.x1 && b.x0+1 < a.x1 && a.y0+1 < b.y1 && b.y0+1 < a.y1
}

// layoutBoxes reads dot -Tjson: each edge label's text lines (from its
// _ldraw_ text operations) and each node's box.
func layoutBoxes(t *testing.T, js []byte) (labels, nodes []box) {
	var doc struct {
		Objects []struct {
			Name   string  `json:"name"`
			Label  string  `json:"label"`
			Pos    string  `json:"pos"`
			Width  string  `json:"width"`
			Height string  `json:"height"`
			Shape  string  `json:"shape"`
			Nodes  []int   `json:"nodes"`
			Ldraw  []xdraw `json:"_ldraw_"`
		} `json:"objects"`
		Edges []struct {
			ID    int     `json:"_gvid"`
			Ldraw []xdraw `json:"_ldraw_"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("dot -Tjson: %v", err)
	}
	var pos = regexp.MustCompile(`^([-0-9.e]+),([-0-9.e]+)$`)
	for _, o := range doc.Objects {
		if o.Nodes != nil || o.Pos == "" || o.Shape == "plain" {
			continue // a cluster, or the legend
		}
		m := pos.FindStringSubmatch(o.Pos)
		if m == nil {
			t.Fatalf("node %s: pos %q", o.Name, o.Pos)
		}
		var x, y, w, h float64
		fmt.Sscan(m[1], &x)
		fmt.Sscan(m[2], &y)
		fmt.Sscan(o.Width, &w)
		fmt.Sscan(o.Height, &h)
		w, h = w*72, h*72
		nodes = append(nodes, box{owner: -1, text: o.Name, x0: x - w/2, y0: y - h/2, x1: x + w/2, y1: y + h/2})
	}
	for _, e := range doc.Edges {
		size := 9.0
		for _, op := range e.Ldraw {
			switch op.Op {
			case "F":
				size = op.Size
			case "T":
				x0 := op.Pt[0] - op.Width/2
				switch op.Align {
				case "l":
					x0 = op.Pt[0]
				case "r":
					x0 = op.Pt[0] - op.Width
				}
				labels = append(labels, box{owner: e.ID, text: op.Text, x0: x0, y0: op.Pt[1] - size*0.25, x1: x0 + op.Width, y1: op.Pt[1] + size*0.8})
			}
		}
	}
	return labels, nodes
}

type xdraw struct {
	Op    string     `json:"op"`
	Pt    [2]float64 `json:"pt"`
	Align string     `json:"align"`
	Width float64    `json:"width"`
	Text  string     `json:"text"`
	Size  float64    `json:"size"`
}

// TestDrawingLinks: the dependencies between two nodes are one link in DOT
// and Mermaid, labelled with ports, client → server processes and bytes
// each way; the legend says what the numbers, dashes, grey and width mean.
// linksGraph: a load balancer calling an api on three ports (two served by
// one process), the api calling itself on two ports (one loop), and an
// external peer seen from one end.
func linksGraph(t testing.TB) *graph.Graph {
	t.Helper()
	g := &graph.Graph{Schema: graph.Schema, By: graph.ByHostgroup, External: "ip",
		Nodes: []*graph.Node{{ID: "api", Kind: graph.KindHostgroup, HostCount: 2}, {ID: "lb", Kind: graph.KindHostgroup, HostCount: 1},
			{ID: "203.0.113.9", Kind: graph.KindExternal, HostCount: 1}},
		Edges: []*graph.Edge{
			{From: "lb", To: "api", Protocol: "tcp", Port: 80, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"haproxy"}, ServerProcesses: []string{"nginx"}}, EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 1_000_000, PortBytesToClient: 50_000_000}},
			{From: "lb", To: "api", Protocol: "tcp", Port: 443, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"haproxy"}, ServerProcesses: []string{"nginx"}}, EdgeBytes: &graph.EdgeBytes{PortBytesToServer: 200_000, PortBytesToClient: 3_000_000}},
			{From: "lb", To: "api", Protocol: "tcp", Port: 9000, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"haproxy"}, ServerProcesses: []string{"php-fpm"}}},
			{From: "api", To: "api", Protocol: "tcp", Port: 6379, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"php-fpm"}, ServerProcesses: []string{"redis-server"}}},
			{From: "api", To: "api", Protocol: "tcp", Port: 8500, SeenFrom: graph.SeenBoth, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"consul"}, ServerProcesses: []string{"consul"}}},
			{From: "api", To: "203.0.113.9", Protocol: "tcp", Port: 443, SeenFrom: graph.SeenClient, EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"php-fpm"}}},
		}}
	var buf bytes.Buffer
	if err := graph.Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	g, err := graph.Parse(buf.Bytes(), "links")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDrawingLinks(t *testing.T) {
	g := linksGraph(t)
	var dot, mmd bytes.Buffer
	if err := DOT(&dot, g); err != nil {
		t.Fatal(err)
	}
	if err := Mermaid(&mmd, g, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// A thick line: a blank line above and below keeps it off the text.
		`label=" \ntcp/80,443 haproxy → nginx\ntcp/9000 haproxy → php-fpm\n→ 1.1 MiB ← 50.5 MiB since open\n "`,
		// Two dependencies of a node on itself: one loop, one label.
		`label="tcp/6379 php-fpm → redis-server\ntcp/8500 consul → consul"`,
		`label="tcp/443 php-fpm → ?"`,
		`fontname=Verdana`,
		"dashed line: seen from one end only",
		"grey, dashed box: external peers",
		"line width: bytes, log scale",
		"→ bytes client to server, ← server to client: totals of the connections open",
		"(no window: not a rate)",
	} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("DOT lacks %s", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^\s*n\d+ -> n\d+`).FindAllString(dot.String(), -1)); n != 3 {
		t.Errorf("DOT has %d edges, want 3 (one per node pair):\n%s", n, dot.String())
	}
	for _, want := range []string{
		`n2 -->|"tcp/80,443 haproxy #8594; nginx<br/>tcp/9000 haproxy #8594; php-fpm<br/>#8594; 1.1 MiB #8592; 50.5 MiB since open"| n1`,
		`n1 -.->|"tcp/443 php-fpm #8594; #63;"| n0`,
	} {
		if !strings.Contains(mmd.String(), want) {
			t.Errorf("Mermaid lacks %s:\n%s", want, mmd.String())
		}
	}
}

// TestSVGLabelsOnTop: after svgLabelsOnTop every edge label is drawn after
// every line (so no line crosses it), with the same texts in the same
// places, and the SVG still parses.
func TestSVGLabelsOnTop(t *testing.T) {
	dotBin := testenv.NeedCommand(t, "dot", "graphviz")
	for _, n := range []int{3, 10} {
		var buf bytes.Buffer
		if err := DOT(&buf, serviceFleet(t, n)); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(dotBin, "-Tsvg")
		cmd.Stdin = &buf
		svg, err := cmd.Output()
		if err != nil {
			t.Fatalf("dot -Tsvg: %v", err)
		}
		svg = svgFonts(svg)
		top := svgLabelsOnTop(svg)
		if bytes.Equal(top, svg) {
			t.Fatal("labels not moved")
		}
		before, after := svgTexts(t, svg), svgTexts(t, top)
		var want []string
		for _, s := range before {
			if s != " " {
				want = append(want, s)
			}
		}
		slices.Sort(want)
		slices.Sort(after)
		if !slices.Equal(want, after) {
			t.Errorf("texts changed: %d before, %d after", len(want), len(after))
		}
		lastPath := bytes.LastIndex(top, []byte("<path "))
		firstLabel := bytes.Index(top, []byte(`<g id="edge-labels"`))
		if firstLabel < lastPath {
			t.Errorf("labels at %d, before the last line at %d", firstLabel, lastPath)
		}
		if !bytes.HasSuffix(bytes.TrimSpace(top), []byte("</svg>")) {
			t.Error("SVG cut")
		}
		if dir := os.Getenv("PLANET_DRAWING_DIR"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("service-fleet-%d.svg", n)), top, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Something that is not Graphviz's SVG comes back as it is.
	for _, in := range []string{"", "<svg></svg>", "<g id=\"edge1\" class=\"edge\">\n<text>x</text>\n"} {
		if got := svgLabelsOnTop([]byte(in)); string(got) != in {
			t.Errorf("svgLabelsOnTop(%q) = %q", in, got)
		}
	}
}

// TestDrawingNotesHostile: the note of folded infrastructure shows names
// as display does (a control character Go-quoted) and escaped for the
// HTML-like legend.
func TestDrawingNotesHostile(t *testing.T) {
	g := serviceFleet(t, 10)
	for _, e := range g.Edges {
		if e.Port == 53 {
			e.ServerProcesses = []string{"\x1b[31m<b>&"}
		}
	}
	var buf bytes.Buffer
	if err := DOT(&buf, g); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "\x1b") || !strings.Contains(buf.String(), `udp/53 (DNS, &quot;\x1b[31m&lt;b&gt;&amp;&quot;)`) {
		t.Errorf("the note does not show the process name quoted and escaped:\n%s", buf.String())
	}
	dotBin := testenv.NeedCommand(t, "dot", "graphviz")
	cmd := exec.Command(dotBin, "-Tsvg")
	cmd.Stdin = &buf
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	svg, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
	}
	if !slices.Contains(svgTexts(t, svg), `udp/53 (DNS, "\x1b[31m<b>&"): 52 nodes → infra-dns`) {
		t.Errorf("the SVG does not show the note's text exactly: %q", svgTexts(t, svg))
	}
}
