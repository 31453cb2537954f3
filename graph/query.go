package graph

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gonum.org/v1/gonum/graph/topo"
)

// Reached is a node found by a walk, with its distance from the start.
type Reached struct {
	Node  *Node
	Depth int
}

// DependsOn returns what node id depends on, directly (depth 1) and
// transitively up to depth (0 or less: no limit), nearest first, then by ID.
// The node itself is not included, even when a cycle leads back to it.
func (g *Graph) DependsOn(id string, depth int) ([]Reached, error) {
	return g.walk(id, depth, true)
}

// Dependents returns what depends on node id, the same way as DependsOn.
func (g *Graph) Dependents(id string, depth int) ([]Reached, error) {
	return g.walk(id, depth, false)
}

// UnknownNodeError is returned by queries about a node the graph lacks.
type UnknownNodeError struct{ ID string }

func (e *UnknownNodeError) Error() string { return fmt.Sprintf("no node %q in the graph", e.ID) }

func (g *Graph) walk(id string, depth int, forward bool) ([]Reached, error) {
	start := g.byID[id]
	if start == nil {
		return nil, &UnknownNodeError{id}
	}
	dist := map[int64]int{start.index: 0}
	frontier := []int64{start.index}
	var out []Reached
	for d := 1; len(frontier) > 0 && (depth <= 0 || d <= depth); d++ {
		var next []int64
		for _, n := range frontier {
			it := g.gonumGraph().From(n)
			if !forward {
				it = g.gonumGraph().To(n)
			}
			for it.Next() {
				m := it.Node().ID()
				if _, seen := dist[m]; seen {
					continue
				}
				dist[m] = d
				next = append(next, m)
				out = append(out, Reached{Node: g.Nodes[m], Depth: d})
			}
		}
		frontier = next
	}
	slices.SortFunc(out, func(a, b Reached) int {
		return cmp.Or(cmp.Compare(a.Depth, b.Depth), strings.Compare(a.Node.ID, b.Node.ID))
	})
	return out, nil
}

// Subgraph returns the graph around node id: the node, what it depends on
// and what depends on it, each up to depth (0 or less: no limit), with every
// edge and traffic entry among those nodes. The result is a Graph like any
// other (same schema, order and header), so it can be written or rendered.
func (g *Graph) Subgraph(id string, depth int) (*Graph, error) {
	deps, err := g.DependsOn(id, depth)
	if err != nil {
		return nil, err
	}
	users, _ := g.Dependents(id, depth)
	keep := map[string]bool{id: true}
	for _, r := range append(deps, users...) {
		keep[r.Node.ID] = true
	}
	sub := &Graph{Schema: g.Schema, GeneratedAt: g.GeneratedAt, By: g.By, External: g.External, Snapshots: g.Snapshots}
	for _, n := range g.Nodes {
		if keep[n.ID] {
			c := *n
			sub.Nodes = append(sub.Nodes, &c)
		}
	}
	for _, e := range g.Edges {
		if keep[e.From] && keep[e.To] {
			c := *e
			sub.Edges = append(sub.Edges, &c)
		}
	}
	for _, t := range g.Traffic {
		if keep[t.From] && keep[t.To] {
			c := *t
			sub.Traffic = append(sub.Traffic, &c)
		}
	}
	if err := sub.index(); err != nil {
		return nil, err
	}
	return sub, nil
}

// Cycles returns the groups of nodes that depend on each other, directly or
// through others (strongly connected components of more than one node, by
// gonum's topo.TarjanSCC). A node depending on itself (a self-loop: hosts of
// one hostgroup calling each other, or loopback) is not a cycle here; see
// SelfLoops. Each group is sorted by ID, groups by their first ID.
func (g *Graph) Cycles() [][]string {
	var out [][]string
	for _, scc := range topo.TarjanSCC(g.gonumGraph()) {
		if len(scc) < 2 {
			continue
		}
		ids := make([]string, len(scc))
		for i, n := range scc {
			ids[i] = g.Nodes[n.ID()].ID
		}
		slices.Sort(ids)
		out = append(out, ids)
	}
	slices.SortFunc(out, func(a, b []string) int { return slices.Compare(a, b) })
	return out
}

// SelfLoops returns the IDs of nodes with an edge to themselves, sorted.
func (g *Graph) SelfLoops() []string {
	var out []string
	for _, e := range g.Edges {
		if e.From == e.To && (len(out) == 0 || out[len(out)-1] != e.From) {
			out = append(out, e.From)
		}
	}
	return out
}
