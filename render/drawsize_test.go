package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/planetdeps/planet/graph"
)

// randomDrawGraph has hostgroups and external peers joined by random
// application and infrastructure dependencies.
func randomDrawGraph(t *testing.T, r *rand.Rand) *graph.Graph {
	t.Helper()
	g := &graph.Graph{Schema: graph.Schema, By: graph.ByHostgroup, External: "ip", Snapshots: 1}
	// Half the graphs draw about maxDrawnLinks links, where the
	// infrastructure starts to fold.
	groups, externals, n := 1+r.IntN(30), r.IntN(30), r.IntN(400)
	if r.IntN(2) == 0 {
		groups, externals, n = 2+r.IntN(5), r.IntN(3), r.IntN(60)
	}
	var ids []string
	for i := range groups {
		ids = append(ids, fmt.Sprintf("hg%02d", i))
		g.Nodes = append(g.Nodes, &graph.Node{ID: ids[i], Kind: graph.KindHostgroup, HostCount: 1})
	}
	for i := range externals {
		id := fmt.Sprintf("10.9.0.%d", i)
		ids = append(ids, id)
		g.Nodes = append(g.Nodes, &graph.Node{ID: id, Kind: graph.KindExternal, HostCount: 1})
	}
	ports := []uint16{53, 9100, 8500, 80, 443, 5432, 6379}
	seen := map[string]bool{}
	for range n {
		from, to := ids[r.IntN(groups)], ids[r.IntN(len(ids))]
		port := ports[r.IntN(len(ports))]
		proto := "tcp"
		if port == 53 && r.IntN(2) == 0 {
			proto = "udp"
		}
		k := fmt.Sprint(from, to, proto, port)
		if seen[k] {
			continue
		}
		seen[k] = true
		g.Edges = append(g.Edges, &graph.Edge{From: from, To: to, Protocol: proto, Port: port, SeenFrom: graph.SeenBoth,
			ClientHosts: 1, ServerHosts: 1, Sockets: 1})
	}
	out, err := graph.Assemble(g, "random")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDrawingSizeAgrees: the count CheckPicture and render --diff refuse
// by (drawParts.size) is what newDrawing draws, with and without
// render --diff's marks, and stops exactly past its limit.
func TestDrawingSizeAgrees(t *testing.T) {
	type tc struct {
		name  string
		g     *graph.Graph
		marks diffMarks
	}
	var cases []tc
	cases = append(cases, tc{"service fleet", serviceFleet(t, 10), diffMarks{}}, tc{"fleet", mustMerge(t, fleet()...), diffMarks{}})
	files, _ := filepath.Glob("testdata/*.graph.json")
	for _, f := range files {
		cases = append(cases, tc{f, mustRead(t, f), diffMarks{}})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		g := randomDrawGraph(t, r)
		cases = append(cases, tc{fmt.Sprintf("random %d", i), g, diffMarks{}})
		// The same graph against a base that lost and gained edges.
		var edges []*graph.Edge
		for _, e := range g.Edges {
			if r.IntN(3) > 0 {
				edges = append(edges, e)
			}
		}
		now := partOf(t, g, g.Nodes, edges)
		base := randomDrawGraph(t, r)
		union, marks, err := withDiff(now, &Input{Name: "base", Graph: base}, Filter{}, FormatDOT, true)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{fmt.Sprintf("random %d diffed", i), union, marks})
	}
	near := 0
	for _, c := range cases {
		d := newDrawing(c.g, c.marks)
		if l := len(d.links); l >= maxDrawnLinks-2 && l <= maxDrawnLinks+2 || d.infraFolded && l < maxDrawnLinks {
			near++
		}
		p := partsOf(c.g, c.marks)
		nodes, links, over := p.size(1 << 30)
		if nodes != len(d.nodes) || links != len(d.links) || over {
			t.Errorf("%s: size %d nodes, %d links (over %v); the drawing has %d nodes, %d links",
				c.name, nodes, links, over, len(d.nodes), len(d.links))
			continue
		}
		if _, _, over := p.size(len(d.links)); over {
			t.Errorf("%s: over a limit of exactly its %d links", c.name, len(d.links))
		}
		if len(d.links) > maxDrawnLinks {
			if _, n, over := p.size(len(d.links) - 1); !over || n != len(d.links) {
				t.Errorf("%s: limit %d: over %v at %d, want over at %d", c.name, len(d.links)-1, over, n, len(d.links))
			}
		}
	}
	if near < 20 {
		t.Errorf("only %d graphs draw about %d links or fold their infrastructure into fewer", near, maxDrawnLinks)
	}
}

// TestRenderDiffUnionBounded: render --diff refuses a union of graph and
// base too large to draw (here a base of DOTMaxEdges+1 dependencies the
// input has lost) before building it: what it allocates follows the
// picture's limit, not the base. With --force the union is drawn.
func TestRenderDiffUnionBounded(t *testing.T) {
	base := bigGraph(t, DOTMaxEdges+1)
	in := partOf(t, base, base.Nodes[:1], nil) // the server, no edges
	for _, tt := range []struct {
		format  Format
		refused string
	}{
		{FormatDOT, fmt.Sprintf("dot: %d edges, more than %d", DOTMaxEdges+1, DOTMaxEdges)},
		{FormatSVG, fmt.Sprintf("svg: %d nodes and more than %d links drawn", DOTMaxEdges+2, SVGMaxEdges)},
		{FormatMermaid, fmt.Sprintf("mermaid: more than %d links", MermaidMaxLinks)},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := RenderTo(context.Background(), io.Discard, &Input{Name: "in", Graph: in},
			Options{Format: tt.format, DiffBase: &Input{Name: "base", Graph: base}})
		runtime.ReadMemStats(&after)
		var limit *LimitError
		if !errors.As(err, &limit) || !strings.Contains(err.Error(), tt.refused) {
			t.Errorf("%s: %v, want a *LimitError %q", tt.format, err, tt.refused)
		}
		// The comparison (its lists of removed edges and nodes as they
		// grow, its join of the nodes) takes about 90 bytes a base edge;
		// building the union and drawing it took 4,400 to 5,900.
		if got, most := after.TotalAlloc-before.TotalAlloc, uint64(128*len(base.Edges)); got > most {
			t.Errorf("%s: refusing allocated %d bytes, more than %d", tt.format, got, most)
		}
	}
	small := bigGraph(t, 30)
	var out strings.Builder
	if err := RenderTo(context.Background(), &out, &Input{Name: "in", Graph: partOf(t, small, small.Nodes[:1], nil)},
		Options{Format: FormatDOT, DiffBase: &Input{Name: "base", Graph: small}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), diffRemoved); n < 2 {
		t.Errorf("the union of 30 removed dependencies drew %d red marks:\n%s", n, out.String())
	}
}

// TestRenderDiffUnionSharesNodes: render --diff's union of a base whose
// nodes are all removed (100,000 external peers, no edges) and an input of
// one node shares the base's nodes instead of copying them (128 bytes
// each: the base at the limits, 800,000 peers, took render past 512 MiB),
// and leaves both graphs indexed as they were.
func TestRenderDiffUnionSharesNodes(t *testing.T) {
	const n = 100_000
	var b strings.Builder
	b.WriteString(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"10.%d.%d.%d","kind":"external","host_count":0}`, i>>16, i>>8&255, i&255)
	}
	b.WriteString(`],"edges":[]}`)
	base, err := graph.Parse([]byte(b.String()), "base")
	if err != nil {
		t.Fatal(err)
	}
	in, err := graph.Parse([]byte(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[{"id":"web-1","kind":"host","host_count":1}],"edges":[]}`), "in")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	union, marks, err := withDiff(in, &Input{Name: "base", Graph: base}, Filter{}, FormatDOT, false)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(union.Nodes) != n+1 || len(marks.removedNodes) != n || marks.nodeMark("10.0.0.7") != "removed" || marks.nodeMark("web-1") != "added" {
		t.Fatalf("union of %d nodes, %d removed, marks %q %q", len(union.Nodes), len(marks.removedNodes),
			marks.nodeMark("10.0.0.7"), marks.nodeMark("web-1"))
	}
	// The comparison's lists and the union's list and index: 87 bytes a
	// node; copying the nodes made it 215.
	if got, most := after.TotalAlloc-before.TotalAlloc, uint64(120*n); got > most {
		t.Errorf("the union allocated %d bytes, more than %d (%d a node)", got, most, got/n)
	}
	for i, node := range base.Nodes {
		if union.Node(node.ID) != node || base.Node(node.ID) != node || base.GonumID(node.ID) != int64(i) {
			t.Fatalf("node %q: not shared, or the base's index changed", node.ID)
		}
	}
	for i, node := range union.Nodes {
		if union.GonumID(node.ID) != int64(i) || union.NodeOf(int64(i)) != node {
			t.Fatalf("union node %q at %d: index %d", node.ID, i, union.GonumID(node.ID))
		}
	}
	if in.Node("web-1") != in.Nodes[0] || in.GonumID("web-1") != 0 || in.Node("10.0.0.7") != nil {
		t.Error("the input's index changed")
	}
}
