package graph

import (
	"bytes"
	"testing"
)

// subgraphByGonum is Subgraph as it was: walks over the gonum graph of the
// whole graph (built for the walk), then a copy of what they reached. The
// benchmark's comparison.
func subgraphByGonum(g *Graph, id string, depth int) (*Graph, error) {
	keep := map[string]bool{id: true}
	for _, forward := range []bool{true, false} {
		start := g.GonumID(id)
		if start < 0 {
			return nil, &UnknownNodeError{id}
		}
		dist := map[int64]int{start: 0}
		frontier := []int64{start}
		for d := 1; len(frontier) > 0 && (depth <= 0 || d <= depth); d++ {
			var next []int64
			for _, n := range frontier {
				it := g.gonumGraph().From(n)
				if !forward {
					it = g.gonumGraph().To(n)
				}
				for it.Next() {
					m := it.Node().ID()
					if _, seen := dist[m]; seen {
						continue
					}
					dist[m] = d
					next = append(next, m)
					keep[g.Nodes[m].ID] = true
				}
			}
			frontier = next
		}
	}
	sub := &Graph{Schema: g.Schema, GeneratedAt: g.GeneratedAt, By: g.By, External: g.External, Snapshots: g.Snapshots}
	for _, n := range g.Nodes {
		if keep[n.ID] {
			c := *n
			sub.Nodes = append(sub.Nodes, &c)
		}
	}
	for _, e := range g.Edges {
		if keep[e.From] && keep[e.To] {
			c := *e
			sub.Edges = append(sub.Edges, &c)
		}
	}
	for _, t := range g.Traffic {
		if keep[t.From] && keep[t.To] {
			c := *t
			sub.Traffic = append(sub.Traffic, &c)
		}
	}
	if err := sub.index(); err != nil {
		return nil, err
	}
	return sub, nil
}

// BenchmarkSubgraph takes one host's neighbourhood (render --focus) in a
// 1,000,000-edge by-host graph, side by side: walking a gonum graph of the
// whole graph (as Subgraph did; the gonum graph is built anew each time, as
// render builds it once per run) and walking the graph's edge lists (as it
// does now). B/op is what each allocates; both give the same subgraph.
//
//	go test ./graph -run '^$' -bench Subgraph -benchtime 3x
func BenchmarkSubgraph(b *testing.B) {
	g := benchGraph(10000, 1000000)
	const focus, depth = "host-03939.node.consul", 2
	want, err := g.Subgraph(focus, depth)
	if err != nil {
		b.Fatal(err)
	}
	var wantDoc bytes.Buffer
	if err := Write(&wantDoc, want); err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		subgraph func() (*Graph, error)
	}{
		{"gonum", func() (*Graph, error) {
			g.gonum = &lazyGonum{}
			return subgraphByGonum(g, focus, depth)
		}},
		{"edge-lists", func() (*Graph, error) { return g.Subgraph(focus, depth) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			var sub *Graph
			for b.Loop() {
				if sub, err = tt.subgraph(); err != nil {
					b.Fatal(err)
				}
			}
			var doc bytes.Buffer
			if err := Write(&doc, sub); err != nil {
				b.Fatal(err)
			}
			if !bytes.Equal(doc.Bytes(), wantDoc.Bytes()) {
				b.Fatalf("subgraph differs from Subgraph's (%d nodes, %d edges)", len(sub.Nodes), len(sub.Edges))
			}
			b.ReportMetric(float64(len(sub.Edges)), "edges-kept")
		})
	}
}
