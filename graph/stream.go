package graph

import (
	"cmp"
	"io"
	"slices"
)

// Merged is a finished merge that writes its graph (Write's bytes) straight
// from the merge's edge aggregates, one edge at a time, never holding every
// edge as an Edge: a fleet merged by host with one node per external IP has
// millions of edges, and the Graph of them would double the merge's memory.
// Its nodes and traffic are a Graph without edges (Nodes).
type Merged struct {
	g     *Graph // header, nodes and traffic, indexed; no edges
	m     *Merger
	ids   []string
	edges *edgeOverlay
	keys  []edgeKey // in the documented order
}

// FinishMerged is Finish into a Merged, which writes the graph without
// building its edges: what `planet merge` writes. The Merger must not be
// used after.
func (m *Merger) FinishMerged() (*Merged, error) {
	g, ids, edges, err := m.build()
	if err != nil {
		return nil, err
	}
	if err := g.index(); err != nil {
		return nil, err
	}
	r := &Merged{g: g, m: m, ids: ids, edges: edges}
	for k, e := range edges.changed {
		if _, ok := m.edges[k]; !ok && e != nil {
			r.keys = append(r.keys, k)
		}
	}
	for k := range m.edges {
		if c, ok := edges.changed[k]; !ok || c != nil {
			r.keys = append(r.keys, k)
		}
	}
	// The documented order (from, to, protocol, port, each as text) by
	// ranks: a node's position among the sorted IDs, a protocol's among
	// the sorted protocols.
	rank := make([]int, len(ids))
	for i, id := range ids {
		rank[i] = int(g.byID[id])
	}
	protos := slices.Clone(m.protos)
	slices.Sort(protos)
	prank := make([]int, len(m.protos))
	for i, p := range m.protos {
		prank[i], _ = slices.BinarySearch(protos, p)
	}
	slices.SortFunc(r.keys, func(a, b edgeKey) int {
		return cmp.Or(cmp.Compare(rank[a.from], rank[b.from]), cmp.Compare(rank[a.to], rank[b.to]),
			cmp.Compare(prank[a.proto], prank[b.proto]), cmp.Compare(a.port, b.port))
	})
	return r, nil
}

// Nodes returns the graph without its edges: header, nodes and traffic.
func (r *Merged) Nodes() *Graph { return r.g }

// IncompleteNotes is Graph.IncompleteNotes of the merged graph.
func (r *Merged) IncompleteNotes() []Note { return r.g.IncompleteNotes() }

// Write writes the graph as Write writes the Graph Merger.Graph would
// build, with the same limits.
func (r *Merged) Write(w io.Writer) error {
	var (
		e     Edge
		names EdgeNames
		bytes EdgeBytes
	)
	return writeGraph(w, r.g, len(r.keys), func(i int) *Edge {
		k := r.keys[i]
		agg := r.edges.peek(k)
		r.m.fillEdge(&e, &names, &bytes, r.ids, k, agg)
		e.EdgeNames.sort() // names, with the Merger's lists
		return &e
	})
}
