package graph

import (
	"bufio"
	"errors"
	"io"
	"slices"
)

// ErrUnordered is wrapped by ReadCompare's error for a document whose
// edges are not in strictly ascending key order (from, to, protocol,
// port), as every graph planet writes has them: the comparison cannot be
// made while reading it, and the caller reads it again another way
// (ReadForCompare, then Compare), which also reports a duplicate edge.
var ErrUnordered = errors.New("edges not in ascending order")

// ReadCompare is Compare(old, g, opts) for g the graph document r holds,
// computed while r is read, so that g is never held: an edge of the
// document that did not change is dropped as soon as it is read, an added
// one is kept (it is in the diff), and of a changed one only what Compare
// compares (see EdgeChange). Two by-host graphs of millions of edges whose
// every edge changed then take the memory of the old graph and 32 to 80
// bytes a dependency (see EdgeChange), not that of two graphs.
//
// The document is read as strictly as by Read, with the same errors, as
// long as its nodes come before its edges and its edges are in strictly
// ascending key order. Nodes after edges, or (unless
// opts.ExternalChanges) a node named ExternalNode that is not external
// beside external ones, are read as Read reads them, the new graph held;
// edges out of order (or a key repeated) end the reading with an error
// wrapping ErrUnordered, wherever the document is wrong otherwise: read
// it again with ReadForCompare and compare the graphs. old must not be
// modified while the diff is used (the diff holds its edges).
func ReadCompare(r io.Reader, name string, old *Graph, opts DiffOptions) (*Diff, error) {
	s := &streamCompare{opts: opts, old: old}
	if !opts.ExternalChanges {
		s.old = collapseExternal(old)
	}
	d := &docReader{br: bufio.NewReaderSize(r, 64<<10), name: name, line: 1, w: newWeigher(), stream: s, held: newHeldBudget(s.old)}
	d.w.parent = d.held.tables
	g, err := d.graph()
	if err != nil {
		return nil, err
	}
	return s.finish(g), nil
}

// streamCompare is ReadCompare's state: the join of the document's edges,
// as they are read, with the old graph's.
type streamCompare struct {
	opts DiffOptions
	old  *Graph // as compared: collapsed unless opts.ExternalChanges
	// off: the document's edges are read as Read reads them (nodes came
	// after the edges, or an ambiguous ExternalNode) and compared at the
	// end. on: they are being joined.
	off, on bool
	// rest are the old graph's edges the document's are joined with as
	// they come, in order; next is the first not yet passed.
	rest []*Edge
	next int
	d    *Diff
	join *edgeJoin
	last *Edge // the document's previous edge
	// err is the first edge that Read would refuse (Edge.check): the
	// document fails once read whole, and nothing more is compared.
	err error
	// When external nodes are collapsed: the document's external node
	// IDs, its dependencies on them merged per collapsed key (few), and
	// the old graph's dependencies on ExternalNode, joined at the end.
	extIDs   map[string]bool
	merged   map[EdgeKey]*collapsed
	extEdges []*Edge
	oldExt   []*Edge
	reserved bool // see reserve
}

// start begins the join once the document's nodes are read (g holds them,
// and only them), at its first edge; it says whether the edges are joined
// as they come (else they are read into g as Read reads them).
func (s *streamCompare) start(g *Graph, nodesSeen bool) bool {
	if s.on || s.off {
		return s.on
	}
	if !nodesSeen {
		s.off = true
		return false
	}
	if !s.opts.ExternalChanges {
		if s.extIDs = collapsedIDs(g.Nodes); s.extIDs != nil {
			for _, n := range g.Nodes {
				if n.ID == ExternalNode && n.Kind != KindExternal {
					// Collapsing would give two nodes one ID:
					// Compare's way with that is its own.
					s.off = true
					return false
				}
			}
		}
	}
	s.on = true
	// Edge.check looks nodes up by ID; index builds the map again.
	g.byID = make(map[string]int32, len(g.Nodes))
	for i, n := range g.Nodes {
		g.byID[n.ID] = int32(i)
	}
	s.d = newDiff(s.opts)
	s.join = newEdgeJoin(s.d, s.opts)
	old := sortedBy(s.old.Edges, compareEdges)
	if s.extIDs == nil {
		s.rest = old
		return true
	}
	// The document's dependencies on external nodes are compared once
	// merged, at the end, with the old graph's on ExternalNode; the
	// others as they come, with the old graph's others.
	s.merged = map[EdgeKey]*collapsed{}
	s.rest = make([]*Edge, 0, len(old))
	for _, e := range old {
		if e.From == ExternalNode || e.To == ExternalNode {
			s.oldExt = append(s.oldExt, e)
		} else {
			s.rest = append(s.rest, e)
		}
	}
	return true
}

// edge takes the document's next edge, e (of graph g, whose nodes are
// known, weighing size: see weigher.edge) and returns what the diff now
// holds of it, in the weigher's bytes; the error wraps ErrUnordered when
// e does not come after the edge before it.
func (s *streamCompare) edge(g *Graph, e *Edge, size int64) (int64, error) {
	if s.last != nil && compareEdges(s.last, e) >= 0 {
		return 0, ErrUnordered
	}
	s.last = e
	if s.err == nil {
		s.err = e.check(g)
	}
	if s.err != nil {
		return 0, nil
	}
	if s.extIDs != nil && (s.extIDs[e.From] || s.extIDs[e.To]) {
		// As collapseExternal merges them.
		k := EdgeKey{e.From, e.To, e.Protocol, e.Port}
		if s.extIDs[k.From] {
			k.From = ExternalNode
		}
		if s.extIDs[k.To] {
			k.To = ExternalNode
		}
		if m := s.merged[k]; m != nil {
			n := len(m.procs[0]) + len(m.procs[1])
			mergeExternal(m, e)
			return int64(len(m.procs[0])+len(m.procs[1])-n) * listItemCost, nil
		}
		c := *e
		c.From, c.To = k.From, k.To
		s.merged[k] = &collapsed{Edge: &c}
		s.extEdges = append(s.extEdges, &c)
		return size, nil
	}
	for ; s.next < len(s.rest); s.next++ {
		o := s.rest[s.next]
		c := compareEdges(o, e)
		if c > 0 {
			break
		}
		if c == 0 {
			// What the change holds: the list's growth (reserved or
			// appended) and the new side when one is made.
			room, made := cap(s.d.ChangedEdges), s.join.sides.made
			s.reserve()
			s.join.both(o, e)
			s.next++
			return int64(cap(s.d.ChangedEdges)-room)*changeSize + int64(s.join.sides.made-made)*s.join.sides.sideCost(), nil
		}
		s.join.removed(o)
	}
	s.join.added(e)
	return size, nil
}

// reserve makes room for every change there can still be, once changes
// are many and dense (half the old edges passed, or more): a list that
// grows by appending holds its old array and its new one at once, a
// quarter more, and near its end that is tens of megabytes beside the old
// graph, when memory is at its peak. A change needs an old edge: there
// can be no more than the old edges left.
func (s *streamCompare) reserve() {
	changed := &s.d.ChangedEdges
	if s.reserved || len(*changed) < 4096 || 2*len(*changed) < s.next {
		return
	}
	s.reserved = true
	*changed = slices.Grow(*changed, len(s.rest)-s.next+len(s.oldExt))
}

// finish is the diff, once the document is read whole and checked into g
// (its nodes and traffic; its edges too unless they were joined).
func (s *streamCompare) finish(g *Graph) *Diff {
	if !s.on {
		return Compare(s.old, g, s.opts)
	}
	d := s.d
	newG := g
	if d.ExternalCollapsed {
		newG = collapseExternal(g) // nodes and traffic: g has no edges
	}
	d.compareNodes(s.old, newG)
	for _, o := range s.rest[s.next:] {
		s.join.removed(o)
	}
	if s.extIDs != nil {
		// The dependencies on external peers, joined apart: their keys
		// are none of the others', so the two lists of each kind merge.
		for _, m := range s.merged {
			m.done()
		}
		slices.SortFunc(s.extEdges, compareEdges)
		ext := newDiff(s.opts)
		j := &edgeJoin{d: ext, opts: s.join.opts, sides: s.join.sides}
		join(s.oldExt, s.extEdges, compareEdges, j.removed, j.added, j.both)
		d.AddedEdges = mergeSorted(d.AddedEdges, ext.AddedEdges, compareEdges)
		d.RemovedEdges = mergeSorted(d.RemovedEdges, ext.RemovedEdges, compareEdges)
		d.ChangedEdges = mergeSorted(d.ChangedEdges, ext.ChangedEdges, func(a, b EdgeChange) int { return compareEdges(a.Old, b.Old) })
	}
	if c := d.ChangedEdges; cap(c)-len(c) > len(c)+4096 {
		d.ChangedEdges = slices.Clone(c) // reserved for more than came
	}
	d.compareTraffic(s.old, newG, s.opts)
	return d
}

// mergeSorted merges b into a, both sorted by compare and b short (the
// dependencies on external peers, merged): in a's array when it has room,
// from the end, so that a long a is not copied into a new one beside it.
func mergeSorted[T any](a, b []T, compare func(x, y T) int) []T {
	if len(b) == 0 {
		return a
	}
	i, j := len(a)-1, len(b)-1
	a = slices.Grow(a, len(b))[:len(a)+len(b)]
	for k := len(a) - 1; j >= 0; k-- {
		if i >= 0 && compare(a[i], b[j]) > 0 {
			a[k] = a[i]
			i--
		} else {
			a[k] = b[j]
			j--
		}
	}
	return a
}
