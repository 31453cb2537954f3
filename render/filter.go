package render

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/planetdeps/planet/graph"
)

// Filter narrows a graph before it is rendered. The zero value keeps all.
type Filter struct {
	// Focus keeps only this node, what it depends on and what depends on
	// it, each up to Depth hops (0: no limit). A name shared by several
	// kinds can be given as "kind:name".
	Focus string
	Depth int
	// HideExternal drops external nodes (peers no snapshot and no
	// inventory explains) and their edges.
	HideExternal bool
	// ExcludePorts drops edges on these ports, whatever the protocol.
	ExcludePorts []uint16
}

// IsZero reports whether f keeps everything.
func (f Filter) IsZero() bool {
	return f.Focus == "" && !f.HideExternal && len(f.ExcludePorts) == 0
}

// Validate checks f's values.
func (f Filter) Validate() error {
	if f.Depth < 0 {
		return fmt.Errorf("depth %d: %w", f.Depth, ErrDepth)
	}
	return nil
}

// ParsePorts reads port lists as flags, environment and config give them:
// "22,9100", "22 9100", or one port per element. An error quotes the
// element at fault (the caller names the setting).
func ParsePorts(values []string) ([]uint16, error) {
	var ports []uint16
	for _, v := range values {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			p, err := strconv.ParseUint(f, 10, 16)
			if err != nil || p == 0 {
				return nil, fmt.Errorf("%q: want port numbers 1-65535, comma-separated", f)
			}
			ports = append(ports, uint16(p))
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}

// Apply returns the part of g that f keeps, as a graph like any other.
// Ports and external nodes are dropped first, then the focus is taken in
// what is left, so --depth does not walk through hidden edges. A node that
// was not scanned (an external peer, or a hostgroup only peers named) and
// has lost every edge to the filter is dropped too; scanned nodes stay.
func (f Filter) Apply(g *graph.Graph) (*graph.Graph, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	out := g
	if f.HideExternal || len(f.ExcludePorts) > 0 {
		var err error
		if out, err = f.prune(g); err != nil {
			return nil, err
		}
	}
	if f.Focus == "" {
		return out, nil
	}
	id, err := focusNode(out, g, f.Focus)
	if err != nil {
		return nil, err
	}
	return out.Subgraph(id, f.Depth)
}

// prune drops the ports and external nodes f leaves out. The result shares
// g's nodes, edges and traffic (a pruned graph keeps most of them: copying
// those of a fleet graph by host, millions of edges, would double its
// memory); it has its own lists of them and its own index. What it notes
// of each node is a few bools by the node's position in g.
func (f Filter) prune(g *graph.Graph) (*graph.Graph, error) {
	// hidden: an external node --hide-external drops; had, has: the node
	// has an edge in g, in the result; keep: the node is in the result.
	hidden, had, has, keep := make([]bool, len(g.Nodes)), make([]bool, len(g.Nodes)), make([]bool, len(g.Nodes)), make([]bool, len(g.Nodes))
	for i, n := range g.Nodes {
		hidden[i] = f.HideExternal && n.Kind == graph.KindExternal
	}
	index := g.GonumID
	var edges []*graph.Edge
	for _, e := range g.Edges {
		from, to := index(e.From), index(e.To)
		had[from], had[to] = true, true
		if hidden[from] || hidden[to] || slices.Contains(f.ExcludePorts, e.Port) {
			continue
		}
		has[from], has[to] = true, true
		edges = append(edges, e)
	}
	var kept []*graph.Node
	for i, n := range g.Nodes {
		orphaned := had[i] && !has[i] && len(n.Hosts) == 0
		if hidden[i] || orphaned {
			continue
		}
		keep[i] = true
		kept = append(kept, n)
	}
	var traffic []*graph.Traffic
	for _, t := range g.Traffic {
		if keep[index(t.From)] && keep[index(t.To)] {
			traffic = append(traffic, t)
		}
	}
	if len(kept) == len(g.Nodes) && len(edges) == len(g.Edges) {
		return g, nil // nothing to drop
	}
	out := g.Header()
	out.Nodes, out.Edges, out.Traffic = kept, edges, traffic
	return graph.Assemble(out, "filtered graph")
}

// focusNode resolves name in g (already pruned from orig) to one node ID.
func focusNode(g, orig *graph.Graph, name string) (string, error) {
	found := g.Lookup(name)
	switch {
	case len(found) == 1:
		return found[0].ID, nil
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, n := range found {
			ids[i] = n.ID
		}
		return "", &FocusError{Name: name, Problem: FocusAmbiguous, Candidates: ids}
	case len(orig.Lookup(name)) > 0:
		return "", &FocusError{Name: name, Problem: FocusHidden}
	}
	return "", &FocusError{Name: name, Problem: FocusMissing, Candidates: closeNames(g, name, 5), Nodes: len(g.Nodes)}
}

// FocusProblem is why Filter.Focus names no node.
type FocusProblem int

const (
	// FocusMissing: no node of the graph has the name.
	FocusMissing FocusProblem = iota
	// FocusAmbiguous: several nodes have it (Candidates).
	FocusAmbiguous
	// FocusHidden: the node is there, and the filter's HideExternal or
	// ExcludePorts drops it.
	FocusHidden
)

// FocusError is a Filter.Focus that names no single node of the graph.
// Candidates are the node IDs it could mean (the ambiguous matches, or
// the closest names to a missing one, nearest first); Nodes is the
// graph's node count.
type FocusError struct {
	Name       string
	Problem    FocusProblem
	Candidates []string
	Nodes      int
}

func (e *FocusError) Error() string {
	quoted := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		quoted[i] = strconv.Quote(c)
	}
	switch e.Problem {
	case FocusAmbiguous:
		return fmt.Sprintf("focus %q is ambiguous: name one of %s", e.Name, strings.Join(quoted, ", "))
	case FocusHidden:
		return fmt.Sprintf("focus %q: the node is hidden by the filter (external nodes or ports left out)", e.Name)
	}
	msg := fmt.Sprintf("focus %q: no such node in the graph", e.Name)
	if len(quoted) > 0 {
		return msg + "; did you mean " + strings.Join(quoted, ", ") + "?"
	}
	return msg + fmt.Sprintf(" (it has %d nodes; its table lists them)", e.Nodes)
}

// closeNames returns up to n node IDs that look like name: those containing
// it (or contained in it), then those within a small edit distance, nearest
// first.
func closeNames(g *graph.Graph, name string, n int) []string {
	type cand struct {
		id   string
		dist int
	}
	lower := strings.ToLower(name)
	limit := max(2, utf8.RuneCountInString(name)/3)
	var cands []cand
	for _, node := range g.Nodes {
		id := strings.ToLower(node.ID)
		d := levenshtein(lower, id)
		if strings.Contains(id, lower) || strings.Contains(lower, id) {
			d = min(d, 1)
		}
		if d <= limit {
			cands = append(cands, cand{node.ID, d})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Or(cmp.Compare(a.dist, b.dist), strings.Compare(a.id, b.id)) })
	var out []string
	for _, c := range cands[:min(n, len(cands))] {
		out = append(out, c.id)
	}
	return out
}

// levenshtein is the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
