package render

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/planetdeps/planet/graph"
)

func nodeIDs(g *graph.Graph) []string {
	var ids []string
	for _, n := range g.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func edgeNames(g *graph.Graph) []string {
	var out []string
	for _, e := range g.Edges {
		out = append(out, e.String())
	}
	return out
}

func TestFilterApply(t *testing.T) {
	tests := []struct {
		name      string
		f         Filter
		nodes     []string
		edges     int
		traffic   int
		errSubstr string
	}{
		{name: "none", f: Filter{},
			nodes: []string{"10.0.0.2", "198.51.100.7", "93.184.216.34", "bastion", "cache", "db", "lb", "monitoring", "web"}, edges: 10, traffic: 4},
		{name: "focus depth 1", f: Filter{Focus: "db", Depth: 1},
			nodes: []string{"10.0.0.2", "db", "monitoring", "web"}, edges: 4, traffic: 4},
		{name: "focus depth 2", f: Filter{Focus: "db", Depth: 2},
			nodes: []string{"10.0.0.2", "bastion", "db", "lb", "monitoring", "web"}, edges: 7, traffic: 4},
		{name: "focus unlimited", f: Filter{Focus: "cache", Depth: 0},
			nodes: []string{"198.51.100.7", "bastion", "cache", "lb", "monitoring", "web"}, edges: 6},
		{name: "hide external", f: Filter{HideExternal: true},
			nodes: []string{"bastion", "cache", "db", "lb", "monitoring", "web"}, edges: 7, traffic: 2},
		// bastion (never scanned) only had ssh edges: dropped; lb stays.
		{name: "exclude ssh and node_exporter", f: Filter{ExcludePorts: []uint16{22, 9100}},
			nodes: []string{"10.0.0.2", "198.51.100.7", "93.184.216.34", "cache", "db", "lb", "web"}, edges: 6, traffic: 4},
		// db's only remaining edge went to an external DNS server: db is scanned and stays.
		{name: "exclude dns, hide external", f: Filter{ExcludePorts: []uint16{53}, HideExternal: true, Focus: "db", Depth: 1},
			nodes: []string{"db", "monitoring", "web"}, edges: 3, traffic: 2},
		{name: "focus unknown", f: Filter{Focus: "dbb"}, errSubstr: `did you mean "db"`},
		{name: "focus unknown far", f: Filter{Focus: "zzzzzzzzzz"}, errSubstr: "its table lists them"},
		{name: "focus hidden", f: Filter{Focus: "10.0.0.2", HideExternal: true}, errSubstr: "hidden by the filter"},
		{name: "negative depth", f: Filter{Focus: "db", Depth: -1}, errSubstr: "depth -1: must be 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := mustMerge(t, fleet()...)
			before := edgeNames(orig)
			var origJSON bytes.Buffer
			if err := graph.Write(&origJSON, orig); err != nil {
				t.Fatal(err)
			}
			g, err := tt.f.Apply(orig)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := nodeIDs(g); !slices.Equal(got, tt.nodes) {
				t.Errorf("nodes = %q, want %q", got, tt.nodes)
			}
			if len(g.Edges) != tt.edges {
				t.Errorf("%d edges, want %d: %q", len(g.Edges), tt.edges, edgeNames(g))
			}
			if tt.traffic > 0 && len(g.Traffic) != tt.traffic {
				t.Errorf("%d traffic entries, want %d", len(g.Traffic), tt.traffic)
			}
			for _, e := range g.Edges {
				if slices.Contains(tt.f.ExcludePorts, e.Port) {
					t.Errorf("edge %s on an excluded port", e)
				}
			}
			if !slices.Equal(edgeNames(orig), before) {
				t.Error("Apply changed its input graph")
			}
			// The result shares parts with orig: orig must still write
			// and answer as before.
			var after bytes.Buffer
			if err := graph.Write(&after, orig); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after.Bytes(), origJSON.Bytes()) {
				t.Error("Apply changed its input graph's document")
			}
			if _, err := orig.DependsOn("db", 0); err != nil {
				t.Errorf("input graph after Apply: %v", err)
			}
			// render --diff with a filter filters the input before reading
			// the base, and RenderTo filters it again: Apply must keep all
			// of a graph it made.
			again, err := tt.f.Apply(g)
			if err != nil {
				t.Fatalf("Apply of its own result: %v", err)
			}
			var once, twice bytes.Buffer
			if err := graph.Write(&once, g); err != nil {
				t.Fatal(err)
			}
			if err := graph.Write(&twice, again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once.Bytes(), twice.Bytes()) {
				t.Errorf("Apply of its own result differs:\n%s\nwant\n%s", twice.Bytes(), once.Bytes())
			}
		})
	}
}

func TestFilterAmbiguousFocus(t *testing.T) {
	g := mustRead(t, "testdata/ambiguous.graph.json")
	_, err := Filter{Focus: "db"}.Apply(g)
	if err == nil || !strings.Contains(err.Error(), `"host:db"`) || !strings.Contains(err.Error(), `"hostgroup:db"`) {
		t.Fatalf("err = %v, want both kinds named", err)
	}
	sub, err := Filter{Focus: "hostgroup:db"}.Apply(g)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(sub); !slices.Equal(got, []string{"hostgroup:db", "web"}) {
		t.Errorf("nodes = %q", got)
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      []string
		want    []uint16
		wantErr bool
	}{
		{nil, nil, false},
		{[]string{"22,9100"}, []uint16{22, 9100}, false},
		{[]string{"9100", "22", "22"}, []uint16{22, 9100}, false},
		{[]string{"22 9100"}, []uint16{22, 9100}, false},
		{[]string{"0"}, nil, true},
		{[]string{"65536"}, nil, true},
		{[]string{"ssh"}, nil, true},
	}
	for _, tt := range tests {
		got, err := ParsePorts(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRenderFormatsAndInputs(t *testing.T) {
	snap := &Input{Name: "snap.json", Snapshot: realistic()}
	g := &Input{Name: "fleet.json", Graph: mustMerge(t, fleet()...)}
	tests := []struct {
		name      string
		in        *Input
		opts      Options
		golden    string
		errSubstr string
		usage     bool
	}{
		{name: "snapshot textfile", in: snap, opts: Options{Format: FormatTextfile}, golden: "../../metrics/testdata/realistic.prom.golden"},
		{name: "snapshot table", in: snap, opts: Options{Format: FormatTable}, golden: "realistic.table.golden"},
		{name: "snapshot dot", in: snap, opts: Options{Format: FormatDOT}, golden: "realistic.graph.dot.golden"},
		{name: "graph json", in: g, opts: Options{Format: FormatJSON}, golden: "fleet.graph.json.golden"},
		{name: "graph table", in: g, opts: Options{Format: FormatTable}, golden: "fleet.graph.table.golden"},
		{name: "graph focus dot", in: g, opts: Options{Format: FormatDOT, Filter: Filter{Focus: "db", Depth: 1}}, golden: "fleet-focus-db.graph.dot.golden"},
		{name: "snapshot filtered table", in: snap, opts: Options{Format: FormatTable, Filter: Filter{HideExternal: true}}, golden: "realistic-hide-external.graph.table.golden"},
		{name: "graph textfile", in: g, opts: Options{Format: FormatTextfile}, errSubstr: "fleet.json: the textfile format needs a snapshot"},
		{name: "textfile filtered", in: snap, opts: Options{Format: FormatTextfile, Filter: Filter{HideExternal: true}}, errSubstr: "not to the textfile", usage: true},
		{name: "bad format", in: g, opts: Options{Format: "png"}, errSubstr: `unknown format "png"`, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Render(context.Background(), tt.in, tt.opts)
			if tt.errSubstr != "" {
				var u *UsageError
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) || errors.As(err, &u) != tt.usage {
					t.Fatalf("err = %v (%T), want %q (usage error: %v)", err, err, tt.errSubstr, tt.usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out)
		})
	}
}

// TestFilterKeepsHeader: a filtered graph has its input's header members,
// windowed_snapshots included (a filtered `render -f json` of a windowed
// graph used to drop it).
func TestFilterKeepsHeader(t *testing.T) {
	g := mustMerge(t, windowed())
	if g.WindowedSnapshots == 0 {
		t.Fatal("fixture: the windowed graph has no windowed snapshots")
	}
	var focus string
	for _, n := range g.Nodes {
		if n.Kind != graph.KindExternal && focus == "" {
			focus = n.ID
		}
	}
	for _, f := range []Filter{
		{Focus: focus},
		{HideExternal: true},
		{ExcludePorts: []uint16{g.Edges[0].Port}},
		{Focus: focus, Depth: 1, HideExternal: true},
	} {
		out, err := f.Apply(g)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if got, want := out.Header(), g.Header(); !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: header %+v, want %+v", f, got, want)
		}
	}
	old := partOf(t, g, g.Nodes, g.Edges[1:])
	out, _, err := withDiff(old, &Input{Name: "base", Graph: g}, Filter{}, FormatDOT, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Header(), old.Header(); !reflect.DeepEqual(got, want) {
		t.Errorf("render --diff: header %+v, want %+v", got, want)
	}
}

// partOf is the graph of the given nodes and edges of g, with g's header
// and traffic.
func partOf(t *testing.T, g *graph.Graph, nodes []*graph.Node, edges []*graph.Edge) *graph.Graph {
	t.Helper()
	out := g.Header()
	out.Nodes, out.Edges, out.Traffic = slices.Clone(nodes), slices.Clone(edges), g.Traffic
	out, err := graph.Assemble(out, "part")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPruneLeavesGraph: a filtered graph, whether it keeps every node or
// drops some (sharing those it keeps), leaves the graph it was taken from
// as it was: same document, each node at its own index.
func TestPruneLeavesGraph(t *testing.T) {
	g := mustMerge(t, fleet()...)
	var before bytes.Buffer
	if err := graph.Write(&before, g); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{
		{ExcludePorts: []uint16{g.Edges[0].Port}},
		{ExcludePorts: []uint16{65535}},
		{HideExternal: true},
		{HideExternal: true, ExcludePorts: []uint16{g.Edges[len(g.Edges)-1].Port}},
	} {
		out, err := f.Apply(g)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		for i, n := range out.Nodes {
			if out.GonumID(n.ID) != int64(i) || out.Node(n.ID) != n {
				t.Errorf("%+v: node %q at %d has index %d", f, n.ID, i, out.GonumID(n.ID))
			}
		}
		var after bytes.Buffer
		if err := graph.Write(&after, g); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before.Bytes(), after.Bytes()) {
			t.Errorf("%+v: the graph changed under the filter", f)
		}
		for i, n := range g.Nodes {
			if g.GonumID(n.ID) != int64(i) || g.Node(n.ID) != n {
				t.Errorf("%+v: the graph's node %q at %d now has index %d", f, n.ID, i, g.GonumID(n.ID))
			}
		}
	}
}

// TestConcurrentFilters: graphs made from one graph share its nodes and
// edges, and checking them writes nothing to what they share, so filters
// of one graph may run at once (scripts/test.sh runs this under -race:
// the check sorted shared lists again and rewrote their fields).
func TestConcurrentFilters(t *testing.T) {
	g := mustMerge(t, fleet()...)
	var wg sync.WaitGroup
	for _, f := range []Filter{{HideExternal: true}, {ExcludePorts: []uint16{g.Edges[0].Port}}, {HideExternal: true}, {Focus: g.Nodes[0].ID, Depth: 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Apply(g); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
