package render

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/planetdeps/planet/graph"
)

// What a diagram (DOT, SVG, Mermaid) draws of a graph. A picture must stay
// readable at a real service fleet's size (50 hostgroups, 200
// dependencies), so it is not the graph edge for edge:
//
//   - the dependencies from one node to another are one link, labelled with
//     one line per process pair ("tcp/80,443 nginx → java"), at most
//     maxLinkLines of them, and the bytes each way (bytes per second when
//     the scans watched a window);
//   - infrastructure dependencies (DNS, NTP, monitoring scrapes, service
//     discovery: infraPorts) are drawn thin and grey without bytes, and in a
//     graph of more than maxDrawnLinks links they are left out and summed
//     up in a note instead, since they touch every node and hide the rest;
//   - per-IP external peers (merge --external ip, the default), more than
//     maxExternalNodes of them, are drawn as one "external peers" node, as
//     rotating CDN and SaaS addresses would otherwise fill the picture.
const (
	maxLinkLines     = 3
	maxDrawnLinks    = 20
	maxExternalNodes = 12
	// foldedExternalID is the drawing's node for folded external peers.
	foldedExternalID = "\x00external"
)

// infraPorts are the ports of infrastructure every host talks to: DNS (53,
// 853), NTP (123), Prometheus and its exporters (9090, 9091, 9093, 9100),
// Consul (8300-8302, 8500, 8501, 8600) and etcd (2379, 2380).
var infraPorts = map[uint16]string{
	53: "DNS", 853: "DNS", 123: "NTP",
	9090: "Prometheus", 9091: "Pushgateway", 9093: "Alertmanager", 9100: "node_exporter",
	8300: "Consul", 8301: "Consul", 8302: "Consul", 8500: "Consul", 8501: "Consul", 8600: "Consul DNS",
	2379: "etcd", 2380: "etcd",
}

func isInfra(e *graph.Edge) bool {
	_, ok := infraPorts[e.Port]
	return ok && (e.Protocol == "tcp" || e.Protocol == "udp")
}

// drawing is the diagram of a graph: its nodes in the graph's order (a
// folded external node last), its links, and the notes on what was folded.
type drawing struct {
	nodes []*drawNode
	links []*drawLink
	// notes summarise folded infrastructure dependencies, one line each.
	notes []string
	// infraFolded says the infrastructure links are in notes, not drawn.
	infraFolded bool
	byID        map[string]*drawNode
}

type drawNode struct {
	*graph.Node
	id      string // n0, n1... by position in the graph; x0 for folded peers
	cluster string // "" or the name of the group it is drawn in
	folded  int    // external nodes folded into this one
}

// drawLink is every dependency from one node to another with the same
// diff mark.
type drawLink struct {
	from, to *drawNode
	edges    []*graph.Edge
	mark     string // "", "added" or "removed" (render --diff)
	// toServer, toClient sum the per-port byte counters of the edges
	// without a window; pair is darkstat's traffic between the two nodes,
	// for the pen width when those are unknown.
	toServer, toClient, pair uint64
	// windowed: some edge has bytes per second over observation windows
	// (scan --window); rateToServer, rateToClient sum them.
	windowed                   bool
	rateToServer, rateToClient float64
	oneSided                   bool // every edge seen from one end only
	infra                      bool // every edge is infrastructure
	external                   bool // one end is external
}

// newDrawing builds the drawing of g; marks are render --diff's.
func newDrawing(g *graph.Graph, marks diffMarks) *drawing {
	d := &drawing{byID: make(map[string]*drawNode, len(g.Nodes))}
	externals := 0
	for _, n := range g.Nodes {
		if n.Kind == graph.KindExternal {
			externals++
		}
	}
	foldExternal := g.External == "ip" && externals > maxExternalNodes
	var folded *drawNode
	for i, n := range g.Nodes {
		if foldExternal && n.Kind == graph.KindExternal {
			if folded == nil {
				folded = &drawNode{Node: &graph.Node{ID: foldedExternalID, Kind: graph.KindExternal}, id: "x0"}
			}
			folded.HostCount += n.HostCount
			folded.folded++
			d.byID[n.ID] = folded
			continue
		}
		dn := &drawNode{Node: n, id: "n" + strconv.Itoa(i)}
		d.nodes = append(d.nodes, dn)
		d.byID[n.ID] = dn
	}
	if folded != nil {
		d.nodes = append(d.nodes, folded)
	}
	type key struct{ from, to, mark string }
	byKey := map[key]*drawLink{}
	for _, e := range g.Edges {
		from, to := d.byID[e.From], d.byID[e.To]
		k := key{from.ID, to.ID, marks.edge(e)}
		l := byKey[k]
		if l == nil {
			l = &drawLink{from: from, to: to, mark: k.mark, oneSided: true, infra: true,
				external: from.Kind == graph.KindExternal || to.Kind == graph.KindExternal}
			byKey[k] = l
			d.links = append(d.links, l)
		}
		l.edges = append(l.edges, e)
		if e.Bytes().Windowed {
			// Bandwidth over a window outranks the totals of the sockets
			// alive at its end.
			l.windowed = true
			l.rateToServer += e.Bytes().BytesPerSecondToServer
			l.rateToClient += e.Bytes().BytesPerSecondToClient
		} else {
			l.toServer += e.Bytes().PortBytesToServer
			l.toClient += e.Bytes().PortBytesToClient
		}
		l.pair = max(l.pair, pairBandwidth(g, e.From, e.To))
		l.oneSided = l.oneSided && e.SeenFrom != graph.SeenBoth
		l.infra = l.infra && isInfra(e)
	}
	if len(d.links) > maxDrawnLinks {
		d.foldInfra()
	}
	d.cluster()
	return d
}

// drawParts are the parts of a graph to be drawn, as lists to be joined:
// render --diff checks the union of a graph and what its base lost before
// building it.
type drawParts struct {
	external string // the graph's External
	nodes    [][]*graph.Node
	edges    [][]*graph.Edge
	kind     func(id string) graph.NodeKind
	marks    diffMarks
	// fold counts the external peers folded into one node however few
	// they are (a lower bound of the parts drawn beside a base with more).
	fold bool
}

// partsOf is all of g.
func partsOf(g *graph.Graph, marks diffMarks) drawParts {
	return drawParts{external: g.External, nodes: [][]*graph.Node{g.Nodes}, edges: [][]*graph.Edge{g.Edges},
		kind: func(id string) graph.NodeKind { return g.Node(id).Kind }, marks: marks}
}

// size counts what newDrawing would draw of p without drawing it: the
// nodes, and the links when there are at most limit of them (over says
// there are more; limit is at least maxDrawnLinks, below which the folding
// of infrastructure links is not counted). It holds at most limit+maxDrawnLinks+2 links' keys, so a
// graph of millions of edges is refused in a few megabytes.
func (p drawParts) size(limit int) (nodes, links int, over bool) {
	nodes, externals := p.drawnNodes()
	foldExternal := p.folds(externals)
	drawn := func(id string) string {
		if foldExternal && p.kind(id) == graph.KindExternal {
			return foldedExternalID
		}
		return id
	}
	// A link is folded away when the drawing has more than maxDrawnLinks
	// and each of its edges is unmarked infrastructure; the others stay.
	type key struct{ from, to, mark string }
	infraOnly := map[key]bool{}
	kept := 0 // links with an edge that is not unmarked infrastructure
	for _, l := range p.edges {
		for _, e := range l {
			k := key{drawn(e.From), drawn(e.To), p.marks.edge(e)}
			infra := k.mark == "" && isInfra(e)
			only, seen := infraOnly[k]
			switch {
			case !seen && infra && len(infraOnly) > maxDrawnLinks:
				// The infrastructure is folded whatever else comes:
				// its links need not be told apart.
			case !seen:
				infraOnly[k] = infra
				if !infra {
					kept++
				}
			case only && !infra:
				infraOnly[k] = false
				kept++
			}
			if kept > limit {
				return nodes, kept, true
			}
		}
	}
	if len(infraOnly) > maxDrawnLinks {
		return nodes, kept, false
	}
	return nodes, len(infraOnly), false
}

// drawnNodes counts the nodes newDrawing would draw of p (external peers
// folded into one as it folds them) and the external peers among p's.
func (p drawParts) drawnNodes() (nodes, externals int) {
	for _, l := range p.nodes {
		nodes += len(l)
		for _, n := range l {
			if n.Kind == graph.KindExternal {
				externals++
			}
		}
	}
	if externals > 0 && p.folds(externals) {
		nodes -= externals - 1
	}
	return nodes, externals
}

// folds says whether the drawing folds p's externals into one node.
func (p drawParts) folds(externals int) bool {
	return p.fold || p.external == "ip" && externals > maxExternalNodes
}

// mermaidMinNodeText is the fewest characters a node of a Mermaid
// flowchart takes (`  n0["x"]` and a newline): more nodes than
// MermaidMaxText / mermaidMinNodeText cannot fit, and are refused before
// the text is made.
const mermaidMinNodeText = 10

// check refuses, with a *LimitError, parts too large to draw in format:
// more edges than DOTMaxEdges or nodes drawn than DOTMaxNodes for DOT;
// more nodes or links drawn than SVGMaxNodes, SVGMaxEdges for SVG; more
// links than MermaidMaxLinks, or nodes than could fit in MermaidMaxText
// characters, for Mermaid. Other formats draw nothing.
func (p drawParts) check(format Format) error {
	switch format {
	case FormatDOT:
		edges := 0
		for _, l := range p.edges {
			edges += len(l)
		}
		if edges > DOTMaxEdges {
			return &LimitError{fmt.Sprintf("dot: %d edges, more than %d; nothing lays out a graph this large", edges, DOTMaxEdges)}
		}
		if nodes, _ := p.drawnNodes(); nodes > DOTMaxNodes {
			return &LimitError{fmt.Sprintf("dot: %d nodes drawn, more than %d; nothing lays out a graph this large", nodes, DOTMaxNodes)}
		}
	case FormatSVG:
		nodes, links, over := p.size(SVGMaxEdges)
		if over || nodes > SVGMaxNodes {
			return &LimitError{fmt.Sprintf("svg: %d nodes and %s links drawn; layouts beyond %d nodes or %d edges take minutes",
				nodes, moreThan(links, over), SVGMaxNodes, SVGMaxEdges)}
		}
	case FormatMermaid:
		if nodes, _ := p.drawnNodes(); nodes > MermaidMaxText/mermaidMinNodeText {
			return &LimitError{fmt.Sprintf("mermaid: %d nodes, at least %d characters, beyond what Mermaid draws (%d by default)",
				nodes, nodes*mermaidMinNodeText, MermaidMaxText)}
		}
		if _, links, over := p.size(MermaidMaxLinks); over {
			return &LimitError{fmt.Sprintf("mermaid: %s links, beyond what Mermaid draws (%d by default)", moreThan(links, over), MermaidMaxLinks)}
		}
	}
	return nil
}

// moreThan is n, or "more than" n-1 when over says counting stopped at n.
func moreThan(n int, over bool) string {
	if over {
		return "more than " + strconv.Itoa(n-1)
	}
	return strconv.Itoa(n)
}

// foldInfra takes the infrastructure links (not those render --diff marks)
// out of the drawing and sums them up in notes: per port, who talks to
// whom, e.g. "udp/53 (DNS, unbound): 9 nodes → dns".
func (d *drawing) foldInfra() {
	type group struct {
		froms, tos []string
		servers    []string
		self       int
		name       string
	}
	groups := map[string]*group{}
	var order []string
	kept := d.links[:0]
	for _, l := range d.links {
		if !l.infra || l.mark != "" {
			kept = append(kept, l)
			continue
		}
		for _, e := range l.edges {
			p := portLabel(e)
			gr := groups[p]
			if gr == nil {
				gr = &group{name: infraPorts[e.Port]}
				groups[p] = gr
				order = append(order, p)
			}
			if l.from == l.to {
				gr.self++
			}
			gr.froms = append(gr.froms, l.from.label())
			gr.tos = append(gr.tos, l.to.label())
			for _, p := range e.Names().ServerProcesses {
				gr.servers = append(gr.servers, display(p))
			}
		}
	}
	d.links = kept
	d.infraFolded = len(order) > 0
	slices.SortFunc(order, func(a, b string) int {
		return cmp.Or(cmp.Compare(portNumber(a), portNumber(b)), cmp.Compare(a, b))
	})
	for _, p := range order {
		gr := groups[p]
		slices.Sort(gr.servers)
		what := gr.name
		s := slices.DeleteFunc(slices.Compact(gr.servers), func(p string) bool { return strings.EqualFold(p, what) })
		if len(s) > 0 {
			what += ", " + capList(s, 2)
		}
		d.notes = append(d.notes, fmt.Sprintf("%s (%s): %s", p, what, fanSummary(gr.froms, gr.tos, gr.self)))
	}
}

// portNumber is the number after the last '/' of a port label.
func portNumber(label string) int {
	n, _ := strconv.Atoi(label[strings.LastIndexByte(label, '/')+1:])
	return n
}

// fanSummary says who talks to whom: "a → b", "9 nodes → dns",
// "monitoring → 9 nodes", "within 7 nodes" (each node to itself) or
// "12 links between 9 nodes".
func fanSummary(froms, tos []string, self int) string {
	uf, ut := distinct(froms), distinct(tos)
	switch {
	case self == len(froms):
		if len(uf) == 1 {
			return "within " + uf[0]
		}
		return fmt.Sprintf("within each of %d nodes", len(uf))
	case len(uf) == 1 && len(ut) == 1:
		return uf[0] + " → " + ut[0]
	case len(ut) == 1:
		return fmt.Sprintf("%d nodes → %s", len(uf), ut[0])
	case len(uf) == 1:
		return fmt.Sprintf("%s → %d nodes", uf[0], len(ut))
	}
	return fmt.Sprintf("%d links between %d nodes", len(froms), len(distinct(append(slices.Clone(froms), tos...))))
}

func distinct(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// capList joins names with "," and shows at most n of them, then "+K".
func capList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ",")
	}
	return strings.Join(names[:n], ",") + ",+" + strconv.Itoa(len(names)-n)
}

// label is the name a node is shown by.
func (n *drawNode) label() string {
	if n.ID == foldedExternalID {
		return "external peers"
	}
	return display(n.ID)
}

// sub is the node's second label line: its host count, or for folded
// external peers how many addresses.
func (n *drawNode) sub() string {
	if n.folded > 0 {
		return strconv.Itoa(n.folded) + " addresses"
	}
	return hostCount(n.HostCount)
}

// lines are the node's label lines: its name, sub, and a note when some of
// its hosts were scanned without seeing every socket's owner process.
func (n *drawNode) lines() []string {
	l := []string{n.label(), n.sub()}
	if len(n.IncompleteHosts) > 0 {
		l = append(l, incompleteLabel(n.Node))
	}
	return l
}

// cluster puts nodes that belong together in a named group: hostgroups
// whose names share a first word (the part before '-', '_' or '.', as in
// payments-api and payments-db) when two or more do, and external peers
// when there are two or more.
func (d *drawing) cluster() {
	count := map[string]int{}
	word := func(n *drawNode) string {
		if n.Kind == graph.KindExternal {
			return ""
		}
		i := strings.IndexAny(n.ID, "-_.")
		if i <= 0 || i == len(n.ID)-1 {
			return ""
		}
		return n.ID[:i]
	}
	external := 0
	for _, n := range d.nodes {
		if w := word(n); w != "" {
			count[w]++
		}
		if n.Kind == graph.KindExternal {
			external++
		}
	}
	for _, n := range d.nodes {
		switch {
		case n.Kind == graph.KindExternal && external > 1:
			n.cluster = "external peers (not scanned)"
		case count[word(n)] > 1:
			n.cluster = word(n)
		}
	}
}

// lines is the link's label: one line per process pair with its ports
// ("tcp/5432 java → postgres", with the workloads where known:
// "tcp/5432 java (billing.service) → postgres (docker/db)"), at most
// maxLinkLines, then the bytes each way: per second over the scans'
// windows for edges from windowed scans ("→ 1.2 MB/s ← 80.0 kB/s"), and for
// the others, when known, totals of the connections open at the scan,
// never a rate ("→ 1.2 MiB ← 80.0 MiB since open"). A dependency with no
// process known shows its ports only, so one edge with none is just
// "tcp/5432".
func (l *drawLink) lines(withBytes bool) []string {
	type procs struct {
		key   string
		ports []*graph.Edge
	}
	var groups []*procs
	for _, e := range l.edges {
		k := ""
		if len(e.Names().ClientProcesses) > 0 || len(e.Names().ServerProcesses) > 0 || len(e.Names().ClientWorkloads) > 0 || len(e.Names().ServerWorkloads) > 0 {
			k = sideLabel(e.Names().ClientProcesses, e.Names().ClientWorkloads) + " → " + sideLabel(e.Names().ServerProcesses, e.Names().ServerWorkloads)
		}
		i := slices.IndexFunc(groups, func(p *procs) bool { return p.key == k })
		if i < 0 {
			groups = append(groups, &procs{key: k})
			i = len(groups) - 1
		}
		groups[i].ports = append(groups[i].ports, e)
	}
	var out []string
	for i, p := range groups {
		if i == maxLinkLines-1 && len(groups) > maxLinkLines {
			rest := 0
			for _, q := range groups[i:] {
				rest += len(q.ports)
			}
			out = append(out, fmt.Sprintf("+%d more ports", rest))
			break
		}
		line := portsLabel(p.ports)
		if p.key != "" {
			line += " " + p.key
		}
		out = append(out, line)
	}
	if withBytes && l.windowed {
		out = append(out, "→ "+rateSI(l.rateToServer)+" ← "+rateSI(l.rateToClient))
	}
	if withBytes && (l.toServer > 0 || l.toClient > 0) {
		out = append(out, "→ "+bytesIEC(l.toServer)+" ← "+bytesIEC(l.toClient)+" since open")
	}
	return out
}

// sideLabel is one end of a dependency: its processes (procList), then its
// workloads in parentheses where known, at most two.
func sideLabel(procs, workloads []string) string {
	if len(workloads) == 0 {
		return procList(procs)
	}
	wls := make([]string, len(workloads))
	for i, w := range workloads {
		wls[i] = display(w)
	}
	return procList(procs) + " (" + capList(wls, 2) + ")"
}

// procList is a side's process names, "?" when unknown, at most two.
func procList(names []string) string {
	if len(names) == 0 {
		return "?"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = display(n)
	}
	return capList(out, 2)
}

// portsLabel is "tcp/80,443" (ports of one protocol share it), protocols
// apart by a space: "tcp/53 udp/53"; at most four ports, then "+N".
func portsLabel(edges []*graph.Edge) string {
	// Folded external peers give one port many times.
	type port struct {
		proto string
		n     uint16
	}
	var ports []port
	for _, e := range edges {
		if p := (port{e.Protocol, e.Port}); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b port) int { return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.n, b.n)) })
	var b strings.Builder
	prev := ""
	for i, e := range ports {
		if i == 4 {
			fmt.Fprintf(&b, ",+%d", len(ports)-i)
			break
		}
		switch {
		case i > 0 && e.proto == prev:
			b.WriteByte(',')
		case i > 0:
			b.WriteByte(' ')
			fallthrough
		default:
			b.WriteString(display(e.proto) + "/")
		}
		b.WriteString(strconv.Itoa(int(e.n)))
		prev = e.proto
	}
	return b.String()
}

// bytes is what sets the link's pen width: its bytes per second both ways
// when some edge has a window (on the same scale as bytes), else its ports'
// bytes both ways, else darkstat's traffic between its nodes.
func (l *drawLink) bytes() uint64 {
	if l.windowed {
		if r := l.rateToServer + l.rateToClient; r < math.MaxUint64 {
			return uint64(r)
		}
		return math.MaxUint64
	}
	if b := l.toServer + l.toClient; b > 0 {
		return b
	}
	return l.pair
}

// label is what the link is labelled with: lines(true), or for
// infrastructure only its ports (the processes are in the tooltip).
func (l *drawLink) label() []string {
	if l.infra {
		return []string{portsLabel(l.edges)}
	}
	return l.lines(true)
}
