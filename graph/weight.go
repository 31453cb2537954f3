package graph

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxDecoded bounds what one graph document takes in memory once read, in
// bytes as a weigher counts them: with the garbage collector's margin, a
// command holding one such graph stays under 512 MiB of RSS. The
// 10,000-host fleetgen fleet merged by host with one node per external IP
// (2.2 million edges, 728 MB of text) weighs about 330 MiB. MaxSize and
// MaxEntries bound the text and the count; this bounds what the count and
// the text cannot: millions of distinct names in short lists (a list
// item of four bytes of text costs 24 or more once decoded) or millions of
// small edges.
const MaxDecoded = 384 << 20

// maxDecoded is MaxDecoded, lowered by tests.
var maxDecoded = int64(MaxDecoded)

// Costs, in bytes, of the parts of a decoded graph (Go's sizes on 64-bit
// platforms, rounded up to the allocator's size classes, with the maps
// and indexes each part needs). They are estimates that err high, the same
// in the reader and the writer: the limit is a property of the document,
// so what merge writes, render and diff read.
const (
	// A node: the Node (128 bytes), its pointer, its entry in the ID
	// index and its place in the adjacency lists.
	nodeCost = 200
	// A node of a graph read beside another (a diff's) equal to that
	// graph's node of its ID, which it shares: its pointer, its entry in
	// the ID index and its place in the adjacency lists.
	sharedNodeCost = nodeCost - 128
	// An edge: the Edge (96 bytes, allocated in blocks), its pointer and
	// its share of the adjacency lists and the edge index.
	edgeCost = 128
	// An edge's byte counts, when it has any (EdgeBytes, in blocks).
	edgeBytesCost = 40
	// A traffic pair: the Traffic (48 bytes) and its pointer.
	trafficCost = 64
	// A string header in a list, with the list's spare capacity (a list
	// decoded from JSON grows by doubling).
	listItemCost = 24
	// A distinct interned string: its bytes (rounded up to 8) and its
	// entry in the intern table.
	internCost = 64
	// A distinct set of an edge's names: the EdgeNames (120 bytes) and
	// its entry in the table of sets (beside its key's bytes).
	nameSetCost = 192
)

// MaxDiffHeld bounds what a diff holds while it reads the new graph, in
// the weigher's bytes: the old graph (as compared: external peers
// collapsed unless DiffOptions.ExternalChanges), the new graph's distinct
// strings and name sets, its nodes and traffic, and the dependencies it
// adds or changes (a change, 32 to 80 bytes beside the old edge). Two
// merges of the 10,000-host fleet by host whose every dependency changed
// take about 400 MiB. Past it the diff is refused, wrapping ErrTooLarge.
const MaxDiffHeld = 416 << 20

// maxDiffHeld is MaxDiffHeld, lowered by tests.
var maxDiffHeld = int64(MaxDiffHeld)

// What a changed dependency holds beside the old edge: its EdgeChange in
// the diff's list, and a new side (changedSide, 40 bytes taking 48) unless
// it shares one (see sideTable).
const (
	changeSize  = 32
	sideSize    = 48
	sideMapCost = 120
)

// heldBudget counts, while a diff reads the new graph, what it holds
// (see MaxDiffHeld): base, the weight of the graph compared with, whose
// strings and name sets are in tables; and kept, what is kept of the
// document beside the strings and sets the reader's weigher counts.
type heldBudget struct {
	base, kept int64
	tables     *weigher
	node       func(id string) *Node // the base graph's node id, or nil
}

// WeightBound is at least what g takes in memory as planet weighs a graph
// (see MaxDecoded), in bytes, without the weighing's tables of strings:
// each string of a node is counted as a distinct one (a graph read shares
// repeated ones), an edge's ends as its nodes' IDs, and each distinct set
// of an edge's names (by pointer: a graph read shares equal sets) once,
// its strings as distinct ones. It holds a set of g's distinct name sets
// and protocols while it counts. What a command builds from g beside it (a
// picture) can be bounded by what it leaves under a budget.
func WeightBound(g *Graph) int64 {
	// A name of invalid UTF-8 is read back with each bad byte as U+FFFD
	// (three bytes): counted three times its length.
	held := func(s string) int64 {
		if !utf8.ValidString(s) {
			return roundUp8(3 * len(s))
		}
		return roundUp8(len(s))
	}
	str := func(s string) int64 { return internCost + held(s) }
	size := int64(0)
	for _, n := range g.Nodes {
		size += nodeCost + str(n.ID) + str(string(n.Kind))
		for _, l := range [][]string{n.Hosts, n.Domains, n.IncompleteHosts} {
			for _, s := range l {
				size += listItemCost + held(s)
			}
		}
	}
	sets := map[*EdgeNames]bool{}
	protocols := map[string]bool{}
	for _, e := range g.Edges {
		size += edgeCost
		if !protocols[e.Protocol] {
			protocols[e.Protocol] = true
			size += str(e.Protocol)
		}
		if e.EdgeBytes != nil {
			size += edgeBytesCost
		}
		if e.EdgeNames != nil && !sets[e.EdgeNames] {
			sets[e.EdgeNames] = true
			// The set, its names, and its key in the table of sets:
			// per list its length and a separator, per name its
			// length, two separators and the name.
			key := 0
			size += nameSetCost
			for _, l := range [][]string{e.ClientProcesses, e.ServerProcesses, e.ClientWorkloads, e.ServerWorkloads, e.Dialled} {
				key += 21
				for _, s := range l {
					size += listItemCost + str(s)
					key += 3*len(s) + 22
				}
			}
			size += roundUp8(key)
		}
	}
	return size + int64(len(g.Traffic))*trafficCost
}

// newHeldBudget starts counting beside base, the graph compared with,
// indexing its strings and name sets: the document's that base has are
// base's, not copies (the tables take what base's weight counts for
// them).
func newHeldBudget(base *Graph) *heldBudget {
	w := newWeigher()
	w.limit = math.MaxInt64
	// Weighed as the writer weighs it, but keeping base's sets (its
	// lists are sorted already: sorting them again changes nothing).
	for _, n := range base.Nodes {
		c := *n
		_, _ = w.node(&c)
	}
	for _, e := range base.Edges {
		c := *e
		_, _ = w.edge(&c, true)
	}
	for _, t := range base.Traffic {
		c := *t
		_, _ = w.traffic(&c)
	}
	node := base.Node
	if base.byID == nil {
		nodes := make(map[string]*Node, len(base.Nodes))
		for _, n := range base.Nodes {
			nodes[n.ID] = n
		}
		node = func(id string) *Node { return nodes[id] }
	}
	return &heldBudget{base: w.size + base.extraHeld, tables: w, node: node}
}

// hold adds size to what the diff being read holds (nothing when d is not
// read for a diff); it fails, wrapping ErrTooLarge, past maxDiffHeld.
func (d *docReader) hold(size int64) error {
	if d.held == nil {
		return nil
	}
	d.held.kept += size
	if total := d.held.base + d.w.shared + d.held.kept; total > maxDiffHeld {
		return fmt.Errorf("%w: the graph compared with (%d MiB once read) and what this one adds or changes take more than %d MiB (see graph.MaxDiffHeld): %s",
			ErrTooLarge, d.held.base>>20, maxDiffHeld>>20, tooLargeHint)
	}
	return nil
}

// nodeHeld returns the node to keep for n, which weighs size, and what the
// diff being read holds of it: a node equal to the base graph's node of its
// ID in every field is that node (graphs share nodes: a graph keeps the
// positions in its own index), and holds only its place in this graph.
func (d *docReader) nodeHeld(n *Node, size int64) (*Node, int64) {
	if d.held == nil {
		return n, size
	}
	b := d.held.node(n.ID)
	if b == nil || b.Kind != n.Kind || b.HostCount != n.HostCount || b.UnownedSockets != n.UnownedSockets {
		return n, size
	}
	// The document's lists may be in any order; base's are sorted.
	for _, l := range [][]string{n.Hosts, n.Domains, n.IncompleteHosts} {
		slices.Sort(l)
	}
	if !slices.Equal(b.Hosts, nilIfEmpty(n.Hosts)) || !slices.Equal(b.Domains, nilIfEmpty(n.Domains)) ||
		!slices.Equal(b.IncompleteHosts, nilIfEmpty(n.IncompleteHosts)) {
		return n, size
	}
	return b, sharedNodeCost
}

// weigher interns a graph's repeated strings and name sets, as the reader
// keeps them, and adds up what the graph costs in memory (see MaxDecoded).
// The reader weighs what it decodes, Write what it writes: both give a
// document the same weight.
type weigher struct {
	strs map[string]string
	sets map[string]*EdgeNames
	key  []byte
	// size is the weight so far; shared, the part of it in the distinct
	// strings and name sets (what a reader keeps in its tables even of
	// the entries it drops). limit is maxDecoded when the weigher was
	// made.
	size, shared, limit int64
	// parent, for a document read beside a graph held already (a diff's
	// new graph), holds that graph's strings and name sets: one found
	// there is that graph's copy, and costs nothing more.
	parent *weigher
	// weighed, for the writer, holds the sets of lists already weighed by
	// their arrays: a merge's edges share a few sets' lists, and finding
	// one this way is cheaper than spelling its key (the lists of a graph
	// being written do not change while it is written).
	weighed map[[5]listRef]bool
	// last holds the interned From and Protocol of the last edge.
	last struct{ From, Protocol string }
	// raw, for the writer: strings are as the graph holds them, and are
	// weighed as the reader will decode them (see asRead).
	raw bool
}

// listRef names a list by its array and length.
type listRef struct {
	p *string
	n int
}

func newWeigher() *weigher {
	return &weigher{strs: map[string]string{}, sets: map[string]*EdgeNames{}, limit: maxDecoded}
}

// add adds n bytes; it fails, wrapping ErrTooLarge, once the total passes
// the limit.
func (w *weigher) add(n int64) error {
	w.size += n
	if w.size > w.limit {
		return fmt.Errorf("%w: more than %d MiB once read (nodes, edges, and their distinct names and lists, see graph.MaxDecoded): %s",
			ErrTooLarge, maxDecoded>>20, tooLargeHint)
	}
	return nil
}

// str returns the one copy of s, counting it the first time.
func (w *weigher) str(s string) string {
	if v, ok := w.strs[s]; ok {
		return v
	}
	if w.parent != nil {
		if v, ok := w.parent.strs[s]; ok {
			return v
		}
	}
	if w.raw {
		if r := asRead(s); r != s {
			// Kept under s too: found at once the next time.
			v := w.str(r)
			w.strs[s] = v
			return v
		}
	}
	w.strs[s] = s
	n := internCost + roundUp8(len(s))
	w.size += n
	w.shared += n
	return s
}

// weighNode, weighEdge and weighTraffic weigh a part of a graph being
// written: the part is copied (what the reader would intern is not
// changed in the writer's graph).
func (w *weigher) weighNode(n *Node) error { c := *n; _, err := w.node(&c); return err }

func (w *weigher) weighEdge(e *Edge) error { c := *e; _, err := w.edge(&c, false); return err }

func (w *weigher) weighTraffic(t *Traffic) error { c := *t; _, err := w.traffic(&c); return err }

func roundUp8(n int) int64 { return int64(n+7) &^ 7 }

// node interns n's ID and kind and weighs it (its lists are its own),
// returning its own cost, beside that of the strings it shares.
func (w *weigher) node(n *Node) (int64, error) {
	n.ID = w.str(n.ID)
	n.Kind = NodeKind(w.str(string(n.Kind)))
	size := int64(nodeCost)
	for _, l := range [][]string{n.Hosts, n.Domains, n.IncompleteHosts} {
		for _, s := range l {
			if w.raw {
				s = asRead(s)
			}
			size += listItemCost + roundUp8(len(s))
		}
	}
	return size, w.add(size)
}

// edge interns e's strings and names and weighs it, returning its own
// cost. With keep false (the
// writer, whose edge is reused), e's names are weighed, never kept.
func (w *weigher) edge(e *Edge, keep bool) (int64, error) {
	// Edges come sorted by From, most of one protocol: the last edge's
	// are tried first.
	if e.From == w.last.From {
		e.From = w.last.From
	} else {
		e.From = w.str(e.From)
		w.last.From = e.From
	}
	if e.Protocol == w.last.Protocol {
		e.Protocol = w.last.Protocol
	} else {
		e.Protocol = w.str(e.Protocol)
		w.last.Protocol = e.Protocol
	}
	e.To = w.str(e.To)
	e.EdgeNames = w.names(e.EdgeNames, keep)
	size := int64(edgeCost)
	if e.Bytes() != (EdgeBytes{}) {
		size += edgeBytesCost // the reader keeps no all-zero counts
	}
	return size, w.add(size)
}

// traffic interns t's ends and weighs it, returning its own cost.
func (w *weigher) traffic(t *Traffic) (int64, error) {
	t.From, t.To = w.str(t.From), w.str(t.To)
	return trafficCost, w.add(trafficCost)
}

// names returns the one copy of n's lists, sorted (nil when all are
// empty), counting a set the first time it is seen: the edges of a fleet
// repeat a few sets of processes and workloads. With keep false (the
// writer's graph, which must not change), n is not changed: its lists are
// weighed sorted, as the reader will sort them, and only its key is kept.
func (w *weigher) names(n *EdgeNames, keep bool) *EdgeNames {
	if n.empty() {
		return nil
	}
	if keep {
		n.sort()
	} else if !n.sorted() {
		c := EdgeNames{slices.Sorted(slices.Values(n.ClientProcesses)), slices.Sorted(slices.Values(n.ServerProcesses)),
			slices.Sorted(slices.Values(n.ClientWorkloads)), slices.Sorted(slices.Values(n.ServerWorkloads)), slices.Sorted(slices.Values(n.Dialled))}
		n = &c
	}
	var ref [5]listRef
	if !keep {
		for i, l := range [][]string{n.ClientProcesses, n.ServerProcesses, n.ClientWorkloads, n.ServerWorkloads, n.Dialled} {
			ref[i] = listRef{unsafe.SliceData(l), len(l)}
		}
		if w.weighed[ref] {
			return n
		}
		if w.weighed == nil {
			w.weighed = map[[5]listRef]bool{}
		}
		w.weighed[ref] = true
		if w.raw && !n.validUTF8() {
			// Sorted as read: "\xff" sorts after "\uFFFE", its U+FFFD
			// before.
			c := EdgeNames{sortedAsRead(n.ClientProcesses), sortedAsRead(n.ServerProcesses),
				sortedAsRead(n.ClientWorkloads), sortedAsRead(n.ServerWorkloads), sortedAsRead(n.Dialled)}
			n = &c
		}
	}
	lists := []*[]string{&n.ClientProcesses, &n.ServerProcesses, &n.ClientWorkloads, &n.ServerWorkloads, &n.Dialled}
	// The key spells each list's length and each name's length and text.
	w.key = w.key[:0]
	for _, l := range lists {
		w.key = strconv.AppendInt(w.key, int64(len(*l)), 10)
		for _, s := range *l {
			w.key = append(w.key, ':')
			w.key = strconv.AppendInt(w.key, int64(len(s)), 10)
			w.key = append(w.key, ':')
			w.key = append(w.key, s...)
		}
		w.key = append(w.key, ';')
	}
	if v, ok := w.sets[string(w.key)]; ok {
		if keep {
			return v
		}
		return n
	}
	if w.parent != nil && keep {
		if v, ok := w.parent.sets[string(w.key)]; ok {
			return v
		}
	}
	size := int64(nameSetCost) + roundUp8(len(w.key))
	for _, l := range lists {
		size += int64(len(*l)) * listItemCost
		for i, s := range *l {
			if s = w.str(s); keep {
				(*l)[i] = s
			}
		}
	}
	if keep {
		w.sets[string(w.key)] = n
	} else {
		w.sets[string(w.key)] = nil
	}
	w.size += size
	w.shared += size
	return n
}

// asRead returns s as the reader will decode it from what Write writes:
// encoding/json writes each byte of invalid UTF-8 as \ufffd, read back as
// U+FFFD (3 bytes). A valid s is returned as it is.
func asRead(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for _, r := range s { // a byte of invalid UTF-8 is utf8.RuneError
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// sortedAsRead returns l's names as read (asRead), sorted.
func sortedAsRead(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	c := make([]string, len(l))
	for i, s := range l {
		c[i] = asRead(s)
	}
	slices.Sort(c)
	return c
}

// validUTF8 says whether every name of n is valid UTF-8.
func (n *EdgeNames) validUTF8() bool {
	for _, l := range [][]string{n.ClientProcesses, n.ServerProcesses, n.ClientWorkloads, n.ServerWorkloads, n.Dialled} {
		for _, s := range l {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}
