package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/planetdeps/planet/graph"
)

// encoderJSON is the diff as json.Encoder writes it whole, the form
// DiffJSON streams.
func encoderJSON(t *testing.T, d *graph.Diff) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// randomGraph has up to n nodes and edges named from names, with random
// processes, host counts, seen_from and bytes, and some traffic.
func randomGraph(r *rand.Rand, names []string, n int) *graph.Graph {
	pick := func() string { return names[r.IntN(len(names))] }
	g := &graph.Graph{Schema: graph.Schema}
	seen := map[string]bool{}
	for range r.IntN(n + 1) {
		id := pick()
		if seen[id] {
			continue
		}
		seen[id] = true
		kind := graph.KindHostgroup
		if r.IntN(3) == 0 {
			kind = graph.KindExternal
		}
		g.Nodes = append(g.Nodes, &graph.Node{ID: id, Kind: kind, HostCount: r.IntN(3)})
	}
	keys := map[graph.EdgeKey]bool{}
	for range r.IntN(n + 1) {
		e := &graph.Edge{From: pick(), To: pick(), Protocol: []string{"tcp", "udp", pick()}[r.IntN(3)], Port: uint16(r.IntN(4)),
			SeenFrom: graph.SeenFrom(1 + r.IntN(4)), ClientHosts: r.IntN(3), ServerHosts: r.IntN(3), Sockets: r.IntN(3)}
		k := graph.EdgeKey{From: e.From, To: e.To, Protocol: e.Protocol, Port: e.Port}
		if keys[k] {
			continue
		}
		keys[k] = true
		if r.IntN(2) == 0 {
			e.EdgeNames = &graph.EdgeNames{ClientProcesses: []string{pick()}, ServerProcesses: []string{"p", pick()}[:r.IntN(3)]}
		}
		if r.IntN(2) == 0 {
			e.EdgeBytes = &graph.EdgeBytes{PortBytesToServer: uint64(r.IntN(3) * 1000), PortBytesToClient: uint64(r.IntN(3) * 1000)}
		}
		g.Edges = append(g.Edges, e)
	}
	for range r.IntN(3) {
		g.Traffic = append(g.Traffic, &graph.Traffic{From: pick(), To: pick(), Bytes: uint64(r.IntN(3) * 500), SeenFrom: graph.SeenSender})
	}
	return g
}

// mutated is g with some nodes and edges changed (every attribute a diff
// compares), some dropped and some of extra's added.
func mutated(r *rand.Rand, g, extra *graph.Graph) *graph.Graph {
	out := &graph.Graph{Schema: g.Schema, Traffic: extra.Traffic}
	ids := map[string]bool{}
	for _, n := range g.Nodes {
		c := *n
		switch r.IntN(4) {
		case 0:
			continue
		case 1:
			c.HostCount++
		case 2:
			c.Kind = graph.KindHostgroup
		}
		ids[c.ID] = true
		out.Nodes = append(out.Nodes, &c)
	}
	keys := map[graph.EdgeKey]bool{}
	for _, e := range g.Edges {
		c := *e
		switch r.IntN(8) {
		case 0:
			continue
		case 1:
			c.EdgeNames = &graph.EdgeNames{ClientProcesses: []string{"a,b"}, ServerProcesses: e.Names().ServerProcesses}
		case 2:
			c.ClientHosts++
		case 3:
			c.ServerHosts += 2
		case 4:
			c.SeenFrom = graph.SeenMixed
		case 5:
			c.EdgeBytes = &graph.EdgeBytes{PortBytesToServer: e.Bytes().PortBytesToServer * 2, PortBytesToClient: e.Bytes().PortBytesToClient + 1}
		}
		keys[graph.EdgeKey{From: c.From, To: c.To, Protocol: c.Protocol, Port: c.Port}] = true
		out.Edges = append(out.Edges, &c)
	}
	for _, n := range extra.Nodes {
		if !ids[n.ID] {
			out.Nodes = append(out.Nodes, n)
		}
	}
	for _, e := range extra.Edges {
		if !keys[graph.EdgeKey{From: e.From, To: e.To, Protocol: e.Protocol, Port: e.Port}] {
			out.Edges = append(out.Edges, e)
		}
	}
	return out
}

// TestDiffJSONStreamed: DiffJSON writes, byte for byte, what json.Encoder
// writes for the whole Diff, on the golden fixture, hostile names, a large
// diff, a Diff with nil lists and random diffs of random graphs under every
// option.
func TestDiffJSONStreamed(t *testing.T) {
	hostile, _ := hostileDiff(hostileNames)
	cases := map[string]*graph.Diff{
		"fixture":   diffFixture(),
		"hostile":   hostile,
		"big":       bigDiff(300),
		"nil lists": {Schema: graph.DiffSchema},
		"empty":     graph.Compare(&graph.Graph{}, &graph.Graph{}, graph.DiffOptions{}),
	}
	r := rand.New(rand.NewPCG(1, 2))
	names := append([]string{"a", "b", "web", "db"}, hostileNames...)
	for i := range 200 {
		opts := graph.DiffOptions{ExternalChanges: i%2 == 0}
		if i%3 != 0 {
			opts.BytesChangePercent = 10
		}
		old := randomGraph(r, names, 1+i%12)
		new := mutated(r, old, randomGraph(r, names, 1+i%4))
		cases[fmt.Sprintf("random %d", i)] = graph.Compare(old, new, opts)
	}
	for name, d := range cases {
		var got bytes.Buffer
		if err := DiffJSON(&got, d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := encoderJSON(t, d); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: DiffJSON =\n%s\njson.Encoder =\n%s", name, got.Bytes(), want)
		}
	}
}

type failWriter struct{ n int }

var errFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errFull
	}
	w.n -= len(p)
	return len(p), nil
}

// TestDiffJSONWriteError: a failing writer's error comes back.
func TestDiffJSONWriteError(t *testing.T) {
	if err := DiffJSON(&failWriter{n: 100}, bigDiff(3000)); !errors.Is(err, errFull) {
		t.Errorf("DiffJSON to a full disk = %v, want %v", err, errFull)
	}
}
