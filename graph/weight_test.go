package graph

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/planetdeps/planet/snapshot"
)

// readWeight reads doc as Read does and returns the weight it counted.
func readWeight(t *testing.T, doc []byte) int64 {
	t.Helper()
	d := &docReader{br: bufio.NewReader(bytes.NewReader(doc)), name: "doc.json", line: 1, w: newWeigher()}
	if _, err := d.graph(); err != nil {
		t.Fatal(err)
	}
	return d.w.size
}

// writeWeights writes g and returns its document, the weight the writer
// gives it and the weight the reader gives the document.
func writeWeights(t *testing.T, g *Graph) (doc []byte, written, read int64) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, g); err != nil {
		t.Fatal(err)
	}
	written, err := weigh(g, len(g.Edges), func(i int) *Edge { return g.Edges[i] }, newWeigher())
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), written, readWeight(t, b.Bytes())
}

// weightGraphs are graphs of every shape the weigher counts: shared and
// distinct names, node lists, byte counts (zero ones too), traffic.
func weightGraphs(t *testing.T) map[string]*Graph {
	t.Helper()
	graphs := map[string]*Graph{}
	g, err := Parse(goldenDoc(t), "golden.json")
	if err != nil {
		t.Fatal(err)
	}
	graphs["golden"] = g
	for seed := range 20 {
		graphs[fmt.Sprint("random-", seed)] = randomGraph(rand.New(rand.NewPCG(uint64(seed), 9)))
	}
	lists := &Graph{Schema: Schema, By: ByHostgroup, External: "ip", Snapshots: 2}
	lists.Nodes = []*Node{
		{ID: "web", Kind: KindHostgroup, HostCount: 2, Hosts: []string{"web-1", "web-2"}, Domains: []string{"eu.example"}, IncompleteHosts: []string{"web-2"}},
		{ID: "db", Kind: KindHostgroup, HostCount: 1, Hosts: []string{"db-1"}},
	}
	lists.Edges = []*Edge{
		{From: "db", To: "web", Protocol: "tcp", Port: 80, SeenFrom: SeenBoth, ClientHosts: 1, ServerHosts: 2,
			EdgeNames: &EdgeNames{ClientProcesses: []string{"curl"}, ServerProcesses: []string{"nginx"}}},
		{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: SeenBoth, ClientHosts: 2, ServerHosts: 1,
			EdgeNames: &EdgeNames{ClientProcesses: []string{"curl"}, ServerProcesses: []string{"nginx"}}, EdgeBytes: &EdgeBytes{}},
		{From: "web", To: "db", Protocol: "udp", Port: 53, SeenFrom: SeenClient, ClientHosts: 2,
			EdgeNames: &EdgeNames{ClientWorkloads: []string{"a.service"}, Dialled: []string{"10.0.0.1:53"}}, EdgeBytes: &EdgeBytes{PortBytesToServer: 7}},
	}
	lists.Traffic = []*Traffic{{From: "web", To: "db", Bytes: 9, SeenFrom: SeenBoth}}
	graphs["lists"] = lists
	// Names of invalid UTF-8, each byte of it read as U+FFFD (3 bytes):
	// "a\xfe" and "a\xff" are one name once read, and so are the name
	// sets of the first two edges; "\xff" sorts after "\uFFFE", its
	// U+FFFD before.
	invalid := &Graph{Schema: Schema, By: ByHostgroup, External: "ip", Snapshots: 3}
	invalid.Nodes = []*Node{
		{ID: "db\xff", Kind: KindHostgroup, HostCount: 2, Hosts: []string{"db-\xfe1", "db-\xfe2"}, Domains: []string{"\xff\xff"}},
		{ID: "web", Kind: KindHostgroup, HostCount: 1, Hosts: []string{"w\xe2\x80"}},
	}
	invalid.Edges = []*Edge{
		{From: "db\xff", To: "web", Protocol: "tcp", Port: 80, SeenFrom: SeenBoth, ClientHosts: 2, ServerHosts: 1,
			EdgeNames: &EdgeNames{ClientProcesses: []string{"\uFFFE", "\xff"}, ServerProcesses: []string{"n\xff"}}},
		{From: "web", To: "db\xff", Protocol: "tcp", Port: 5432, SeenFrom: SeenBoth, ClientHosts: 1, ServerHosts: 2,
			EdgeNames: &EdgeNames{ClientProcesses: []string{"\uFFFD", "\uFFFE"}, ServerProcesses: []string{"n\uFFFD"}}},
		{From: "web", To: "db\xff", Protocol: "udp", Port: 53, SeenFrom: SeenClient, ClientHosts: 1,
			EdgeNames: &EdgeNames{ClientProcesses: []string{"a\xfe", "a\xff"}, ClientWorkloads: []string{"a\uFFFD"}}},
	}
	invalid.Traffic = []*Traffic{{From: "web", To: "db\xff", Bytes: 9, SeenFrom: SeenBoth}}
	graphs["invalid-utf8"] = invalid
	return graphs
}

// TestWeightAgrees: the writer weighs a graph as the reader of its document
// does, and both accept it at exactly its weight and refuse it a byte
// under: what merge writes, render and diff read.
func TestWeightAgrees(t *testing.T) {
	defer func(n int64) { maxDecoded = n }(maxDecoded)
	for name, g := range weightGraphs(t) {
		t.Run(name, func(t *testing.T) {
			maxDecoded = MaxDecoded
			doc, written, read := writeWeights(t, g)
			if read != written {
				t.Fatalf("read %d bytes, written %d", read, written)
			}
			maxDecoded = written
			if _, err := Parse(doc, "doc.json"); err != nil {
				t.Errorf("at its weight, Parse: %v", err)
			}
			if err := Write(&bytes.Buffer{}, g); err != nil {
				t.Errorf("at its weight, Write: %v", err)
			}
			maxDecoded = written - 1
			if _, err := Parse(doc, "doc.json"); !errors.Is(err, ErrTooLarge) {
				t.Errorf("a byte under its weight, Parse: %v", err)
			}
			var out bytes.Buffer
			if err := Write(&out, g); !errors.Is(err, ErrTooLarge) || out.Len() != 0 {
				t.Errorf("a byte under its weight, Write: %v, %d bytes written", err, out.Len())
			}
		})
	}
}

// TestWeightMergedAgrees: a merge's own writer (Merged.Write, which builds
// each edge as it writes it) weighs its graph as the reader does.
func TestWeightMergedAgrees(t *testing.T) {
	defer func(n int64) { maxDecoded = n }(maxDecoded)
	var snaps []*snapshot.Snapshot
	for i := range 30 {
		var conns []snapshot.Connection
		for j := range 12 {
			conns = append(conns, up(uint16(8000+j%4), fmt.Sprintf("p%d", (i*j)%7), netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + (i+j)%30)}).String(), "", 1+j))
			conns = append(conns, up(443, "curl", netip.AddrFrom4([4]byte{198, 51, 100, byte(i*12 + j)}).String(), "", 1))
		}
		snaps = append(snaps, host(fmt.Sprint("h", i), fmt.Sprint("g", i%5), netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}).String(), t0, conns...))
	}
	for _, by := range []By{ByHostgroup, ByHost} {
		merge := func() *Merged {
			m, err := NewMerger(MergeOptions{By: by})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range snaps {
				if err := m.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			r, err := m.FinishMerged()
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		maxDecoded = MaxDecoded
		var doc bytes.Buffer
		if err := merge().Write(&doc); err != nil {
			t.Fatal(err)
		}
		weight := readWeight(t, doc.Bytes())
		maxDecoded = weight
		if err := merge().Write(&bytes.Buffer{}); err != nil {
			t.Errorf("by %s: at its weight: %v", by, err)
		}
		maxDecoded = weight - 1
		var out bytes.Buffer
		err := merge().Write(&out)
		if !errors.Is(err, ErrTooLarge) || out.Len() != 0 || !strings.Contains(err.Error(), "once read") {
			t.Errorf("by %s: a byte under its weight: %v, %d bytes written", by, err, out.Len())
		}
	}
}

// TestWeightRefusesNames: a document of edges with long lists of short
// distinct names (four bytes of text, more than 30 once read) is refused
// at the element that passes the limit, named with its line and byte.
func TestWeightRefusesNames(t *testing.T) {
	defer func(n int64) { maxDecoded = n }(maxDecoded)
	maxDecoded = 1 << 20
	var doc bytes.Buffer
	doc.WriteString(`{"schema":"planet.graph/v1","generated_at":"2025-03-01T12:00:00Z","by":"host","external":"ip","snapshots":1,"nodes":[{"id":"a","kind":"host","host_count":1}],"edges":[`)
	k := 0
	for port := range 20 {
		if port > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, "\n"+`{"from":"a","to":"a","protocol":"tcp","port":%d,"seen_from":"both","client_hosts":1,"server_hosts":1,"sockets":1,"client_processes":[`, port+1)
		for i := range 2000 {
			if i > 0 {
				doc.WriteString(",")
			}
			fmt.Fprintf(&doc, `"%x"`, k)
			k++
		}
		doc.WriteString("]}")
	}
	doc.WriteString("]}")
	if doc.Len() > 1<<20 {
		t.Fatalf("the document is %d bytes: the weight, not the text, must be what passes the limit", doc.Len())
	}
	_, err := Parse(doc.Bytes(), "names.json")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "names.json: line ") || !strings.Contains(err.Error(), ": edges[") ||
		!strings.Contains(err.Error(), "more than 1 MiB once read") {
		t.Errorf("Parse: %v", err)
	}
}

// heldGraph is a graph of 2,000 edges between 50 hosts, each edge's
// client process named by names(i).
func heldGraph(names func(i int) string) *Graph {
	g := &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: 50}
	for i := range 50 {
		g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprintf("h%02d", i), Kind: KindHost, HostCount: 1})
	}
	for i := range 2000 {
		g.Edges = append(g.Edges, &Edge{From: fmt.Sprintf("h%02d", i%50), To: fmt.Sprintf("h%02d", i/50), Protocol: "tcp", Port: 443,
			SeenFrom: SeenBoth, ClientHosts: 1, ServerHosts: 1, Sockets: 1, EdgeNames: &EdgeNames{ClientProcesses: []string{names(i)}}})
	}
	if err := g.index(); err != nil {
		panic(err)
	}
	return g
}

// TestDiffHeld: a diff counts the old graph and what the new one adds or
// changes, not the new graph's unchanged dependencies: the same graph
// passes a limit that a graph whose every dependency changed passes, in
// order (ReadCompare) and out of order (ReadForCompare), wrapping
// ErrTooLarge with the element at fault.
func TestDiffHeld(t *testing.T) {
	defer func(n int64) { maxDiffHeld = n }(maxDiffHeld)
	old := heldGraph(func(int) string { return "java" })
	changed := heldGraph(func(i int) string { return fmt.Sprint("p", i) })
	base := newHeldBudget(old).base
	if base < 2000*edgeCost {
		t.Fatalf("the old graph weighs %d bytes, less than its edges", base)
	}
	// The old graph and the new one's nodes: the same graph shares its
	// strings, name sets and node lists with the old one.
	maxDiffHeld = base + 50*nodeCost
	var same, all bytes.Buffer
	if err := Write(&same, old); err != nil {
		t.Fatal(err)
	}
	if err := Write(&all, changed); err != nil {
		t.Fatal(err)
	}
	backward := slices.Clone(changed.Edges)
	slices.Reverse(backward)
	reversed := compactDoc(t, &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: 50,
		Nodes: changed.Nodes, Edges: backward})
	if d, err := ReadCompare(bytes.NewReader(same.Bytes()), "same.json", old, DiffOptions{}); err != nil || !d.Empty() {
		t.Errorf("the same graph: %v", err)
	}
	if _, err := ReadForCompare(bytes.NewReader(same.Bytes()), "same.json", old, DiffOptions{}); err != nil {
		t.Errorf("the same graph, read whole: %v", err)
	}
	if g, err := ReadShared(bytes.NewReader(same.Bytes()), "same.json", old); err != nil || len(g.Edges) != len(old.Edges) {
		t.Errorf("the same graph, read beside: %v", err)
	}
	for name, read := range map[string]func() error{
		"in order": func() error {
			_, err := ReadCompare(bytes.NewReader(all.Bytes()), "new.json", old, DiffOptions{})
			return err
		},
		"read whole": func() error {
			_, err := ReadForCompare(bytes.NewReader(reversed), "new.json", old, DiffOptions{})
			return err
		},
		"read beside (render --diff)": func() error {
			_, err := ReadShared(bytes.NewReader(all.Bytes()), "new.json", old)
			return err
		},
	} {
		err := read()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "new.json: line ") || !strings.Contains(err.Error(), ": edges[") ||
			!strings.Contains(err.Error(), "what this one adds or changes take more than") {
			t.Errorf("%s: every dependency changed: %v", name, err)
		}
	}
	maxDiffHeld = MaxDiffHeld
	if d, err := ReadCompare(bytes.NewReader(all.Bytes()), "new.json", old, DiffOptions{}); err != nil || len(d.ChangedEdges) != 2000 {
		t.Errorf("every dependency changed, under MaxDiffHeld: %v", err)
	}
	// A graph of distinct names and long node lists, with itself.
	for i, n := range changed.Nodes {
		for j := range 100 {
			n.Hosts = append(n.Hosts, fmt.Sprintf("host-%d-%d", i, j))
		}
		slices.Sort(n.Hosts) // as a graph read has them
		n.HostCount = len(n.Hosts)
	}
	maxDiffHeld = newHeldBudget(changed).base + 50*nodeCost
	var doc bytes.Buffer
	if err := Write(&doc, changed); err != nil {
		t.Fatal(err)
	}
	if d, err := ReadCompare(bytes.NewReader(doc.Bytes()), "same.json", changed, DiffOptions{}); err != nil || !d.Empty() {
		t.Errorf("distinct names, with itself: %v", err)
	}
	if _, err := ReadForCompare(bytes.NewReader(doc.Bytes()), "same.json", changed, DiffOptions{}); err != nil {
		t.Errorf("distinct names, with itself, read whole: %v", err)
	}
}

// TestWeightCosts: the weigher's costs are at least the sizes of what they
// stand for (a pointer to each beside it), so that a change to a struct
// cannot make the limits promise less memory than they take.
func TestWeightCosts(t *testing.T) {
	const ptr = int64(unsafe.Sizeof(uintptr(0)))
	for _, c := range []struct {
		what       string
		size, cost int64
	}{
		{"Node", int64(unsafe.Sizeof(Node{})) + ptr, nodeCost},
		{"Edge", int64(unsafe.Sizeof(Edge{})) + ptr, edgeCost},
		{"EdgeBytes", int64(unsafe.Sizeof(EdgeBytes{})), edgeBytesCost},
		{"Traffic", int64(unsafe.Sizeof(Traffic{})) + ptr, trafficCost},
		{"EdgeNames", int64(unsafe.Sizeof(EdgeNames{})), nameSetCost},
		{"EdgeChange", int64(unsafe.Sizeof(EdgeChange{})), changeSize},
		{"changedSide", int64(unsafe.Sizeof(changedSide{})), sideSize},
		{"a string in a list", int64(unsafe.Sizeof("")), listItemCost},
	} {
		if c.size > c.cost {
			t.Errorf("%s takes %d bytes, its cost is %d", c.what, c.size, c.cost)
		}
	}
}

// TestWriteLeavesNames: Write weighs an edge's unsorted lists as the
// reader will sort them, without sorting the caller's lists.
func TestWriteLeavesNames(t *testing.T) {
	g := weightGraphs(t)["lists"]
	procs := []string{"zsh", "bash"}
	g.Edges[0].EdgeNames = &EdgeNames{ClientProcesses: procs}
	_, written, read := writeWeights(t, g)
	if procs[0] != "zsh" {
		t.Errorf("Write sorted the graph's list: %v", procs)
	}
	if read != written {
		t.Errorf("read %d bytes, written %d", read, written)
	}
}

// FuzzWeightAgrees: with names of any bytes (invalid UTF-8, characters
// written escaped), the writer weighs a graph as the reader of its
// document does, and each entry's text is within entryBound.
func FuzzWeightAgrees(f *testing.F) {
	f.Add("web", "db", "curl", "nginx", "web-1")
	f.Add("db\xff", "web", "\uFFFE", "\xff", "a\xfe")
	f.Add("a\x01\"", "\u2028b", "\xe2\x80", "\xed\xa0\x80", "\\")
	f.Fuzz(func(t *testing.T, a, b, p1, p2, host string) {
		if a == "" || b == "" || asRead(a) == asRead(b) {
			t.Skip("the two nodes must have two IDs once read")
		}
		proto := p1
		if proto == "" {
			proto = "udp" // a protocol is never empty
		}
		g := &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: 2}
		g.Nodes = []*Node{
			{ID: a, Kind: KindHost, HostCount: 1, Hosts: []string{host, p1}},
			{ID: b, Kind: KindExternal, HostCount: 1, Domains: []string{p2}},
		}
		g.Edges = []*Edge{
			{From: a, To: b, Protocol: "tcp", Port: 1, SeenFrom: SeenBoth, ClientHosts: 1, ServerHosts: 1,
				EdgeNames: &EdgeNames{ClientProcesses: []string{p1, p2}, ServerProcesses: []string{p2}}},
			{From: b, To: a, Protocol: proto, Port: 2, SeenFrom: SeenClient, ClientHosts: 1,
				EdgeNames: &EdgeNames{ClientProcesses: []string{p2, p1}, Dialled: []string{host}}},
		}
		g.Traffic = []*Traffic{{From: a, To: b, Bytes: 1, SeenFrom: SeenBoth}}
		if _, written, read := writeWeights(t, g); read != written {
			t.Errorf("read %d bytes, written %d", read, written)
		}
		for _, v := range []any{g.Nodes[0], g.Nodes[1], g.Edges[0], g.Edges[1], g.Traffic[0]} {
			text, err := newEntryEncoder().encode(v)
			if err != nil {
				t.Fatal(err)
			}
			if size, exact, bound := textSize(text), entryBound1(v, true), entryBound1(v, false); size > exact || exact > bound {
				t.Errorf("%s: %d bytes, exact bound %d, bound %d", text, size, exact, bound)
			}
		}
	})
}

// TestDiffSharesNodes: the new graph of a diff shares each node equal to
// the old graph's (graphs keep node positions in their own index), and
// holds only its place in the new graph: two graphs of 800,000 hosts and
// no edges, the same, were refused as too large for a diff. A node that
// differs is held whole.
func TestDiffSharesNodes(t *testing.T) {
	defer func(n int64) { maxDiffHeld = n }(maxDiffHeld)
	const n = 5000
	nodes := func(hostCount int) *Graph {
		g := &Graph{Schema: Schema, By: ByHost, External: "ip", Snapshots: n}
		for i := range n {
			g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprintf("host-%05d.example.org", i), Kind: KindHost, HostCount: hostCount,
				Hosts: []string{fmt.Sprintf("host-%05d", i)}})
		}
		if err := g.index(); err != nil {
			t.Fatal(err)
		}
		return g
	}
	old := nodes(1)
	var same, changed bytes.Buffer
	if err := Write(&same, old); err != nil {
		t.Fatal(err)
	}
	if err := Write(&changed, nodes(2)); err != nil {
		t.Fatal(err)
	}
	maxDiffHeld = newHeldBudget(old).base + n*sharedNodeCost + 4096
	g, err := ReadShared(bytes.NewReader(same.Bytes()), "same.json", old)
	if err != nil {
		t.Fatalf("the same nodes: %v", err)
	}
	for i, node := range g.Nodes {
		if node != old.Nodes[i] || g.Node(node.ID) != node || g.GonumID(node.ID) != int64(i) {
			t.Fatalf("node %q not shared, or not indexed in the new graph", node.ID)
		}
	}
	if d, err := ReadCompare(bytes.NewReader(same.Bytes()), "same.json", old, DiffOptions{}); err != nil || !d.Empty() {
		t.Errorf("the same nodes, compared: %v", err)
	}
	if _, err := ReadCompare(bytes.NewReader(changed.Bytes()), "changed.json", old, DiffOptions{}); !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "changed.json: line ") || !strings.Contains(err.Error(), ": nodes[") {
		t.Errorf("every node changed: %v, want ErrTooLarge at a node", err)
	}
	maxDiffHeld = MaxDiffHeld
	if d, err := ReadCompare(bytes.NewReader(changed.Bytes()), "changed.json", old, DiffOptions{}); err != nil || len(d.ChangedNodes) != n {
		t.Errorf("every node changed, under MaxDiffHeld: %v", err)
	}
	// A node that differs in any one field is its own, not the old one.
	for name, change := range map[string]func(*Node){
		"kind":             func(n *Node) { n.Kind = KindHostgroup },
		"host_count":       func(n *Node) { n.HostCount = 2 },
		"hosts":            func(n *Node) { n.Hosts = []string{"other"} },
		"domains":          func(n *Node) { n.Domains = []string{"example.org"} },
		"incomplete_hosts": func(n *Node) { n.IncompleteHosts = []string{n.Hosts[0]} },
		"unowned_sockets":  func(n *Node) { n.UnownedSockets = 1 },
	} {
		g := nodes(1)
		change(g.Nodes[7])
		var doc bytes.Buffer
		if err := Write(&doc, g); err != nil {
			t.Fatal(err)
		}
		read, err := ReadShared(bytes.NewReader(doc.Bytes()), name+".json", old)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		id := g.Nodes[7].ID
		if read.Node(id) == old.Node(id) || read.Nodes[0] != old.Nodes[0] {
			t.Errorf("%s changed: node %q shared %v, an unchanged node shared %v", name, id, read.Node(id) == old.Node(id), read.Nodes[0] == old.Nodes[0])
		}
	}
}

// TestWeightBound: the bound needs no tables and is at least the weight a
// graph read is given, for every graph of the weight tests.
func TestWeightBound(t *testing.T) {
	graphs := weightGraphs(t)
	graphs["shared names"] = heldGraph(func(int) string { return "java" })
	graphs["distinct names"] = heldGraph(func(i int) string { return fmt.Sprint("p", i) })
	// Read back with each bad byte as U+FFFD: three times as long.
	bad := heldGraph(func(i int) string { return fmt.Sprint("p", i, strings.Repeat("\xff", 64)) })
	bad.Nodes[0].Hosts = []string{strings.Repeat("\xfe", 64)}
	graphs["invalid UTF-8"] = bad
	for name, g := range graphs {
		if _, _, read := writeWeights(t, g); WeightBound(g) < read {
			bound := WeightBound(g)
			t.Errorf("%s: bound %d, less than the weight read, %d", name, bound, read)
		}
	}
}
