package graph

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// DiffSchema names the JSON form of a Diff.
const DiffSchema = "planet.diff/v1"

// DiffOptions says which changes matter. The zero value is the CI gate's
// default: the dependency set only, so two scans of an unchanged fleet
// compare equal although byte counters moved and CDN addresses rotated.
type DiffOptions struct {
	// BytesChangePercent, when above zero, also compares byte counters
	// (per-port and darkstat traffic) and reports a count that moved by
	// more than this percent, appeared or disappeared. Zero leaves bytes
	// out: counters move all the time, dependencies don't.
	BytesChangePercent float64
	// ExternalChanges compares external nodes one by one (per address or
	// prefix, as merged). Otherwise all external nodes of each graph are
	// compared as one node, ExternalNode, and the host counts of their
	// dependencies and of that node are left out, so rotating peer
	// addresses are no change while a new external port or a node newly
	// talking outside is.
	ExternalChanges bool
}

// ExternalNode is the ID all external nodes are compared under unless
// DiffOptions.ExternalChanges.
const ExternalNode = "external"

// EdgeKey identifies a dependency across graphs.
type EdgeKey struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
}

func (k EdgeKey) String() string {
	return k.From + " -> " + k.To + " " + k.Protocol + "/" + strconv.Itoa(int(k.Port))
}

func keyOf(e *Edge) EdgeKey { return EdgeKey{e.From, e.To, e.Protocol, e.Port} }

// FieldChange is one attribute that differs between the old and new graph.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// EdgeChange is a dependency present in both graphs with different
// attributes: the old graph's edge (after collapsing external nodes, see
// DiffOptions.ExternalChanges) and, of the new graph's, only what Compare
// compares (processes, host counts, seen_from, byte counts), with the
// options they were compared with. Its field changes are computed when
// asked (Changes), not kept, and the new edge is not kept either: a diff
// where every one of millions of dependencies changed holds 32 bytes per
// dependency next to the old graph where the new side's names, counts and
// options repeat (they are shared by all changes with the same ones, see
// sideTable), 80 where they are distinct. In JSON it is the
// key's fields and "changes". Make one with NewEdgeChange.
type EdgeChange struct {
	Old *Edge
	new *changedSide
	// newBytes are the new edge's port byte counts, to server and to
	// client (zero unless the options compare bytes).
	newBytes [2]uint64
}

// changedSide is the new side of a changed dependency but its byte counts,
// and the comparison's options: one value per distinct set, shared.
type changedSide struct {
	names                    *EdgeNames
	clientHosts, serverHosts int
	seen                     SeenFrom
	opts                     *DiffOptions
}

// NewEdgeChange is the change from old to new, two edges of one key,
// compared under opts: what Compare lists when Changes lists anything.
func NewEdgeChange(old, new *Edge, opts DiffOptions) EdgeChange {
	return newChange(old, new, &opts, nil)
}

// newChange is NewEdgeChange with opts shared and the new side interned in
// sides (nil: not interned).
func newChange(old, new *Edge, opts *DiffOptions, sides *sideTable) EdgeChange {
	c := EdgeChange{Old: old}
	if opts.BytesChangePercent > 0 {
		b := new.Bytes()
		c.newBytes = [2]uint64{b.PortBytesToServer, b.PortBytesToClient}
	}
	c.new = sides.intern(changedSide{new.EdgeNames, new.ClientHosts, new.ServerHosts, new.SeenFrom, opts})
	return c
}

// sideTable interns the new sides of a diff's changes while that pays:
// where most changes' new sides are distinct (host counts that differ edge
// by edge), a map entry beside each side costs more than it saves, so
// after sideTrial look-ups that found fewer than half their side already
// there it stops interning and drops the map (each change then holds a
// side of its own, 48 bytes).
type sideTable struct {
	m             map[changedSide]*changedSide
	lookups, hits int
	// made counts the sides made (not found in m).
	made int
}

// sideTrial is how many look-ups sideTable judges its hit rate on.
const sideTrial = 4096

func newSideTable() *sideTable { return &sideTable{m: map[changedSide]*changedSide{}} }

// sideCost is what a side made now holds: its own 48 bytes, and its
// entry in the map while the table interns (a map entry of a 40-byte key
// and a pointer, with the map's spare room).
func (t *sideTable) sideCost() int64 {
	if t != nil && t.m != nil {
		return sideSize + sideMapCost
	}
	return sideSize
}

// intern returns the shared copy of s (a nil table shares nothing).
func (t *sideTable) intern(s changedSide) *changedSide {
	if t == nil || t.m == nil {
		if t != nil {
			t.made++
		}
		return &s
	}
	t.lookups++
	if p := t.m[s]; p != nil {
		t.hits++
		return p
	}
	t.made++
	if t.lookups >= sideTrial && t.hits < t.lookups/2 {
		t.m = nil
		return &s
	}
	p := &s
	t.m[s] = p
	return p
}

// Key is the dependency's key (the old edge's, equal to the new one's).
func (c EdgeChange) Key() EdgeKey { return keyOf(c.Old) }

// Changes lists the attributes that differ, in the order of the JSON form:
// processes, host counts, seen_from, then byte counts when compared. Each
// call formats them anew.
func (c EdgeChange) Changes() []FieldChange {
	return edgeChanges(viewOf(c.Old), c.newView(), c.Key(), *c.new.opts)
}

// newView is what Compare compared of the new edge.
func (c EdgeChange) newView() edgeView {
	return edgeView{c.new.names, c.new.clientHosts, c.new.serverHosts, c.new.seen, c.newBytes[0], c.newBytes[1]}
}

// MarshalJSON writes the change as {"from", "to", "protocol", "port",
// "changes": [{"field", "old", "new"}...]}, names unescaped (the encoder
// that called it escapes HTML characters if it is set to).
func (c EdgeChange) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		EdgeKey
		Changes []FieldChange `json:"changes"`
	}{c.Key(), c.Changes()})
	if err != nil {
		return nil, fmt.Errorf("edge change %s: %w", c.Key(), err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// NodeChange is a node present in both graphs with different attributes.
type NodeChange struct {
	ID      string        `json:"id"`
	Changes []FieldChange `json:"changes"`
}

// Diff is what changed from one graph to another. Every list is sorted,
// and empty ([] in JSON), never null.
type Diff struct {
	Schema string `json:"schema"`
	// BytesCompared says byte counters were compared
	// (DiffOptions.BytesChangePercent); ExternalCollapsed that external
	// nodes were compared as one (not DiffOptions.ExternalChanges).
	BytesCompared     bool         `json:"bytes_compared"`
	ExternalCollapsed bool         `json:"external_collapsed"`
	AddedNodes        []*Node      `json:"added_nodes"`
	RemovedNodes      []*Node      `json:"removed_nodes"`
	ChangedNodes      []NodeChange `json:"changed_nodes"`
	AddedEdges        []*Edge      `json:"added_edges"`
	RemovedEdges      []*Edge      `json:"removed_edges"`
	ChangedEdges      []EdgeChange `json:"changed_edges"`
	// Traffic lists darkstat node-pair totals that changed beyond the
	// threshold, appeared or disappeared (empty unless bytes are compared).
	Traffic []FieldChange `json:"traffic"`
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return len(d.AddedNodes)+len(d.RemovedNodes)+len(d.ChangedNodes)+
		len(d.AddedEdges)+len(d.RemovedEdges)+len(d.ChangedEdges)+len(d.Traffic) == 0
}

// Summary is a one-line account of the diff, for logs and PR comments.
func (d *Diff) Summary() string {
	if d.Empty() {
		return "no dependency changes"
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(d.AddedEdges), plural(len(d.AddedEdges), "dependency", "dependencies")+" added")
	add(len(d.RemovedEdges), plural(len(d.RemovedEdges), "dependency", "dependencies")+" removed")
	add(len(d.ChangedEdges), plural(len(d.ChangedEdges), "dependency", "dependencies")+" changed")
	add(len(d.AddedNodes), plural(len(d.AddedNodes), "node", "nodes")+" added")
	add(len(d.RemovedNodes), plural(len(d.RemovedNodes), "node", "nodes")+" removed")
	add(len(d.ChangedNodes), plural(len(d.ChangedNodes), "node", "nodes")+" changed")
	add(len(d.Traffic), plural(len(d.Traffic), "bandwidth change", "bandwidth changes"))
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Compare computes what changed from old to new.
func Compare(old, new *Graph, opts DiffOptions) *Diff {
	d := newDiff(opts)
	if d.ExternalCollapsed {
		old, new = collapseExternal(old), collapseExternal(new)
	}
	d.compareNodes(old, new)
	// Both graphs' lists are in their documented order (nodes by ID,
	// edges by key): one pass over each, side by side, finds what was
	// added, removed and changed, in that order, without an index of
	// either graph (millions of edges make that index as large as a graph).
	j := newEdgeJoin(d, opts)
	join(sortedBy(old.Edges, compareEdges), sortedBy(new.Edges, compareEdges), compareEdges,
		j.removed, j.added, j.both)
	d.compareTraffic(old, new, opts)
	return d
}

// newDiff is an empty Diff of a comparison under opts.
func newDiff(opts DiffOptions) *Diff {
	return &Diff{Schema: DiffSchema, BytesCompared: opts.BytesChangePercent > 0, ExternalCollapsed: !opts.ExternalChanges,
		AddedNodes: []*Node{}, RemovedNodes: []*Node{}, ChangedNodes: []NodeChange{},
		AddedEdges: []*Edge{}, RemovedEdges: []*Edge{}, ChangedEdges: []EdgeChange{}, Traffic: []FieldChange{}}
}

// compareNodes lists the nodes added, removed and changed from old to new
// (both as compared: collapsed when d.ExternalCollapsed).
func (d *Diff) compareNodes(old, new *Graph) {
	oldNodes := sortedBy(old.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	newNodes := sortedBy(new.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	join(oldNodes, newNodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) },
		func(o *Node) { d.RemovedNodes = append(d.RemovedNodes, o) },
		func(n *Node) { d.AddedNodes = append(d.AddedNodes, n) },
		func(o, n *Node) {
			var ch []FieldChange
			ch = appendChange(ch, "kind", string(o.Kind), string(n.Kind))
			if !d.ExternalCollapsed || n.ID != ExternalNode {
				ch = appendChange(ch, "host_count", strconv.Itoa(o.HostCount), strconv.Itoa(n.HostCount))
			}
			if len(ch) > 0 {
				d.ChangedNodes = append(d.ChangedNodes, NodeChange{ID: n.ID, Changes: ch})
			}
		})
}

// compareTraffic lists the traffic changes when bytes are compared.
func (d *Diff) compareTraffic(old, new *Graph, opts DiffOptions) {
	if d.BytesCompared {
		d.Traffic = trafficChanges(old.Traffic, new.Traffic, opts.BytesChangePercent)
	}
}

// edgeJoin adds to a Diff the edges a join of two edge lists finds
// removed, added and changed, the changes' new sides shared.
type edgeJoin struct {
	d     *Diff
	opts  *DiffOptions
	sides *sideTable
}

func newEdgeJoin(d *Diff, opts DiffOptions) *edgeJoin {
	return &edgeJoin{d: d, opts: &opts, sides: newSideTable()}
}

func (j *edgeJoin) removed(o *Edge) { j.d.RemovedEdges = append(j.d.RemovedEdges, o) }
func (j *edgeJoin) added(n *Edge)   { j.d.AddedEdges = append(j.d.AddedEdges, n) }

// both compares two edges of one key: a change when edgeChanged.
func (j *edgeJoin) both(o, n *Edge) {
	if edgeChanged(o, n, *j.opts) {
		j.d.ChangedEdges = append(j.d.ChangedEdges, newChange(o, n, j.opts, j.sides))
	}
}

// ForCompare returns g as Compare(…, opts) compares it: its external
// nodes collapsed into ExternalNode unless opts.ExternalChanges (see
// collapseExternal), else g itself. Compare of two such graphs is Compare
// of the originals, and the result can be ReadForCompare's base; holding
// it rather than g lets a by-host graph's millions of dependencies on
// external addresses (a few percent of that once collapsed) be freed
// before the other graph is read. The result shares g's nodes and name
// lists, and its edges when collapsing drops less than an eighth of them
// (else its edges are copies): do not modify them; compare it, do not
// render or write it. See TakeForCompare to free g's edges as they are
// copied.
func ForCompare(g *Graph, opts DiffOptions) *Graph { return forCompare(g, opts, false) }

// TakeForCompare is ForCompare for a g that is not used after: where the
// edges are copied, g's are dropped as they are, so that the two sets are
// never held whole at once (a by-host graph read in blocks frees each
// block once its edges are copied). g's edges are nil after, unless the
// result is g itself.
func TakeForCompare(g *Graph, opts DiffOptions) *Graph { return forCompare(g, opts, true) }

func forCompare(g *Graph, opts DiffOptions, take bool) *Graph {
	if opts.ExternalChanges {
		return g
	}
	c := collapseExternal(g)
	if c == g {
		return g
	}
	// ReadForCompare's base looks its nodes up by ID. Only the map (of
	// positions in c.Nodes): the nodes are g's.
	c.byID = make(map[string]int32, len(c.Nodes))
	for i, n := range c.Nodes {
		c.byID[n.ID] = int32(i)
	}
	merged := 0 // c's edges that are copies: the collapsed ones
	for _, e := range c.Edges {
		if e.From == ExternalNode || e.To == ExternalNode {
			merged++
		}
	}
	if dropped := len(g.Edges) - (len(c.Edges) - merged); dropped*8 < len(g.Edges) {
		// Few edges go: copying the others to free them costs more
		// than it saves. g's blocks of edges stay, the dropped ones
		// with them (counted in a diff's budget, see MaxDiffHeld).
		c.extraHeld = int64(dropped) * (edgeCost + edgeBytesCost)
		return c
	}
	// The edges c keeps of g's are copied into one array of their own,
	// and so are their byte counts: Read allocates both in blocks, and
	// one edge kept would keep its block, and so all of g's, alive.
	if take {
		g.Edges = nil
	}
	edges, ptrs := make([]Edge, len(c.Edges)), make([]*Edge, len(c.Edges))
	var counts []EdgeBytes
	for i, e := range c.Edges {
		edges[i] = *e
		if e.EdgeBytes != nil {
			if counts == nil {
				counts = make([]EdgeBytes, 0, len(c.Edges)-i)
			}
			counts = append(counts, *e.EdgeBytes)
			edges[i].EdgeBytes = &counts[len(counts)-1]
		}
		ptrs[i] = &edges[i]
		if take {
			c.Edges[i] = nil // its block goes once all its edges are copied
		}
	}
	c.Edges = ptrs
	return c
}

// sortedBy returns list in the order of compare: list itself when it is
// (a graph's lists are), else a sorted copy.
func sortedBy[T any](list []T, compare func(a, b T) int) []T {
	if slices.IsSortedFunc(list, compare) {
		return list
	}
	return slices.SortedStableFunc(slices.Values(list), compare)
}

// join walks two lists sorted by compare side by side, calling onlyOld for
// an element only old has, onlyNew for one only new has and both for one
// of each that compare equal, in order.
func join[T any](old, new []T, compare func(a, b T) int, onlyOld, onlyNew func(T), both func(o, n T)) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		c := 0
		switch {
		case i == len(old):
			c = 1
		case j == len(new):
			c = -1
		default:
			c = compare(old[i], new[j])
		}
		switch {
		case c < 0:
			onlyOld(old[i])
			i++
		case c > 0:
			onlyNew(new[j])
			j++
		default:
			both(old[i], new[j])
			i++
			j++
		}
	}
}

// edgeView is what Compare compares of an edge besides its key: its
// processes (in names), host counts, seen_from and port byte counts.
type edgeView struct {
	names                    *EdgeNames
	clientHosts, serverHosts int
	seen                     SeenFrom
	toServer, toClient       uint64
}

func viewOf(e *Edge) edgeView {
	b := e.Bytes()
	return edgeView{e.EdgeNames, e.ClientHosts, e.ServerHosts, e.SeenFrom, b.PortBytesToServer, b.PortBytesToClient}
}

func (v edgeView) clientProcesses() []string {
	if v.names == nil {
		return nil
	}
	return v.names.ClientProcesses
}

func (v edgeView) serverProcesses() []string {
	if v.names == nil {
		return nil
	}
	return v.names.ServerProcesses
}

// edgeChanged reports whether edgeChanges would list anything, without
// formatting it.
func edgeChanged(o, n *Edge, opts DiffOptions) bool {
	return viewChanged(viewOf(o), viewOf(n), keyOf(n), opts)
}

// viewChanged is edgeChanged of two views of the edge key k.
func viewChanged(o, n edgeView, k EdgeKey, opts DiffOptions) bool {
	if !joinedEqual(o.clientProcesses(), n.clientProcesses()) ||
		!joinedEqual(o.serverProcesses(), n.serverProcesses()) ||
		hostsCompared(k, opts) && (o.clientHosts != n.clientHosts || o.serverHosts != n.serverHosts) ||
		o.seen != n.seen {
		return true
	}
	return opts.BytesChangePercent > 0 &&
		(bytesChanged(o.toServer, n.toServer, opts.BytesChangePercent) ||
			bytesChanged(o.toClient, n.toClient, opts.BytesChangePercent))
}

// joinedEqual: a and b joined with "," are equal (as edgeChanges compares
// them), without joining equal lists.
func joinedEqual(a, b []string) bool {
	return slices.Equal(a, b) || strings.Join(a, ",") == strings.Join(b, ",")
}

// hostsCompared: host counts of a dependency on collapsed external peers
// follow which addresses were seen, not what depends on what.
func hostsCompared(k EdgeKey, opts DiffOptions) bool {
	return opts.ExternalChanges || (k.From != ExternalNode && k.To != ExternalNode)
}

// edgeChanges lists the changes from view o to view n of the edge key k.
func edgeChanges(o, n edgeView, k EdgeKey, opts DiffOptions) []FieldChange {
	var ch []FieldChange
	ch = appendChange(ch, "client_processes", strings.Join(o.clientProcesses(), ","), strings.Join(n.clientProcesses(), ","))
	ch = appendChange(ch, "server_processes", strings.Join(o.serverProcesses(), ","), strings.Join(n.serverProcesses(), ","))
	if hostsCompared(k, opts) {
		ch = appendChange(ch, "client_hosts", strconv.Itoa(o.clientHosts), strconv.Itoa(n.clientHosts))
		ch = appendChange(ch, "server_hosts", strconv.Itoa(o.serverHosts), strconv.Itoa(n.serverHosts))
	}
	ch = appendChange(ch, "seen_from", o.seen.String(), n.seen.String())
	if opts.BytesChangePercent > 0 {
		if bytesChanged(o.toServer, n.toServer, opts.BytesChangePercent) {
			ch = append(ch, FieldChange{"port_bytes_to_server", fmtUint(o.toServer), fmtUint(n.toServer)})
		}
		if bytesChanged(o.toClient, n.toClient, opts.BytesChangePercent) {
			ch = append(ch, FieldChange{"port_bytes_to_client", fmtUint(o.toClient), fmtUint(n.toClient)})
		}
	}
	return ch
}

func appendChange(ch []FieldChange, field, o, n string) []FieldChange {
	if o != n {
		ch = append(ch, FieldChange{field, o, n})
	}
	return ch
}

// bytesChanged: a change of more than pct percent of the old value, or a
// count appearing or disappearing.
func bytesChanged(o, n uint64, pct float64) bool {
	if o == n {
		return false
	}
	if o == 0 || n == 0 {
		return true
	}
	return math.Abs(float64(n)-float64(o))/float64(o)*100 > pct
}

func fmtUint(v uint64) string { return strconv.FormatUint(v, 10) }

func trafficChanges(old, new []*Traffic, pct float64) []FieldChange {
	type pair struct{ from, to string }
	om := map[pair]uint64{}
	for _, t := range old {
		om[pair{t.From, t.To}] = t.Bytes
	}
	nm := map[pair]uint64{}
	for _, t := range new {
		nm[pair{t.From, t.To}] = t.Bytes
	}
	var out []FieldChange
	seen := map[pair]bool{}
	for _, list := range [][]*Traffic{old, new} {
		for _, t := range list {
			p := pair{t.From, t.To}
			if seen[p] {
				continue
			}
			seen[p] = true
			if o, n := om[p], nm[p]; bytesChanged(o, n, pct) {
				out = append(out, FieldChange{Field: "traffic " + p.from + " -> " + p.to, Old: fmtUint(o), New: fmtUint(n)})
			}
		}
	}
	slices.SortFunc(out, func(a, b FieldChange) int { return cmp.Compare(a.Field, b.Field) })
	return out
}

// collapseExternal returns g with its external nodes made one node,
// ExternalNode, and their dependencies merged per (from, to, protocol,
// port): processes joined, hosts and sockets the largest, seen_from "both"
// when any was, bytes summed. A graph without external nodes is returned
// as it is, and so is a graph whose only external node is ExternalNode
// (collapsed already: a graph's keys are unique). Only Compare and
// ForCompare use the result: it is not indexed.
func collapseExternal(g *Graph) *Graph {
	ids := collapsedIDs(g.Nodes)
	if ids == nil {
		return g
	}
	out := &Graph{Schema: g.Schema, By: g.By, External: g.External}
	ext := &Node{ID: ExternalNode, Kind: KindExternal}
	for _, n := range g.Nodes {
		if n.Kind == KindExternal {
			ext.HostCount += n.HostCount
		}
	}
	rename := func(id string) string {
		if ids[id] {
			return ExternalNode
		}
		return id
	}
	for _, n := range g.Nodes {
		if n.Kind != KindExternal {
			out.Nodes = append(out.Nodes, n)
		}
	}
	out.Nodes = append(out.Nodes, ext)
	slices.SortFunc(out.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	// Only the edges of external nodes change: the others are g's own,
	// shared (Compare reads them only).
	merged := map[EdgeKey]*collapsed{}
	out.Edges = make([]*Edge, 0, len(g.Edges))
	for _, e := range g.Edges {
		if !ids[e.From] && !ids[e.To] {
			out.Edges = append(out.Edges, e)
			continue
		}
		k := EdgeKey{rename(e.From), rename(e.To), e.Protocol, e.Port}
		m := merged[k]
		if m == nil {
			c := *e
			c.From, c.To = k.From, k.To
			merged[k] = &collapsed{Edge: &c}
			out.Edges = append(out.Edges, &c)
			continue
		}
		mergeExternal(m, e)
	}
	for _, m := range merged {
		m.done()
	}
	slices.SortFunc(out.Edges, compareEdges)
	traffic := map[[2]string]*Traffic{}
	for _, t := range g.Traffic {
		k := [2]string{rename(t.From), rename(t.To)}
		if m := traffic[k]; m != nil {
			m.Bytes += t.Bytes
			continue
		}
		c := *t
		c.From, c.To = k[0], k[1]
		traffic[k] = &c
		out.Traffic = append(out.Traffic, &c)
	}
	slices.SortFunc(out.Traffic, compareTraffic)
	return out
}

// collapsed is a dependency of a collapsed key (see collapseExternal) and
// the process names of the dependencies merged into it, gathered as they
// come and sorted once at the end (done): merging them one by one into a
// sorted list took time quadratic in the dependencies of one key.
type collapsed struct {
	*Edge
	procs [2][]string // client, server
}

// mergeExternal folds e into m, another dependency of the same collapsed
// key; m's names are right once done.
func mergeExternal(m *collapsed, e *Edge) {
	m.procs[0] = append(m.procs[0], e.Names().ClientProcesses...)
	m.procs[1] = append(m.procs[1], e.Names().ServerProcesses...)
	mergeCounts(m.Edge, e)
}

// done sets m's process names: its own and those merged into it, sorted,
// each once (m's lists may be shared with other edges: a new set).
func (m *collapsed) done() {
	if len(m.procs[0])+len(m.procs[1]) == 0 {
		return
	}
	names := m.Names()
	names.ClientProcesses = union(names.ClientProcesses, m.procs[0])
	names.ServerProcesses = union(names.ServerProcesses, m.procs[1])
	m.EdgeNames = edgeNames(names)
	m.procs = [2][]string{}
}

// mergeCounts folds e's counts into m's (see collapseExternal).
func mergeCounts(m, e *Edge) {
	m.ClientHosts, m.ServerHosts, m.Sockets = max(m.ClientHosts, e.ClientHosts), max(m.ServerHosts, e.ServerHosts), max(m.Sockets, e.Sockets)
	if m.SeenFrom != e.SeenFrom {
		m.SeenFrom = SeenBoth
	}
	b := m.Bytes()
	b.PortBytesToServer += e.Bytes().PortBytesToServer
	b.PortBytesToClient += e.Bytes().PortBytesToClient
	m.EdgeBytes = edgeBytes(b)
}

// collapsedIDs is the set of the IDs of the external nodes among nodes
// when collapsing them renames any; nil when there is no external node, or
// only ExternalNode (a graph collapsed already, as ForCompare leaves it):
// nothing to rename or merge.
func collapsedIDs(nodes []*Node) map[string]bool {
	external := 0
	for _, n := range nodes {
		if n.Kind == KindExternal {
			if n.ID != ExternalNode {
				external = 2 // more than ExternalNode's one
				break
			}
			external++
		}
	}
	if external <= 1 {
		return nil
	}
	ids := map[string]bool{}
	for _, n := range nodes {
		if n.Kind == KindExternal {
			ids[n.ID] = true
		}
	}
	return ids
}

// union is the sorted union of two sorted name lists.
func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
