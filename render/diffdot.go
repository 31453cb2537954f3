package render

import (
	"cmp"
	"slices"
	"strings"

	"gonum.org/v1/gonum/graph/encoding"

	"github.com/planetdeps/planet/graph"
)

// Colours of render --diff: the same as planet diff's Mermaid diagram.
const (
	diffAdded   = "#2da44e"
	diffRemoved = "#cf222e"
)

// diffMarks says which edges and nodes of a drawn graph were added or
// removed since an older graph: graph.Compare's lists, each sorted (edges
// by from, to, protocol and port; nodes by ID), looked up by binary search
// so a diff of millions of edges costs no index of its own. The zero value
// marks nothing.
type diffMarks struct {
	addedEdges, removedEdges []*graph.Edge
	addedNodes, removedNodes []*graph.Node
}

// any says whether something is marked.
func (m diffMarks) any() bool {
	return len(m.addedEdges)+len(m.removedEdges)+len(m.addedNodes)+len(m.removedNodes) > 0
}

// edge is e's mark: "added", "removed" or "".
func (m diffMarks) edge(e *graph.Edge) string {
	switch {
	case hasEdge(m.addedEdges, e):
		return "added"
	case hasEdge(m.removedEdges, e):
		return "removed"
	}
	return ""
}

// nodeMark is the mark of the node id: "added", "removed" or "".
func (m diffMarks) nodeMark(id string) string {
	switch {
	case hasNode(m.addedNodes, id):
		return "added"
	case hasNode(m.removedNodes, id):
		return "removed"
	}
	return ""
}

func hasEdge(sorted []*graph.Edge, e *graph.Edge) bool {
	_, ok := slices.BinarySearchFunc(sorted, e, compareEdgeKeys)
	return ok
}

func hasNode(sorted []*graph.Node, id string) bool {
	_, ok := slices.BinarySearchFunc(sorted, id, func(n *graph.Node, id string) int { return strings.Compare(n.ID, id) })
	return ok
}

// compareEdgeKeys orders edges as a graph lists them: by from, to,
// protocol, then port.
func compareEdgeKeys(a, b *graph.Edge) int {
	return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To),
		strings.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}

func (m diffMarks) node(id string, attrs attrList) attrList {
	switch m.nodeMark(id) {
	case "added":
		return restyle(attrs, diffAdded, "", "")
	case "removed":
		return restyle(attrs, diffRemoved, `"rounded,dashed"`, "")
	}
	return attrs
}

// restyle sets colour (and style, when given) over what the graph itself
// would draw; class (SVG output keeps it) says "added" or "removed".
func restyle(attrs attrList, color, style, class string) attrList {
	out := make(attrList, 0, len(attrs)+4)
	for _, a := range attrs {
		if a.Key == "color" || a.Key == "fontcolor" || (style != "" && a.Key == "style") {
			continue
		}
		out = append(out, a)
	}
	out = append(out, encoding.Attribute{Key: "color", Value: dotString(color)}, encoding.Attribute{Key: "fontcolor", Value: dotString(color)})
	if style != "" {
		out = append(out, encoding.Attribute{Key: "style", Value: style})
	}
	if class != "" {
		out = append(out, encoding.Attribute{Key: "class", Value: dotString(class)})
	}
	return out
}

// withDiff returns g with the edges and nodes that were in base but are gone
// from g added back, and the marks that tell added from removed. base goes
// through the same filter as g. Unless force, a union too large for format
// (the limits of CheckPicture) is refused before it is built: a base of
// millions of edges against an input of none would otherwise be drawn
// edge by edge. The union shares the nodes and edges of g and base, and
// g's traffic.
func withDiff(g *graph.Graph, base *Input, filter Filter, format Format, force bool) (*graph.Graph, diffMarks, error) {
	old, err := base.AsGraph()
	if err != nil {
		return nil, diffMarks{}, err
	}
	if !filter.IsZero() {
		if old, err = filter.Apply(old); err != nil {
			return nil, diffMarks{}, err
		}
	}
	d := graph.Compare(old, g, graph.DiffOptions{ExternalChanges: true})
	marks := diffMarks{addedEdges: d.AddedEdges, removedEdges: d.RemovedEdges, addedNodes: d.AddedNodes, removedNodes: d.RemovedNodes}
	for _, l := range [][]*graph.Edge{marks.addedEdges, marks.removedEdges} {
		if !slices.IsSortedFunc(l, compareEdgeKeys) {
			slices.SortFunc(l, compareEdgeKeys)
		}
	}
	for _, l := range [][]*graph.Node{marks.addedNodes, marks.removedNodes} {
		slices.SortFunc(l, func(a, b *graph.Node) int { return strings.Compare(a.ID, b.ID) })
	}
	if len(d.RemovedEdges) == 0 && len(d.RemovedNodes) == 0 {
		return g, marks, nil
	}
	if !force {
		kind := func(id string) graph.NodeKind {
			if n := g.Node(id); n != nil {
				return n.Kind
			}
			return old.Node(id).Kind
		}
		p := drawParts{external: g.External, nodes: [][]*graph.Node{g.Nodes, d.RemovedNodes},
			edges: [][]*graph.Edge{g.Edges, d.RemovedEdges}, kind: kind, marks: marks}
		if err := p.check(format); err != nil {
			return nil, diffMarks{}, err
		}
	}
	union := g.Header()
	union.Nodes = slices.Concat(g.Nodes, d.RemovedNodes) // shared, as the edges are
	union.Edges = slices.Concat(g.Edges, d.RemovedEdges)
	union.Traffic = g.Traffic
	u, err := graph.Assemble(union, "render --diff")
	return u, marks, err
}
