package render

import (
	"gonum.org/v1/gonum/graph/encoding"

	"github.com/planetdeps/planet/graph"
)

// Colours of render --diff: the same as planet diff's Mermaid diagram.
const (
	diffAdded   = "#2da44e"
	diffRemoved = "#cf222e"
)

// diffMarks says which edges and nodes of a drawn graph were added or
// removed since an older graph. The zero value marks nothing.
type diffMarks struct {
	edges map[graph.EdgeKey]string
	nodes map[string]string
}

func (m diffMarks) node(id string, attrs attrList) attrList {
	switch m.nodes[id] {
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
// through the same filter as g.
func withDiff(g *graph.Graph, base *Input, filter Filter) (*graph.Graph, diffMarks, error) {
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
	marks := diffMarks{edges: map[graph.EdgeKey]string{}, nodes: map[string]string{}}
	for _, e := range d.AddedEdges {
		marks.edges[graph.EdgeKey{From: e.From, To: e.To, Protocol: e.Protocol, Port: e.Port}] = "added"
	}
	for _, n := range d.AddedNodes {
		marks.nodes[n.ID] = "added"
	}
	if len(d.RemovedEdges) == 0 && len(d.RemovedNodes) == 0 {
		return g, marks, nil
	}
	nodes := append(append([]*graph.Node{}, g.Nodes...), d.RemovedNodes...)
	edges := append(append([]*graph.Edge{}, g.Edges...), d.RemovedEdges...)
	for _, e := range d.RemovedEdges {
		marks.edges[graph.EdgeKey{From: e.From, To: e.To, Protocol: e.Protocol, Port: e.Port}] = "removed"
	}
	for _, n := range d.RemovedNodes {
		marks.nodes[n.ID] = "removed"
	}
	union, err := rebuild(g, nodes, edges, g.Traffic)
	return union, marks, err
}
