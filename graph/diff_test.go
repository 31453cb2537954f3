package graph

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func diffGraph(nodes []*Node, edges []*Edge, traffic []*Traffic) *Graph {
	return &Graph{Schema: Schema, Nodes: nodes, Edges: edges, Traffic: traffic}
}

func TestCompare(t *testing.T) {
	web := &Node{ID: "web", Kind: KindHostgroup, HostCount: 2}
	db := &Node{ID: "db", Kind: KindHostgroup, HostCount: 1}
	cache := &Node{ID: "cache", Kind: KindHostgroup, HostCount: 1}
	webDB := &Edge{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: SeenBoth,
		EdgeNames: &EdgeNames{ClientProcesses: []string{"web"}, ServerProcesses: []string{"postgres"}}, ClientHosts: 2, ServerHosts: 1, Sockets: 4,
		EdgeBytes: &EdgeBytes{PortBytesToServer: 1000, PortBytesToClient: 10000}}
	webCache := &Edge{From: "web", To: "cache", Protocol: "tcp", Port: 6379, SeenFrom: SeenClient, ClientHosts: 1, ServerHosts: 1}
	with := func(e *Edge, f func(*Edge)) *Edge {
		c := *e
		names, bytes := *c.EdgeNames, *c.EdgeBytes
		c.EdgeNames, c.EdgeBytes = &names, &bytes
		f(&c)
		return &c
	}
	base := diffGraph([]*Node{db, web}, []*Edge{webDB}, []*Traffic{{From: "web", To: "db", Bytes: 1000}})

	tests := []struct {
		name    string
		old     *Graph
		new     *Graph
		opts    DiffOptions
		summary string
		check   func(t *testing.T, d *Diff)
	}{
		{
			name: "identical", old: base, new: base, summary: "no dependency changes",
		},
		{
			name:    "a dependency and a node appear",
			old:     base,
			new:     diffGraph([]*Node{cache, db, web}, []*Edge{webCache, webDB}, base.Traffic),
			summary: "1 dependency added, 1 node added",
			check: func(t *testing.T, d *Diff) {
				if len(d.AddedEdges) != 1 || d.AddedEdges[0] != webCache || d.AddedNodes[0] != cache {
					t.Errorf("added = %v %v", d.AddedEdges, d.AddedNodes)
				}
			},
		},
		{
			name:    "a dependency disappears",
			old:     diffGraph([]*Node{cache, db, web}, []*Edge{webCache, webDB}, base.Traffic),
			new:     base,
			summary: "1 dependency removed, 1 node removed",
		},
		{
			name: "processes and host counts change; sockets alone do not count",
			old:  base,
			new: diffGraph([]*Node{db, {ID: "web", Kind: KindHostgroup, HostCount: 3}}, []*Edge{with(webDB, func(e *Edge) {
				e.ServerProcesses = []string{"pgbouncer"}
				e.ClientHosts = 3
				e.Sockets = 400
			})}, base.Traffic),
			summary: "1 dependency changed, 1 node changed",
			check: func(t *testing.T, d *Diff) {
				want := []FieldChange{{"server_processes", "postgres", "pgbouncer"}, {"client_hosts", "2", "3"}}
				if !reflect.DeepEqual(d.ChangedEdges[0].Changes(), want) {
					t.Errorf("changes = %v, want %v", d.ChangedEdges[0].Changes(), want)
				}
			},
		},
		{
			name: "bandwidth beyond the threshold",
			old:  base,
			new: diffGraph(base.Nodes, []*Edge{with(webDB, func(e *Edge) {
				e.PortBytesToServer = 1400 // +40%: below 50
				e.PortBytesToClient = 30000
			})}, []*Traffic{{From: "web", To: "db", Bytes: 5000}}),
			opts:    DiffOptions{BytesChangePercent: 50},
			summary: "1 dependency changed, 1 bandwidth change",
			check: func(t *testing.T, d *Diff) {
				want := []FieldChange{{"port_bytes_to_client", "10000", "30000"}}
				if !reflect.DeepEqual(d.ChangedEdges[0].Changes(), want) {
					t.Errorf("changes = %v, want %v", d.ChangedEdges[0].Changes(), want)
				}
			},
		},
		{
			name: "bandwidth with a lower threshold",
			old:  base,
			new: diffGraph(base.Nodes, []*Edge{with(webDB, func(e *Edge) {
				e.PortBytesToServer = 1400
			})}, base.Traffic),
			opts:    DiffOptions{BytesChangePercent: 30},
			summary: "1 dependency changed",
		},
		{
			name: "bandwidth not compared by default",
			old:  base,
			new: diffGraph(base.Nodes, []*Edge{with(webDB, func(e *Edge) {
				e.PortBytesToClient = 30000
			})}, []*Traffic{{From: "web", To: "db", Bytes: 5000}}),
			summary: "no dependency changes",
		},
		{
			name: "seen from one side only now",
			old:  base,
			new: diffGraph(base.Nodes, []*Edge{with(webDB, func(e *Edge) {
				e.SeenFrom = SeenClient
			})}, base.Traffic),
			summary: "1 dependency changed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compare(tt.old, tt.new, tt.opts)
			if got := d.Summary(); got != tt.summary {
				t.Errorf("summary = %q, want %q", got, tt.summary)
			}
			if d.Empty() != (tt.summary == "no dependency changes") {
				t.Errorf("Empty() = %v", d.Empty())
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// TestCompareFleetGraphs diffs the two graphs the fleet acceptance test
// keeps (e2e/fleet/testdata, refreshed by go test -tags e2e ./e2e/fleet -update): between
// them monitor stopped scraping lb, lb started health-checking db and a
// second web host started calling the external peer.
func TestCompareFleetGraphs(t *testing.T) {
	read := func(name string) *Graph {
		f, err := os.Open(filepath.Join("..", "e2e", "fleet", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		g, err := Read(f, name)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	before, after := read("before.graph.json"), read("after.graph.json")
	d := Compare(before, after, DiffOptions{ExternalChanges: true})
	keys := func(edges []*Edge) []string {
		var out []string
		for _, e := range edges {
			out = append(out, keyOf(e).String())
		}
		return out
	}
	if got, want := keys(d.AddedEdges), []string{"lb -> db tcp/5432"}; !reflect.DeepEqual(got, want) {
		t.Errorf("added = %v, want %v", got, want)
	}
	if got, want := keys(d.RemovedEdges), []string{"monitor -> lb tcp/9100"}; !reflect.DeepEqual(got, want) {
		t.Errorf("removed = %v, want %v", got, want)
	}
	if len(d.ChangedEdges) != 1 || d.ChangedEdges[0].Key().From != "web" || d.ChangedEdges[0].Key().Port != 443 ||
		!reflect.DeepEqual(d.ChangedEdges[0].Changes(), []FieldChange{{"client_hosts", "1", "2"}}) {
		t.Errorf("changed = %+v, want web -> external :443 client_hosts 1 -> 2", d.ChangedEdges)
	}
	if len(d.AddedNodes)+len(d.RemovedNodes)+len(d.ChangedNodes) != 0 {
		t.Errorf("nodes changed: %v %v %v", d.AddedNodes, d.RemovedNodes, d.ChangedNodes)
	}
	if Compare(after, after, DiffOptions{}).Empty() != true {
		t.Error("a graph differs from itself")
	}
}

// TestCompareQuietByDefault: two scans of an unchanged fleet, differing
// only in byte counters (more than 50% apart) and in the addresses of the
// external peers (a CDN rotating), are no change by default; a new
// external port, or a node newly talking outside, still is.
func TestCompareQuietByDefault(t *testing.T) {
	web := &Node{ID: "web", Kind: KindHostgroup, HostCount: 2}
	db := &Node{ID: "db", Kind: KindHostgroup, HostCount: 1}
	scan := func(bytes uint64, ips ...string) *Graph {
		g := diffGraph([]*Node{db, web}, []*Edge{{From: "web", To: "db", Protocol: "tcp", Port: 5432, SeenFrom: SeenBoth,
			ClientHosts: 2, ServerHosts: 1, EdgeBytes: &EdgeBytes{PortBytesToServer: bytes, PortBytesToClient: 10 * bytes}}}, []*Traffic{{From: "web", To: "db", Bytes: 3 * bytes}})
		for i, ip := range ips {
			g.Nodes = append(g.Nodes, &Node{ID: ip, Kind: KindExternal, HostCount: 1})
			g.Edges = append(g.Edges, &Edge{From: "web", To: ip, Protocol: "tcp", Port: 443, SeenFrom: SeenClient,
				EdgeNames: &EdgeNames{ClientProcesses: []string{"app"}}, ClientHosts: 1 + i%2, ServerHosts: 1, EdgeBytes: &EdgeBytes{PortBytesToServer: bytes}})
		}
		slices.SortFunc(g.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
		slices.SortFunc(g.Edges, compareEdges)
		return g
	}
	before := scan(1_000_000, "151.101.1.1", "151.101.65.1")
	after := scan(9_000_000, "151.101.129.1", "151.101.193.1", "199.232.1.1")
	if d := Compare(before, after, DiffOptions{}); !d.Empty() {
		t.Errorf("unchanged fleet: %s, want no change", d.Summary())
	}
	if d := Compare(before, after, DiffOptions{BytesChangePercent: 50}); d.Summary() != "2 dependencies changed, 1 bandwidth change" {
		t.Errorf("--bytes-change 50: %s", d.Summary())
	}
	if d := Compare(before, after, DiffOptions{ExternalChanges: true}); d.Summary() != "3 dependencies added, 2 dependencies removed, 3 nodes added, 2 nodes removed" {
		t.Errorf("--external-changes: %s", d.Summary())
	}
	// A new port to the outside is a new dependency.
	newPort := scan(1_000_000, "151.101.1.1")
	newPort.Edges = append(newPort.Edges, &Edge{From: "db", To: "151.101.1.1", Protocol: "tcp", Port: 8443, SeenFrom: SeenClient, ClientHosts: 1, ServerHosts: 1})
	slices.SortFunc(newPort.Edges, compareEdges)
	d := Compare(before, newPort, DiffOptions{})
	if len(d.AddedEdges) != 1 || d.AddedEdges[0].From != "db" || d.AddedEdges[0].To != ExternalNode || d.AddedEdges[0].Port != 8443 {
		t.Errorf("new external port: %s, added %v", d.Summary(), d.AddedEdges)
	}
	if len(d.RemovedEdges)+len(d.ChangedEdges)+len(d.AddedNodes)+len(d.RemovedNodes)+len(d.ChangedNodes) != 0 {
		t.Errorf("new external port: %s, want only the added dependency", d.Summary())
	}
	// No external peer at all any more: the external node and its
	// dependency are gone.
	if d := Compare(before, scan(1_000_000), DiffOptions{}); d.Summary() != "1 dependency removed, 1 node removed" {
		t.Errorf("external peers gone: %s", d.Summary())
	}
}

// TestCompareWalksInOrder: Compare walks both graphs side by side in key
// order, whatever order a graph built by hand has its lists in, and
// reports each list in that order.
func TestCompareWalksInOrder(t *testing.T) {
	node := func(id string, hosts int) *Node { return &Node{ID: id, Kind: KindHostgroup, HostCount: hosts} }
	edge := func(from, to string, port uint16, clientHosts int) *Edge {
		return &Edge{From: from, To: to, Protocol: "tcp", Port: port, SeenFrom: SeenBoth, ClientHosts: clientHosts, ServerHosts: 1}
	}
	old := diffGraph([]*Node{node("web", 1), node("a", 1), node("db", 1), node("c", 1)},
		[]*Edge{edge("web", "db", 5432, 1), edge("a", "db", 80, 1), edge("web", "db", 443, 1), edge("c", "db", 80, 1), edge("a", "db", 22, 1)}, nil)
	new := diffGraph([]*Node{node("web", 2), node("db", 1), node("b", 1), node("d", 1)},
		[]*Edge{edge("web", "db", 5432, 2), edge("d", "db", 80, 1), edge("web", "db", 443, 1), edge("b", "db", 80, 1)}, nil)
	d := Compare(old, new, DiffOptions{})
	var got []string
	for _, n := range d.AddedNodes {
		got = append(got, "+node "+n.ID)
	}
	for _, n := range d.RemovedNodes {
		got = append(got, "-node "+n.ID)
	}
	for _, n := range d.ChangedNodes {
		got = append(got, "~node "+n.ID)
	}
	for _, e := range d.AddedEdges {
		got = append(got, "+"+e.String())
	}
	for _, e := range d.RemovedEdges {
		got = append(got, "-"+e.String())
	}
	for _, e := range d.ChangedEdges {
		got = append(got, "~"+e.Key().String())
	}
	want := []string{"+node b", "+node d", "-node a", "-node c", "~node web",
		"+b -> db tcp/80", "+d -> db tcp/80", "-a -> db tcp/22", "-a -> db tcp/80", "-c -> db tcp/80",
		"~web -> db tcp/5432"}
	if !slices.Equal(got, want) {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The graphs' own lists are left in their order.
	if old.Edges[0].Port != 5432 || new.Nodes[0].ID != "web" {
		t.Error("Compare reordered a graph's lists")
	}
}

// TestEdgeChangedAgrees: Compare keeps a dependency as changed exactly when
// its Changes list something, under every option; process lists compare as
// shown, joined with ",".
func TestEdgeChangedAgrees(t *testing.T) {
	base := Edge{From: "web", To: "db", Protocol: "tcp", Port: 80, SeenFrom: SeenBoth, ClientHosts: 1, ServerHosts: 1,
		EdgeNames: &EdgeNames{ClientProcesses: []string{"a", "b"}}, EdgeBytes: &EdgeBytes{PortBytesToServer: 100, PortBytesToClient: 100}}
	ext := base
	ext.To = ExternalNode
	variants := map[string]func(e *Edge){
		"same":             func(e *Edge) {},
		"processes joined": func(e *Edge) { e.EdgeNames = &EdgeNames{ClientProcesses: []string{"a,b"}} },
		"processes":        func(e *Edge) { e.EdgeNames = &EdgeNames{ClientProcesses: []string{"a"}} },
		"server processes": func(e *Edge) {
			e.EdgeNames = &EdgeNames{ClientProcesses: []string{"a", "b"}, ServerProcesses: []string{""}}
		},
		"client hosts":         func(e *Edge) { e.ClientHosts = 2 },
		"server hosts":         func(e *Edge) { e.ServerHosts = 0 },
		"seen_from":            func(e *Edge) { e.SeenFrom = SeenClient },
		"bytes a little":       func(e *Edge) { e.EdgeBytes = &EdgeBytes{PortBytesToServer: 104, PortBytesToClient: 100} },
		"bytes to server":      func(e *Edge) { e.EdgeBytes = &EdgeBytes{PortBytesToServer: 200, PortBytesToClient: 100} },
		"bytes to client gone": func(e *Edge) { e.EdgeBytes = &EdgeBytes{PortBytesToServer: 100} },
	}
	for name, change := range variants {
		for _, o := range []Edge{base, ext} {
			for _, opts := range []DiffOptions{{}, {BytesChangePercent: 5}, {ExternalChanges: true}, {BytesChangePercent: 5, ExternalChanges: true}} {
				old, new := o, o
				change(&new)
				got := edgeChanged(&old, &new, opts)
				if want := len(edgeChanges(viewOf(&old), viewOf(&new), keyOf(&old), opts)) > 0; got != want {
					t.Errorf("%s, %s, %+v: changed = %v, changes listed = %v", name, keyOf(&old), opts, got, want)
				}
				if name == "same" || name == "processes joined" || name == "bytes a little" {
					if got {
						t.Errorf("%s, %s, %+v: changed", name, keyOf(&old), opts)
					}
				}
			}
		}
	}
}
