package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// randomGraph is a graph of a few hostgroups, hosts and external nodes
// (none, only ExternalNode, or several), with edges between them that
// share a few name sets, and traffic.
func randomGraph(rng *rand.Rand) *Graph {
	g := &Graph{Schema: Schema, GeneratedAt: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), By: ByHostgroup, External: "ip", Snapshots: 3}
	for i := range 3 + rng.IntN(5) {
		kind := []NodeKind{KindHostgroup, KindHost}[rng.IntN(2)]
		g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprintf("n%d", i), Kind: kind, HostCount: 1 + rng.IntN(3)})
	}
	switch rng.IntN(3) {
	case 1:
		g.Nodes = append(g.Nodes, &Node{ID: ExternalNode, Kind: KindExternal, HostCount: 1 + rng.IntN(3)})
	case 2:
		for i := range 1 + rng.IntN(4) {
			g.Nodes = append(g.Nodes, &Node{ID: fmt.Sprintf("198.51.100.%d", i), Kind: KindExternal, HostCount: 1})
		}
	}
	names := []*EdgeNames{nil, {ClientProcesses: []string{"java"}}, {ClientProcesses: []string{"a", "b"}, ServerProcesses: []string{"pg"}},
		{ClientProcesses: []string{"a,b"}, ServerWorkloads: []string{"w"}}, {ServerProcesses: []string{"pg"}, Dialled: []string{"10.0.0.1:80"}}}
	seen := map[EdgeKey]bool{}
	for range rng.IntN(40) {
		e := randomEdge(rng, g.Nodes, names)
		if k := keyOf(e); !seen[k] {
			seen[k] = true
			g.Edges = append(g.Edges, e)
		}
	}
	for range rng.IntN(4) {
		a, b := g.Nodes[rng.IntN(len(g.Nodes))], g.Nodes[rng.IntN(len(g.Nodes))]
		if !slices.ContainsFunc(g.Traffic, func(t *Traffic) bool { return t.From == a.ID && t.To == b.ID }) {
			g.Traffic = append(g.Traffic, &Traffic{From: a.ID, To: b.ID, Bytes: uint64(rng.IntN(3)) * 1000, SeenFrom: SeenBoth})
		}
	}
	if err := g.index(); err != nil {
		panic(err)
	}
	return g
}

func randomEdge(rng *rand.Rand, nodes []*Node, names []*EdgeNames) *Edge {
	e := &Edge{From: nodes[rng.IntN(len(nodes))].ID, To: nodes[rng.IntN(len(nodes))].ID,
		Protocol: []string{"tcp", "udp"}[rng.IntN(2)], Port: uint16(rng.IntN(4)),
		SeenFrom: SeenFrom(1 + rng.IntN(4)), EdgeNames: names[rng.IntN(len(names))],
		ClientHosts: rng.IntN(3), ServerHosts: rng.IntN(3), Sockets: rng.IntN(5)}
	if rng.IntN(3) > 0 {
		e.EdgeBytes = &EdgeBytes{PortBytesToServer: uint64(rng.IntN(4)) * 100, PortBytesToClient: uint64(rng.IntN(3)) * 100}
	}
	return e
}

// changedGraph is g with some nodes and edges gone, some added, and some
// of the others' attributes moved.
func changedGraph(rng *rand.Rand, g *Graph) *Graph {
	n := &Graph{Schema: g.Schema, GeneratedAt: g.GeneratedAt, By: g.By, External: g.External, Snapshots: g.Snapshots}
	for _, node := range g.Nodes {
		c := *node
		if rng.IntN(4) == 0 {
			c.HostCount++
		}
		n.Nodes = append(n.Nodes, &c)
	}
	if rng.IntN(2) == 0 {
		n.Nodes = append(n.Nodes, &Node{ID: "late", Kind: KindHost, HostCount: 1})
	}
	if rng.IntN(3) == 0 {
		n.Nodes = append(n.Nodes, &Node{ID: "203.0.113.9", Kind: KindExternal, HostCount: 1})
	}
	names := []*EdgeNames{nil, {ClientProcesses: []string{"java"}}, {ClientProcesses: []string{"a", "b"}}, {ServerProcesses: []string{"nginx"}}}
	seen := map[EdgeKey]bool{}
	for _, e := range g.Edges {
		if rng.IntN(6) == 0 {
			continue // removed
		}
		c := *e
		switch rng.IntN(8) {
		case 0:
			c.EdgeNames = names[rng.IntN(len(names))]
		case 1:
			c.ClientHosts++
		case 2:
			c.SeenFrom = SeenFrom(1 + rng.IntN(4))
		case 3:
			c.EdgeBytes = &EdgeBytes{PortBytesToServer: c.Bytes().PortBytesToServer * 3, PortBytesToClient: c.Bytes().PortBytesToClient}
		case 4:
			c.Sockets += 7
		}
		seen[keyOf(&c)] = true
		n.Edges = append(n.Edges, &c)
	}
	for range rng.IntN(8) {
		e := randomEdge(rng, n.Nodes, names)
		if k := keyOf(e); !seen[k] {
			seen[k] = true
			n.Edges = append(n.Edges, e)
		}
	}
	for _, t := range g.Traffic {
		c := *t
		c.Bytes += uint64(rng.IntN(2)) * 5000
		n.Traffic = append(n.Traffic, &c)
	}
	if err := n.index(); err != nil {
		panic(err)
	}
	return n
}

// diffOptionSets are every kind of comparison.
var diffOptionSets = []DiffOptions{{}, {ExternalChanges: true}, {BytesChangePercent: 10}, {BytesChangePercent: 10, ExternalChanges: true}}

func diffJSON(t *testing.T, d *Diff) string {
	t.Helper()
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compactDoc is g's document as encoding/json writes it, its edges in the
// order g has them (Write puts them in the documented order).
func compactDoc(t *testing.T, g *Graph) []byte {
	t.Helper()
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadCompare: on random pairs of graphs, ReadCompare of the new
// graph's document gives the diff Compare gives of the graphs read whole,
// under every option, against the old graph as read and as ForCompare
// gives it.
func TestReadCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 14))
	for i := range 300 {
		old := randomGraph(rng)
		new := changedGraph(rng, old)
		if i%10 == 0 {
			new = randomGraph(rng) // unrelated
		}
		var doc bytes.Buffer
		if err := Write(&doc, new); err != nil {
			t.Fatal(err)
		}
		read, err := Parse(doc.Bytes(), "new.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range diffOptionSets {
			want := diffJSON(t, Compare(old, read, opts))
			for _, base := range []*Graph{old, ForCompare(old, opts)} {
				d, err := ReadCompare(bytes.NewReader(doc.Bytes()), "new.json", base, opts)
				if err != nil {
					t.Fatalf("pair %d, %+v: %v", i, opts, err)
				}
				if got := diffJSON(t, d); got != want {
					t.Fatalf("pair %d, %+v: ReadCompare gave\n%s\nCompare\n%s\nold %s\nnew %s", i, opts, got, want, compactDoc(t, old), doc.Bytes())
				}
			}
		}
	}
}

// TestReadCompareOrder: a document whose edges are out of order, or repeat
// a key, is refused with ErrUnordered (the caller reads it again the old
// way); one whose nodes come after its edges is compared once read whole,
// as Compare compares it.
func TestReadCompareOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 14))
	unordered, late := 0, 0
	for i := range 200 {
		old := randomGraph(rng)
		new := changedGraph(rng, old)
		if len(new.Edges) < 2 {
			continue
		}
		shuffled := *new
		shuffled.Edges = slices.Clone(new.Edges)
		rng.Shuffle(len(shuffled.Edges), func(a, b int) { shuffled.Edges[a], shuffled.Edges[b] = shuffled.Edges[b], shuffled.Edges[a] })
		duplicated := *new
		duplicated.Edges = slices.Insert(slices.Clone(new.Edges), 1, new.Edges[0])
		for _, g := range []*Graph{&shuffled, &duplicated} {
			doc := compactDoc(t, g)
			_, readErr := Parse(doc, "new.json")
			_, err := ReadCompare(bytes.NewReader(doc), "new.json", old, DiffOptions{})
			if strictlyAscending(g.Edges) {
				if err != nil || readErr != nil {
					t.Fatalf("pair %d: in order, yet %v (Read: %v)", i, err, readErr)
				}
				continue
			}
			if !errors.Is(err, ErrUnordered) {
				t.Fatalf("pair %d: edges out of order: error %v, want ErrUnordered", i, err)
			}
			unordered++
		}
		// The nodes after the edges.
		var members map[string]json.RawMessage
		if err := json.Unmarshal(compactDoc(t, &shuffled), &members); err != nil {
			t.Fatal(err)
		}
		var doc bytes.Buffer
		doc.WriteString("{")
		for i, m := range []string{"schema", "generated_at", "by", "external", "snapshots", "edges", "traffic", "nodes"} {
			if members[m] == nil {
				continue // traffic, when none
			}
			if i > 0 {
				doc.WriteString(",")
			}
			fmt.Fprintf(&doc, "%q:%s", m, members[m])
		}
		doc.WriteString("}")
		for _, opts := range diffOptionSets {
			d, err := ReadCompare(bytes.NewReader(doc.Bytes()), "new.json", old, opts)
			if err != nil {
				t.Fatalf("pair %d, nodes last: %v", i, err)
			}
			if got, want := diffJSON(t, d), diffJSON(t, Compare(old, new, opts)); got != want {
				t.Fatalf("pair %d, nodes last, %+v: ReadCompare gave\n%s\nCompare\n%s", i, opts, got, want)
			}
			late++
		}
	}
	if unordered == 0 || late == 0 {
		t.Fatalf("%d unordered documents, %d with the nodes last: the test tested nothing", unordered, late)
	}
}

// strictlyAscending says whether each edge's key sorts after the one
// before.
func strictlyAscending(edges []*Edge) bool {
	for i := 1; i < len(edges); i++ {
		if compareEdges(edges[i-1], edges[i]) >= 0 {
			return false
		}
	}
	return true
}

// TestReadCompareErrors: ReadCompare refuses what Read refuses, with the
// same error, whichever of the document's faults Read reports first.
func TestReadCompareErrors(t *testing.T) {
	old := diffGraph([]*Node{{ID: "a", Kind: KindHost, HostCount: 1}, {ID: "b", Kind: KindHost, HostCount: 1}}, nil, nil)
	head := `{"schema":"planet.graph/v1","generated_at":"2026-11-30T09:00:00Z","by":"host","external":"ip","snapshots":2,`
	nodes := `"nodes":[{"id":"a","kind":"host","host_count":1},{"id":"b","kind":"host","host_count":1}]`
	edge := func(from, to string, port int, extra string) string {
		return fmt.Sprintf(`{"from":%q,"to":%q,"protocol":"tcp","port":%d,"seen_from":"both","client_hosts":1,"server_hosts":1,"sockets":1%s}`, from, to, port, extra)
	}
	edges := func(e ...string) string { return `"edges":[` + strings.Join(e, ",") + `]` }
	tests := []struct{ name, doc string }{
		{"unknown node", head + nodes + "," + edges(edge("a", "b", 1, ""), edge("a", "zz", 2, "")) + "}"},
		{"negative count", head + nodes + "," + edges(edge("a", "b", 1, `,"sockets":-1`)) + "}"},
		{"seen_from", head + nodes + "," + edges(edge("a", "b", 1, ""), strings.Replace(edge("b", "a", 1, ""), `"both"`, `"nobody"`, 1)) + "}"},
		{"empty protocol", head + nodes + "," + edges(strings.Replace(edge("a", "b", 1, ""), `"tcp"`, `""`, 1)) + "}"},
		{"two faulty edges", head + nodes + "," + edges(edge("a", "b", 1, `,"client_hosts":-1`), edge("b", "zz", 1, "")) + "}"},
		{"a node's fault first", head + `"nodes":[{"id":"a","kind":"host","host_count":1},{"id":"a","kind":"host","host_count":1}],` + edges(edge("a", "zz", 1, "")) + "}"},
		{"an edge's fault before traffic's", head + nodes + "," + edges(edge("a", "zz", 1, "")) + `,"traffic":[{"from":"a","to":"zz","bytes":1,"seen_from":"both"}]}`},
		{"a syntax error after an edge's fault", head + nodes + "," + edges(edge("a", "zz", 1, ""), `{"from":`) + "}"},
		{"truncated", head + nodes + "," + `"edges":[` + edge("a", "b", 1, "")},
		{"unknown field", head + nodes + "," + edges(edge("a", "b", 1, `,"color":"red"`)) + "}"},
		{"by", strings.Replace(head, `"host"`, `"rack"`, 1) + nodes + "," + edges(edge("a", "zz", 1, "")) + "}"},
		{"negative bytes per second", head + nodes + "," + edges(edge("a", "b", 1, `,"bytes_per_second_to_server":-1`)) + "}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, want := Parse([]byte(tt.doc), "new.json")
			if want == nil {
				t.Fatal("Read took it")
			}
			for _, opts := range diffOptionSets {
				_, err := ReadCompare(strings.NewReader(tt.doc), "new.json", old, opts)
				if err == nil || err.Error() != want.Error() {
					t.Errorf("%+v: error\n%v\nwant Read's\n%v", opts, err, want)
				}
			}
		})
	}
}

// TestReadCompareMany: the same on graphs of thousands of edges, every
// edge changed, the first ones only, or the last ones only (ReadCompare
// makes room for the changes once they are many and dense, and gives back
// what it did not need).
func TestReadCompareMany(t *testing.T) {
	g := benchGraph(100, 12000)
	var oldDoc bytes.Buffer
	if err := Write(&oldDoc, g); err != nil {
		t.Fatal(err)
	}
	old, err := Parse(oldDoc.Bytes(), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(from, to int) []byte {
		n := *old
		n.Edges = slices.Clone(old.Edges)
		for i := from; i < to; i++ {
			c := *n.Edges[i]
			c.ClientHosts += 1 + i%2
			n.Edges[i] = &c
		}
		var doc bytes.Buffer
		if err := Write(&doc, &n); err != nil {
			t.Fatal(err)
		}
		return doc.Bytes()
	}
	for _, tt := range []struct {
		name     string
		from, to int
	}{{"all", 0, len(old.Edges)}, {"the first ones", 0, 6000}, {"the last ones", 8000, len(old.Edges)}} {
		doc := edit(tt.from, tt.to)
		read, err := Parse(doc, "new.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range diffOptionSets {
			want := Compare(old, read, opts)
			got, err := ReadCompare(bytes.NewReader(doc), "new.json", ForCompare(old, opts), opts)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := diffJSON(t, got), diffJSON(t, want); a != b {
				t.Errorf("%s, %+v: ReadCompare and Compare differ", tt.name, opts)
			}
			if len(got.ChangedEdges) == 0 {
				t.Errorf("%s, %+v: no change", tt.name, opts)
			}
			if c := got.ChangedEdges; cap(c) > 2*len(c)+4096 {
				t.Errorf("%s, %+v: %d changes in room for %d", tt.name, opts, len(c), cap(c))
			}
		}
	}
}

// TestSideTable: changes' new sides are shared while most look-ups find
// theirs, and no longer kept in a map once sideTrial look-ups found fewer
// than half (every side distinct), each change then holding its own.
func TestSideTable(t *testing.T) {
	opts := &DiffOptions{}
	names := &EdgeNames{ClientProcesses: []string{"java"}}
	for _, tt := range []struct {
		name     string
		side     func(i int) changedSide
		wantMap  bool
		wantSame bool // the first two look-ups of an equal side share it
	}{
		{"repeating", func(i int) changedSide { return changedSide{names, 1 + i%3, 1, SeenBoth, opts} }, true, true},
		{"distinct", func(i int) changedSide { return changedSide{names, 1 + i, 1, SeenBoth, opts} }, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tab := newSideTable()
			for i := range 2 * sideTrial {
				if got := tab.intern(tt.side(i)); *got != tt.side(i) {
					t.Fatalf("look-up %d: got %+v, want %+v", i, *got, tt.side(i))
				}
			}
			if (tab.m != nil) != tt.wantMap {
				t.Errorf("map kept after %d look-ups: %v, want %v (%d hits)", tab.lookups, tab.m != nil, tt.wantMap, tab.hits)
			}
			first := tab.intern(tt.side(0))
			if same := first == tab.intern(tt.side(0)); same != tt.wantSame {
				t.Errorf("equal sides shared: %v, want %v", same, tt.wantSame)
			}
		})
	}
	var none *sideTable
	first := none.intern(changedSide{})
	if first == none.intern(changedSide{}) {
		t.Error("a nil table shared a side")
	}
}
