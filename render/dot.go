package render

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
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

// DOT writes g in Graphviz's DOT language, through gonum's encoding/dot, as
// the drawing newDrawing makes of it: one box per node (hostgroup, host or
// external group) labelled with its name and host count, grouped in
// clusters where names share a first word; one arrow per client -> server
// node pair labelled with its ports and processes ("tcp/5432 java →
// postgres") and its bytes each way: from scans that watched a window
// (scan --window), bytes per second over it ("→ 1.2 MB/s ← 80.0 kB/s"),
// else totals of the connections open at the scan since they opened, not a
// rate ("→ 1.2 MiB ← 80.0 MiB since open"); its pen width the log of those
// figures; and one legend saying what dashed lines, grey, colour, width and
// the numbers of either kind mean, with the infrastructure dependencies it
// folded. A node with hosts whose scan could not see every socket's
// owner process (Node.IncompleteHosts) says so in its label and tooltip.
// The same graph always gives the same bytes.
//
// Every name is shown as it is, whatever it holds: quotes, backslashes,
// braces, markup and entities are escaped for DOT, and names with control
// characters, invisible formatting or invalid UTF-8 are shown Go-quoted (as
// the table does), so Graphviz lays out any file planet writes.
func DOT(w io.Writer, g *graph.Graph) error {
	b, err := dotBytes(g, diffMarks{}, 0)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// fontname is a sans-serif font Graphviz has text widths for: Verdana, as
// wide as DejaVu Sans, the sans-serif most Linux machines draw with, so a
// label's box fits its text on both. Graphviz takes one name (a list would
// be measured as Times); svgFonts adds the fallbacks to the SVG.
const fontname = "Verdana"

// svgFonts gives the SVG's text the fallbacks of fontname: DejaVu Sans (the
// same widths), then any sans-serif.
func svgFonts(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte(`font-family="Verdana"`), []byte(`font-family="Verdana,DejaVu Sans,sans-serif"`))
}

// svgLabelsOnTop moves the edge labels of Graphviz's SVG above every line:
// Graphviz draws each edge's label with the edge, so the edges drawn after
// it cross it. Each label line (a <text> line of an <g class="edge">
// group; Graphviz writes one element a line, and names cannot hold a raw
// newline or '<') goes to the end of the graph's group, in the same
// coordinates, with a white halo (a stroke painted under the fill). An SVG
// of another shape is returned unchanged.
func svgLabelsOnTop(svg []byte) []byte {
	lines := bytes.SplitAfter(svg, []byte("\n"))
	var kept, labels [][]byte
	depth := 0 // <g> nesting inside the current edge group; 0: outside
	for _, l := range lines {
		switch {
		case depth == 0 && bytes.HasPrefix(l, []byte(`<g id="edge`)) && bytes.Contains(l, []byte(`class="edge"`)):
			depth = 1
			kept = append(kept, l)
			continue
		case depth == 0:
			kept = append(kept, l)
			continue
		}
		if bytes.HasPrefix(l, []byte("<text ")) {
			if !bytes.HasSuffix(bytes.TrimSpace(l), []byte("> </text>")) { // blank padding lines need no halo
				labels = append(labels, append([]byte(`<text stroke="white" stroke-width="3" stroke-linejoin="round" paint-order="stroke" `), l[len("<text "):]...))
			}
			continue
		}
		depth += bytes.Count(l, []byte("<g ")) - bytes.Count(l, []byte("</g>"))
		kept = append(kept, l)
	}
	// The graph's group closes on the last "</g>" line before "</svg>".
	end := -1
	for i := len(kept) - 1; i >= 0; i-- {
		if string(bytes.TrimSpace(kept[i])) == "</g>" {
			end = i
			break
		}
	}
	if len(labels) == 0 || end < 0 || depth != 0 {
		return svg
	}
	var out bytes.Buffer
	for _, l := range kept[:end] {
		out.Write(l)
	}
	out.WriteString(`<g id="edge-labels" class="edge-labels">` + "\n")
	for _, l := range labels {
		out.Write(l)
	}
	out.WriteString("</g>\n")
	for _, l := range kept[end:] {
		out.Write(l)
	}
	return out.Bytes()
}

func dotBytes(g *graph.Graph, marks diffMarks, limit int) ([]byte, error) {
	d := newDrawing(g, marks)
	dg := dotGraph{DirectedGraph: multi.NewDirectedGraph()}
	nodes := make(map[*drawNode]dotNode, len(d.nodes))
	clusters := map[string]*dotCluster{}
	// text is the attributes' text so far, which the DOT has at least:
	// past limit (when not 0) the drawing stops before the DOT is made.
	text := 0
	tooLong := func(attrs attrList) error {
		for _, a := range attrs {
			text += len(a.Key) + len(a.Value)
		}
		if limit > 0 && text > limit {
			return &LimitError{fmt.Sprintf("dot: more than %d bytes of text, what the memory left beside the graphs render holds allows (long names and lists of names are repeated in labels and tooltips)", limit)}
		}
		return nil
	}
	for i, n := range d.nodes {
		dn := dotNode{id: int64(i), name: n.id, attrs: marks.node(n.ID, nodeAttrs(n))}
		if err := tooLong(dn.attrs); err != nil {
			return nil, err
		}
		nodes[n] = dn
		dg.AddNode(dn)
		if n.cluster != "" {
			c := clusters[n.cluster]
			if c == nil {
				c = &dotCluster{DirectedGraph: multi.NewDirectedGraph(), name: "cluster_" + strconv.Itoa(len(dg.clusters)), label: n.cluster}
				clusters[n.cluster] = c
				dg.clusters = append(dg.clusters, c)
			}
			c.AddNode(dn)
		}
	}
	for i, l := range d.links {
		attrs := linkAttrs(l)
		if err := tooLong(attrs); err != nil {
			return nil, err
		}
		dg.SetLine(dotLine{from: nodes[l.from], to: nodes[l.to], uid: int64(i), attrs: attrs})
	}
	if legend := d.legend(marks); legend != "" {
		dg.AddNode(dotNode{id: int64(len(d.nodes)), name: "legend", attrs: attrList{
			{Key: "shape", Value: "plain"},
			{Key: "label", Value: legend},
		}})
	}
	b, err := dot.MarshalMulti(dg, "", "", "  ")
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(b) >= limit {
		return nil, &LimitError{fmt.Sprintf("dot: %d bytes of text, more than the %d the memory left beside the graphs render holds allows", len(b)+1, limit)}
	}
	return append(b, '\n'), nil
}

// pairBandwidth is darkstat's traffic between two nodes, both ways: the
// pen width of edges whose own per-port counters are unknown (UDP, or no
// netlink byte counters). Only the pairs a drawing links are looked up.
func pairBandwidth(g *graph.Graph, x, y string) uint64 {
	if x == y {
		return g.TrafficBytes(x, y)
	}
	return g.TrafficBytes(x, y) + g.TrafficBytes(y, x)
}

// dotGraph is the gonum graph handed to the marshaller.
type dotGraph struct {
	*multi.DirectedGraph
	clusters []*dotCluster
}

func (dotGraph) DOTID() string { return "planet" }

func (dotGraph) DOTAttributers() (g, n, e encoding.Attributer) {
	return attrList{
			{Key: "rankdir", Value: "LR"},
			{Key: "fontname", Value: fontname},
			{Key: "fontsize", Value: "10"},
			{Key: "nodesep", Value: "0.3"},
			{Key: "ranksep", Value: "0.9"},
			{Key: "outputorder", Value: "edgesfirst"},
		}, attrList{
			{Key: "shape", Value: "box"},
			{Key: "style", Value: `"rounded,filled"`},
			{Key: "fillcolor", Value: "white"},
			{Key: "fontname", Value: fontname},
			{Key: "fontsize", Value: "11"},
		}, attrList{
			{Key: "fontname", Value: fontname},
			{Key: "fontsize", Value: "9"},
			{Key: "color", Value: `"#333333"`},
			{Key: "fontcolor", Value: `"#333333"`},
		}
}

func (g dotGraph) Structure() []dot.Multigraph {
	out := make([]dot.Multigraph, len(g.clusters))
	for i, c := range g.clusters {
		out[i] = c
	}
	return out
}

// dotCluster is a group of nodes drawn in one box.
type dotCluster struct {
	*multi.DirectedGraph
	name, label string
}

func (c *dotCluster) DOTID() string { return c.name }

func (c *dotCluster) DOTAttributers() (g, n, e encoding.Attributer) {
	return attrList{
		{Key: "label", Value: dotString(display(c.label))},
		{Key: "labeljust", Value: "l"},
		{Key: "style", Value: `"rounded,dashed"`},
		{Key: "color", Value: `"#bbbbbb"`},
		{Key: "fontcolor", Value: `"#666666"`},
	}, attrList{}, attrList{}
}

// attrList is a fixed attribute list (encoding.Attributes has a pointer
// method).
type attrList []encoding.Attribute

func (a attrList) Attributes() []encoding.Attribute { return a }

type dotNode struct {
	id    int64
	name  string
	attrs attrList
}

func (n dotNode) ID() int64                        { return n.id }
func (n dotNode) DOTID() string                    { return n.name }
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

func nodeAttrs(n *drawNode) attrList {
	attrs := attrList{
		{Key: "label", Value: dotString(n.lines()...)},
		{Key: "tooltip", Value: dotString(nodeTooltip(n)...)},
	}
	if n.Kind == graph.KindExternal {
		attrs = append(attrs,
			encoding.Attribute{Key: "style", Value: `"rounded,dashed,filled"`},
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

func nodeTooltip(n *drawNode) []string {
	if n.folded > 0 {
		return []string{fmt.Sprintf("%d external addresses (per-IP nodes, folded: merge --external collapse or cidr:N groups them for good)", n.folded)}
	}
	lines := []string{string(n.Kind) + " " + display(n.ID)}
	if len(n.Hosts) > 0 {
		lines = append(lines, "scanned: "+displayList(n.Hosts))
	}
	if len(n.Domains) > 0 {
		lines = append(lines, "domains: "+displayList(n.Domains))
	}
	if len(n.IncompleteHosts) > 0 {
		lines = append(lines, "scanned without seeing every process (not root?): "+displayList(n.IncompleteHosts)+
			"; "+strconv.Itoa(n.UnownedSockets)+" sockets without a known owner")
	}
	return lines
}

// incompleteLabel is the note a diagram shows on a node with hosts whose
// scan could not see every socket's owner process.
func incompleteLabel(n *graph.Node) string {
	if len(n.IncompleteHosts) == 1 {
		return "processes incomplete: 1 host"
	}
	return "processes incomplete: " + strconv.Itoa(len(n.IncompleteHosts)) + " hosts"
}

// linkAttrs styles one link: label, tooltip, pen width by its bytes (the
// arrowhead kept small as the line grows), dashed when seen from one end
// only, grey to or from external peers, thin grey and dotted for
// infrastructure, green or red for render --diff.
func linkAttrs(l *drawLink) attrList {
	w := penWidth(l.bytes())
	if l.infra {
		w = 1
	}
	label := l.label()
	if w >= 3 {
		// Graphviz routes a line along its label's box whatever the pen
		// width: a blank line above and below keeps a thick one off the text.
		label = append(append([]string{" "}, label...), " ")
	}
	attrs := attrList{
		{Key: "label", Value: dotString(label...)},
		{Key: "tooltip", Value: dotString(l.tooltip()...)},
	}
	if w != 1 {
		attrs = append(attrs,
			encoding.Attribute{Key: "penwidth", Value: strconv.FormatFloat(w, 'f', 1, 64)},
			encoding.Attribute{Key: "arrowsize", Value: strconv.FormatFloat(arrowSize(w), 'f', 2, 64)})
	}
	switch {
	case l.infra:
		attrs = append(attrs,
			encoding.Attribute{Key: "style", Value: "dotted"},
			encoding.Attribute{Key: "color", Value: `"#aaaaaa"`},
			encoding.Attribute{Key: "fontcolor", Value: `"#888888"`})
	case l.oneSided:
		attrs = append(attrs, encoding.Attribute{Key: "style", Value: "dashed"})
	}
	if l.external && !l.infra {
		attrs = append(attrs, encoding.Attribute{Key: "color", Value: "grey50"})
	}
	switch l.mark {
	case "added":
		attrs = restyle(attrs, diffAdded, "bold", "added")
	case "removed":
		attrs = restyle(attrs, diffRemoved, "dashed", "removed")
	}
	return attrs
}

// tooltip lists every dependency of the link in full.
func (l *drawLink) tooltip() []string {
	lines := []string{l.from.label() + " -> " + l.to.label()}
	for i, e := range l.edges {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("+%d more", len(l.edges)-i))
			break
		}
		line := portLabel(e) + ": " + sideLabel(e.Names().ClientProcesses, e.Names().ClientWorkloads) + " -> " + sideLabel(e.Names().ServerProcesses, e.Names().ServerWorkloads) +
			fmt.Sprintf(", hosts %d -> %d, sockets %d, seen from %s", e.ClientHosts, e.ServerHosts, e.Sockets, e.SeenFrom)
		if e.Bytes().PortBytesToServer > 0 || e.Bytes().PortBytesToClient > 0 {
			line += ", bytes since open: to server " + bytesIEC(e.Bytes().PortBytesToServer) + ", to client " + bytesIEC(e.Bytes().PortBytesToClient)
		}
		if e.Bytes().Windowed {
			line += ", bandwidth over the scans' windows: to server " + rateSI(e.Bytes().BytesPerSecondToServer) + ", to client " + rateSI(e.Bytes().BytesPerSecondToClient)
		}
		lines = append(lines, line)
	}
	if l.pair > 0 {
		lines = append(lines, "darkstat, both ways, all ports: "+bytesIEC(l.pair))
	}
	return lines
}

// penWidth maps bytes to a pen width on a log scale that never saturates:
// 1 up to 1 kB, then 0.6 wider for every factor of ten (1 MB 2.8, 100 MB
// 4.0, 10 GB 5.2, 1 TB 6.4), so 100 MiB and 2 GiB are told apart.
func penWidth(bytes uint64) float64 {
	if bytes <= 1000 {
		return 1
	}
	w := 1 + 0.6*math.Log10(float64(bytes)/1000)
	return math.Round(w*10) / 10
}

// arrowSize shrinks the arrowhead as the pen widens (Graphviz scales heads
// with the pen width), so a heavy link's head does not hide its label.
func arrowSize(penwidth float64) float64 {
	return math.Round(100*max(0.3, 0.8/math.Sqrt(penwidth))) / 100
}

// legend is an HTML-like label explaining what the drawing uses, or "" for
// a drawing with no links and nothing folded.
func (d *drawing) legend(marks diffMarks) string {
	if len(d.links) == 0 && len(d.notes) == 0 {
		return ""
	}
	// rates: some link is labelled with bytes per second; totals: with
	// bytes since open, or drawn by darkstat's bytes.
	var oneSided, external, rates, totals, infra bool
	for _, l := range d.links {
		oneSided = oneSided || l.oneSided
		external = external || l.external
		rates = rates || l.windowed
		totals = totals || l.toServer+l.toClient > 0 || (!l.windowed && l.pair > 0)
		infra = infra || l.infra
	}
	label := "arrow: client → server; label: proto/ports client process → server process (? unknown)"
	for _, l := range d.links {
		if slices.ContainsFunc(l.edges, func(e *graph.Edge) bool { return len(e.Names().ClientWorkloads)+len(e.Names().ServerWorkloads) > 0 }) {
			label = "arrow: client → server; label: proto/ports client process (workload) → server process (workload) (? unknown)"
			break
		}
	}
	rows := []string{"<B>legend</B>", label}
	if rates {
		rows = append(rows,
			"→ B/s client to server, ← server to client: bandwidth, bytes per second over the",
			"    scans' observation windows (scan --window)")
	}
	if totals {
		which := ""
		if rates {
			which = ", &quot;since open&quot;"
		}
		rows = append(rows,
			"→ bytes client to server, ← server to client"+which+": totals of the connections open",
			"    at the scan, since each opened (no window: not a rate)")
	}
	switch {
	case rates && totals:
		rows = append(rows, "line width: bytes per second where there is a window, else bytes; log scale",
			"    (1 kB thinnest, wider by the same step for every ×10)")
	case rates:
		rows = append(rows, "line width: bytes per second, log scale (1 kB/s thinnest, wider by the same step for every ×10)")
	case totals:
		rows = append(rows, "line width: bytes, log scale (1 kB thinnest, wider by the same step for every ×10)")
	}
	if oneSided {
		rows = append(rows, "dashed line: seen from one end only (the other end not scanned)")
	}
	if external {
		rows = append(rows, "grey, dashed box: external peers (not scanned, not in the inventory)")
	}
	if infra {
		rows = append(rows, "dotted grey: infrastructure (DNS, NTP, monitoring, service discovery)")
	}
	if marks.any() {
		rows = append(rows, `<FONT COLOR="`+diffAdded+`">green: added</FONT>, <FONT COLOR="`+diffRemoved+`">red, dashed: removed</FONT> since the older graph`)
	}
	if len(d.notes) > 0 {
		rows = append(rows, "<B>infrastructure, not drawn</B>")
		for _, n := range d.notes {
			rows = append(rows, htmlText(n))
		}
	}
	var b strings.Builder
	b.WriteString(`<<TABLE BORDER="1" COLOR="#bbbbbb" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">`)
	for _, r := range rows {
		b.WriteString(`<TR><TD ALIGN="LEFT">` + r + `</TD></TR>`)
	}
	b.WriteString(`</TABLE>>`)
	return b.String()
}

// htmlText is s (already through display) as text in an HTML-like label.
func htmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
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
