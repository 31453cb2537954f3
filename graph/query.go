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

// adjacency is a graph's edge lists by node: for node i (its index in
// Graph.Nodes), the positions in Graph.Edges of the edges leaving it are
// outEdges[outStart[i]:outStart[i+1]], of those reaching it
// inEdges[inStart[i]:inStart[i+1]], each row in g.Edges order; from and to
// are each edge's end nodes by index. It takes 16 bytes an edge, a small
// part of what the gonum graph takes.
type adjacency struct {
	from, to          []int32
	outStart, inStart []int32
	outEdges, inEdges []int32
}

// adjacency builds g's edge lists (a counting sort of the edges by each end).
func (g *Graph) adjacency() *adjacency {
	n, m := len(g.Nodes), len(g.Edges)
	a := &adjacency{from: make([]int32, m), to: make([]int32, m),
		outStart: make([]int32, n+1), inStart: make([]int32, n+1),
		outEdges: make([]int32, m), inEdges: make([]int32, m)}
	for k, e := range g.Edges {
		f, t := g.byID[e.From], g.byID[e.To]
		a.from[k], a.to[k] = f, t
		a.outStart[f+1]++
		a.inStart[t+1]++
	}
	for i := range n {
		a.outStart[i+1] += a.outStart[i]
		a.inStart[i+1] += a.inStart[i]
	}
	outNext, inNext := slices.Clone(a.outStart[:n]), slices.Clone(a.inStart[:n])
	for k := range m {
		f, t := a.from[k], a.to[k]
		a.outEdges[outNext[f]] = int32(k)
		outNext[f]++
		a.inEdges[inNext[t]] = int32(k)
		inNext[t]++
	}
	return a
}

// walk returns the nodes reached from node id following edges forward (what
// it depends on) or backward (what depends on it), breadth first up to
// depth hops (0 or less: no limit), each with its distance, nearest first,
// then by ID.
func (g *Graph) walk(id string, depth int, forward bool) ([]Reached, error) {
	return g.walkAdjacency(g.adjacency(), id, depth, forward)
}

func (g *Graph) walkAdjacency(a *adjacency, id string, depth int, forward bool) ([]Reached, error) {
	start, ok := g.byID[id]
	if !ok {
		return nil, &UnknownNodeError{id}
	}
	starts, edges, ends := a.outStart, a.outEdges, a.to
	if !forward {
		starts, edges, ends = a.inStart, a.inEdges, a.from
	}
	seen := make([]bool, len(g.Nodes))
	seen[start] = true
	frontier := []int32{start}
	var out []Reached
	for d := 1; len(frontier) > 0 && (depth <= 0 || d <= depth); d++ {
		var next []int32
		for _, n := range frontier {
			for _, k := range edges[starts[n]:starts[n+1]] {
				m := ends[k]
				if seen[m] {
					continue
				}
				seen[m] = true
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
// The walk goes by the graph's edge lists (16 bytes an edge, dropped on
// return), not its gonum graph; the result shares g's nodes, edges and
// traffic, and has its own lists and index.
func (g *Graph) Subgraph(id string, depth int) (*Graph, error) {
	a := g.adjacency()
	deps, err := g.walkAdjacency(a, id, depth, true)
	if err != nil {
		return nil, err
	}
	users, _ := g.walkAdjacency(a, id, depth, false)
	keep := make([]bool, len(g.Nodes))
	keep[g.byID[id]] = true
	for _, r := range append(deps, users...) {
		keep[g.byID[r.Node.ID]] = true
	}
	sub := g.Header()
	for i, n := range g.Nodes {
		if !keep[i] {
			continue
		}
		sub.Nodes = append(sub.Nodes, n) // shared: never modified
		for _, k := range a.outEdges[a.outStart[i]:a.outStart[i+1]] {
			if keep[a.to[k]] {
				sub.Edges = append(sub.Edges, g.Edges[k]) // shared: never modified
			}
		}
	}
	for _, t := range g.Traffic {
		f, okf := g.byID[t.From]
		to, okt := g.byID[t.To]
		if okf && okt && keep[f] && keep[to] {
			sub.Traffic = append(sub.Traffic, t)
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

// Assemble checks g, a Graph built in code from its exported fields (a
// filter's result, made of parts of another graph), as Parse checks a
// document named name, puts it in the documented order and indexes it, so
// that it renders, writes and answers queries like a graph read from a
// file, without the copy and re-parse of a round trip through Write. g's
// nodes, edges and traffic may be shared with the graphs they came from,
// which they were checked in (positions are kept in g's index, not in the
// nodes); g's lists are its own, and Assemble sorts them. Errors are
// *snapshot.Error naming name.
func Assemble(g *Graph, name string) (*Graph, error) { return g.check(name) }
