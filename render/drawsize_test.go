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
	in := partOf(t, base, base.Nodes[:1], nil) // one client, no edges
	for _, tt := range []struct {
		format  Format
		refused string
	}{
		{FormatDOT, fmt.Sprintf("dot: %d edges, more than %d", DOTMaxEdges+1, DOTMaxEdges)},
		{FormatSVG, fmt.Sprintf("svg: %d nodes and more than %d links drawn", DOTMaxEdges+2, SVGMaxEdges)},
		{FormatMermaid, fmt.Sprintf("mermaid: %d nodes, at least", DOTMaxEdges+2)},
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

// nodesGraph has n nodes of kind and no edges: only the node limits can
// refuse its picture.
func nodesGraph(t *testing.T, n int, kind graph.NodeKind) *graph.Graph {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"10.%d.%d.%d","kind":%q,"host_count":1}`, i>>16, i>>8&255, i&255, kind)
	}
	b.WriteString(`],"edges":[]}`)
	g, err := graph.Parse([]byte(b.String()), "nodes")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestPictureNodeLimits: pictures are bounded by the nodes they draw, not
// only their links. A graph of 798,000 hosts and no edges was drawn as DOT
// in 1.4 GiB (and as the base of render --diff in 1.6 GiB); its Mermaid
// text, 155 MB, was made before its size was checked. External peers fold
// into one node, so a graph of as many of them is drawn.
func TestPictureNodeLimits(t *testing.T) {
	mermaidMost := MermaidMaxText / mermaidMinNodeText
	for _, tt := range []struct {
		nodes   int
		kind    graph.NodeKind
		format  Format
		refused string // "": drawn
		most    uint64 // bytes allocated at most when refused
	}{
		{DOTMaxNodes, graph.KindHost, FormatDOT, "", 0},
		{DOTMaxNodes + 1, graph.KindHost, FormatDOT, fmt.Sprintf("dot: %d nodes drawn, more than %d", DOTMaxNodes+1, DOTMaxNodes), 64 << 10},
		{DOTMaxNodes + 1, graph.KindExternal, FormatDOT, "", 0},
		{mermaidMost + 1, graph.KindHost, FormatMermaid, fmt.Sprintf("mermaid: %d nodes, at least %d characters", mermaidMost+1, (mermaidMost+1)*mermaidMinNodeText), 64 << 10},
		{mermaidMost, graph.KindHost, FormatMermaid, "characters, beyond what Mermaid draws", 0},
		{mermaidMost + 1, graph.KindExternal, FormatMermaid, "", 0},
		{SVGMaxNodes + 1, graph.KindHost, FormatSVG, fmt.Sprintf("svg: %d nodes", SVGMaxNodes+1), 64 << 10},
	} {
		name := fmt.Sprintf("%s/%d-%s", tt.format, tt.nodes, tt.kind)
		g := nodesGraph(t, tt.nodes, tt.kind)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := RenderTo(context.Background(), io.Discard, &Input{Name: "nodes", Graph: g}, Options{Format: tt.format})
		runtime.ReadMemStats(&after)
		var limit *LimitError
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("%s: %v, want it drawn", name, err)
		case tt.refused != "" && (!errors.As(err, &limit) || !strings.Contains(err.Error(), tt.refused)):
			t.Errorf("%s: %v, want a *LimitError %q", name, err, tt.refused)
		case tt.most > 0 && after.TotalAlloc-before.TotalAlloc > tt.most:
			t.Errorf("%s: refusing allocated %d bytes, more than %d: drawn first", name, after.TotalAlloc-before.TotalAlloc, tt.most)
		}
		if tt.refused == "" || tt.most == 0 {
			continue
		}
		// As the base of render --diff, against an input of one node,
		// everything the base has removed: refused too, before the
		// union is built.
		in := nodesGraph(t, 1, graph.KindHostgroup)
		runtime.ReadMemStats(&before)
		err = RenderTo(context.Background(), io.Discard, &Input{Name: "in", Graph: in}, Options{Format: tt.format, DiffBase: &Input{Name: "base", Graph: g}})
		runtime.ReadMemStats(&after)
		if !errors.As(err, &limit) {
			t.Errorf("%s as a base: %v, want a *LimitError", name, err)
		}
		// The comparison's lists of removed nodes: about 90 bytes a node.
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(128*tt.nodes) {
			t.Errorf("%s as a base: refusing allocated %d bytes (%d a node)", name, got, got/uint64(tt.nodes))
		}
	}
}

// TestCheckPictureFolding: a graph over a picture's limits is refused
// before its render --diff base is read, unless the base can fold its
// external peers into one node (-external ip, one to a dozen peers), which
// would draw less than the graph alone: 42 hostgroups each linked to 12
// external peers are 504 links, past Mermaid's 500; with a base holding a
// 13th peer the union folds them and draws 42.
func TestCheckPictureFolding(t *testing.T) {
	build := func(peers int, external string) *graph.Graph {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, `{"schema":"planet.graph/v1","generated_at":"2025-03-01T00:00:00Z","by":"hostgroup","external":%q,"snapshots":42,"nodes":[`, external)
		for i := range 42 {
			fmt.Fprintf(&b, `{"id":"group-%02d","kind":"hostgroup","host_count":1},`, i)
		}
		for p := range peers {
			if p > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"198.51.100.%d","kind":"external","host_count":1}`, p)
		}
		b.WriteString(`],"edges":[`)
		first := true
		for i := range 42 {
			for p := range min(peers, 12) {
				if !first {
					b.WriteByte(',')
				}
				first = false
				fmt.Fprintf(&b, `{"from":"group-%02d","to":"198.51.100.%d","protocol":"tcp","port":443,"seen_from":"client","client_hosts":1,"server_hosts":0,"sockets":1}`, i, p)
			}
		}
		b.WriteString(`]}`)
		g, err := graph.Parse([]byte(b.String()), "folding")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	in, base := build(12, "ip"), build(13, "ip")
	if err := CheckPicture(in, FormatMermaid, false); err != nil {
		t.Errorf("12 peers, -external ip: %v; a base may fold them", err)
	}
	var out strings.Builder
	if err := RenderTo(context.Background(), &out, &Input{Name: "in", Graph: in},
		Options{Format: FormatMermaid, DiffBase: &Input{Name: "base", Graph: base}}); err != nil {
		t.Errorf("render --diff with a 13th peer in the base: %v", err)
	}
	if err := RenderTo(context.Background(), io.Discard, &Input{Name: "in", Graph: in}, Options{Format: FormatMermaid}); err == nil {
		t.Error("12 peers drawn one by one: 504 links drawn, want them refused")
	}
	// No peer to fold, peers not folded (-external collapse), or more
	// links than the limit even with the peers folded: the union draws
	// at least that.
	onePeer := bigGraph(t, MermaidMaxLinks+1)
	onePeer.Nodes = append(onePeer.Nodes, &graph.Node{ID: "198.51.100.1", Kind: graph.KindExternal})
	onePeer.Edges = append(onePeer.Edges, &graph.Edge{From: "server", To: "198.51.100.1", Protocol: "tcp", Port: 443,
		SeenFrom: graph.SeenClient, ClientHosts: 1, Sockets: 1})
	onePeer.External = "ip"
	onePeer, err := graph.Assemble(onePeer, "one peer")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*graph.Graph{bigGraph(t, MermaidMaxLinks+1), build(12, "collapse"), onePeer} {
		var limit *LimitError
		if err := CheckPicture(g, FormatMermaid, false); !errors.As(err, &limit) {
			t.Errorf("%d nodes, external %s: %v, want a *LimitError before the base is read", len(g.Nodes), g.External, err)
		}
	}
}

// TestDOTBudget: drawing DOT takes memory beside the graph (about 2 KB a
// node and a dependency, and four times the text), which with the graph
// must fit graph.MaxDiffHeld: 100,000 hosts and 100,000 dependencies,
// within the node and edge limits, were drawn at 467-561 MiB of RSS. Long
// names make a few nodes hundreds of megabytes of DOT, and of Mermaid.
func TestDOTBudget(t *testing.T) {
	hosts := func(n int, name func(i int) string) *graph.Graph {
		t.Helper()
		g := &graph.Graph{Schema: graph.Schema, By: graph.ByHost, External: "ip", Snapshots: n}
		for i := range n {
			g.Nodes = append(g.Nodes, &graph.Node{ID: name(i), Kind: graph.KindHost, HostCount: 1})
		}
		for i := range n {
			g.Edges = append(g.Edges, &graph.Edge{From: name(i), To: name((i + 1) % n), Protocol: "tcp", Port: 5432,
				SeenFrom: graph.SeenBoth, ClientHosts: 1, ServerHosts: 1, Sockets: 1,
				EdgeNames: &graph.EdgeNames{ClientProcesses: []string{"java"}, ServerProcesses: []string{"postgres"}}})
		}
		g, err := graph.Assemble(g, "hosts")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	short := func(i int) string { return fmt.Sprintf("host-%06d.dc1.example.com", i) }
	long := func(i int) string { return fmt.Sprint(i) + strings.Repeat("\u0085", 4<<20) }
	for _, tt := range []struct {
		name    string
		g       *graph.Graph
		format  Format
		refused string
	}{
		{"25,000 hosts", hosts(25_000, short), FormatDOT, ""},
		{"100,000 hosts", hosts(100_000, short), FormatDOT, "take more than 416 MiB to draw"},
		{"8 long names", hosts(8, long), FormatDOT, "bytes of text"},
		{"8 long names", hosts(8, long), FormatSVG, "bytes of text"},
		{"8 long names", hosts(8, long), FormatMermaid, "more than 50000 characters"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := RenderTo(context.Background(), io.Discard, &Input{Name: "in", Graph: tt.g}, Options{Format: tt.format,
			SVG: SVGOptions{Helper: "/nonexistent/planet-svg"}})
		runtime.ReadMemStats(&after)
		var limit *LimitError
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("%s, %s: %v", tt.name, tt.format, err)
		case tt.refused != "" && (!errors.As(err, &limit) || !strings.Contains(err.Error(), tt.refused)):
			t.Errorf("%s, %s: %v, want a *LimitError %q", tt.name, tt.format, err, tt.refused)
		case tt.refused != "" && tt.format == FormatMermaid && after.TotalAlloc-before.TotalAlloc > 1<<20:
			// Refused before a long name is escaped.
			t.Errorf("%s, %s: refusing allocated %d bytes", tt.name, tt.format, after.TotalAlloc-before.TotalAlloc)
		}
	}
}

// TestDOTTextLimit: the DOT budget is what the graphs render holds leave
// of graph.MaxDiffHeld, but never less than dotMinRoom: a picture of two
// nodes beside a --diff base at the limits (weighing more than the budget
// by graph.WeightBound) was refused.
func TestDOTTextLimit(t *testing.T) {
	small := partsOf(nodesGraph(t, 2, graph.KindHost), diffMarks{})
	big := partsOf(nodesGraph(t, 20_000, graph.KindHost), diffMarks{})
	for _, tt := range []struct {
		name    string
		live    int64
		p       drawParts
		refused bool
		atLeast int
	}{
		{"small picture, nothing held", 0, small, false, DOTMaxText},
		{"small picture beside graphs over the budget", graph.MaxDiffHeld + 100<<20, small, false, 3 << 20},
		{"20,000 nodes beside graphs over the budget", graph.MaxDiffHeld + 100<<20, big, true, 0},
		{"20,000 nodes beside 300 MiB", 300 << 20, big, false, 1 << 20},
	} {
		limit, err := dotTextLimit(tt.live, tt.p)
		var lim *LimitError
		switch {
		case tt.refused && !errors.As(err, &lim):
			t.Errorf("%s: limit %d, %v; want a *LimitError", tt.name, limit, err)
		case !tt.refused && (err != nil || limit < tt.atLeast):
			t.Errorf("%s: limit %d, %v; want at least %d", tt.name, limit, err, tt.atLeast)
		}
	}
}
