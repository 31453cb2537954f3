package render

import (
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	gonum "gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/encoding"
	"gonum.org/v1/gonum/graph/encoding/dot"
	"gonum.org/v1/gonum/graph/multi"

	"github.com/planetdeps/planet/graph"
)

// DOT writes g in Graphviz's DOT language, through gonum's encoding/dot: one
// node per graph node (hostgroup, host or external group) labelled with its
// name and host count, one edge per dependency labelled proto/port (and the
// port's bytes when known), its pen width growing with the log of its
// bandwidth. External nodes are dashed and grey; edges seen from one end
// only are dashed. The same graph always gives the same bytes: nodes are
// n0, n1... in the graph's order (sorted by ID), edges in the graph's order.
//
// Every name is shown as it is, whatever it holds: quotes, backslashes,
// braces, markup and entities are escaped for DOT, and names with control
// characters, invisible formatting or invalid UTF-8 are shown Go-quoted (as
// the table does), so Graphviz lays out any file planet writes.
func DOT(w io.Writer, g *graph.Graph) error {
	b, err := dotBytes(g, diffMarks{})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func dotBytes(g *graph.Graph, marks diffMarks) ([]byte, error) {
	dg := dotGraph{DirectedGraph: multi.NewDirectedGraph(), bw: pairBandwidth(g)}
	nodes := make(map[string]dotNode, len(g.Nodes))
	for i, n := range g.Nodes {
		dn := dotNode{id: int64(i), attrs: marks.node(n.ID, nodeAttrs(n))}
		nodes[n.ID] = dn
		dg.AddNode(dn)
	}
	for i, e := range g.Edges {
		ext := g.Node(e.From).Kind == graph.KindExternal || g.Node(e.To).Kind == graph.KindExternal
		dg.SetLine(dotLine{
			from: nodes[e.From], to: nodes[e.To], uid: int64(i),
			attrs: marks.edge(e, edgeAttrs(e, dg.bw[pair{e.From, e.To}], ext)),
		})
	}
	b, err := dot.MarshalMulti(dg, "", "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// pair is an unordered pair of node IDs (a before b).
type pair struct{ a, b string }

func newPair(x, y string) pair {
	if y < x {
		x, y = y, x
	}
	return pair{x, y}
}

// pairBandwidth is darkstat's traffic between two nodes, both ways: the pen
// width of edges whose own per-port counters are unknown (UDP, or no
// netlink byte counters).
func pairBandwidth(g *graph.Graph) map[pair]uint64 {
	bw := map[pair]uint64{}
	for _, t := range g.Traffic {
		bw[newPair(t.From, t.To)] += t.Bytes
	}
	return bw
}

// dotGraph is the gonum graph handed to the marshaller.
type dotGraph struct {
	*multi.DirectedGraph
	bw map[pair]uint64
}

func (dotGraph) DOTID() string { return "planet" }

func (dotGraph) DOTAttributers() (g, n, e encoding.Attributer) {
	return attrList{
			{Key: "rankdir", Value: "LR"},
		}, attrList{
			{Key: "shape", Value: "box"},
			{Key: "style", Value: "rounded"},
		}, attrList{
			{Key: "fontsize", Value: "10"},
		}
}

// attrList is a fixed attribute list (encoding.Attributes has a pointer
// method).
type attrList []encoding.Attribute

func (a attrList) Attributes() []encoding.Attribute { return a }

type dotNode struct {
	id    int64
	attrs attrList
}

func (n dotNode) ID() int64                        { return n.id }
func (n dotNode) DOTID() string                    { return "n" + strconv.FormatInt(n.id, 10) }
func (n dotNode) Attributes() []encoding.Attribute { return n.attrs }

type dotLine struct {
	from, to dotNode
	uid      int64
	attrs    attrList
}

func (l dotLine) From() gonum.Node { return l.from }
func (l dotLine) To() gonum.Node   { return l.to }
func (l dotLine) ID() int64        { return l.uid }
func (l dotLine) ReversedLine() gonum.Line {
	return dotLine{from: l.to, to: l.from, uid: l.uid, attrs: l.attrs}
}
func (l dotLine) Attributes() []encoding.Attribute { return l.attrs }

func nodeAttrs(n *graph.Node) attrList {
	attrs := attrList{
		{Key: "label", Value: dotString(display(n.ID), hostCount(n.HostCount))},
		{Key: "tooltip", Value: dotString(nodeTooltip(n)...)},
	}
	if n.Kind == graph.KindExternal {
		attrs = append(attrs,
			encoding.Attribute{Key: "style", Value: `"rounded,dashed"`},
			encoding.Attribute{Key: "color", Value: "grey50"},
			encoding.Attribute{Key: "fontcolor", Value: "grey35"})
	}
	return attrs
}

func hostCount(n int) string {
	if n == 1 {
		return "1 host"
	}
	return strconv.Itoa(n) + " hosts"
}

func nodeTooltip(n *graph.Node) []string {
	lines := []string{n.Kind + " " + display(n.ID)}
	if len(n.Hosts) > 0 {
		lines = append(lines, "scanned: "+displayList(n.Hosts))
	}
	if len(n.Domains) > 0 {
		lines = append(lines, "domains: "+displayList(n.Domains))
	}
	return lines
}

// edgeAttrs styles one dependency. pairBytes is darkstat's traffic between
// its two nodes; external says whether one end is an external node.
func edgeAttrs(e *graph.Edge, pairBytes uint64, external bool) attrList {
	portBytes := e.PortBytesToServer + e.PortBytesToClient
	label := []string{portLabel(e)}
	if portBytes > 0 {
		label = append(label, bytesIEC(portBytes))
	}
	bw := portBytes
	if bw == 0 {
		bw = pairBytes
	}
	attrs := attrList{
		{Key: "label", Value: dotString(label...)},
		{Key: "tooltip", Value: dotString(edgeTooltip(e)...)},
	}
	if w := penWidth(bw); w != 1 {
		attrs = append(attrs, encoding.Attribute{Key: "penwidth", Value: strconv.FormatFloat(w, 'f', 1, 64)})
	}
	if e.SeenFrom != graph.SeenBoth {
		attrs = append(attrs, encoding.Attribute{Key: "style", Value: "dashed"})
	}
	if external {
		attrs = append(attrs, encoding.Attribute{Key: "color", Value: "grey50"})
	}
	return attrs
}

func edgeTooltip(e *graph.Edge) []string {
	lines := []string{display(e.From) + " -> " + display(e.To) + " " + portLabel(e)}
	if len(e.ClientProcesses) > 0 {
		lines = append(lines, "client processes: "+displayList(e.ClientProcesses))
	}
	if len(e.ServerProcesses) > 0 {
		lines = append(lines, "server processes: "+displayList(e.ServerProcesses))
	}
	if len(e.ClientWorkloads) > 0 {
		lines = append(lines, "client workloads: "+displayList(e.ClientWorkloads))
	}
	if len(e.ServerWorkloads) > 0 {
		lines = append(lines, "server workloads: "+displayList(e.ServerWorkloads))
	}
	lines = append(lines,
		"hosts: "+strconv.Itoa(e.ClientHosts)+" -> "+strconv.Itoa(e.ServerHosts)+", sockets: "+strconv.Itoa(e.Sockets),
		"seen from: "+e.SeenFrom)
	if e.PortBytesToServer > 0 || e.PortBytesToClient > 0 {
		lines = append(lines, "bytes to server: "+bytesIEC(e.PortBytesToServer)+", to client: "+bytesIEC(e.PortBytesToClient))
	}
	return lines
}

// penWidth maps bytes to a pen width: 1 up to 1 KiB, one more per factor of
// ten, at most 8 (10 GB and beyond), so heavy links stand out without
// swallowing the diagram.
func penWidth(bytes uint64) float64 {
	if bytes <= 1000 {
		return 1
	}
	w := 1 + math.Log10(float64(bytes)/1000)
	w = math.Round(w*2) / 2
	return min(w, 8)
}

// display is how a name is shown in a diagram: as it is, unless it holds
// control characters, invisible formatting (a right-to-left override) or
// invalid UTF-8; then Go-quoted, so that nothing is hidden or reordered.
func display(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// portLabel is "proto/port".
func portLabel(e *graph.Edge) string {
	return display(e.Protocol) + "/" + strconv.Itoa(int(e.Port))
}

func displayList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = display(n)
	}
	return strings.Join(out, ", ")
}

// dotString returns a DOT double-quoted string whose label text is exactly
// the given lines, one per line; they must have been through display. Graphviz reads a backslash as an escape
// (\N, \n, \l...) and an ampersand as the start of an entity, so both are
// escaped, and so is the quote. The result is also a valid Go string literal,
// which is what gonum's marshaller checks before passing a value through
// unchanged (anything else it quotes again, Go's way, which DOT misreads).
func dotString(lines ...string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, l := range lines {
		if i > 0 {
			b.WriteString(`\n`)
		}
		for _, r := range l {
			switch r {
			case '\\':
				b.WriteString(`\\`)
			case '"':
				b.WriteString(`\"`)
			case '&':
				b.WriteString("&amp;")
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
